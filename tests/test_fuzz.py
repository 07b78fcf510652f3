"""Property and fuzz tests: whatever a user (or a URL) throws at the engine and the query parser, the answer is a
``ValueError`` that names the offending parameter, or a result whose arrays are finite, consistently shaped and
marked where they diverged. Never another exception, never a NaN."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from landscapes import registry
from losslab import race

ANALYTIC = [name for name in landscapes.names()
            if registry.entry(name).factory.__module__ == "landscapes.analytic"]  # fast, no training
NAMED = re.compile(r"^(Invalid (?P<name>\w+)(?:\[\d\])?(?: \([^)]*\))?(?: value| shape|:| for)"
                   r"|Optimizer '\w+' takes no keyword '(?P<keyword>\w+)')")

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),  # anything, out of range included
    st.floats(0, 1, exclude_max=True),  # inside the [0, 1) ranges
    st.floats(1e-6, 10),  # plausible learning rates
    st.sampled_from([0.0, 1.0, -1.0, 0.999, 1e300, -0.0]),
)


def per_row(values: st.SearchStrategy, rows: int) -> st.SearchStrategy:
    """A scalar or a (rows,) array of ``values`` (a per-row hyper-parameter)."""
    return st.one_of(values, st.lists(values, min_size=rows, max_size=rows).map(np.array))


@st.composite
def engine_calls(draw):
    surface = draw(st.sampled_from(ANALYTIC))
    optimizer = draw(st.sampled_from(optimizers.names()))
    rows = draw(st.integers(1, 4))
    keywords = {}
    for key, default in optimizers.defaults(optimizer).items():
        if not draw(st.booleans()):
            continue
        if isinstance(default, bool):
            keywords[key] = draw(st.one_of(st.booleans(), st.sampled_from(["yes", 2, None])))
        elif isinstance(default, tuple):
            keywords[key] = (draw(per_row(numbers, rows)), draw(per_row(numbers, rows)))
        else:
            keywords[key] = draw(per_row(numbers, rows))
    if draw(st.integers(0, 9)) == 0:
        keywords["bogus"] = 1.0
    start = draw(st.one_of(
        st.none(),
        st.tuples(st.floats(-3, 3), st.floats(-3, 3)),
        st.lists(st.tuples(st.floats(-3, 3), st.floats(-3, 3)), min_size=rows, max_size=rows).map(np.array),
        st.tuples(numbers, numbers),
        st.sampled_from([(1.0,), (1.0, 2.0, 3.0), "1,2"]),
    ))
    steps = draw(st.one_of(st.integers(0, 120), st.sampled_from([-1, 10**6, 2.5, "10"])))
    return surface, optimizer, keywords, start, steps


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=engine_calls(), noise=st.sampled_from([0.0, 0.1]))
def test_engine_refuses_by_name_or_returns_finite_marked_arrays(call, noise):
    surface_name, optimizer, keywords, start, steps = call
    surface = landscapes.get(surface_name)
    arguments = dict(keywords, steps=steps, noise=noise, seed=1)
    if start is not None:
        arguments["start"] = start
    try:
        trajectory = optimizers.run(surface, optimizer, **arguments)
    except ValueError as error:
        match = NAMED.match(str(error))
        assert match, f"the message does not name a parameter: {error}"
        named = match["name"] or match["keyword"]
        assert named in {*keywords, "betas", "start", "steps", "batch", "nesterov"}, str(error)
        return
    rows, points = trajectory.points.shape[0], trajectory.points.shape[1]
    assert points == int(steps) + 1
    assert trajectory.points.shape == (rows, points, 2) and trajectory.losses.shape == (rows, points)
    assert np.isfinite(trajectory.points).all() and np.isfinite(trajectory.losses).all()
    assert trajectory.diverged_at.shape == (rows,)
    assert ((trajectory.diverged_at >= -1) & (trajectory.diverged_at <= int(steps))).all()
    assert ((trajectory.diverged_at == -1) == (trajectory.diverged_reason == "")).all()
    for row in np.flatnonzero(trajectory.diverged_at >= 0):  # frozen at its last finite iterate from there on
        k = trajectory.diverged_at[row]
        last = k if trajectory.diverged_reason[row] == "blow-up" else k - 1
        assert (trajectory.points[row, k:] == trajectory.points[row, last]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(call=engine_calls())
def test_sweep_refuses_by_name_or_returns_finite_summaries(call):
    surface_name, optimizer, keywords, start, steps = call
    try:
        summary = optimizers.sweep(landscapes.get(surface_name), optimizer, steps=steps,
                                   **({"start": start} if start is not None else {}), **keywords)
    except ValueError as error:
        assert NAMED.match(str(error)), f"the message does not name a parameter: {error}"
        return
    assert np.isfinite(summary.final_loss).all() and np.isfinite(summary.best_loss).all()
    assert summary.final_loss.shape == summary.diverged_at.shape == summary.steps_to_tol.shape
    assert np.isfinite(summary.final_point).all()


query_keys = st.sampled_from(
    ["surface", "opt", "steps", "start", "noise", "seed", "schedule", "condition", "angle", "a", "b",
     "sgd.lr", "momentum.momentum", "adam.betas", "adam.eps", "rmsprop.alpha", "nesterov.nesterov",
     "schedule.step_size", "schedule.gamma", "schedule.milestones", "adamw.weight_decay"]
)
query_values = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789.,-e+naif", max_size=20),
    st.sampled_from(["nan", "inf", "-1", "1e400", "0", "true", "1,2", "StepLR", "rosenbrock", "sgd,adam", "x" * 300]),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=st.dictionaries(st.one_of(query_keys, st.text(max_size=12)), query_values, max_size=8))
def test_query_parsing_never_raises_and_yields_a_valid_configuration(query):
    config, messages = race.from_query(query)
    assert all(isinstance(message, str) and message for message in messages)
    config.validate()  # what from_query returns always passes the library's checks
    assert config.surface in landscapes.names() and config.optimizers
    assert config.landscape().value(np.array(config.start_point())).shape == ()
