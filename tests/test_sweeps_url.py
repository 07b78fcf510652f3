"""Sweeps' settings in the URL, and the one query-parameter schema of every page: ``losslab.maps.to_query`` and
``from_query`` round-trip, a bad value is a message and its default, and the Sweeps, Explore and Networks pages
(through streamlit.testing.v1.AppTest, reached through the router) read the keys they share alike."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from losslab import maps, race, schedule_presets
from optimizers import catalogue
from tests.rendered import shown
from tests.test_networks_page import SMALL, networks_page
from tests.test_sweeps_page import ROOT, TIMEOUT, assert_clean, chart, sweeps_page

FAST = {"cells": "16", "steps": "100", "lr_range": "0.0001,0.1", "y_range": "0.0,0.99"}  # small, quick maps


# --- the library: maps.to_query / maps.from_query ---------------------------------------------------------------


def _real(low: float, high: float, log: bool = False) -> st.SearchStrategy[float]:
    if log:
        return st.floats(math.log10(low), math.log10(high)).map(lambda e: float(10.0**e))
    return st.floats(low, high, allow_nan=False)


def _span(low: float, high: float, log: bool) -> st.SearchStrategy[tuple[float, float]]:
    pair = st.tuples(_real(low, high, log), _real(low, high, log)).filter(lambda p: p[0] != p[1])
    return pair.map(lambda p: (min(p), max(p)))


def _hyper_value(key: str, default: object) -> st.SearchStrategy[object]:
    if isinstance(default, bool):
        return st.booleans()
    if key == "betas":
        return st.tuples(_real(0.0, 0.999), _real(0.0, 0.9999))
    entry = catalogue.spec(key)
    low, high = entry.ui or (0.0, 1.0)
    if entry.valid is not None and entry.valid.integer:  # κ, T_w, LBFGS's counts: whole numbers, as the page's
        return st.integers(math.ceil(low), math.floor(high))
    return _real(low, high, log=entry.log)


@st.composite
def map_configs(draw: st.DrawFn) -> maps.MapConfig:
    """A valid map configuration, ``surface_params`` complete (as ``from_query`` and the page give them)."""
    surface = draw(st.sampled_from(maps.surfaces()))
    params = {spec.name: draw(_real(spec.low, spec.high, spec.log)) for spec in landscapes.parameters(surface)}
    optimizer = draw(st.sampled_from(optimizers.names()))
    y = draw(st.sampled_from(maps.y_axes(optimizer, surface)))
    defaults = race.optimizer_defaults(optimizer, surface)
    chosen = draw(st.lists(st.sampled_from(sorted(defaults)), unique=True, max_size=3))
    hyper = {key: draw(_hyper_value(key, defaults[key])) for key in chosen}
    cells, seeds = draw(st.integers(maps.MIN_CELLS, maps.MAX_CELLS)), draw(st.integers(1, maps.MAX_SEEDS))
    steps = draw(st.integers(0, min(maps.MAX_STEPS, maps.MAX_WORK // (cells**2 * seeds))))
    config = maps.MapConfig(
        surface=surface, surface_params=params, optimizer=optimizer, y=y, hyper=hyper, cells=cells, seeds=seeds,
        steps=steps, lr_range=draw(st.none() | _span(*maps.AXES["lr"][3:6])), noise=draw(_real(0.0, 10.0)),
        seed=draw(st.integers(0, 2**63 - 1)), tol=draw(_real(0.0, 1.0)),
        start=draw(st.none() | st.tuples(_real(-5.0, 5.0), _real(-5.0, 5.0))))
    axis = maps.axis_for(y, config.landscape())
    config = dataclasses.replace(config, y_range=draw(st.none() | _span(max(axis.low, 1e-3) if axis.log else axis.low,
                                                                          axis.high, axis.log)))
    try:
        return config.validate()
    except ValueError:
        assume(False)


@st.composite
def views(draw: st.DrawFn) -> dict[str, object]:
    """The Sweeps page's view settings, complete (as ``from_query`` gives them)."""
    preset = draw(st.sampled_from(list(schedule_presets.PRESETS)))
    view = {"view": draw(st.sampled_from(maps.VIEWS)), "metric": draw(st.sampled_from(maps.METRICS)),
            "curve_opt": tuple(draw(st.lists(st.sampled_from(optimizers.names()), unique=True))),
            "points": draw(st.integers(maps.MIN_CELLS, maps.MAX_CURVE_POINTS)), maps.PRESET_KEY: preset,
            "base_lr": draw(st.none() | _real(1e-5, 10.0, log=True)),
            "budget": draw(st.integers(2, 64)) ** 2, "search_seed": draw(st.integers(0, 2**40))}
    for knob in schedule_presets.PRESETS[preset].knobs:
        view[f"{maps.PRESET_KEY}.{knob.key}"] = draw(_real(knob.low, knob.high))
    return view


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(map_configs(), views())
def test_a_map_and_its_view_round_trip_exactly_through_the_url(config, view):
    query = maps.to_query(config, view)
    assert all(isinstance(value, str) and len(value) <= race.MAX_QUERY_VALUE for value in query.values())
    assert maps.from_query(query) == (config, view, [])
    assert maps.to_query(*maps.from_query(query)[:2]) == query


