"""Lessons: the lecture presets, each with what to look for, opened on Explore with one click."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from losslab import lessons

EXPLORE = Path(__file__).resolve().parent / "explore.py"

st.header("Lessons")
st.caption("Each lesson is a complete race — surface, optimizers, hyper-parameters, start, schedule, noise — with a "
           "caption of what to look for. Open it on Explore, watch, then change any setting to explore from there. "
           "The same presets run from the command line: `losslab race --lesson NAME --out NAME.gif`.")

for number, name in enumerate(lessons.names(), start=1):
    lesson = lessons.get(name)
    config = lesson.config
    with st.container(border=True):
        st.markdown(f"**{number}. {lesson.title}**")
        st.write(lesson.caption)
        details = (f"`{config.surface}` · {', '.join(config.optimizers)} · {config.steps} steps"
                   + (f" · schedule {config.schedule['name']}" if config.schedule else "")
                   + (f" · noise σ = {config.noise:g}" if config.noise else ""))
        left, right = st.columns([4, 1])
        left.caption(details)
        if right.button("Open on Explore", key=f"lessons.open.{name}"):
            st.switch_page(EXPLORE, query_params={"lesson": name})
