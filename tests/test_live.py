"""Live sliders: every family row is the race a fresh run at that value computes, and the packed paths the browser
gets decode back to the computed ones within a fraction of a pixel."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import numpy as np
import pytest

import optimizers
import plots
import plots.live
from losslab import budget, live, race
from optimizers import noise
from tests.torch_reference import ALWAYS_COMPARED, CHAOS_MARGIN, TOLERANCE

TOL = TOLERANCE  # the torch.optim tests' per-row rule: |a − b| / max(1, |b|) over the run


def close(a: np.ndarray, b: np.ndarray, tol: float = TOL) -> bool:
    return bool(np.all(np.abs(a - b) <= tol * np.maximum(1.0, np.abs(b))))


def chaotic(config: race.RaceConfig, name: str, fresh: np.ndarray, surface) -> bool:
    """The torch.optim tests' chaotic-row rule: the same one-row race from a start moved by one ulp differs from it
    by more than a tenth of the tolerance (a batch's network products differ from one row's by a few ulps)."""
    start = np.nextafter(np.asarray(config.start_point(surface)), np.inf)
    nudged = race.run_one(replace(config, start=tuple(start.tolist())), name, surface)
    return not close(nudged.points[0], fresh, TOL / CHAOS_MARGIN)


def config_on(surface: str, **changes) -> race.RaceConfig:
    names = changes.pop("names", race.DEFAULT_OPTIMIZERS)
    return replace(race.RaceConfig(surface=surface, surface_params=race.surface_defaults(surface),
                                   optimizers={n: race.optimizer_defaults(n, surface) for n in names}), **changes)


RACES = {
    "quadratic, noise and a schedule": config_on(
        "quadratic", steps=120, noise=0.3, seed=7, schedule={"name": "StepLR", "step_size": 30, "gamma": 0.5}),
    "rosenbrock": config_on("rosenbrock", steps=150, start=(-1.2, 1.4)),
    "logistic2, minibatches": config_on("logistic2", steps=60, batch_size=16, seed=3, names=("momentum", "adam")),
    "network slice, minibatches": config_on("network", steps=25, batch_size=32, seed=2, names=("sgd", "rmsprop")),
}


@pytest.mark.parametrize("name", RACES)
def test_every_family_row_is_the_race_a_fresh_run_at_that_value_computes(name):
    config = RACES[name]
    surface = config.landscape()
    rng = np.random.default_rng(0)
    compared = skipped = 0
    for slider in live.sliders(config):
        family = live.family(config, slider, surface)
        assert family.points.shape[0] == len(slider.values)
        positions = {slider.index, 0, len(slider.values) - 1, *rng.integers(0, len(slider.values), 3).tolist()}
        for j in sorted(positions):
            row = live.committed(config, slider, j)
            fresh = race.run_one(row, slider.optimizer, surface)
            where = (slider.optimizer, slider.key, float(slider.values[j]))
            assert close(family.points[j, : ALWAYS_COMPARED + 1], fresh.points[0, : ALWAYS_COMPARED + 1]), where
            if not close(family.points[j], fresh.points[0]) and chaotic(row, slider.optimizer, fresh.points[0],
                                                                         surface):
                skipped += 1
                continue
            assert family.diverged_at[j] == fresh.diverged_at[0], where
            assert close(family.points[j], fresh.points[0]), where
            assert close(family.losses[j], fresh.losses[0]), where
            compared += 1
    assert skipped < compared, (skipped, compared)  # chaotic rows stay a minority


def test_the_committed_race_is_the_fresh_race_of_its_url():
    config = RACES["quadratic, noise and a schedule"]
    slider = next(s for s in live.sliders(config) if (s.optimizer, s.key) == ("adam", "beta1"))
    j = len(slider.values) // 3
    committed = live.committed(config, slider, j)
    assert committed.optimizers["adam"]["betas"] == (float(slider.values[j]), 0.999)
    reloaded, messages = race.from_query(race.to_query(committed))
    assert not messages and reloaded == committed
    family = live.family(config, slider, config.landscape())
    fresh = race.run_race(reloaded)
    np.testing.assert_array_equal(fresh["adam"].points[0], family.points[j])  # same stream, same arithmetic
    for other in ("sgd", "momentum", "rmsprop"):  # the others are as they were
        np.testing.assert_array_equal(fresh[other].points, race.run_race(config)[other].points)


def test_live_keywords_follow_the_catalogue():
    assert live.live_keys("sgd") == ("lr",)
    assert live.live_keys("momentum") == live.live_keys("nesterov") == ("lr", "momentum")
    assert live.live_keys("rmsprop") == ("lr", "alpha")
    assert live.live_keys("adam") == live.live_keys("adamw") == live.live_keys("adam_nobc") == ("lr", "beta1")
    for name in optimizers.names():  # every optimizer's live keywords are read from and written to its race
        hyper = race.optimizer_defaults(name)
        for key in live.live_keys(name):
            value = live.current_value(hyper, key, name)
            assert live.current_value(live.with_value(hyper, key, value / 2, name), key, name) == value / 2
    for steps, kept in ((20, 2), (500, 1)):  # a network race of every optimizer: fewer sliders the longer it runs
        crowded = config_on("network", names=optimizers.names(), steps=steps)
        chosen = live.sliders(crowded)
        assert chosen and budget.live_cost(crowded, [(s.optimizer, len(s.values)) for s in chosen]).seconds \
            <= live.LIVE_SECONDS
        assert max(sum(s.optimizer == name for s in chosen) for name in crowded.optimizers) <= kept
        assert bool(live.limited(crowded)) == (len(chosen) < sum(len(live.live_keys(n)) for n in crowded.optimizers))
    first = [s.optimizer for s in live.sliders(config_on("network", names=optimizers.names(), steps=2000))]
    assert first == optimizers.names()[:len(first)]  # ρ of the first optimizers that fit, in the race's order
    assert live.limited(config_on("network", names=optimizers.names(), steps=2000)).startswith(
        ("Only ρ of sgd", "No slider is live"))
    assert live.seconds_left(3.0, budget_s=10.0) == live.LIVE_SECONDS and live.seconds_left(9.0, 10.0) == 1.0
    assert live.seconds_left(12.0, 10.0) == 0.0 and live.sliders(RACES["rosenbrock"], 0.0) == []


def test_grids_hold_the_current_value_and_step_by_0_005():
    momentum = live.grid("momentum", 0.9123)
    assert 0.9123 in momentum and momentum[0] == 0.0 and momentum.max() <= 0.999
    assert np.allclose(np.diff(np.setdiff1d(momentum, [0.9123])), 0.005)
    lr = live.grid("lr", 0.0123)
    assert 0.0123 in lr and set(live.LOG_GRIDS["lr"]) <= set(lr)


def test_network_families_are_fitted_to_the_budget_and_keep_the_current_value():
    config = config_on("network", steps=200, batch_size=32)
    for slider in live.sliders(config):
        current = live.current_value(config.optimizers[slider.optimizer], slider.key, slider.optimizer)
        whole = live.grid(slider.key, current, slider.optimizer)
        assert len(slider.values) >= live.MIN_POSITIONS
        share = live.LIVE_SECONDS / len(live.sliders(config))  # an equal share of the default
        assert len(slider.values) == len(whole) or len(slider.values) <= live.MIN_POSITIONS + 1 or \
            budget.family_cost(config, slider.optimizer, len(slider.values)).seconds <= share
        assert slider.values[slider.index] == current


def test_bad_positions_and_streams_are_refused():
    config = RACES["rosenbrock"]
    slider = live.sliders(config)[0]
    with pytest.raises(ValueError, match=r"Invalid position value: .*\[0, "):
        live.committed(config, slider, len(slider.values))
    surface = config.landscape()
    for bad in (-1, 1.5, "0", 2**60):
        with pytest.raises(ValueError, match="stream_row"):
            optimizers.run(surface, "sgd", steps=3, lr=0.01, stream_row=bad)


def test_a_row_draws_the_same_noise_and_minibatches_in_any_batch():
    """Stream i belongs to row i (or to every row with stream_row=i), whatever the rows beside it."""
    surface = RACES["logistic2, minibatches"].landscape()
    lrs = np.array([0.01, 0.05, 0.2])
    batch = optimizers.run(surface, "sgd", steps=30, lr=lrs, batch_size=8, noise=0.2, seed=5)
    for i, lr in enumerate(lrs):
        alone = optimizers.run(surface, "sgd", steps=30, lr=lr, batch_size=8, noise=0.2, seed=5, stream_row=i)
        np.testing.assert_array_equal(batch.points[i], alone.points[0])
    shared = optimizers.run(surface, "sgd", steps=30, lr=np.array([0.05, 0.05]), batch_size=8, seed=5, stream_row=4)
    np.testing.assert_array_equal(shared.points[0], shared.points[1])
    other = optimizers.run(surface, "sgd", steps=30, lr=0.05, batch_size=8, seed=5, stream_row=3)
    assert not np.array_equal(shared.points[0], other.points[0])


def test_minibatch_draws_are_counter_based_uniforms():
    keys = noise.row_keys(11, np.arange(6))
    whole = noise.MinibatchDraw(keys, 4).random((6, 300))
    chunks = noise.MinibatchDraw(keys, 4)
    np.testing.assert_array_equal(np.concatenate([chunks.random((2, 300)), chunks.random((4, 300))]), whole)
    with pytest.raises(ValueError, match="rows asked"):
        chunks.random((1, 300))
    assert ((whole > 0) & (whole <= 1)).all()
    assert abs(whole.mean() - 0.5) < 0.02 and abs(whole.var() - 1 / 12) < 0.01
    assert not np.array_equal(whole, noise.MinibatchDraw(keys, 5).random((6, 300)))  # a new draw each step
    draws = noise.MinibatchDraw(noise.row_keys(0, np.zeros(2000, dtype=int) + np.arange(2000)), 0).random((2000, 50))
    first_pick = np.argmin(draws, axis=1)  # each example equally likely to be a row's first pick
    counts = np.bincount(first_pick, minlength=50)
    assert counts.min() > 15 and counts.max() < 70


def decode(family: dict, box: list[float]) -> list[tuple[np.ndarray, np.ndarray]]:
    """The packed rows as live_race.js decodes them: (points (n, 2), steps (n,)) per row."""
    def raw(key: str, dtype: str) -> np.ndarray:
        return np.frombuffer(base64.b64decode(family[key]), dtype=dtype)

    offsets, deltas, jumps, gaps = raw("offsets", "<u4"), raw("deltas", "i1").reshape(-1, 2), \
        raw("jumps", "<u2").reshape(-1, 2), raw("gaps", "u1")
    quanta, steps, jump = np.zeros((len(gaps), 2), dtype=np.int64), np.zeros(len(gaps), dtype=np.int64), 0
    for i in range(len(gaps)):
        if (deltas[i] == plots.live.ESCAPE).all():
            quanta[i], jump = jumps[jump], jump + 1
        else:
            quanta[i] = quanta[i - 1] + deltas[i]
        steps[i] = 0 if gaps[i] == 0 else steps[i - 1] + gaps[i]
    scale = (np.array(box[2:]) - np.array(box[:2])) / plots.live.QUANTA
    points = np.array(box[:2]) + quanta * scale
    return [(points[lo:hi], steps[lo:hi]) for lo, hi in zip(offsets[:-1], offsets[1:])]


def test_packed_paths_decode_within_a_fraction_of_a_pixel():
    config = config_on("quadratic", steps=300, names=("momentum",))
    surface = config.landscape()
    slider = next(s for s in live.sliders(config) if s.key == "momentum")
    family = live.family(config, slider, surface)
    packed = plots.live.pack_family(family.points, family.losses, family.diverged_at, family.diverged_reason,
                                    surface.bounds)
    box = plots.live.far_box(surface.bounds)
    quantum = (np.array(box[2:]) - np.array(box[:2])) / plots.live.QUANTA
    (xmin, xmax), (ymin, ymax) = surface.bounds
    cell = np.array([xmax - xmin, ymax - ymin]) / plots.live.CELLS
    rows = decode(packed, box)
    assert len(rows) == len(slider.values)
    kept_total = 0
    for j, (points, steps) in enumerate(rows):
        clipped = plots.race.clip_to_view(family.points[j], surface.bounds)
        assert steps[0] == 0 and steps[-1] == config.steps and np.all(np.diff(steps) > 0)
        assert np.all(np.abs(points - clipped[steps]) <= 0.51 * quantum + 1e-12)  # kept points, quantized
        # a dropped point lies in the lattice cell of the kept point before it: within a pixel of the drawn path
        previous = steps[np.searchsorted(steps, np.arange(config.steps + 1), side="right") - 1]
        assert np.all(np.abs(clipped - clipped[previous]) <= cell + 1e-12)
        kept_total += len(steps)
        assert packed["diverged"][j] == family.diverged_at[j]
    assert kept_total < 0.8 * family.points.shape[0] * family.points.shape[1]  # thinning pays


def test_a_diverged_row_carries_its_step_reason_and_cross():
    config = config_on("rosenbrock", steps=100, names=("sgd",))
    surface = config.landscape()
    (slider,) = live.sliders(config)
    family = live.family(config, slider, surface)
    packed = plots.live.pack_family(family.points, family.losses, family.diverged_at, family.diverged_reason,
                                    surface.bounds)
    diverged = np.flatnonzero(family.diverged_at >= 0)
    assert len(diverged) and len(diverged) < len(slider.values)
    (xmin, xmax), (ymin, ymax) = surface.bounds
    for j in diverged:
        assert packed["reason"][j] in ("non-finite", "blow-up")
        x, y = packed["cross"][j]
        assert xmin <= x <= xmax and ymin <= y <= ymax
    assert all(packed["cross"][j] is None for j in np.flatnonzero(family.diverged_at < 0))
    assert "NaN" not in json.dumps(packed) and "Infinity" not in json.dumps(packed)


def test_the_default_race_adds_under_a_megabyte_of_live_data():
    config = race.RaceConfig()
    surface = config.landscape()
    figure = plots.race_figure(surface, race.run_race(config))
    spec = live.live_spec(config, figure, surface)
    added = len(json.dumps(spec["sliders"], separators=(",", ":"), ensure_ascii=False).encode())  # as sent
    assert config.steps == 500 and len(config.optimizers) == 4
    assert added < 1_000_000, added
    for slider in spec["sliders"]:  # each slider points at its optimizer's traces in the figure
        data = spec["figure"]["data"]
        assert data[slider["trace"]]["legendgroup"] == slider["optimizer"] and data[slider["trace"]]["mode"] == "lines"
        assert data[slider["trace_cross"]]["name"] == f"{slider['optimizer']} diverged"
        assert len(slider["names"]) == len(slider["values"])
        assert slider["names"][slider["index"]] == data[slider["trace"]]["name"]


@pytest.mark.parametrize("surface, noise", [("rastrigin", 0.0), ("quadratic", 1.0), ("logistic2", 1.0)])
def test_four_optimizers_at_500_steps_add_under_a_megabyte_on_any_surface(surface, noise):
    """The byte budget (``live.MAX_LIVE_BYTES``): zig-zagging or noisy paths are thinned on coarser lattices."""
    config = config_on(surface, steps=500, noise=noise, seed=1)
    built = config.landscape()
    figure = plots.race_figure(built, race.run_race(config))
    spec = live.live_spec(config, figure, built)
    assert len(json.dumps(spec["sliders"], separators=(",", ":"), ensure_ascii=False).encode()) < 1_000_000
    assert any(slider["family"]["cells"] < plots.live.CELLS for slider in spec["sliders"]) or surface == "quadratic"
