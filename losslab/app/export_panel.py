"""A page's download section: one button per format, export settings, and the upload of a race JSON.

Not a page of its own: pages call ``download_section`` with what they show. Nothing here runs an
export on an ordinary rerun:

- light formats (CSV, JSON, PNG, SVG) are ``st.download_button``s whose data is a callable: Streamlit runs
  it only when the button is clicked;
- heavy ones (PDF, HTML, GIF, MP4) have a "Prepare" button: a click renders the file under a spinner
  or a progress bar and keeps its bytes in the session (one file per format, dropped as soon as what
  the page shows or the settings change); the "Download" button then serves them. (A callable returning
  the ≈ 6 MB self-contained HTML timed out in the browser, so large files are prepared, not deferred.)

The settings' widgets are drawn only while their expander is open: closed, they cost the browser nothing on a
rerun (about 35 ms of a live commit's 0.31 s on Explore, ``benchmarks/explore.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from typing import Any

import streamlit as st

from losslab.app.markdown import escape
from losslab.exports import FIGURE_FORMATS, MIME, ExportSettings, figure_bytes
from plots import animation
from plots.static import MAX_SCALE, PRESETS

Producer = Callable[[ExportSettings, Callable[[float], None] | None], bytes]
DEFERRED = ("csv", "json", "png", "svg")
PREPARED = ("pdf", "html", "gif", "mp4")
SCALES = (1.0, 1.5, 2.0, 3.0, float(MAX_SCALE))
# the widgets' starting values: ExportSettings' defaults (fps as a whole number, what its slider holds)
DEFAULT_SETTINGS = {**asdict(ExportSettings()), "fps": int(ExportSettings.fps)}
state = st.session_state


def _settings(prefix: str, animated: bool) -> ExportSettings:
    """The export settings. Their widgets are drawn only while their expander is open (a closed expander's widgets
    would be re-rendered by the browser on every rerun, a live commit's included); meanwhile their values stay in the
    session state (``persist_state``) and are read from there."""
    keys = {name: f"{prefix}.{name}" for name in DEFAULT_SETTINGS}
    for name, key in keys.items():
        state.setdefault(key, DEFAULT_SETTINGS[name])
    panel = st.expander("Export settings: size, scale, frames", key=f"{prefix}.settings", on_change="rerun")
    if panel.open:
        left, middle, right = panel.columns(3)
        left.selectbox("size preset", list(PRESETS), key=keys["preset"], persist_state="page",
                       format_func=lambda name: f"{name}: {PRESETS[name].description}")
        middle.select_slider("PNG scale", SCALES, key=keys["scale"], persist_state="page",
                             help="pixels per layout pixel (sharper PNGs for print)")
        if animated:
            right.slider("GIF/MP4 frames", 2, animation.MAX_FRAMES, key=keys["frames"], persist_state="page")
            right.slider("GIF/MP4 frames per second", 1, animation.MAX_FPS, key=keys["fps"], persist_state="page")
            right.caption(f"GIF/MP4 use scale ≤ {animation.max_scale(state[keys['preset']]):g} for this preset "
                          f"(≤ {animation.MAX_PIXELS:,} pixels per frame).")
    chosen = {name: state[key] for name, key in keys.items()}
    if not animated:  # no GIF or MP4 here: their settings are not offered
        chosen.update(frames=DEFAULT_SETTINGS["frames"], fps=DEFAULT_SETTINGS["fps"])
    return ExportSettings(preset=chosen["preset"], scale=chosen["scale"], frames=int(chosen["frames"]),
                          fps=float(chosen["fps"]))


def _for_format(settings: ExportSettings, fmt: str) -> ExportSettings:
    """An animation's scale is capped by its pixel budget; the images take the chosen one."""
    if fmt in animation.ANIMATION_FORMATS:
        return replace(settings, scale=min(settings.scale, animation.max_scale(settings.preset)))
    return settings


def _prepared(prefix: str, identity: tuple) -> dict[str, bytes]:
    """This section's prepared files, emptied when ``identity`` (content + settings) changes."""
    store = state.setdefault(f"{prefix}._prepared", {"identity": None, "files": {}})
    if store["identity"] != identity:
        store["identity"], store["files"] = identity, {}
    return store["files"]


def _prepare(slot, fmt: str, producer: Producer, settings: ExportSettings) -> bytes | None:
    label = fmt.upper()
    if fmt in animation.ANIMATION_FORMATS:
        bar = slot.progress(0.0, text=f"Rendering the {label}…")
        try:
            return producer(settings, lambda fraction: bar.progress(min(fraction, 1.0),
                                                                    text=f"Rendering the {label}…"))
        finally:
            bar.empty()
    with st.spinner(f"Rendering the {label}…"):
        return producer(settings, None)


def figure_producers(figure: Any) -> dict[str, Producer]:
    """Any figure as PNG, SVG, PDF (at the chosen preset and scale) and interactive HTML."""
    def producer(fmt: str) -> Producer:
        return lambda settings, _progress: figure_bytes(figure, fmt, settings)

    return {fmt: producer(fmt) for fmt in FIGURE_FORMATS}


def download_section(prefix: str, content_key: str, file_stem: str, producers: Mapping[str, Producer], *,
                     on_upload: Callable[[bytes], str] | None = None) -> None:
    """Buttons "Download CSV", ..., "Prepare GIF" / "Download GIF" for the formats ``producers`` makes.

    ``content_key`` identifies what the page shows (prepared files are kept while it and the settings stay
    the same); ``producers[fmt](settings, progress)`` returns the file's bytes. ``on_upload(bytes)`` restores
    a race JSON (raising ``ValueError`` for a bad file) and returns a message; it runs in the uploader's
    callback, before the page's widgets are drawn.
    """
    st.subheader("Download")
    settings = _settings(prefix, any(fmt in producers for fmt in animation.ANIMATION_FORMATS))
    files = _prepared(prefix, (content_key, settings))
    formats = [fmt for fmt in (*DEFERRED, *PREPARED) if fmt in producers]
    if not formats:
        st.caption("Nothing to download yet: the race has no trajectories.")
    for column, fmt in zip(st.columns(max(len(formats), 1)), formats):
        chosen = _for_format(settings, fmt)
        producer = producers[fmt]
        name, label = f"{file_stem}.{fmt}", fmt.upper()
        if fmt in DEFERRED:
            column.download_button(f"Download {label}", data=lambda p=producer, s=chosen: p(s, None),
                                   file_name=name, mime=MIME[fmt], on_click="ignore", key=f"{prefix}.get.{fmt}")
            continue
        slot = column.empty()
        if fmt not in files and slot.button(f"Prepare {label}", key=f"{prefix}.prepare.{fmt}",
                                            help=f"render the {label} (a few seconds)"):
            try:
                files[fmt] = _prepare(slot, fmt, producer, chosen)
            except (ValueError, RuntimeError, OSError) as error:
                column.error(escape(f"{label}: {error}"))
        if fmt in files:
            slot.download_button(f"Download {label}", data=files[fmt], file_name=name, mime=MIME[fmt],
                                 on_click="ignore", key=f"{prefix}.get.{fmt}")
    if on_upload is not None:
        _upload(prefix, on_upload)


def _upload(prefix: str, on_upload: Callable[[bytes], str]) -> None:
    key = f"{prefix}.upload"

    def restore() -> None:
        uploaded = state.get(key)
        if uploaded is None:  # the file was removed from the uploader
            state.pop(f"{key}.message", None)
            return
        try:
            state[f"{key}.message"] = ("success", on_upload(uploaded.getvalue()))
        except ValueError as error:
            state[f"{key}.message"] = ("error", f"Could not restore {uploaded.name}: {error}")

    st.file_uploader("Restore a race from its JSON export", type=["json"], key=key, on_change=restore,
                     help="a JSON file downloaded here or written by `losslab race --out race.json`")
    kind, text = state.get(f"{key}.message") or (None, None)
    if kind == "success":
        st.success(text)  # built from validated names and numbers
    elif kind == "error":
        st.error(escape(text))
