"""The compute budget (losslab.budget): the cost model, its refusals in the library, the CLI and the pages, and the
pool that bounds the server's heavy computations (losslab.app.heavy).

The three slow requests of issue 20 are refused before any training, slicing or stepping starts: checked with spies
on the work functions (the pages look them up through their modules at call time), never with a clock.
"""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import landscapes
import optimizers
from landscapes import fullspace
from landscapes import network as nets
from landscapes.network_config import Config
from losslab import budget, maps, networks, race, tuning
from losslab.app.heavy import Pool

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120
CHAINED = "/".join(["(x*y+2)"] * 25)  # 199 characters: a gradient of 4 562 terms
ALL = ",".join(optimizers.names())
SLOW_EXPLORE_RACE = {"surface": "expression", "f": CHAINED, "steps": "5000", "opt": ALL}
SLOW_EXPLORE_NETWORK = {"surface": "network", "dataset": "digits", "hidden": "64,64"}
SLOW_NETWORKS_PAGE = {"dataset": "digits", "hidden": "256,12", "grid": "201", "steps": "2000",
                      "opt": ",".join(fullspace.TORCH_OPTIMIZERS), "fullspace": "true"}


def all_optimizers(surface: str) -> dict[str, dict]:
    return {name: race.optimizer_defaults(name, surface) for name in optimizers.names()}


# --- the cost model ------------------------------------------------------------------------------------------------


def test_the_estimate_grows_with_steps_optimizers_grid_cells_and_the_network():
    base = race.RaceConfig()
    costs = [budget.race_cost(dataclasses.replace(base, steps=steps)).seconds for steps in (0, 10, 500, 5000)]
    assert costs == sorted(costs) and costs[0] < costs[-1]
    fewer = budget.race_cost(base.only("sgd")).seconds
    assert fewer < budget.race_cost(base).seconds < budget.race_cost(dataclasses.replace(
        base, optimizers=all_optimizers("quadratic"))).seconds
    slices = [budget.slice_cost(Config("moons", (16, 16)), grid).seconds for grid in (41, 101, 201)]
    assert slices == sorted(slices) and slices[0] < slices[-1]
    sizes = [budget.network_training_cost(Config("digits", hidden)).seconds for hidden in ((8,), (64,), (64, 64))]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert budget.network_training_cost(Config("moons", (64,))).seconds < budget.network_training_cost(
        Config("digits", (64,))).seconds  # more examples
    cells = [budget.map_cost(maps.MapConfig(cells=n)).seconds for n in (16, 64, 128)]
    assert cells == sorted(cells) and cells[0] < cells[-1]
    formulas = [budget.race_cost(race.RaceConfig(surface="expression", surface_params={"f": "/".join(["(x*y+2)"] * n)},
                                                 optimizers={"adam": {}})).seconds for n in (2, 10, 25)]
    assert formulas == sorted(formulas) and formulas[0] < formulas[-1]
    full = [budget.full_space_cost(Config(), dict.fromkeys(names, {}), 100).seconds
            for names in (["adam"], ["sgd", "adam"], ["sgd", "momentum", "adam"])]
    assert full == sorted(full) and full[0] < full[-1]


def test_the_defaults_are_within_the_budget():
    limit = budget.limit()
    assert budget.race_view_cost(race.RaceConfig()).seconds < 0.1 * limit  # Explore's default race
    for surface in landscapes.names():  # every surface with its defaults and the default optimizers on Explore
        config = race.RaceConfig(surface=surface, surface_params=race.surface_defaults(surface),
                                 optimizers={name: race.optimizer_defaults(name, surface)
                                             for name in race.DEFAULT_OPTIMIZERS})
        assert budget.race_view_cost(config, view3d=True).seconds < limit, surface
    network = race.RaceConfig(surface="network", surface_params={}, steps=200,
                              optimizers={name: race.optimizer_defaults(name, "network")
                                          for name in ("sgd", "momentum", "adam")})
    logistic = dataclasses.replace(network, surface="logistic2")
    page = (budget.slice_cost(Config(), 101) + budget.race_cost(network, built=True)
            + budget.race_view_cost(logistic) + budget.full_space_cost(Config(), network.optimizers, 200, None, 61))
    assert page.seconds < limit  # the Networks page's defaults, even with the full-space view on
    for cost in (budget.map_cost(maps.MapConfig()), budget.curves_cost(maps.MapConfig(), ["sgd", "adam"], 96),
                 budget.tune_cost(maps.MapConfig(), 64)):
        assert cost.seconds < 0.5 * limit