def test_defaults_write_an_empty_url_and_an_empty_url_reads_the_defaults():
    config, view, messages = maps.from_query({})
    assert messages == [] and view == maps.VIEW_DEFAULTS
    assert config == maps.MapConfig(surface_params={"a": 1.0, "b": 100.0})
    assert maps.to_query(config, view) == {} and maps.to_query(maps.MapConfig()) == {}


GOOD = {"surface": "quadratic", "condition": "20.0", "opt": "adam", "y": "distance", "steps": "300", "noise": "0.5",
        "seed": "7", "cells": "32", "view": "curves", "points": "50"}


@pytest.mark.parametrize("key, text", [
    ("surface", "network"), ("surface", "<script>"), ("angle", "abc"), ("condition", "0.5"), ("opt", "sgd,adam"),
    ("opt", "bogus"), ("y", "momentum"), ("adam.eps", "-1"), ("adam.betas", "0.9"), ("steps", "5001"),
    ("steps", "²"), ("noise", "nan"), ("seed", "-1"), ("start", "1"), ("cells", "1000"), ("seeds", "0"),
    ("tol", "-1"), ("lr_range", "1,0.1"), ("lr_range", "0,1"), ("y_range", "0.5"), ("view", "3d"), ("metric", "x"),
    ("curve_opt", "sgd,sgd"), ("points", "1.5"), ("schedule_preset", "StepLR"), ("schedule_preset.gamma", "0.5"),
    ("base_lr", "100"), ("budget", "10"), ("search_seed", "-3"),
])
def test_a_bad_value_is_a_message_and_its_default_and_the_rest_applies(key, text):
    config, view, messages = maps.from_query({**GOOD, key: text})
    (message,) = messages
    assert message.startswith(f"Ignored URL parameter {key}=") and "using the default" in message
    expected, expected_view, _ = maps.from_query({k: v for k, v in GOOD.items() if k != key})
    assert (config, view) == (expected, expected_view)


def test_a_list_of_optimizers_names_the_key_and_keeps_the_default():
    config, _, messages = maps.from_query({"opt": "sgd,momentum,rmsprop,adam", "steps": "300"})
    assert config.optimizer == "momentum" and config.steps == 300
    assert messages == ["Ignored URL parameter opt='sgd,momentum,rmsprop,adam' (a map has one optimizer); using "
                        "the default."]


def test_oversized_keys_and_values_are_refused_unread_and_other_pages_keys_are_not_judged():
    long_key, long_value = race.MAX_QUERY_KEY + 1, race.MAX_QUERY_VALUE + 1
    query = {"x" * long_key: "1", "noise": "1" * long_value, "sgd.lr": "-1", "inspect.step": "²", "grid": "41",
             "steps": "300"}
    config, _, messages = maps.from_query(query)
    assert config.steps == 300 and config.noise == 0.0 and len(messages) == 2
    assert f"{long_key} characters" in messages[0] and f"{long_value} characters" in messages[1]


# --- one schema: the same key means the same thing on every page ------------------------------------------------


def test_the_keys_the_map_shares_with_a_race_read_the_same():
    query = {"surface": "rosenbrock", "a": "1.2", "b": "50.0", "opt": "adam", "adam.eps": "1e-06", "steps": "300",
             "noise": "0.5", "seed": "7", "start": "-1.0,1.5"}
    config, _, messages = maps.from_query(query)
    raced, race_messages = race.from_query(query)
    assert messages == race_messages == []
    assert config.surface_params == raced.surface_params and config.optimizer == list(raced.optimizers)[0]
    assert config.hyperparameters() == raced.optimizers["adam"]
    assert (config.steps, config.noise, config.seed, config.start) == (raced.steps, raced.noise, raced.seed,
                                                                       raced.start)
    assert maps.explore_query(config, config.hyperparameters()["lr"], None).items() >= race.to_query(raced).items()


