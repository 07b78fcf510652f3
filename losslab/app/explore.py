"""Explore: optimizers race across one loss surface.

The page: ``explore_state`` loads the URL (or a lesson, or an uploaded race) into the sidebar's widget state,
``explore_sidebar`` draws the widgets and returns the typed ``RaceConfig`` they describe, ``race_cache`` runs it
through the one race pipeline (``losslab.race``) and draws the figures, and this module lays them out with the
summary, the inspected step, the downloads and the update rules. Every setting lives in the URL.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import streamlit as st

import optimizers
from landscapes.curvature import curvature
from losslab import budget, exports, live, race, theory
from losslab.app import export_panel, race_cache
from losslab.app.explore_sidebar import UI_FLAGS, flag, on_live_change, sidebar_config
from losslab.app.explore_state import URL, inspected_query, lesson_picker, load_url, restore_json
from losslab.app.live_race import live_race
from losslab.app.markdown import escape
from optimizers.notation import HINTS, update_rule
from plots.step_figure import step_figure, step_rows

state = st.session_state


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The per-optimizer summary as a Markdown table (no pandas import, no data-grid widget in the browser)."""
    def cell(value: Any) -> str:
        if value is None:
            return "—"
        return f"{value:.4g}" if isinstance(value, float) else str(value).replace("|", "\\|")

    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


# --- the page's sections ------------------------------------------------------------------------------


def _figures(config: race.RaceConfig, has_trajectories: bool, gradient_field: bool, view3d: bool) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    if has_trajectories:
        figures = {"race": race_cache.race_figure(config, gradient_field), **race_cache.curves(config)}
    if view3d:
        figures["surface"] = race_cache.surface_figure(config)
    return figures


def _producers(config: race.RaceConfig, trajectories: dict[str, optimizers.Trajectory],
               gradient_field: bool, seconds: float) -> dict[str, Any]:
    """Each format's bytes from what the page already computed (the race, its cached figure and landscape)."""
    figure = race_cache.race_figure(config, gradient_field)
    layer = race_cache.layer(config.surface, config.surface_params)
    families = race_cache.all_families(config, trajectories, seconds)

    def produce(fmt: str) -> Any:
        def run(settings: exports.ExportSettings, progress: Any) -> bytes:
            return exports.export_race(config, fmt, settings, trajectories=trajectories, figure=figure, layer=layer,
                                       gradient_field=gradient_field, progress=progress, families=families)
        return run

    return {fmt: produce(fmt) for fmt in exports.FORMATS}


def _quadratic_rates(config: race.RaceConfig, name: str, trajectory: optimizers.Trajectory) -> dict[str, Any]:
    """On the quadratic, heavy ball's (or GD's) theoretical contraction per step next to the measured one."""
    hyper = config.optimizers[name]
    if not theory.applies(config.surface, name, hyper) or config.schedule_of(name) or config.noise:
        return {}
    kappa = float(config.surface_params.get("condition", 10.0))
    rates = theory.contraction_rates(float(hyper["lr"]), float(hyper.get("momentum", 0.0)), [1.0, kappa])
    distances = np.linalg.norm(trajectory.points[0], axis=1)
    return {"contraction per step, theory (spectral radius, λ = 1 and κ)": float(rates.max()),
            "contraction per step, measured": theory.measured_rate(distances)}


def _inspect_section(config: race.RaceConfig, surface: Any, trajectories: dict[str, optimizers.Trajectory]) -> None:
    """One optimizer at one step: the zoomed figure (−ρg, its step, Hessian eigen-directions, per-coordinate
    reach) and the numbers (Hessian eigenvalues, local κ, Adam's moments with and without bias correction)."""
    st.subheader("Inspect a step")
    names = list(trajectories)
    if state.get("inspect.opt") not in names:
        state["inspect.opt"] = names[0]
    left, right = st.columns([2, 3])
    name = left.selectbox("optimizer", names, key="inspect.opt")
    diverged_at = int(trajectories[name].diverged_at[0])
    last = config.steps - 1 if diverged_at < 0 else diverged_at - 1  # a diverged run's last step that moved
    state["inspect.step"] = min(max(int(state.get("inspect.step", 0)), 0), last)
    step = left.slider("step k", 0, max(last, 1), key="inspect.step") if last > 0 else 0
    if diverged_at >= 0:
        left.caption(f"{name} diverged at step {diverged_at}: its steps up to {last} can be inspected.")
    view = race_cache.step_at(config.only(name), name, int(step))
    try:
        local = curvature(surface, view.theta)
    except ValueError:
        local = None
    rows = step_rows(view, local, _quadratic_rates(config, name, trajectories[name]))
    left.markdown("| quantity | value |\n| --- | --- |\n" + "\n".join(f"| {q} | {v} |" for q, v in rows))
    right.plotly_chart(step_figure(surface, view, local, name, names.index(name), trajectories[name].points[0]),
                       theme=None, key="inspect.figure")


