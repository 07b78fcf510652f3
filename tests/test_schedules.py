"""optimizers.schedules against torch.optim.lr_scheduler, step for step.

Reference loop (torch, float64): ``lr_k = opt.param_groups[0]["lr"]; opt.step(); scheduler.step()``.
Agreement: |ours − torch| <= 1e-12·|torch| + 1e-300 (the absolute floor only matters for subnormal lrs,
where relative precision no longer exists, e.g. StepLR with γ = 0.05 after 250 decays).
"""

from __future__ import annotations

import inspect
import json
import time
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch.optim import lr_scheduler

from optimizers import schedules as S

pytestmark = pytest.mark.filterwarnings("error")  # our code must stay silent; torch's own are filtered below

N = 300
RTOL, ATOL = 1e-12, 1e-300
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------- the reference
def torch_scheduler(opt: torch.optim.Optimizer, schedule: S._Schedule):
    kwargs = schedule.config()
    name = kwargs.pop("name")
    if name == "SequentialLR":
        kwargs["schedulers"] = [torch_scheduler(opt, s) for s in schedule.schedulers]
    if name == "OneCycleLR":
        kwargs["cycle_momentum"] = False
    return getattr(lr_scheduler, name)(opt, **kwargs)


def torch_lrs(schedule: S._Schedule, base_lr: float, n: int) -> np.ndarray:
    """lr_0 .. lr_{n-1} as torch's loop reads them."""
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base_lr)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's scheduler warnings, in the reference only
        sched = torch_scheduler(opt, schedule)
        for k in range(n):
            out.append(opt.param_groups[0]["lr"])
            if k < n - 1:
                opt.step()
                sched.step()
    return np.array(out, dtype=np.float64)


def ours(schedule: S._Schedule, base_lr, n: int) -> np.ndarray:
    return np.array([schedule(k, base_lr) for k in range(n)])


def assert_matches_torch(schedule: S._Schedule, base_lr: float, n: int = N) -> None:
    got, want = ours(schedule, base_lr, n), torch_lrs(schedule, base_lr, n)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=repr(schedule))


# ------------------------------------------------------------------------------------------- strategies
base_lrs = st.one_of(st.floats(1e-4, 10.0), st.sampled_from([1e-4, 1e-3, 1.0]))
gammas = st.floats(0.05, 1.5)
factors = st.one_of(st.sampled_from([0.0, 1.0, 1 / 3]), st.floats(0.0, 1.0), st.floats(1e-9, 1e-3))
iters = st.integers(1, 400)


def kwargs_for(name: str) -> st.SearchStrategy[dict]:
    return {
        "StepLR": st.fixed_dictionaries({"step_size": st.integers(1, 60), "gamma": gammas}),
        "MultiStepLR": st.fixed_dictionaries(
            {
                "milestones": st.lists(st.integers(0, N + 10), max_size=8, unique=True).map(sorted),
                "gamma": gammas,
            }
        ),
        "ExponentialLR": st.fixed_dictionaries({"gamma": gammas}),
        "CosineAnnealingLR": st.fixed_dictionaries(
            {
                "T_max": st.one_of(st.integers(1, 20), iters),
                "eta_min": st.one_of(st.just(0.0), st.floats(0, 2)),
            }
        ),
        "LinearLR": st.fixed_dictionaries(
            {"start_factor": factors.filter(lambda f: f > 0), "end_factor": factors, "total_iters": iters}
        ),
        "ConstantLR": st.fixed_dictionaries(
            {"factor": factors.filter(lambda f: f > 0), "total_iters": iters}
        ),
        "PolynomialLR": st.fixed_dictionaries({"total_iters": iters, "power": st.floats(0.0, 10.0)}),
        "OneCycleLR": st.fixed_dictionaries(
            {
                "max_lr": st.floats(1e-4, 10.0),
                "total_steps": st.integers(1, N),
                "pct_start": st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0])),
                "anneal_strategy": st.sampled_from(["cos", "linear"]),
                "div_factor": st.floats(1.0, 100.0),
                "final_div_factor": st.floats(1.0, 1e5),
                "three_phase": st.booleans(),
            }
        ),
    }[name]


