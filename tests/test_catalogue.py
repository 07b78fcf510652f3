"""The hyper-parameter catalogue (every table derives from it), the validation module's checks, the lecture-notation
equations and the legends."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from losslab import grids, maps, race
from optimizers import catalogue, hyperparams, notation
from validation import Range, check_choice, check_integers, check_number

NUMBERS = [key for key, entry in catalogue.HYPERPARAMETERS.items() if entry.kind == "number"]


def keywords(name: str) -> dict:
    """Every keyword of optimizer ``name`` (a wrapper's with its default base's) but its choices."""
    keys = {**optimizers.defaults(name), **optimizers.RULES[name].fixed}
    return {key: value for key, value in keys.items() if hyperparams.entry(name, key).kind != "choice"}


def halves(key: str, value, name: str) -> list[tuple[str, object]]:
    """(catalogue key, value) of optimizer ``name``'s keyword: a pair (betas, etas, ...) as its two halves."""
    entry = hyperparams.entry(name, key)
    return list(zip(entry.parts, value)) if entry.kind == "pair" else [(key, value)]


# --- the catalogue -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", optimizers.names())
def test_every_keyword_of_every_optimizer_is_in_the_catalogue(name):
    for key, default in optimizers.defaults(name).items():
        entry = hyperparams.entry(name, key)
        if entry.kind == "choice":
            assert default in entry.choices and len(entry.choices) >= 2, key
        else:
            assert entry.kind == ("flag" if isinstance(default, bool) else "pair" if isinstance(default, tuple) else
                                  "number"), key
        assert entry.label and entry.doc


@pytest.mark.parametrize("name", optimizers.names())
def test_every_valid_range_contains_the_default_and_the_race_lr(name):
    for key, default in keywords(name).items():
        if isinstance(default, bool):
            continue
        for part, value in halves(key, default, name):
            assert value is None or hyperparams.entry(name, part).valid.contains(value), (name, part, value)
    lr = catalogue.race_lr(name)
    assert catalogue.spec("lr").valid.contains(lr)
    low, high = catalogue.spec("lr").ui
    assert low <= lr <= high  # a race starts where Explore's slider can show it
    for surface in catalogue.SURFACE_LR:
        assert low <= catalogue.race_lr(name, surface) <= high


@pytest.mark.parametrize("key", [key for key, entry in catalogue.HYPERPARAMETERS.items() if entry.ui])
def test_the_ui_range_lies_inside_the_valid_range(key):
    entry = catalogue.spec(key)
    low, high = entry.ui
    assert low < high and entry.valid.contains(np.array([low, high])).all()
    assert not entry.log or low > 0  # a log slider cannot reach 0


@pytest.mark.parametrize("name", optimizers.names())
def test_symbols_are_unique_per_optimizer(name):
    entries = [hyperparams.entry(name, part) for key, default in keywords(name).items() if not isinstance(default, bool)
               for part, _ in halves(key, default, name)]
    symbols, latex = [entry.symbol for entry in entries], [entry.latex for entry in entries]
    assert all(symbols) and len(set(symbols)) == len(symbols), symbols
    assert len(set(latex)) == len(latex), latex


def test_the_lr_ui_range_is_the_maps_axis_and_explores_grid_ends():
    low, high = catalogue.spec("lr").ui
    assert (maps.AXES["lr"].low, maps.AXES["lr"].high) == (low, high) and maps.AXES["lr"].log
    assert grids.LR_BOUNDS == (low, high) and (grids.LR_GRID[0], grids.LR_GRID[-1]) == (low, high)
    assert (grids.EPS_GRID[0], grids.EPS_GRID[-1]) == catalogue.spec("eps").ui
    for key in ("momentum", "beta1", "alpha"):  # the maps' hyper-parameter axes are the sliders' ranges
        axis = maps.AXES[key]
        assert (axis.low, axis.high) == catalogue.spec(key).ui and axis.symbol == catalogue.spec(key).symbol


def test_slider_ranges_and_flag_labels_are_explores():
    assert catalogue.UI_RANGES == {"lr": (1e-5, 10.0), "momentum": (0.0, 0.999), "dampening": (0.0, 0.999),
                                   "alpha": (0.0, 1.0), "eps": (1e-16, 0.1), "beta1": (0.0, 0.999),
                                   "beta2": (0.0, 0.9999), "rho": (0.0, 1.0), "etaminus": (0.01, 0.99),
                                   "etaplus": (1.01, 3.0), "beta2_decay": (-1.0, 0.0), "d": (1.0, 10.0),
                                   "beta3": (0.0, 0.9999), "final_lr": (0.0, 1.0)}
    assert catalogue.FLAG_LABELS["nesterov"] == "Nesterov"
    assert catalogue.FLAG_LABELS["decoupled_weight_decay"] == "decoupled weight decay (AdamW)"
    assert catalogue.spec("lr_decay").symbol == "η" and catalogue.spec("lr_decay").latex == r"\eta"  # one choice
    assert catalogue.spec("alpha").label == "ρ_r  smoothing (torch alpha)"