def test_the_slow_requests_of_the_issue_are_over_the_budget_and_say_what_to_reduce():
    chained = race.RaceConfig(surface="expression", surface_params={"f": CHAINED},
                              optimizers=all_optimizers("expression"), steps=5000)
    with pytest.raises(budget.BudgetExceeded) as refused:
        budget.check(budget.race_view_cost(chained), what="This race")
    message = str(refused.value)
    assert message.startswith("This race would take about ") and "over the compute budget of 10 s" in message
    assert "steps (5000)" in message and "4562 terms" in message
    assert f"optimizers ({len(optimizers.names())})" in message
    assert refused.value.estimate > 50 and refused.value.budget == 10.0
    with pytest.raises(budget.BudgetExceeded, match=r"hidden \(64,64: 8970 parameters\)"):
        budget.check(budget.view_cost("network", {"dataset": "digits", "hidden": (64, 64)}))


def test_the_budget_comes_from_the_keyword_or_the_environment(monkeypatch):
    assert budget.limit() == budget.DEFAULT_BUDGET_S
    assert budget.limit(3) == 3.0 and budget.limit(math.inf) == math.inf
    monkeypatch.setenv(budget.BUDGET_ENV, "2.5")
    assert budget.limit() == 2.5 and budget.limit(7) == 7.0
    monkeypatch.setenv(budget.BUDGET_ENV, "inf")
    assert budget.limit() == math.inf
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(budget.BUDGET_ENV, bad)
        with pytest.raises(ValueError, match=budget.BUDGET_ENV):
            budget.limit()
    monkeypatch.delenv(budget.BUDGET_ENV)
    for bad in (0, -1.0, math.nan, True, "10"):
        with pytest.raises(ValueError, match="budget"):
            budget.limit(bad)


def test_an_invalid_request_is_refused_as_invalid_not_as_expensive():
    with pytest.raises(ValueError, match="Invalid steps value"):
        race.run_race(dataclasses.replace(race.RaceConfig(), steps=10**6))
    with pytest.raises(ValueError, match="map size"):
        maps.hyper_map(maps.MapConfig(cells=128, seeds=16, steps=1000))


# --- the library's entry points --------------------------------------------------------------------------------


