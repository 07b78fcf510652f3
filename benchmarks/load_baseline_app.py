"""The least page ``benchmarks/load.py --pages baseline`` can press: Explore's old sgd ρ select-slider (same label,
options and expander as the app before live sliders, 6b339cd) and its default race chart, drawn as that Explore drew
it (``plots.race_figure`` over the cached landscape, ``st.plotly_chart`` with point selection, the wide layout, one
thread per computation), and nothing else.

Pressed by N sessions, it shows what N browsers on this machine cost for a slider → rerun → redraw before any of
Explore's other elements (the sidebar's other widgets, the loss curves, the summary table, the downloads and the
update rules). load.py's default baseline is the old app itself (``--pages old``); this page is optional. Served by
load.py (``streamlit run benchmarks/load_baseline_app.py``) and by ``tests/test_live_server.py``."""

from losslab.threads import one_thread_per_computation

one_thread_per_computation()  # before torch or numba load

import dataclasses  # noqa: E402

import streamlit as st  # noqa: E402

import landscapes  # noqa: E402
import plots  # noqa: E402
from losslab import race  # noqa: E402
from losslab.app.frozen import freeze  # noqa: E402
from losslab.grids import LR_GRID, sci  # noqa: E402

DEFAULT = race.RaceConfig()


@st.cache_resource(show_spinner=False)
def surface_and_layer():
    surface = landscapes.get(DEFAULT.surface, **DEFAULT.surface_params)
    return surface, plots.race.landscape_layer(surface)


@st.cache_resource(max_entries=64, show_spinner=False)
def race_figure(lr: float):
    optimizers = {**DEFAULT.optimizers, "sgd": {**DEFAULT.optimizers["sgd"], "lr": lr}}
    surface, layer = surface_and_layer()
    trajectories = race.run_race(dataclasses.replace(DEFAULT, optimizers=optimizers))
    return freeze(plots.race_figure(surface, trajectories, layer=layer))


st.set_page_config(page_title="load baseline", layout="wide")
with st.sidebar.expander("sgd: SGD"):
    lr = st.select_slider("ρ  learning rate", options=sorted({*LR_GRID, DEFAULT.optimizers["sgd"]["lr"]}),
                          value=DEFAULT.optimizers["sgd"]["lr"], format_func=sci)
st.plotly_chart(race_figure(lr), theme=None, key="race", on_select=lambda: None, selection_mode="points")