def test_no_surface_parameter_takes_a_key_of_a_page():
    page_keys = {*race.RACE_KEYS, *maps.VIEW_DEFAULTS, "y", "lr_range", "y_range", "cells", "seeds", "tol", "grid",
                 "fullspace", "lesson", "view3d", "field", "same_lr", "inspect"}
    for surface in landscapes.names():
        for spec in landscapes.parameters(surface):
            assert race.surface_key(spec.name) not in page_keys, (surface, spec.name)


# --- the Sweeps page -------------------------------------------------------------------------------------------


def normalized(query: dict[str, str]) -> dict[str, str]:
    return maps.to_query(*maps.from_query(query)[:2])


def test_the_page_opens_a_url_and_writes_it_back_exactly():
    query = {"surface": "quadratic", "condition": "200.0", "opt": "rmsprop", "y": "distance", "rmsprop.alpha": "0.9",
             "steps": "200", "noise": "0.5", "seeds": "2", "seed": "7", "start": "1.0,-1.0", "tol": "0.0001",
             "cells": "16", "lr_range": "0.001,0.5", "y_range": "0.5,2.0", "metric": "steps_to_tol"}
    at = sweeps_page(query)
    assert_clean(at)
    assert not at.warning
    assert at.selectbox(key="sweeps.surface").value == "quadratic"
    assert at.select_slider(key="sweeps.quadratic.condition").value == 200.0
    assert at.selectbox(key="sweeps.optimizer").value == "rmsprop" and at.selectbox(key="sweeps.y").value == "distance"
    assert at.slider(key="sweeps.fixed.rmsprop.alpha").value == 0.9
    assert at.slider(key="sweeps.steps").value == 200 and at.number_input(key="sweeps.noise").value == 0.5
    assert at.slider(key="sweeps.seeds").value == 2 and at.number_input(key="sweeps.seed").value == 7
    assert (at.number_input(key="sweeps.start.quadratic.x").value, at.number_input(
        key="sweeps.start.quadratic.y").value) == (1.0, -1.0)
    assert at.select_slider(key="sweeps.tol").value == 1e-4 and at.select_slider(key="sweeps.cells").value == 16
    assert (at.select_slider(key="sweeps.lr_range.from").value, at.select_slider(key="sweeps.lr_range.to").value) \
        == (0.001, 0.5)
    assert at.radio(key="sweeps.metric").value == "steps_to_tol"
    assert "rmsprop on quadratic (condition = 200" in chart(at)["layout"]["title"]["text"]
    assert dict(at.query_params) == normalized(query) == query


def test_a_widget_change_goes_to_the_url():
    at = sweeps_page(FAST)
    assert_clean(at)
    assert dict(at.query_params) == FAST
    at.select_slider(key="sweeps.cells").set_value(24).run()
    at.radio(key="sweeps.metric").set_value("best_loss").run()
    at.selectbox(key="sweeps.optimizer").set_value("adam").run()
    assert_clean(at)
    assert dict(at.query_params) == {**FAST, "cells": "24", "metric": "best_loss", "opt": "adam", "y_range": "0.0,0.99"}
    config, view, messages = maps.from_query(dict(at.query_params))
    assert messages == [] and (config.cells, config.optimizer, view["metric"]) == (24, "adam", "best_loss")


def test_bad_values_are_a_warning_and_their_defaults_and_the_rest_applies():
    at = sweeps_page({**FAST, "surface": "beale", "cells": "50", "steps": "abc", "opt": "sgd,adam", "budget": "10"})
    assert not at.exception and not at.error
    (warning,) = at.warning
    text = shown(warning.value)
    assert "cells=50 (the page's cells hold 16, 24, 32, 48, 64, 96, 128)" in text
    assert "steps='abc' (must be a number)" in text and "opt='sgd,adam' (a map has one optimizer)" in text
    assert "budget='10'" in text
    assert at.selectbox(key="sweeps.surface").value == "beale"  # the rest of the URL applies
    assert at.select_slider(key="sweeps.cells").value == 64 and at.slider(key="sweeps.steps").value == 1000
    assert at.selectbox(key="sweeps.optimizer").value == "momentum"
    assert dict(at.query_params) == {"surface": "beale", "lr_range": "0.0001,0.1", "y_range": "0.0,0.99"}
    at.select_slider(key="sweeps.cells").set_value(16).run()  # the reader moved on: the message goes
    assert not at.warning