def test_race_defaults_read_the_catalogue():
    for name in optimizers.names():
        own = optimizers.RULES[name].defaults.get("base_optimizer", name)  # a wrapper races at its base's ρ,
        assert race.optimizer_defaults(name)["lr"] == catalogue.DEFAULT_LR[own]  # or its own where it has one
        for surface, rates in catalogue.SURFACE_LR.items():
            expected = rates.get(name) or rates.get(own, catalogue.DEFAULT_LR[own])
            assert race.optimizer_defaults(name, surface)["lr"] == expected
    assert race.optimizer_defaults("sam", "rosenbrock", "adam")["lr"] == catalogue.race_lr("adam", "rosenbrock")
    assert catalogue.race_lr("sgd", "network") == 0.1  # the Networks page's ρ, on Explore too
    assert set(catalogue.SURFACE_LR) <= set(landscapes.names())
    with pytest.raises(ValueError, match=r"Unknown hyper-parameter 'step_size' \(valid: lr, momentum"):
        catalogue.spec("step_size")  # a schedule's, not an optimizer's


@pytest.mark.parametrize("key", [key for key in NUMBERS if key != "noise"])
def test_an_out_of_range_keyword_is_refused_naming_it_and_its_range(key):
    name, keyword = next((n, k) for n in optimizers.names() for k, d in keywords(n).items()
                         if not isinstance(d, bool) and any(part == key for part, _ in halves(k, d, n)))
    valid = catalogue.spec(key).valid
    bad = valid.low - 0.5 if math.isinf(valid.high) else valid.high + 0.5
    default = keywords(name)[keyword]
    value = tuple(bad if part == key else v for part, v in halves(keyword, default, name)) if keyword != key else bad
    with pytest.raises(ValueError) as error:
        optimizers.run(landscapes.get("booth"), name, steps=1, **{keyword: value})
    message = str(error.value)
    assert re.match(rf"Invalid {re.escape(keyword)}(\[\d\] \(.+\))? value: {re.escape(repr(bad))} ", message), message
    assert message.endswith(f"(must be {valid.rule})") and str(valid) == f"must be {valid.rule}"


# --- the validation module -----------------------------------------------------------------------------------------

ends = st.sampled_from([-math.inf, -2.0, -1.0, 0.0, 0.5, 1.0, 3.0, math.inf])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5).map(float),
                   st.sampled_from([0.0, 0.5, 1.0, -1.0, 3.0, 0.999]))


@st.composite
def ranges(draw) -> Range:
    low, high = sorted((draw(ends), draw(ends)))
    return Range(low, high, low_open=draw(st.booleans()), high_open=draw(st.booleans()), integer=draw(st.booleans()))


def direct(valid: Range, x: float) -> bool:
    if not math.isfinite(x) or (valid.integer and (x != int(x) or abs(x) >= 2**63)):
        return False
    above = x > valid.low if valid.low_open else x >= valid.low
    below = x < valid.high if valid.high_open else x <= valid.high
    return above and below


@settings(max_examples=300, deadline=None)
@given(valid=ranges(), value=values)
def test_check_number_agrees_with_a_direct_range_check(valid, value):
    try:
        result = check_number("x", value, valid)
    except ValueError as error:
        assert not direct(valid, value)
        assert re.fullmatch(r"Invalid x value: .+ \(must be (finite and )?" + re.escape(valid.rule) + r"\)",
                            str(error)), str(error)
        return
    assert direct(valid, value) and result == value and type(result) is (int if valid.integer else float)


@settings(max_examples=200, deadline=None)
@given(valid=ranges(), row=st.lists(values, min_size=1, max_size=6))
def test_a_per_row_array_passes_when_every_row_does_and_a_refusal_names_the_first_bad_row(valid, row):
    expected = [direct(valid, x) for x in row]
    try:
        result = check_number("gamma", np.array(row), valid, per_row=True)
    except ValueError as error:
        first = expected.index(False)
        assert f" at row {first} (must be " in str(error) and str(error).startswith("Invalid gamma value: ")
        return
    assert all(expected) and not result.flags.writeable and result.dtype == (np.int64 if valid.integer else float)
    np.testing.assert_array_equal(result, row)


