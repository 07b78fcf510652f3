"""The least page ``benchmarks/load.py`` can press: Explore's sgd ρ select-slider (same label, options and
expander) and its default race chart (``plots.race_figure`` through ``st.plotly_chart``), and nothing else.

Pressed by as many sessions as Explore in the same run, it shows what N browsers on this machine cost before any
of Explore's other elements (the sidebar's other widgets, the loss curves, the summary table, the downloads and the
update rules). Run by load.py: ``streamlit run benchmarks/load_baseline_app.py`` from the repository root."""

from __future__ import annotations

import dataclasses

import streamlit as st

import landscapes
import plots
from losslab import race
from views.frozen import freeze
from views.grids import LR_GRID, sci

DEFAULT = race.RaceConfig()


@st.cache_resource(max_entries=64, show_spinner=False)
def race_figure(lr: float):
    optimizers = {**DEFAULT.optimizers, "sgd": {**DEFAULT.optimizers["sgd"], "lr": lr}}
    config = dataclasses.replace(DEFAULT, optimizers=optimizers)
    return freeze(plots.race_figure(landscapes.get(config.surface, **config.surface_params), race.run_race(config)))


with st.sidebar.expander("sgd: SGD"):
    lr = st.select_slider("ρ  learning rate", options=sorted({*LR_GRID, DEFAULT.optimizers["sgd"]["lr"]}),
                          value=DEFAULT.optimizers["sgd"]["lr"], format_func=sci)
st.plotly_chart(race_figure(lr), theme=None, key="race")