def test_the_views_settings_open_from_the_url():
    query = {**FAST, "view": "curves", "curve_opt": "sgd,adam", "points": "16", "schedule_preset": "step",
             "schedule_preset.gamma": "0.5", "base_lr": "0.01", "budget": "16", "search_seed": "3"}
    at = sweeps_page(query)
    assert_clean(at)
    assert at.multiselect(key="sweeps.curve_optimizers").value == ["sgd", "adam"]
    assert at.slider(key="sweeps.points").value == 16
    assert set(n.get("name") for n in chart(at)["data"]) >= {"sgd", "adam"}
    assert dict(at.query_params) == query
    at.session_state["sweeps.view"] = "Schedules"
    at.run()
    assert_clean(at)
    assert at.selectbox(key="sweeps.schedule").value == "step"
    assert at.number_input(key="sweeps.schedule.step.gamma").value == 0.5
    assert at.select_slider(key="sweeps.base_lr").value == 0.01
    assert dict(at.query_params) == {**query, "view": "schedules"}


def test_back_from_another_page_the_last_settings_return():
    at = sweeps_page(FAST)
    at.select_slider(key="sweeps.cells").set_value(24).run()
    written = dict(at.query_params)
    at.query_params.clear()  # the sidebar's links carry no query
    at.switch_page("losslab/app/explore.py").run()
    assert_clean(at)
    at.query_params.clear()
    at.switch_page("losslab/app/sweeps.py").run()
    assert_clean(at)
    assert at.select_slider(key="sweeps.cells").value == 24 and dict(at.query_params) == written


def test_the_shared_keys_open_explore_and_sweeps_with_the_same_settings():
    from streamlit.testing.v1 import AppTest

    shared = {"surface": "beale", "steps": "300", "noise": "0.5", "seed": "7", "start": "1.0,1.0"}
    explore = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    explore.query_params.update(shared)
    explore.run()
    assert not explore.exception
    assert explore.selectbox(key="surface").value == "beale" and explore.slider(key="steps").value == 300
    assert explore.number_input(key="noise").value == 0.5 and explore.number_input(key="seed").value == 7
    assert (explore.number_input(key="start_x").value, explore.number_input(key="start_y").value) == (1.0, 1.0)
    at = sweeps_page({**shared, "cells": "16"})
    assert_clean(at)
    assert not at.warning
    assert at.selectbox(key="sweeps.surface").value == "beale" and at.slider(key="sweeps.steps").value == 300
    assert at.number_input(key="sweeps.noise").value == 0.5 and at.number_input(key="sweeps.seed").value == 7
    assert (at.number_input(key="sweeps.start.beale.x").value, at.number_input(
        key="sweeps.start.beale.y").value) == (1.0, 1.0)
    assert dict(at.query_params).items() >= shared.items()


# --- the Networks page ------------------------------------------------------------------------------------------


def test_networks_writes_the_network_seed_as_surface_seed_and_reads_old_links():
    at = networks_page({**SMALL, "surface.seed": "3"})
    assert not at.exception
    assert at.number_input(key="net.seed").value == 3
    assert at.query_params["surface.seed"] == "3" and "seed" not in at.query_params
    old = networks_page({**SMALL, "seed": "4"})  # a link written before the shared keys
    assert old.number_input(key="net.seed").value == 4
    assert old.query_params["surface.seed"] == "4" and "seed" not in old.query_params


SWEEPS_KEYS = ["surface", "a", "b", "condition", "angle", "A", "opt", "y", "steps", "noise", "seed", "start", "tol",
               "cells", "seeds", "lr_range", "y_range", "momentum.momentum", "adam.betas", "rmsprop.alpha", "sgd.lr",
               *maps.VIEW_DEFAULTS, "schedule_preset.gamma", "schedule_preset.warmup_fraction"]
HOSTILE = ["", " ", "²", "٣", "1e400", "nan", "-inf", "-1", "0", "1", "0.5", "2.5", "1e-300", str(2**63), "9" * 199,
           "true", ",", "1,2,3", "0,1", "1,0.5", "[x](https://evil.example)", "sgd,adam", "adam", "beta1", "distance",
           "curves", "step", "quadratic", "best_loss"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(SWEEPS_KEYS), st.sampled_from(HOSTILE) | st.text(max_size=12), max_size=8))
def test_from_query_takes_any_query_and_gives_a_valid_map(query):
    config, view, messages = maps.from_query(query)
    config.validate()
    assert maps.from_query(maps.to_query(config, view)) == (config, view, [])
    assert len(messages) <= len(query) + 1