def test_check_number_messages():
    unit = Range(0, 1, high_open=True)
    cases = [
        (dict(value=-1.0, valid=Range(0)), "Invalid lr value: -1.0 (must be >= 0)"),
        (dict(value=-1, valid=Range(0), floats=True), "Invalid lr value: -1.0 (must be >= 0)"),
        (dict(value=float("inf"), valid=Range(0)), "Invalid lr value: inf (must be finite and >= 0)"),
        (dict(value=1.0, valid=unit), "Invalid lr value: 1.0 (must be in [0, 1))"),
        (dict(value=[0.5, 1.5], valid=unit, per_row=True), "Invalid lr value: 1.5 at row 1 (must be in [0, 1))"),
        (dict(value=np.ones((2, 2)), valid=unit, per_row=True),
         "Invalid lr shape: (2, 2) (must be a scalar or a non-empty 1-D per-row array)"),
        (dict(value=[], valid=unit, per_row=True),
         "Invalid lr shape: (0,) (must be a scalar or a non-empty 1-D per-row array)"),
        (dict(value="abc", valid=Range(1, 1e4), text=True), "Invalid lr value: 'abc' (must be a number in [1, 10000])"),
        (dict(value="0.5", valid=Range(0, low_open=True)), "Invalid lr value: '0.5' (must be a number > 0)"),
        (dict(value=True, valid=Range(0)), "Invalid lr value: True (must be a number >= 0)"),
        (dict(value=2.5, valid=Range(1, integer=True)), "Invalid lr value: 2.5 (must be an integer >= 1)"),
        (dict(value=-1, valid=Range(0, 9999, integer=True)), "Invalid lr value: -1 (must be an integer in [0, 9999])"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError) as error:
            check_number("lr", **kwargs)
        assert str(error.value) == message
    assert check_number("n", "3", Range(0, 10, integer=True), text=True) == 3
    assert check_number("n", 2.0, Range(1, integer=True)) == 2


def test_choice_and_integer_list_checks():
    assert check_choice("activation", "tanh", ("tanh", "relu")) == "tanh"
    with pytest.raises(ValueError, match=r"^Invalid activation value: 'elu' \(must be one of tanh, relu\)$"):
        check_choice("activation", "elu", ("tanh", "relu"))
    with pytest.raises(ValueError, match=r"^Invalid three_phase value: 1 \(must be one of False, True\)$"):
        check_choice("three_phase", 1, (False, True))  # 1 is not True
    assert check_integers("milestones", [1, 5, np.int64(9)], low=1, max_length=3, increasing=True) == (1, 5, 9)
    for bad in ([3, 3], [0], [1.0], "1,2", [1, 2, 3, 4], [True]):
        with pytest.raises(ValueError, match=r"^Invalid milestones value: .* \(must be a list of at most 3 strictly "
                                             r"increasing integers >= 1\)$"):
            check_integers("milestones", bad, low=1, max_length=3, increasing=True)


def test_surface_parameters_and_schedules_use_the_same_checks():
    condition = next(p for p in landscapes.parameters("quadratic") if p.name == "condition")
    assert condition.range == Range(1, 1e4) and condition.validate("50") == 50.0
    with pytest.raises(ValueError, match=r"^Invalid gamma value: -1 \(must be > 0\)$"):
        optimizers.schedules.ExponentialLR(gamma=-1)
    assert optimizers.schedules.PARAMETERS["OneCycleLR"][3][2] == "annealing shape (one of cos, linear)"


# --- notation and legends ------------------------------------------------------------------------------------------


def test_update_rule_writes_the_lecture_notation_with_the_values():
    rule = notation.update_rule("momentum", race.optimizer_defaults("momentum"), None, 0.0)
    assert r"v \leftarrow \alpha v - \rho g" in rule and r"\rho &= 0.01" in rule and r"\alpha &= 0.9" in rule
    assert r"\tau" not in rule  # dampening 0 changes nothing: not listed
    scheduled = notation.update_rule("adam", {"lr": 3e-5, "betas": (0.9, 0.999), "eps": 1e-8}, {"name": "StepLR"},
                                     0.1)
    assert r"\rho_0 &= 3 \cdot 10^{-5}" in scheduled and r"\epsilon &= 10^{-8}" in scheduled
    assert r"\beta_2 &= 0.999" in scheduled and r"\rho_k &= \text{StepLR}(k, \rho_0)" in scheduled
    assert r"\sigma \xi" in scheduled and r"\sigma &= 0.1" in scheduled
    adagrad = notation.update_rule("adagrad", {"lr": 0.3, "lr_decay": 0.01}, None, 0.0)
    assert r"(t - 1)\eta" in adagrad and r"\eta &= 0.01" in adagrad
    assert set(notation.HINTS) == set(optimizers.names())


def test_a_trajectory_carries_its_legend_and_plots_read_it():
    from plots.style import legend_label

    surface = landscapes.get("booth")
    momentum = optimizers.run(surface, "momentum", steps=2, lr=0.01)
    assert momentum.legend == "ρ=0.01, α=0.9"
    assert legend_label("momentum", momentum) == "momentum (ρ=0.01, α=0.9)"
    assert legend_label("momentum (constant ρ)", momentum) == "momentum (constant ρ) (ρ=0.01, α=0.9)"
    adamw = optimizers.run(surface, "adamw", steps=2, lr=np.array([0.01, 0.02]))
    assert adamw.legend == "ρ=per-row, β=(0.9, 0.999), λ=0.01"
    assert catalogue.legend_label("sgd", {"lr": 0.035}) == "sgd (ρ=0.035)"
    assert legend_label("sgd", object()) == "sgd"  # a run without a legend: its name


def test_every_optimizer_is_in_exactly_one_picker_group_with_its_reference():
    grouped = [name for names in catalogue.GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(optimizers.names())
    assert catalogue.picker_label("adan") == "adan · modern · Adan (pytorch_optimizer)"
    assert catalogue.picker_label("nesterov").startswith("nesterov · classic · SGD (torch.optim)")
    assert "ours" in catalogue.picker_label("adam_nobc")