CHAINABLE = [
    "StepLR",
    "MultiStepLR",
    "ExponentialLR",
    "CosineAnnealingLR",
    "LinearLR",
    "ConstantLR",
    "PolynomialLR",
]


def _build(name: str, kwargs: dict) -> S._Schedule | None:
    try:
        return getattr(S, name)(**kwargs)
    except ValueError:  # OneCycleLR configurations where torch divides by zero
        return None


def schedules_of(name: str) -> st.SearchStrategy[S._Schedule]:
    return kwargs_for(name).map(lambda kw: _build(name, kw)).filter(lambda s: s is not None)


@st.composite
def sequential(draw) -> S.SequentialLR:
    parts = [draw(schedules_of(draw(st.sampled_from(CHAINABLE)))) for _ in range(draw(st.integers(1, 3)))]
    milestones = sorted(
        draw(st.lists(st.integers(1, N), min_size=len(parts) - 1, max_size=len(parts) - 1, unique=True))
    )
    return S.SequentialLR(parts, milestones)


# ------------------------------------------------------------------------------------------- against torch
@pytest.mark.parametrize("name", CHAINABLE)
@SETTINGS
@given(data=st.data(), base_lr=base_lrs)
def test_matches_torch(name, data, base_lr):
    assert_matches_torch(data.draw(schedules_of(name)), base_lr)


@SETTINGS
@given(kwargs=kwargs_for("OneCycleLR"), base_lr=base_lrs)
def test_one_cycle_matches_torch_or_is_refused_where_torch_divides_by_zero(kwargs, base_lr):
    try:
        schedule = S.OneCycleLR(**kwargs)
    except ValueError as error:
        assert "zero-length phase" in str(error)
        with pytest.raises(ZeroDivisionError):  # torch fails somewhere in steps 0..total_steps
            p = torch.zeros(1, requires_grad=True)
            opt = torch.optim.SGD([p], lr=base_lr)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                sched = lr_scheduler.OneCycleLR(opt, **kwargs, cycle_momentum=False)
                for _ in range(kwargs["total_steps"]):
                    opt.step()
                    sched.step()
        return
    assert_matches_torch(schedule, base_lr, kwargs["total_steps"] + 1)  # torch defines steps 0..total_steps
    with pytest.raises(ValueError, match=r"Invalid step value"):
        schedule(kwargs["total_steps"] + 1, base_lr)


@SETTINGS
@given(schedule=sequential(), base_lr=base_lrs)
def test_sequential_matches_torch(schedule, base_lr):
    assert_matches_torch(schedule, base_lr)


def test_sequential_restarts_each_schedule_from_the_base_lr_at_its_milestone():
    warmup = S.SequentialLR([S.LinearLR(start_factor=0.1, total_iters=4), S.ExponentialLR(gamma=0.5)], [3])
    # LinearLR has reached only 0.775·ρ₀ at step 2; at the milestone torch restarts ExponentialLR from ρ₀
    np.testing.assert_allclose(ours(warmup, 1.0, 6), [0.1, 0.325, 0.55, 1.0, 0.5, 0.25], rtol=1e-15)
    assert_matches_torch(warmup, 1.0, 6)


@pytest.mark.parametrize(
    "schedule, n",
    [
        (S.CosineAnnealingLR(T_max=1000, eta_min=0.5), 3100),  # closed form would be 1e-11 off after T_max
        (S.CosineAnnealingLR(T_max=299, eta_min=0.9), 1000),
        (S.CosineAnnealingLR(T_max=1, eta_min=0.1), 10),
        (S.LinearLR(start_factor=1.0, end_factor=1e-8, total_iters=299), 310),  # closed form: 5e-9 off
        (S.LinearLR(start_factor=1 / 3, end_factor=0.0, total_iters=50), 60),  # torch ends at -8.8e-18·ρ₀
        (S.PolynomialLR(total_iters=2000, power=10.0), 2010),
        (S.ExponentialLR(gamma=0.999), 3000),
        (S.CosineAnnealingLR(T_max=3000, eta_min=0.01), 3001),
    ],
)
def test_long_horizons_where_torch_recursion_drifts(schedule, n):
    assert_matches_torch(schedule, 0.37, n)


