"""Explore's settings from outside the sidebar: the URL (on a session's first run, or when it changed from outside),
a lesson preset (``?lesson=NAME`` or the Lesson picker) and an uploaded race JSON, each written into the sidebar's
widget state (``explore_sidebar.apply``) after fitting the page's sliders. Bad values become messages, never errors.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import streamlit as st

from losslab import config_io, lessons, overrides, race
from losslab.app.explore_sidebar import MAX_SEED, UI_FLAGS, apply, plain
from losslab.app.url_state import UrlState
from optimizers import catalogue, hyperparams

URL = UrlState("explore.")
state = st.session_state


def _parse_flags(query: dict[str, str]) -> tuple[dict[str, bool], list[str]]:
    flags, messages = {key: False for key in UI_FLAGS}, []
    for key in UI_FLAGS:
        if key in query:
            try:
                flags[key] = overrides.flag(str(query[key]))
            except ValueError as error:
                messages.append(f"Ignored URL parameter {key}={query[key][:60]!r} ({error}); using the default.")
    return flags, messages


def _load_inspected(query: dict[str, str], config: race.RaceConfig) -> list[str]:
    """The inspected optimizer and step from the URL (``inspect.opt``, ``inspect.step``) into their widgets."""
    messages = []
    if query.get("inspect.opt") is not None:
        if query["inspect.opt"] in config.optimizers:
            state["inspect.opt"] = query["inspect.opt"]
        else:
            messages.append(f"Ignored URL parameter inspect.opt={query['inspect.opt'][:60]!r} (not one of the "
                            f"race's optimizers: {', '.join(config.optimizers)}).")
    if query.get("inspect.step") is not None:
        text = query["inspect.step"]
        try:  # the URL's integers (not str.isdigit, which takes ² and then int() fails)
            step = overrides.integer(text)
        except ValueError:
            step = -1
        if 0 <= step < max(config.steps, 1):
            state["inspect.step"] = step
        else:
            messages.append(f"Ignored URL parameter inspect.step={text[:60]!r} (must be an integer in "
                            f"[0, {max(config.steps - 1, 0)}]).")
    return messages


def inspected_query() -> dict[str, str]:
    """The inspect view's optimizer and step for the URL (only while the view is open)."""
    if not state.get("inspect"):
        return {}
    return {key: str(state[key]) for key in ("inspect.opt", "inspect.step") if state.get(key) is not None}



def _fit_sliders(config: race.RaceConfig) -> tuple[race.RaceConfig, list[str]]:
    """Values the library accepts but the page's sliders cannot show (lr = 0, ε = 0, α = 0.9999) -> defaults."""
    messages, chosen = [], {}
    for name, hyper in config.optimizers.items():
        base = hyper.get("base_optimizer")
        defaults, fitted = race.optimizer_defaults(name, config.surface, base), dict(hyper)
        for key, value in hyper.items():
            spec = hyperparams.entry(name, key, base)
            if spec.kind == "choice":
                continue
            pairs = zip(map(catalogue.spec, spec.parts), value, strict=True) if spec.kind == "pair" else [(spec, value)]
            for slider, number in pairs:
                low, high = slider.ui or (-math.inf, math.inf)
                if not isinstance(number, bool) and number is not None and not low <= number <= high:
                    messages.append(f"Ignored URL parameter {name}.{key}={plain(number)} (the page's slider holds "
                                    f"[{plain(low)}, {plain(high)}]); using the default.")
                    fitted[key] = defaults[key]
        chosen[name] = fitted
    return dataclasses.replace(config, optimizers=chosen), messages


def load_url() -> None:
    """URL -> widgets, on a session's first run or when the URL changed from outside (``url_state``)."""
    query = URL.incoming(drawn_key="steps")
    if query is None:
        return
    lesson = query.pop("lesson", None)
    config, messages = race.from_query(query)
    if lesson is not None:  # ?lesson=NAME opens a lecture preset
        try:
            config = lessons.get(lesson).config
        except ValueError as error:
            messages.insert(0, f"Ignored URL parameter lesson={lesson[:60]!r} ({error}).")
    config, range_messages = _fit_page(config)
    flags, flag_messages = _parse_flags(query)
    apply(config, flags)
    flag_messages += _load_inspected(query, config)
    URL.loaded(messages + range_messages + flag_messages)


def _open_lesson() -> None:
    """The Lesson picker's callback: the chosen preset's race into the widgets (before any widget is drawn)."""
    if state.get("lesson"):
        config, _ = _fit_page(lessons.get(state["lesson"]).config)
        apply(config, {key: False for key in UI_FLAGS})


def lesson_picker(slot: Any, config: race.RaceConfig) -> lessons.Lesson | None:
    """The picker shows the lesson the current race is (none once a setting changes); returns that lesson."""
    shown = lessons.matching(config)
    state["lesson"] = shown.name if shown else ""
    slot.selectbox("Lesson", ["", *lessons.names()], key="lesson", on_change=_open_lesson,
                   format_func=lambda name: lessons.get(name).title if name else "— a lecture preset —",
                   help="a complete race with a caption of what to look for; change anything to explore from it")
    return shown


def _fit_page(config: race.RaceConfig) -> tuple[race.RaceConfig, list[str]]:
    """A valid configuration as the page's widgets can hold it: out-of-widget values -> defaults, with messages."""
    messages = []
    if config.seed > MAX_SEED:
        messages.append(f"Ignored URL parameter seed={config.seed} (the page holds seeds up to {MAX_SEED}); "
                        "using the default.")
        config = dataclasses.replace(config, seed=0)
    config, range_messages = _fit_sliders(config)
    return config, messages + range_messages


def restore_json(data: bytes) -> str:
    """An uploaded race JSON -> the widgets (the uploader's callback, before any widget is drawn)."""
    config, _ = config_io.read_race_json(data)
    config, messages = _fit_page(config)
    apply(config, {key: bool(state.get(key, False)) for key in UI_FLAGS})
    note = " Adjusted to fit the page's sliders: " + " ".join(messages) if messages else ""
    return f"Restored the race: {config.surface}, {', '.join(config.optimizers)}, {config.steps} steps.{note}"