@pytest.fixture
def spies(monkeypatch) -> dict[str, list]:
    """Every call of the work functions: optimizers.run/sweep (with steps > 0), network training, plane evaluations
    (slices, races in the slice) and full-space runs."""
    calls: dict[str, list] = {"run": [], "live": [], "sweep": [], "trained": [], "plane": [], "full_space": []}

    def spy(name: str, original, record):
        def wrapper(*args, **kwargs):
            entry = record(*args, **kwargs)
            if entry is not None:
                calls[name].append(entry)
            return original(*args, **kwargs)
        return wrapper

    def stepping(surface, *args, steps=100, **kwargs):
        return (getattr(surface, "name", type(surface).__name__), steps) if steps else None

    def one_run(original):  # a race's runs; a live family (stream_row=) goes to "live"
        def wrapper(surface, *args, **kwargs):
            entry = stepping(surface, *args, **kwargs)
            if entry is not None:
                calls["live" if kwargs.get("stream_row") is not None else "run"].append(entry)
            return original(surface, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(optimizers, "run", one_run(optimizers.run))
    monkeypatch.setattr(optimizers, "sweep", spy("sweep", optimizers.sweep, stepping))
    monkeypatch.setattr(nets, "trained", spy("trained", nets.trained, lambda config: tuple(config)))
    monkeypatch.setattr(nets.NetworkPlane, "losses", spy("plane", nets.NetworkPlane.losses,
                                                          lambda plane, *a, **k: plane.network.config.dataset))
    monkeypatch.setattr(fullspace, "full_space", spy("full_space", fullspace.full_space,
                                                      lambda config, *a, **k: tuple(config)))
    return calls


def test_the_library_refuses_before_any_work_and_budget_inf_lifts_it(spies):
    chained = race.RaceConfig(surface="expression", surface_params={"f": CHAINED},
                              optimizers=all_optimizers("expression"), steps=5000)
    with pytest.raises(budget.BudgetExceeded, match="steps"):
        race.run_race(chained)
    with pytest.raises(budget.BudgetExceeded, match="steps"):
        race.run_one(chained, "adam")
    digits = race.RaceConfig(surface="network", surface_params={"dataset": "digits", "hidden": (256, 12)},
                             optimizers=all_optimizers("network"), steps=5000)
    with pytest.raises(budget.BudgetExceeded, match="hidden"):
        race.run_race(digits)
    big = Config("digits", (256, 12))
    with pytest.raises(budget.BudgetExceeded, match="grid"):
        networks.slice_layer(big, 201)
    with pytest.raises(budget.BudgetExceeded, match="steps"):
        networks.full_space(big, dict.fromkeys(fullspace.TORCH_OPTIMIZERS, {}), 2000)
    with pytest.raises(budget.BudgetExceeded, match="hidden"):
        networks.trained(big, budget=1.0)
    noisy = maps.MapConfig(surface="quadratic", optimizer="momentum", y="condition", cells=128, steps=2000,
                           noise=0.5, seeds=3)
    with pytest.raises(budget.BudgetExceeded, match="cells"):
        maps.hyper_map(dataclasses.replace(noisy, seeds=1), budget=1.0)
    with pytest.raises(budget.BudgetExceeded, match="points"):
        maps.lr_curves(noisy, optimizers.names(), 256, budget=1.0)
    with pytest.raises(budget.BudgetExceeded, match="budget N"):
        tuning.tune(dataclasses.replace(noisy, seeds=1), 1024, time_budget=0.5)
    assert not any(spies.values()), spies
    small = race.RaceConfig(optimizers={"adam": race.optimizer_defaults("adam")}, steps=20)
    with pytest.raises(budget.BudgetExceeded):
        race.run_race(small, budget=1e-6)
    assert len(race.run_race(small, budget=math.inf)["adam"].points[0]) == 21
    assert spies["run"] == [("quadratic", 20)]


def test_the_cli_refuses_with_one_line_and_budget_raises_it(tmp_path):
    def losslab(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "losslab", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)

    slow = losslab("race", "--surface", "expression", "--param", f"f={CHAINED}", "--optimizers", ALL,
                   "--steps", "5000", "--out", str(tmp_path / "race.csv"))
    assert slow.returncode == 2 and "Traceback" not in slow.stderr
    assert "steps (5000)" in slow.stderr and "--budget" in slow.stderr
    assert not (tmp_path / "race.csv").exists()
    small = ("race", "--optimizers", "sgd", "--steps", "30", "--out", str(tmp_path / "small.csv"))
    refused = losslab(*small, "--budget", "0.0001")
    assert refused.returncode == 2 and "over the compute budget of 0.0001 s" in refused.stderr
    assert losslab(*small, "--budget", "inf").returncode == 0 and (tmp_path / "small.csv").exists()
    assert losslab(*small, "--budget", "never").returncode == 2
    inspect = losslab("inspect", "--surface", "expression", "--param", f"f={CHAINED}", "--optimizers", ALL,
                      "--steps", "5000")
    assert inspect.returncode == 2 and "steps (5000)" in inspect.stderr


# --- O(rows) memory --------------------------------------------------------------------------------------------


def test_minibatch_sweeps_draw_their_keys_in_chunks_of_rows(monkeypatch):
    plane = nets.slice_plane(Config("moons", (4,)))
    drawn = []
    original = np.random.Generator.random

    class Recording:
        def __init__(self, seed):
            self.generator = np.random.default_rng(seed)

        def random(self, shape):
            drawn.append(shape)
            return original(self.generator, shape)

    xy = np.zeros((5000, 2))
    plane.minibatch_grad(xy, 8, Recording(0))
    assert sum(rows for rows, _ in drawn) == 5000
    assert max(rows * examples for rows, examples in drawn) <= nets.MINIBATCH_KEYS


# --- the pages -----------------------------------------------------------------------------------------------------


def test_explore_refuses_the_slow_race_before_any_step(spies):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(SLOW_EXPLORE_RACE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert any("This race would take about" in e and "steps" in e and "optimizers" in e for e in errors), errors
    assert spies["run"] == [] and spies["live"] == [] and spies["sweep"] == []
    kept = len(at.multiselect(key="opt").value) == len(optimizers.names())
    assert at.slider(key="steps").value == 5000 and kept  # kept, to reduce
    at.slider(key="steps").set_value(20).run()  # reduced: the race runs
    assert not at.error and not at.exception
    assert {steps for _, steps in spies["run"]} == {20} and len(spies["run"]) == len(optimizers.names())


def test_explore_refuses_the_slow_network_before_training_it(spies):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(SLOW_EXPLORE_NETWORK)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    warnings = " ".join(w.value for w in at.warning)
    assert "would take about" in warnings and "hidden" in warnings and "dataset" in warnings, warnings
    assert not [config for config in spies["trained"] if config[0] == "digits"]
    assert "digits" not in spies["plane"]
    assert at.selectbox(key="network.dataset").value == "moons"  # the URL's network refused: the default runs


def test_the_networks_page_refuses_the_slow_request_before_any_work(spies):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.query_params.clear()
    at.query_params.update(SLOW_NETWORKS_PAGE)
    for calls in spies.values():
        calls.clear()  # the Explore page's default race ran first
    at.switch_page("losslab/app/networks.py").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(e.value for e in at.error)
    assert "would take about" in errors and "steps" in errors and "optimizers" in errors and "hidden" in errors
    assert not any(spies.values()), spies


# --- the pool of heavy computations ----------------------------------------------------------------------------


def test_the_pool_runs_at_most_two_at_once_in_arrival_order_and_reports_the_queue():
    pool = Pool(2)
    release, started, order, seen = threading.Event(), [], [], {}

    def work(name: str) -> None:
        def waiting(ahead: int, running: int) -> None:
            seen.setdefault(name, []).append((ahead, running))
        with pool.slot(waiting):
            started.append(name)
            with pool.slot():  # nested in its own slot: no deadlock, no second slot
                pass
            release.wait(10)
            order.append(name)

    threads = []
    for name in ("a", "b", "c", "d"):
        threads.append(threading.Thread(target=work, args=(name,)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while len(started) + pool.waiting < len(threads) and time.monotonic() < deadline:
            time.sleep(0.01)
    time.sleep(0.3)
    assert started == ["a", "b"] and pool.running == 2 and pool.waiting == 2
    assert seen["c"][-1] == (0, 2) and seen["d"][-1] == (1, 2)  # "queued: n ahead"
    release.set()
    for thread in threads:
        thread.join(10)
    assert sorted(started) == ["a", "b", "c", "d"] and started[2:] == ["c", "d"]
    assert pool.running == 0 and pool.waiting == 0


def test_a_waiting_computation_that_is_stopped_leaves_the_queue():
    pool, hold = Pool(1), threading.Event()

    def holding() -> None:
        with pool.slot():
            hold.wait(10)

    holder = threading.Thread(target=holding)
    holder.start()
    while not pool.running:
        time.sleep(0.01)

    def give_up(ahead: int, running: int) -> None:
        raise RuntimeError("the script was stopped")

    with pytest.raises(RuntimeError):
        with pool.slot(give_up):
            pass
    assert pool.waiting == 0 and pool.running == 1
    hold.set()
    holder.join(10)
    assert pool.running == 0