@pytest.mark.parametrize("base_lr", [1e-4, 3e-3])
def test_cosine_rising_to_an_eta_min_far_above_the_base_lr(base_lr):
    # closed forms carry ~ulp(η) absolute errors: 4e-12 relative at η/ρ₀ = 2e4, so these rows are replayed;
    # torch starts from ρ₀ itself, but from its closed form η + (ρ₀ − η) when SequentialLR restarts it
    rising = S.CosineAnnealingLR(T_max=40, eta_min=2.0)
    np.testing.assert_array_equal(ours(rising, base_lr, 100), torch_lrs(rising, base_lr, 100))
    restarted = S.SequentialLR([S.ExponentialLR(0.9), rising], [3])
    np.testing.assert_array_equal(ours(restarted, base_lr, 100), torch_lrs(restarted, base_lr, 100))


def test_linear_lr_to_zero_reproduces_torch_sign_and_all():
    schedule = S.LinearLR(start_factor=1 / 3, end_factor=0.0, total_iters=50)
    want = torch_lrs(schedule, 0.37, 60)
    assert want[-1] != 0.0  # torch's recursion does not land on 0
    np.testing.assert_array_equal(ours(schedule, 0.37, 60), want)


def test_constant_lr_factor_zero_returns_base_where_torch_divides_by_zero():
    schedule = S.ConstantLR(factor=0.0, total_iters=3)
    np.testing.assert_array_equal(ours(schedule, 0.5, 5), [0.0, 0.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(torch_lrs(schedule, 0.5, 3), [0.0, 0.0, 0.0])
    with pytest.raises(ZeroDivisionError):
        torch_lrs(schedule, 0.5, 4)


# ------------------------------------------------------------------------------------------- per-row
@st.composite
def per_row(draw, name: str, rows: int = 4):
    """(per-row schedule, [scalar schedule per row]); shared non-numeric parameters come from row 0."""
    kws = [draw(kwargs_for(name)) for _ in range(rows)]
    shared = {"milestones", "anneal_strategy", "three_phase"}
    merged = {key: kws[0][key] if key in shared else np.array([kw[key] for kw in kws]) for key in kws[0]}
    scalars = [{**kw, **{key: kws[0][key] for key in shared & kw.keys()}} for kw in kws]
    singles = [_build(name, kw) for kw in scalars]
    assume(None not in singles)
    return getattr(S, name)(**merged), singles


@pytest.mark.parametrize("name", [*CHAINABLE, "OneCycleLR"])
@settings(max_examples=8, deadline=None)
@given(data=st.data(), bases=st.lists(base_lrs, min_size=4, max_size=4))
def test_per_row_parameters_equal_the_scalar_schedule_row_by_row(name, data, bases):
    batched, singles = data.draw(per_row(name))
    bases = np.array(bases)
    horizon = min(150, int(np.min(getattr(batched, "total_steps", N))) + 1)
    got = np.array([batched(k, bases) for k in range(horizon)])  # (steps, B)
    want = np.array([[s(k, b) for s, b in zip(singles, bases, strict=True)] for k in range(horizon)])
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert batched(0, bases[:, None]).shape == (4, 1)  # per-row parameters follow base_lr's first axis
    assert batched(0, 0.1).shape == (4,)
    assert batched(0, bases[:1]).shape == (4,)  # one row broadcasts, as in numpy


def test_sequential_with_per_row_parts():
    parts = [
        S.LinearLR(start_factor=np.array([0.1, 0.5]), total_iters=5),
        S.CosineAnnealingLR(np.array([10, 30])),
    ]
    batched = S.SequentialLR(parts, [5])
    for i in range(2):
        single = S.SequentialLR(
            [S.LinearLR([0.1, 0.5][i], total_iters=5), S.CosineAnnealingLR([10, 30][i])], [5]
        )
        np.testing.assert_array_equal(
            ours(batched, np.array([0.3, 0.7]), 80)[:, i], ours(single, [0.3, 0.7][i], 80)
        )
        assert_matches_torch(single, [0.3, 0.7][i], 80)


def test_per_row_lengths_must_agree():
    with pytest.raises(ValueError, match="differ in length"):
        S.StepLR(step_size=np.array([1, 2]), gamma=np.array([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="base_lr has 3 rows"):
        S.StepLR(step_size=np.array([1, 2]))(0, np.ones(3))
    one_row = S.CosineAnnealingLR(T_max=np.array([4]), eta_min=0.1)  # broadcasts like numpy
    np.testing.assert_array_equal(
        one_row(6, np.array([1.0, 2.0])), S.CosineAnnealingLR(4, 0.1)(6, np.array([1.0, 2.0]))
    )


# ------------------------------------------------------------------------------------------- replay state
@pytest.mark.parametrize(
    "schedule",
    [
        S.CosineAnnealingLR(T_max=7, eta_min=0.05),
        S.CosineAnnealingLR(T_max=np.array([3, 7, 11]), eta_min=np.array([0.0, 0.05, 0.2])),
        S.LinearLR(start_factor=np.array([0.1, 1.0, 0.5]), end_factor=0.01, total_iters=np.array([5, 40, 9])),
    ],
)
def test_replay_memo_gives_the_same_values_in_any_order(schedule, monkeypatch):
    bases = np.array([0.3, 1.0, 2.0])
    sequential_values = ours(schedule, bases, 120)
    fresh = S.from_config(schedule.config())
    order = np.random.default_rng(0).permutation(120)
    shuffled = np.empty_like(sequential_values)
    for k in order:
        shuffled[k] = fresh(int(k), bases)
        fresh(int(k), bases * 2)  # a different base in between must not leak through the memo
    np.testing.assert_array_equal(shuffled, sequential_values)
    # consecutive calls replay a single torch step each
    calls = []
    step = type(fresh)._torch_step
    monkeypatch.setattr(type(fresh), "_torch_step", lambda self, *a: calls.append(1) or step(self, *a))
    again = S.from_config(schedule.config())
    for k in range(120):
        again(k, bases)
    assert len(calls) <= 120


def test_sequential_calls_are_constant_time():
    schedule = S.CosineAnnealingLR(T_max=1000, eta_min=0.1)
    start = time.perf_counter()
    for k in range(4000):
        schedule(k, 0.5)
    assert time.perf_counter() - start < 5.0  # ~0.1 s; a replay from each trough would be ~100x slower


# ------------------------------------------------------------------------------------------- validation
ERRORS = [
    (S.StepLR, {"step_size": 0}, r"Invalid step_size value: 0 \(must be an integer in \[1, 2147483647\]\)"),
    (S.StepLR, {"step_size": 2.5}, r"Invalid step_size value: 2\.5 \(must be an integer in \[1, 2147483647\]\)"),
    (S.StepLR, {"step_size": True}, r"Invalid step_size value: True"),
    (S.StepLR, {"step_size": 3, "gamma": -0.5}, r"Invalid gamma value: -0\.5 \(must be > 0\)"),
    (S.StepLR, {"step_size": 3, "gamma": 0.0}, r"Invalid gamma value: 0\.0 \(must be > 0\)"),
    (
        S.StepLR,
        {"step_size": 3, "gamma": float("nan")},
        r"Invalid gamma value: nan \(must be finite and > 0\)",
    ),
    (
        S.StepLR,
        {"step_size": 3, "gamma": float("inf")},
        r"Invalid gamma value: inf \(must be finite and > 0\)",
    ),
    (
        S.StepLR,
        {"step_size": 3, "gamma": [0.5, -1.0]},
        r"Invalid gamma value: -1\.0 at row 1 \(must be > 0\)",
    ),
    (
        S.StepLR,
        {"step_size": 3, "gamma": "0.5"},
        r"Invalid gamma value: '0\.5' \(must be a number > 0\)",
    ),
    (
        S.StepLR,
        {"step_size": [[1, 2]]},
        r"Invalid step_size shape: \(1, 2\) \(must be a scalar or a non-empty 1-D per-row array\)",
    ),
    (S.StepLR, {"step_size": np.array([1, 0])}, r"Invalid step_size value: 0 at row 1"),
    (
        S.MultiStepLR,
        {"milestones": [5, 3]},
        r"Invalid milestones value: \[5, 3\] \(must be a list of at most 1000 strictly",
    ),
    (S.MultiStepLR, {"milestones": [2, 2]}, r"Invalid milestones value: \[2, 2\]"),
    (S.MultiStepLR, {"milestones": [-1]}, r"Invalid milestones value: \[-1\] .*>= 0"),
    (S.MultiStepLR, {"milestones": [1.5]}, r"Invalid milestones value: \[1\.5\]"),
    (S.MultiStepLR, {"milestones": 5}, r"Invalid milestones value: 5"),
    (S.ExponentialLR, {"gamma": -1}, r"Invalid gamma value: -1 \(must be > 0\)"),
    (S.CosineAnnealingLR, {"T_max": 0}, r"Invalid T_max value: 0 \(must be an integer in \[1, 2147483647\]\)"),
    (
        S.CosineAnnealingLR,
        {"T_max": 10, "eta_min": -1e-3},
        r"Invalid eta_min value: -0\.001 \(must be >= 0\)",
    ),
    (S.LinearLR, {"start_factor": 0.0}, r"Invalid start_factor value: 0\.0 \(must be in \(0, 1\]\)"),
    (S.LinearLR, {"start_factor": 1.5}, r"Invalid start_factor value: 1\.5 \(must be in \(0, 1\]\)"),
    (S.LinearLR, {"end_factor": -0.1}, r"Invalid end_factor value: -0\.1 \(must be in \[0, 1\]\)"),
    (S.LinearLR, {"end_factor": float("nan")}, r"Invalid end_factor value: nan \(must be in \[0, 1\]\)"),
    (S.LinearLR, {"total_iters": -3}, r"Invalid total_iters value: -3 \(must be an integer in \[1, 2147483647\]\)"),
    (S.ConstantLR, {"factor": 1.01}, r"Invalid factor value: 1\.01 \(must be in \[0, 1\]\)"),
    (S.ConstantLR, {"total_iters": 0}, r"Invalid total_iters value: 0"),
    (S.PolynomialLR, {"power": -1.0}, r"Invalid power value: -1\.0 \(must be >= 0\)"),
    (S.PolynomialLR, {"total_iters": 0}, r"Invalid total_iters value: 0"),
    (S.OneCycleLR, {"max_lr": -1.0, "total_steps": 10}, r"Invalid max_lr value: -1\.0 \(must be >= 0\)"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 0}, r"Invalid total_steps value: 0"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.5}, r"Invalid pct_start value: 1\.5"),
    (
        S.OneCycleLR,
        {"max_lr": 1.0, "total_steps": 10, "pct_start": 0.1},
        r"Invalid pct_start value: 0\.1 .*zero",
    ),
    (
        S.OneCycleLR,
        {"max_lr": 1.0, "total_steps": 10, "pct_start": 1.0},
        r"Invalid pct_start value: 1\.0 .*zero",
    ),
    (
        S.OneCycleLR,
        {"max_lr": 1.0, "total_steps": 10, "anneal_strategy": "cosine"},
        r"Invalid anneal_strategy",
    ),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 10, "div_factor": 0.0}, r"Invalid div_factor value: 0\.0"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 10, "final_div_factor": -1}, r"Invalid final_div_factor"),
    (S.OneCycleLR, {"max_lr": 1.0, "total_steps": 10, "three_phase": 1}, r"Invalid three_phase value: 1"),
    (S.SequentialLR, {"schedulers": [], "milestones": []}, r"Invalid schedulers value: \[\]"),
    (
        S.SequentialLR,
        {"schedulers": [S.ExponentialLR(0.9)] * 2, "milestones": []},
        r"Invalid milestones value: \[\]",
    ),
    (
        S.SequentialLR,
        {"schedulers": [S.ExponentialLR(0.9)] * 2, "milestones": [0]},
        r"Invalid milestones value",
    ),
    (S.SequentialLR, {"schedulers": [S.OneCycleLR(1.0, 10)], "milestones": []}, r"Invalid schedulers value"),
    (S.SequentialLR, {"schedulers": [lambda k, lr: lr], "milestones": []}, r"Invalid schedulers value"),
]