def _downloads(config: race.RaceConfig, figures: dict[str, Any], trajectories: dict[str, optimizers.Trajectory],
               gradient_field: bool, ready: bool, seconds: float) -> None:
    """The download section: the race in every format, or another shown figure as PNG/SVG/PDF/HTML; uploads."""
    if not ready:
        export_panel.download_section("export", repr(config), "race", {}, on_upload=restore_json)
        return
    shown = {"race": "the race", "curves": "loss and distance", "surface": "the 3-D view"}
    shown = {name: label for name, label in shown.items() if name in figures}
    if state.get("export.figure") not in shown:
        state["export.figure"] = "race"
    chosen = st.selectbox("figure for PNG, SVG, PDF and HTML", list(shown), format_func=shown.get,
                          key="export.figure")
    producers = _producers(config, trajectories, gradient_field, seconds)
    if chosen != "race":
        producers.update(export_panel.figure_producers(figures[chosen]))
    export_panel.download_section("export", f"{config!r}/field={gradient_field}/{chosen}",
                                  exports.file_stem(config) + ("" if chosen == "race" else f"-{chosen}"),
                                  producers, on_upload=restore_json)


def _checked_schedule(config: race.RaceConfig) -> tuple[race.RaceConfig, list[str]]:
    """A schedule that cannot reach the race's last step is dropped, with a message."""
    if not config.schedule:
        return config, []
    try:
        config.check_schedule()
    except (ValueError, TypeError) as error:
        return (dataclasses.replace(config, schedule=None),
                [f"Schedule {config.schedule['name']}: {error}. Racing without a schedule."])
    return config, []


def main() -> None:
    load_url()
    lesson_slot = st.sidebar.container()
    config, flags = sidebar_config()
    lesson = lesson_picker(lesson_slot, config)
    config, errors = _checked_schedule(config)

    query = race.to_query(config)
    query.update({key: "true" for key, on in flags.items() if on})
    query.update(inspected_query())
    URL.write(query)
    URL.warn()

    if lesson is not None:
        st.info(f"**Lesson: {lesson.title}.** {lesson.caption}")
    try:
        surface = race_cache.surface(config.surface, config.surface_params)
    except ValueError as error:
        st.error(escape(error))
        return
    view_columns = st.columns([2, 1, 1, 1])
    if getattr(surface, "description", ""):
        view_columns[0].caption(escape(surface.description))
    for column, key in zip(view_columns[1:], ("field", "view3d", "inspect")):
        flag(column, UI_FLAGS[key], key, False)
        flags[key] = bool(state[key])

    for message in errors:
        st.error(escape(message))
    if not config.optimizers:
        st.info("Select at least one optimizer in the sidebar.")
    try:  # the whole request within the compute budget, before any optimizer steps
        spent = budget.check(budget.race_view_cost(config, view3d=flags["view3d"]), what="This race").seconds
        seconds = live.seconds_left(spent)  # the live sliders take what the budget leaves
    except ValueError as error:
        st.error(escape(error))
        return

    computed = race_cache.run(config)
    trajectories = computed.trajectories
    for name, message in computed.failures.items():
        st.error(escape(f"{name}: {message}"))
    try:
        figures = _figures(config, bool(trajectories), flags["field"], flags["view3d"])
    except ValueError as error:
        st.error(escape(error))
        return

    race_column, curves_column = st.columns([3, 2]) if "race" in figures else (st.container(), st.container())
    if "race" in figures:
        with race_column:
            live_race(race_cache.live_spec(config, seconds, flags["field"], linked_lr=flags["same_lr"]), key="race",
                      on_change=on_live_change)
            if message := live.limited(config, seconds):
                st.caption(message)
    if "curves" in figures:
        curves_column.plotly_chart(figures["curves"], theme=None, key="curves")
        if not getattr(surface, "minima", ()):
            curves_column.caption("This surface has no known minimum: no distance-to-minimum curve.")
    for name, trajectory in trajectories.items():  # (the race marks each with its ✕)
        if trajectory.diverged_at[0] >= 0:
            st.warning(f"{name} diverged at step {int(trajectory.diverged_at[0])} "
                       f"({trajectory.diverged_reason[0]})")
    if figures.get("rows"):
        st.markdown(summary_table(figures["rows"]))
    if "surface" in figures:
        st.plotly_chart(figures["surface"], theme=None, key="surface3d")
    if flags["inspect"] and trajectories and config.steps:
        _inspect_section(config, surface, trajectories)

    _downloads(config, figures, trajectories, flags["field"], ready="race" in figures and not computed.failures,
               seconds=seconds)

    if config.optimizers:
        st.subheader("The update rules")
        st.caption("Lecture notation: ρ learning rate, α momentum, θ parameters, g gradient. torch.optim keeps "
                   "b ← αb + g and steps θ ← θ − ρb for momentum: the same iterates until ρ changes under a "
                   "schedule.")
        for name, hyper in config.optimizers.items():
            st.markdown(f"**{name}** — {optimizers.RULES[name].summary}")
            st.latex(update_rule(name, hyper, config.schedule_of(name), config.noise))
            st.caption(HINTS.get(name, ""))


main()
