"""The race with its live sliders on a page: a Streamlit component running ``plots/live_race.js``.

The component is an iframe served by the Streamlit server from a folder this module writes once per process: its
``index.html``, ``live_race.js`` and the plotly package's own plotly.js (the one the exported HTML embeds; the page's
``window.Plotly`` is Streamlit's private copy and is not used). The browser caches plotly.js like any static file,
so a rerun sends only the figure and the families. The page talks to it through Streamlit's component messages:

- ``streamlit:render`` brings the spec (``losslab.live.live_spec``); the chart is redrawn only when its
  ``figure_id`` changed;
- a released live slider sends ``{"kind": "commit", "optimizer", "key", "index", "value"}`` and a click on the
  landscape ``{"kind": "start", "x", "y"}``: the page's ``on_change`` callback applies either to the sidebar's
  widget state before the rerun, so that the URL, the sidebar, the curves, the table and the equations follow.

Dragging a slider sends nothing: the path is redrawn in the browser from its family.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

import plots.live

HEIGHT = 660  # the iframe's pixels until it reports its own height: the chart and four rows of live sliders

INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><style>body {{ margin: 0; }} {style}</style>
<script src="plotly.min.js"></script><script src="live_race.js"></script></head>
<body><div id="race"></div>
<script>
"use strict";
function send(type, data) {{
  window.parent.postMessage(Object.assign({{ isStreamlitMessage: true, type }}, data), "*");
}}
function value(payload) {{
  send("streamlit:setComponentValue", {{ value: Object.assign({{ nonce: Date.now() }}, payload), dataType: "json" }});
}}
const handlers = {{
  commit: (change) => value(Object.assign({{ kind: "commit" }}, change)),
  start: (x, y) => value({{ kind: "start", x: x, y: y }}),
  drawn: () => send("streamlit:setFrameHeight", {{ height: document.body.scrollHeight }}),
}};
let race = null, shown = null;
window.addEventListener("message", (event) => {{
  if (event.source !== window.parent || !event.data || event.data.type !== "streamlit:render") return;
  if (event.data.args.spec === shown) return;
  shown = event.data.args.spec;  // a rerun that changed nothing here sends the same text: nothing to redraw
  const spec = JSON.parse(shown);
  if (race === null) race = window.liveRace = LiveRace.mount(document.getElementById("race"), spec, handlers);
  else race.update(spec);
}});
send("streamlit:componentReady", {{ apiVersion: 1 }});
</script></body></html>
"""


@st.cache_resource(show_spinner=False)
def _folder() -> str:
    """The component's files, written once per server process into a fresh private folder."""
    folder = Path(tempfile.mkdtemp(prefix="losslab-live-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with resources.as_file(resources.files("plotly").joinpath("package_data", "plotly.min.js")) as source:
        shutil.copyfile(source, folder / "plotly.min.js")
    (folder / "live_race.js").write_text(plots.live.script(), encoding="utf-8")
    (folder / "index.html").write_text(INDEX.format(style=plots.live.STYLE), encoding="utf-8")
    return str(folder)


def live_race(spec: str, key: str, on_change: Callable[[], None]) -> None:
    """Draw the race ``spec`` (``losslab.live.live_spec`` as JSON text) with its live sliders; ``on_change`` runs
    when a slider is released or the landscape clicked, with the message in ``st.session_state[key]``."""
    component = components.declare_component("live_race", path=_folder())  # (re)registers it with this runtime
    component(spec=spec, key=key, on_change=on_change, default=None, height=HEIGHT)