@pytest.mark.parametrize("cls, kwargs, message", ERRORS)
def test_invalid_parameters_raise_value_error(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


@pytest.mark.parametrize(
    "step, base_lr, message",
    [
        (-1, 0.1, r"Invalid step value: -1"),
        (1.0, 0.1, r"Invalid step value: 1\.0"),
        (0, "x", r"Invalid base_lr"),
    ],
)
def test_invalid_calls_raise_value_error(step, base_lr, message):
    with pytest.raises(ValueError, match=message):
        S.StepLR(3)(step, base_lr)


def test_no_warnings_on_extreme_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert S.ExponentialLR(gamma=1e10)(100, 1.0) == float("inf")
        assert S.StepLR(1, gamma=1e-300)(5, 1.0) == 0.0
        assert np.isnan(S.ExponentialLR(gamma=0.5)(3, np.array([np.nan]))).all()
        S.ConstantLR(factor=0.0, total_iters=1)(3, np.array([0.0, 1.0]))


# ------------------------------------------------------------------------------------------- description
@pytest.mark.parametrize("name", [*CHAINABLE, "OneCycleLR", "SequentialLR"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_config_round_trip(name, data):
    if name == "SequentialLR":
        schedule = data.draw(sequential())
    else:
        schedule = data.draw(st.one_of(per_row(name).map(lambda pair: pair[0]), schedules_of(name)))
    config = json.loads(json.dumps(schedule.config()))
    assert config["name"] == name
    rebuilt = S.from_config(config)
    assert rebuilt == schedule and hash(rebuilt) == hash(schedule) and rebuilt.config() == schedule.config()


def test_registry_and_parameters_describe_every_schedule():
    assert S.names() == [*CHAINABLE, "OneCycleLR", "SequentialLR"]
    assert S.PARAMETERS["StepLR"] == (
        ("step_size", None, "steps between decays (an integer in [1, 2147483647])"),
        ("gamma", 0.1, "multiplicative decay γ (> 0)"),
    )
    for name, params in S.PARAMETERS.items():  # torch's keyword names and defaults (None: required here)
        signature = inspect.signature(getattr(lr_scheduler, name)).parameters
        for param, default, doc in params:
            assert doc and param in signature
            torch_default = signature[param].default
            if default is not None:
                assert default == torch_default, (name, param)
            else:
                assert torch_default in (inspect.Parameter.empty, None), (name, param)


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "Nope"}, r"Invalid name value: 'Nope'"),
        (
            {"name": "StepLR", "step_size": 2, "foo": 1},
            r"Unknown parameter 'foo' for StepLR \(valid: step_size, gamma\)",
        ),
        ({"name": "StepLR"}, r"Missing parameter 'step_size' for StepLR"),
    ],
)
def test_from_config_errors(config, message):
    with pytest.raises(ValueError, match=message):
        S.from_config(config)


def test_schedules_are_frozen_and_hashable():
    schedule = S.StepLR(7, gamma=np.array([0.5, 0.9]))
    with pytest.raises(AttributeError):
        schedule.gamma = 0.1
    with pytest.raises(ValueError):
        schedule.gamma[0] = 0.1  # per-row arrays are stored read-only
    assert len({schedule, S.StepLR(7, gamma=[0.5, 0.9]), S.StepLR(7, 0.5)}) == 2
