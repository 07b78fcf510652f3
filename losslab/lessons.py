"""Lecture presets: complete race configurations with a caption of what to look for, in the lecture's terms.

Each lesson is a race JSON in ``losslab/lessons/`` (schema of :mod:`losslab.config_io`, plus a ``lesson`` object
with its title, caption and order), read by the same code as a JSON a user uploads or passes to ``losslab race
--config``. Opened in the app (Explore's Lessons picker, the Lessons page), by URL (``?lesson=ravine``) or from
the command line (``losslab race --lesson ravine``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import landscapes

from . import config_io
from .race import RaceConfig

LESSONS_DIR = Path(__file__).with_name("lessons")


class Lesson(NamedTuple):
    name: str
    title: str
    caption: str
    config: RaceConfig


@lru_cache(maxsize=1)
def _catalogue() -> dict[str, Lesson]:
    lessons = []
    for path in LESSONS_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        config, _ = config_io.read_race_json(text)  # the uploader's reader and checks
        meta = json.loads(text)["lesson"]
        lessons.append((int(meta["order"]), Lesson(path.stem, meta["title"], meta["caption"], config)))
    return {lesson.name: lesson for _, lesson in sorted(lessons)}


def names() -> list[str]:
    """Every lesson, in teaching order."""
    return list(_catalogue())


def get(name: str) -> Lesson:
    """Lesson ``name``; an unknown name is a ``ValueError`` listing the valid ones."""
    try:
        return _catalogue()[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown lesson {name!r} (valid: {', '.join(names())})") from None


def matching(config: RaceConfig) -> Lesson | None:
    """The lesson whose race ``config`` is (to show its caption while the view is unchanged)."""
    wanted = _comparable(config)
    for lesson in _catalogue().values():
        if _comparable(lesson.config) == wanted:
            return lesson
    return None


def _comparable(config: RaceConfig) -> dict:
    """The configuration as JSON values, surface parameters completed with their defaults."""
    values = config_io.config_dict(config)
    values["surface_params"] = {**{spec.name: spec.default for spec in landscapes.parameters(config.surface)},
                                **values["surface_params"]}
    return values
