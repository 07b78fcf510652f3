"""Gallery: every optimizer (or a chosen few) on one surface, each at its best learning rate ρ, as small multiples.

Thin page: sidebar widgets -> ``losslab.gallery.GalleryConfig`` -> the cached ``gallery.gallery`` (one batched sweep
of the ρ grid per optimizer, then its race at the best ρ; in a heavy slot, ``heavy``) -> ``gallery.figure``, the
table and the downloads (``export_panel``: the figure as PNG, SVG, PDF, HTML; the table as CSV). Every setting is in
the URL (``url_state``; read by ``gallery.from_query``: a bad value is reported and replaced by its default); the
steps and the points are capped by their sliders and the whole gallery by the compute budget (``losslab.budget``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import streamlit as st

import landscapes
import optimizers
from losslab import gallery, maps, race
from losslab.app import export_panel, heavy
from losslab.app.explore_sidebar import plain
from losslab.app.frozen import freeze
from losslab.app.markdown import escape
from losslab.app.url_state import UrlState
from losslab.grids import COARSE, log_grid

EXPLORE = Path(__file__).resolve().parent / "explore.py"
URL = UrlState("gallery.")
STEPS_STEP = 10  # the steps slider's step, from STEPS_STEP to gallery.MAX_STEPS
MIN_PAGE_POINTS = 8  # the points slider's low end (gallery.MAX_POINTS its high end)
BY_SETTINGS = {gallery.GalleryConfig: repr}  # a config's repr names every setting

state = st.session_state


# --- cached computations -------------------------------------------------------------------------------


@st.cache_data(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def _gallery(config: gallery.GalleryConfig) -> gallery.Gallery:
    return heavy.run(lambda: gallery.gallery(config), "Tuning the gallery", gallery.cost(config).seconds)


@st.cache_resource(max_entries=8, show_spinner=False, hash_funcs=BY_SETTINGS)
def _figure(config: gallery.GalleryConfig) -> Any:
    return freeze(gallery.figure(_gallery(config)))


# --- the URL into the widgets ------------------------------------------------------------------------------


def param_key(surface: str, name: str) -> str:
    return f"gallery.{surface}.{name}"


def load_url() -> None:
    """URL -> widgets, on a session's first run or when a link brings a query (``url_state``)."""
    query = URL.incoming(drawn_key="gallery.surface")
    if query is None:
        return
    config, messages = gallery.from_query(query)
    fitted = []
    if config.steps % STEPS_STEP or config.steps < STEPS_STEP:
        fitted.append(f"Ignored URL parameter steps={config.steps} (the page's slider holds multiples of {STEPS_STEP} "
                      f"in [{STEPS_STEP}, {gallery.MAX_STEPS}]); using the default.")
        config = dataclasses.replace(config, steps=gallery.DEFAULT_STEPS)
    if config.points < MIN_PAGE_POINTS:
        fitted.append(f"Ignored URL parameter points={config.points} (the page's slider holds [{MIN_PAGE_POINTS}, "
                      f"{gallery.MAX_POINTS}]); using the default.")
        config = dataclasses.replace(config, points=gallery.DEFAULT_POINTS)
    state["gallery.surface"] = config.surface
    for name, value in config.params().items():
        state[param_key(config.surface, name)] = float(value)
    state["gallery.steps"] = int(config.steps)
    state["gallery.points"] = int(config.points)
    state["gallery.optimizers"] = config.names()
    URL.loaded(messages + fitted)


# --- widgets ---------------------------------------------------------------------------------------------------


def _surface_widgets(sidebar: Any) -> tuple[str, dict[str, float]]:
    state.setdefault("gallery.surface", gallery.DEFAULT_SURFACE)
    surface = sidebar.selectbox("surface", maps.surfaces(), key="gallery.surface", persist_state="page")
    params = {}
    for spec in landscapes.parameters(surface):
        key = param_key(surface, spec.name)
        state.setdefault(key, float(maps.surface_defaults(surface)[spec.name]))
        if spec.log:
            options = sorted({*log_grid(spec.low, spec.high, COARSE), float(state[key])})
            params[spec.name] = float(sidebar.select_slider(f"{spec.name}: {spec.doc}", options=options, key=key,
                                                            format_func=plain, persist_state="page"))
        else:
            params[spec.name] = float(sidebar.slider(f"{spec.name}: {spec.doc}", float(spec.low), float(spec.high),
                                                     key=key, persist_state="page"))
    return surface, params


