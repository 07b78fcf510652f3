"""What a Markdown element shows: its source without CommonMark's backslash escapes and the invisible joiners that
``losslab.app.markdown.escape`` puts into quoted user text."""

from __future__ import annotations

import json
import re
from typing import Any

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def shown(markdown: str) -> str:
    return _ESCAPED.sub(r"\1", markdown).replace("\u2060", "")


def live_spec(at: Any) -> dict:
    """The race with its live sliders as an AppTest drew it (``losslab.app.live_race``: the component's spec)."""
    (component,) = [c for c in at.get("component_instance") if c.proto.component_name.endswith("live_race")]
    return json.loads(json.loads(component.proto.json_args)["spec"])


def race_spec(at: Any) -> dict:
    """The race figure an AppTest drew (inside the live-race component)."""
    return live_spec(at)["figure"]


def html_live_spec(html: str) -> dict:
    """The race and its live sliders an exported HTML page mounts (``plots.live.live_html``)."""
    start = html.index("{", html.index("LiveRace.mount(document.getElementById"))
    spec, _ = json.JSONDecoder().raw_decode(html, start)
    return spec
