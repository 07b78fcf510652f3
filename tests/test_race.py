"""RaceConfig: per-surface default learning rates and the URL round trip."""

from __future__ import annotations

import dataclasses
import math

import pytest

import landscapes
import optimizers
from losslab import race
from optimizers import catalogue

UNBOUNDED_BELOW = {"monkey_saddle"}  # x³ − 3xy² has no minimum: every run eventually leaves for −∞


def default_config(surface: str, factor: float = 1.0) -> race.RaceConfig:
    chosen = {}
    for name in optimizers.names():
        hyper = race.optimizer_defaults(name, surface)
        chosen[name] = {**hyper, "lr": hyper["lr"] * factor}
    return race.RaceConfig(surface=surface, surface_params={}, optimizers=chosen)


@pytest.mark.parametrize("surface", sorted(set(landscapes.names()) - UNBOUNDED_BELOW))
def test_default_learning_rates_do_not_diverge_with_a_twofold_margin(surface):
    for factor in (1.0, 2.0):
        trajectories = race.run_race(default_config(surface, factor), budget=math.inf)  # every optimizer: over 10 s
        diverged = {name: int(t.diverged_at[0]) for name, t in trajectories.items() if t.diverged_at[0] >= 0}
        assert not diverged, (surface, factor, diverged)


def test_surface_learning_rates_are_the_largest_grid_values_that_pass():
    """Each analytic surface's override is a 1-1.5-2-3-5-7 value and the next larger one would fail the margin test
    (the network's are the Networks page's: larger, to make progress in a few hundred steps)."""
    grid = sorted({float(f"{m * 10.0**e:.6g}") for e in range(-5, 1) for m in (1, 1.5, 2, 3, 5, 7)})
    for surface, overrides in catalogue.SURFACE_LR.items():
        if surface == "network":
            continue
        for name, lr in overrides.items():
            assert lr in grid and lr < catalogue.race_lr(name)
            larger = grid[grid.index(lr) + 1]
            hyper = {**race.optimizer_defaults(name, surface)}
            runs = [optimizers.run(landscapes.get(surface), name, steps=500, **{**hyper, "lr": larger * factor})
                    for factor in (1.0, 2.0)]
            assert any(t.diverged_at[0] >= 0 for t in runs), (surface, name, larger)


@pytest.mark.parametrize("surface", ["quadratic", "rosenbrock", "beale"])
def test_default_configuration_round_trips_through_the_url(surface):
    config = race.RaceConfig(surface=surface, surface_params={},
                             optimizers={n: race.optimizer_defaults(n, surface) for n in race.DEFAULT_OPTIMIZERS})
    query = race.to_query(config)
    assert not any(key.endswith(".lr") for key in query)  # defaults are not written
    loaded, messages = race.from_query(query)
    assert not messages
    assert loaded.optimizers == config.optimizers and loaded.surface == surface
    tuned = dataclasses.replace(config, optimizers={**config.optimizers, "sgd": {**config.optimizers["sgd"],
                                                                                  "lr": 0.0007}})
    assert race.from_query(race.to_query(tuned))[0].optimizers["sgd"]["lr"] == 0.0007


def test_network_parameters_round_trip_through_the_url():
    params = {"dataset": "spirals", "hidden": (8, 4), "activation": "relu", "seed": 3, "l2": 0.001}
    config = race.RaceConfig(surface="network", surface_params=params, noise=0.1, seed=5)
    query = race.to_query(config)
    assert query["hidden"] == "8,4" and query["surface.seed"] == "3" and query["seed"] == "5"  # no clash
    loaded, messages = race.from_query(query)
    assert not messages
    assert loaded.surface_params == params and loaded.seed == 5


def test_bad_network_parameters_in_the_url_fall_back_to_defaults():
    loaded, messages = race.from_query({"surface": "network", "dataset": "mnist", "hidden": "0", "surface.seed": "x",
                                        "activation": "relu"})
    assert loaded.surface_params == {"activation": "relu"}
    assert [m.split("=")[0] for m in messages] == ["Ignored URL parameter dataset", "Ignored URL parameter hidden",
                                                   "Ignored URL parameter surface.seed"]
    loaded, messages = race.from_query({"surface": "network", "dataset": "digits", "hidden": "256,256"})
    assert loaded.surface_params == {} and "must be at most 20000" in messages[0]  # valid alone, too big together


@pytest.mark.parametrize("surface", landscapes.names())
def test_a_surface_without_given_parameters_races_with_its_defaults(surface):
    """Only the default quadratic is raced with other parameters than its own defaults (κ and angle), each call a
    fresh copy; a URL naming only the surface gets exactly these."""
    given = race.surface_defaults(surface)
    if surface == race.DEFAULT_SURFACE:
        assert given == race.DEFAULT_SURFACE_PARAMS and given is not race.DEFAULT_SURFACE_PARAMS
        given["condition"] = -1.0
        assert race.surface_defaults(surface) == race.DEFAULT_SURFACE_PARAMS
    else:
        assert given == {}
    config, messages = race.from_query({"surface": surface})
    assert not messages and config.surface_params == race.surface_defaults(surface)


def test_a_too_long_url_key_is_refused_for_its_name_and_a_long_value_for_its_length():
    key = "k" * (race.MAX_QUERY_KEY + 1)
    config, messages = race.from_query({key: "1", "steps": "9" * (race.MAX_QUERY_VALUE + 1), "noise": "0.5"})
    assert config.noise == 0.5  # the rest of the URL still applies
    (long_key,) = [m for m in messages if "name has" in m]
    assert f"name has {race.MAX_QUERY_KEY + 1} characters (names have at most {race.MAX_QUERY_KEY})" in long_key
    assert "value" not in long_key
    (long_value,) = [m for m in messages if "'steps'" in m]
    assert f"its value has {race.MAX_QUERY_VALUE + 1} characters" in long_value


def test_a_wrappers_base_and_the_constant_lr_optimizers_round_trip_through_the_url():
    """SAM over Adam (Adam's keywords come with it) and a schedule that schedule-free SGD ignores: written to the URL
    and read back; a base that is not an optimizer, or a constant-ρ name not in the race, is refused by name."""
    sam = {**race.with_base("sam", race.optimizer_defaults("sam"), "adam"), "rho": 0.1, "betas": (0.8, 0.99)}
    config = race.RaceConfig(optimizers={"sam": sam, "schedulefree_sgd": race.optimizer_defaults("schedulefree_sgd")},
                             schedule={"name": "CosineAnnealingLR", "T_max": 500, "eta_min": 0.0},
                             constant_lr=("schedulefree_sgd",)).validate()
    query = race.to_query(config)
    assert query["sam.base_optimizer"] == "adam" and query["constant_lr"] == "schedulefree_sgd"
    loaded, messages = race.from_query(query)
    assert not messages and loaded == config
    trajectories = race.run_race(dataclasses.replace(config, steps=20))
    assert (trajectories["schedulefree_sgd"].lrs == config.optimizers["schedulefree_sgd"]["lr"]).all()
    assert trajectories["sam"].evaluations[0, -1] == 40
    _, messages = race.from_query({**query, "sam.base_optimizer": "lbfgs", "constant_lr": "adam"})
    assert any("sam.base_optimizer" in m and "one of sgd" in m for m in messages)
    assert any("constant_lr" in m and "must name selected optimizers" in m for m in messages)