def sidebar_config() -> gallery.GalleryConfig | None:
    """Draw the sidebar; the gallery it describes (None: no optimizer selected)."""
    sidebar = st.sidebar
    sidebar.header("Gallery")
    surface, params = _surface_widgets(sidebar)
    state.setdefault("gallery.steps", gallery.DEFAULT_STEPS)
    steps = sidebar.slider("steps", STEPS_STEP, gallery.MAX_STEPS, step=STEPS_STEP, key="gallery.steps",
                           persist_state="page")
    state.setdefault("gallery.points", gallery.DEFAULT_POINTS)
    points = sidebar.slider("learning rates ρ tried per optimizer", MIN_PAGE_POINTS, gallery.MAX_POINTS,
                            key="gallery.points", persist_state="page",
                            help=f"log-spaced from {gallery.LR_RANGE[0]:g} to {gallery.LR_RANGE[1]:g}")
    every = optimizers.names()
    state.setdefault("gallery.optimizers", every)
    if any(name not in every for name in state["gallery.optimizers"]):
        state["gallery.optimizers"] = [name for name in state["gallery.optimizers"] if name in every]
    names = sidebar.multiselect("optimizers", every, key="gallery.optimizers", persist_state="page")
    if not names:
        return None
    chosen = () if list(names) == every else tuple(names)  # every optimizer: the URL names none
    return gallery.GalleryConfig(surface=surface, surface_params=params, steps=int(steps), points=int(points),
                                 optimizers=chosen)


# --- the page ---------------------------------------------------------------------------------------------------


def _table(shown: gallery.Gallery) -> None:
    st.dataframe(gallery.rows(shown), hide_index=True, width="stretch", column_config={
        "optimizer": "optimizer",
        "best_lr": st.column_config.NumberColumn("best ρ", format="%.4g"),
        "final_loss": st.column_config.NumberColumn("final loss", format="%.4g"),
        "steps_to_tol": st.column_config.NumberColumn("steps to f* + tol", help="empty: never within tol"),
        "diverged_lrs": st.column_config.NumberColumn("ρ that diverged"),
        "note": "note",
    })


def _open_on_explore(config: gallery.GalleryConfig, shown: gallery.Gallery) -> None:
    tuned = [name for name, result in shown.results.items() if result.lr is not None]
    if not tuned:
        return
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    name = left.selectbox("open one at its best ρ on Explore", tuned, key="gallery.open_choice")
    if right.button("Open on Explore", key="gallery.open"):
        lr = shown.results[name].lr
        st.switch_page(EXPLORE, query_params=race.to_query(gallery.race_config(config, name, float(lr))))


def main() -> None:
    load_url()
    config = sidebar_config()
    if config is None:
        URL.warn()
        st.info("Select at least one optimizer.")
        return
    URL.write(gallery.to_query(config))
    URL.warn()
    try:
        config.validate()
        with st.spinner("Tuning every optimizer's ρ and racing it at its best…"):
            shown = _gallery(config)
            figure = _figure(config)
    except ValueError as error:  # a bad setting, or over the compute budget: say what to reduce, keep the page
        st.error(escape(error))
        return
    if shown.skipped:
        st.warning("Skipped (they failed on this gallery):\n\n"
                   + "\n".join(f"- {escape(name)}: {escape(why)}" for name, why in shown.skipped.items()))
    st.plotly_chart(figure, key="gallery.chart", theme=None)
    st.caption(f"Each optimizer's ρ was tuned in one batched sweep of {config.points} learning rates, log-spaced from "
               f"{gallery.LR_RANGE[0]:g} to {gallery.LR_RANGE[1]:g}: the best has the lowest final loss after "
               f"{config.steps} steps among those that did not diverge (ties: fewer steps to f* + tol). Its other "
               "hyper-parameters are the race's defaults; the panel is its race at that ρ.")
    _table(shown)
    _open_on_explore(config, shown)
    export_panel.download_section("gallery.export", repr(config), gallery.file_stem(config), {
        **export_panel.figure_producers(figure),
        "csv": lambda _settings, _progress: gallery.export(shown, "csv"),
    })


main()
