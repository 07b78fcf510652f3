"""The Networks page's "your own model" section: a slice computed by ``losslab slice``, opened from a .zip of its
store, drawn as the contour and the 3-D surface with every download.

Everything about the file is checked by ``losslab.slice_store.read_zip`` before a byte of data is decoded (sizes,
paths, types, codecs); a refused file is one ``st.error`` line. The web app never imports the user's model or data
(the store's configuration names them: shown as text only) and never unpickles, so races on the slice, which need
the model, are not run here: the section shows the command that draws them.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from losslab import slice_figure, slice_store
from losslab.app import export_panel
from losslab.app.frozen import freeze
from losslab.app.markdown import escape

PREFIX = "slice_upload."
UPLOAD = PREFIX + "file"
RACE_EXAMPLE = "sgd,adam"
HELP = ("A slice written by `losslab slice --out slice.zarr`, as a .zip of its store folder: "
        "`cd slice.zarr && zip -r ../slice.zip .` (a zip whose one top folder is the store works too; "
        "`directions` may be left out). Only Zarr-in-zip is read, not HDF5; float32/float64 data with the "
        f"bytes, zstd, gzip, blosc or crc32c codecs, grids up to {slice_store.MAX_READ_GRID}², files up to "
        "{limit} MB.")


def _plain(value: Any, limit: int = 80) -> str:
    """Text from the file for a figure's title: printable, no markup characters, at most ``limit`` long."""
    text = re.sub(r"[<>&\x00-\x1f\x7f]", "", str(value))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _number(value: Any, default: str = "?") -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else default


@st.cache_resource(max_entries=4, show_spinner=False)
def _opened(digest: str, _data: bytes) -> slice_store.Opened:
    """The checked slice of the file with this SHA-256 (kept in memory as it is: nothing is pickled)."""
    return slice_store.read_zip(_data)


def _titles(opened: slice_store.Opened) -> tuple[str, str]:
    config = opened.config
    resolved = config.get("resolved") if isinstance(config.get("resolved"), dict) else {}
    count = resolved.get("parameters")
    model = _plain(resolved.get("model_class", "your model"), 40)
    if isinstance(count, int) and not isinstance(count, bool):
        model += f" ({count:,} parameters)"
    title = f"{model}: the loss ({_plain(resolved.get('loss_function', 'loss'), 40)}) on θ* + a·d₁ + b·d₂"
    caption = (f"filter-normalized random directions (seed {_number(config.get('seed'))}) · "
               f"{opened.grid}×{opened.grid} grid, a, b ∈ [−{opened.extent:g}, {opened.extent:g}]")
    return title, caption


@st.cache_resource(max_entries=4, show_spinner=False)
def _figures(digest: str, _slice: slice_store.Opened) -> dict[str, go.Figure]:
    """The CLI's figures of the slice (``losslab.slice_figure``): the contour, the 3-D view and the two side by
    side for the HTML page; the gaps of tiles not computed are NaN, drawn as holes."""
    title, caption = _titles(_slice)
    view = slice_figure.drawn(_slice.loss, _slice.extent)
    return {"contour": freeze(slice_figure.contour_figure(view, {}, title, caption)),
            "surface": freeze(slice_figure.surface_3d(view, {})),
            "page": slice_figure.page_figure(slice_figure.contour_figure(view, {}, title, caption),
                                             slice_figure.surface_3d(view, {}))}


def race_command(config: dict[str, Any]) -> str:
    """The ``losslab slice`` command that reopens this store (same options, so it is not recomputed) and races on
    it; the file's names are quoted for the shell, never imported."""
    words = ["losslab", "slice", "--model", str(config.get("model", "pkg.mod:make_model")),
             "--data", str(config.get("data", "pkg.mod:make_data"))]
    if config.get("weights_sha256"):
        words += ["--weights", "WEIGHTS.pt"]
    if config.get("loss"):
        words += ["--loss", str(config["loss"])]
    for key, option in (("grid", "--grid"), ("range", "--range"), ("seed", "--seed"), ("tile", "--tile"),
                        ("batch_size", "--batch-size")):
        if config.get(key) is not None:
            words += [option, _number(config[key])]
    words += ["--out", "slice.zarr", "--out", "slice.html", "--race", RACE_EXAMPLE]
    return " ".join(shlex.quote(_plain(word, 200)) for word in words)


def _producers(opened: slice_store.Opened, figures: dict[str, go.Figure]) -> dict[str, Any]:
    """PNG, SVG and PDF of the contour, the HTML page with the contour and the 3-D view, the grid as CSV: the
    export panel's own producers (``losslab.exports.figure_bytes``)."""
    producers = export_panel.figure_producers(figures["contour"])
    producers["html"] = export_panel.figure_producers(figures["page"])["html"]
    producers["csv"] = lambda _settings, _progress: slice_store.grid_csv(opened).encode()
    return producers


def show(data: bytes, name: str) -> None:
    """The uploaded file's slice with its downloads, or one error line saying why it is refused."""
    digest = hashlib.sha256(data).hexdigest()
    try:
        opened = _opened(digest, data)
    except ValueError as error:
        st.error(escape(f"Could not open {name}: {error}"))
        return
    config = opened.config
    st.caption(escape(f"{name}: the loss of {_plain(config.get('model', '?'), 120)} on "
                      f"{_plain(config.get('data', '?'), 120)}, {opened.grid}×{opened.grid} grid, a, b in "
                      f"[-{opened.extent:g}, {opened.extent:g}], seed {_number(config.get('seed'))} (the names "
                      "are shown as text: the app does not import them)."))
    note = f"{opened.computed} of {opened.tiles} tiles computed"
    if opened.computed == 0:
        st.warning(f"{note}: nothing to draw yet. Run the same `losslab slice` command to compute it.")
        return
    if opened.computed < opened.tiles:
        st.warning(f"{note}: the gaps are the tiles not computed yet (run the same `losslab slice` command to "
                   "finish them).")
    else:
        st.caption(f"{note}.")
    try:
        figures = _figures(digest, opened)
    except ValueError as error:
        st.error(escape(f"Could not draw {name}: {error}"))
        return
    st.plotly_chart(figures["contour"], theme=None, key=PREFIX + "contour")
    st.plotly_chart(figures["surface"], theme=None, key=PREFIX + "surface3d")
    st.info("Races on this slice need your model (each step evaluates its loss and gradient), so they do not run "
            "in the app, which never imports your code. Run them where the model is: the command below reopens "
            "this store (the same options: nothing is recomputed) and draws the races on it.")
    st.code(race_command(config), language="bash")
    export_panel.download_section(PREFIX + "export", digest, f"slice-{opened.grid}x{opened.grid}",
                                  _producers(opened, figures))


def section() -> None:
    """The uploader and, once a file is given, its slice."""
    st.subheader("Your own model's slice")
    st.caption("Open a slice computed by `losslab slice` on your own model (any torch module): the contour and "
               "the 3-D view with every download. Zip its store first: `cd slice.zarr && zip -r ../slice.zip .`")
    uploaded = st.file_uploader("Open a slice (.zip of a slice.zarr store)", type=["zip"], key=UPLOAD,
                                help=HELP.format(limit=st.get_option("server.maxUploadSize")))
    if uploaded is not None:
        show(uploaded.getvalue(), uploaded.name)
