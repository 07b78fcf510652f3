"""Gallery against pytorch-optimizer's gallery script: our one-process tuning next to its hyperopt per optimizer.

Ours: ``benchmarks/gallery.py``'s workload G, imported from it (every optimizer × 64 log-spaced ρ × 1000 steps,
tuned by one batched sweep each, raced at the best ρ and drawn, no image export), on Rosenbrock and, since the peer
draws both, on Rastrigin; and our gallery of the optimizers both projects have, from the peer's start, timed per
optimizer (tuned and raced, not drawn), whose best ρ and final loss are the quality column.

The peer: pytorch-optimizer 4.1.0's ``examples/visualize_optimizers.py``, read from its sdist at run time (``--sdist``:
the .tar.gz or the extracted .py) and run as itself: its ``main()`` gives the optimizers, their search spaces and
the two experiments (its ``Visualizer`` swapped for one that records them); each optimizer then goes through its own
``Visualizer.run_experiment``: ``fmin`` with TPE over its search space (ρ uniform on [0, 2] by default; SGD's also
tunes its momentum), ``SETTINGS.evals_per_param`` × parameters evaluations (600 each), each ``objective``: a fresh
float32 model stepped ``opt_steps`` (200) times with ``clip_grad_norm_(1.0)``, scored by distance to the minimum
plus its penalties; then its path at the best parameters (``test_steps``: 400 on Rosenbrock, 150 on Rastrigin).
Its ``plot_function`` (a matplotlib contour and ``savefig``: the image export) is replaced by a recorder of the
final point and the best parameters, so neither side's timing holds an image. Two budgets:

- own: its settings as shipped (600 evaluations per tuned parameter × 200 steps);
- ours: ``evals_per_param`` 64, ``opt_steps`` and ``test_steps`` 1000: our 64 ρ × 1000 steps (SGD: 128, as its
  rule gives two tuned parameters 64 each).

It takes one to three minutes per optimizer and surface (one thread), so a subset is timed (``--peer-optimizers``)
and the common set is extrapolated from it, marked "extrapolated": each unmeasured optimizer at the measured mean
seconds per evaluation times its own number of evaluations. "Common": the optimizers of ``optimizers.names()`` that
the peer's gallery has under the same name less underscores (schedulefree_sgd: its schedulefreesgd); not ``asgd`` (its
ASGD is an adaptive SGD, torch's averaged SGD); its radam, adadelta, adamax, adafactor are its own implementations;
our momentum and nesterov are its sgd, which tunes α.

One thread (``losslab.threads.one_thread_per_computation`` before torch or numba load, ``torch.set_num_threads(1)``);
ours run once first (numba's cache warm) and best of ``--repeats``; each peer run once after a warm-up (its seed 42:
deterministic). Quality: the final loss at the best ρ each found, ours after 1000 steps in float64 from the peer's
start, the peer's on its own final path (its steps, float32, gradients clipped), both at the peer's start.

    python benchmarks/gallery_peer.py [--sdist /tmp/po/pytorch_optimizer-4.1.0.tar.gz] [--repeats 3]
        [--peer-optimizers adam,lion,sgd] [--surfaces rosenbrock,rastrigin] [--budgets own,ours]

Needs the bench extra (hyperopt, matplotlib) and pytorch-optimizer 4.1.0 (the test extra) installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from losslab.threads import one_thread_per_computation  # noqa: E402

one_thread_per_computation()  # before numba or torch load

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import importlib.metadata  # noqa: E402
import importlib.util  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402
from unittest import mock  # noqa: E402

import torch  # noqa: E402

import optimizers  # noqa: E402
from losslab import gallery  # noqa: E402

PEER_VERSION = "4.1.0"
PEER_MEMBER = "examples/visualize_optimizers.py"
DEFAULT_SDIST = Path(tempfile.gettempdir()) / "po" / f"pytorch_optimizer-{PEER_VERSION}.tar.gz"
DOWNLOAD = (f".venv/bin/pip download --no-deps --no-binary :all: pytorch-optimizer=={PEER_VERSION} "
            f"-d {DEFAULT_SDIST.parent}")
DIFFERENT = {"asgd": "its ASGD is an adaptive SGD (Malitsky & Mishchenko), torch's averaged SGD"}
OUR_BUDGET = {"evals_per_param": 64, "steps": 1000}  # our gallery's points and steps
BUDGETS = ("own", "ours")
SURFACES = ("rosenbrock", "rastrigin")


def load_ours() -> types.ModuleType:
    """benchmarks/gallery.py as a module: its workload G (``CONFIG``, ``whole``) and its timer (``best``)."""
    spec = importlib.util.spec_from_file_location("gallery_benchmark", Path(__file__).with_name("gallery.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_peer(path: Path) -> types.ModuleType:
    """pytorch-optimizer's ``examples/visualize_optimizers.py``, executed from its sdist (or the extracted file)."""
    if not path.exists():
        sys.exit(f"pytorch-optimizer {PEER_VERSION}'s sdist not found at {path}. Get it with\n    {DOWNLOAD}\n"
                 f"or pass --sdist PATH (the .tar.gz, or its {PEER_MEMBER}).")
    if path.suffix == ".py":
        source, origin = path.read_text(), str(path)
    else:
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(PEER_MEMBER)), None)
            if member is None:
                sys.exit(f"{path} holds no {PEER_MEMBER}: is it pytorch-optimizer {PEER_VERSION}'s sdist? ({DOWNLOAD})")
            source, origin = tar.extractfile(member).read().decode(), f"{path}!{member.name}"
    installed = importlib.metadata.version("pytorch-optimizer")
    if installed != PEER_VERSION:
        print(f"warning: pytorch-optimizer {installed} installed, the script is {PEER_VERSION}'s")
    os.environ.setdefault("MPLBACKEND", "Agg")
    module = types.ModuleType("visualize_optimizers")
    module.__file__ = origin
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    try:
        exec(compile(source, origin, "exec"), module.__dict__)
    except ImportError as error:
        sys.exit(f"{origin} needs {error.name}: .venv/bin/pip install -e '.[bench,test]' (hyperopt, matplotlib, "
                 f"pytorch-optimizer=={PEER_VERSION})")
    return module


class PeerPlan(NamedTuple):
    """What the peer's ``main()`` sets up: (optimizer class, search space) per optimizer, the experiments, seed."""

    optimizers: dict[str, tuple[type, dict]]
    experiments: dict[str, Any]
    seed: int


def peer_plan(peer: types.ModuleType, settings: Any) -> PeerPlan:
    """Run the peer's ``main()`` under ``settings`` with its ``Visualizer`` recording instead of running."""
    seen: dict[str, Any] = {}

    class Recorder:
        def __init__(self, optimizers: tuple, output_dir: Path, seed: int = 0) -> None:
            seen.update(optimizers=optimizers, seed=seed)

        def run_experiments(self, experiments: list) -> None:
            seen["experiments"] = experiments

    with mock.patch.object(peer, "Visualizer", Recorder), mock.patch.object(peer, "SETTINGS", settings):
        peer.main()
    keys = [key for key in peer.OPTIMIZERS if key not in peer.OPTIMIZERS_IGNORE]  # its main()'s order
    pairs = seen["optimizers"]
    if len(keys) != len(pairs) or any(peer.OPTIMIZERS[key] is not cls for key, (cls, _) in zip(keys, pairs)):
        sys.exit("the peer's main() no longer lists OPTIMIZERS less OPTIMIZERS_IGNORE: update peer_plan")
    return PeerPlan(dict(zip(keys, pairs)), {e.name: e for e in seen["experiments"]}, seen["seed"])


def peer_settings(peer: types.ModuleType, budget: str) -> Any:
    if budget == "own":
        return peer.SETTINGS
    steps = OUR_BUDGET["steps"]
    return dataclasses.replace(peer.SETTINGS, evals_per_param=OUR_BUDGET["evals_per_param"], opt_steps=steps,
                               test_steps={name: steps for name in peer.SETTINGS.test_steps})


class PeerRun(NamedTuple):
    seconds: float  # wall-clock
    cpu: float  # this process's CPU seconds (one thread)
    evals: int
    params: dict[str, float] | None  # the best parameters (None: every trial failed)
    final_loss: float | None  # on its final path, in float64 at its float32 end point


def run_peer(peer: types.ModuleType, settings: Any, plan: PeerPlan, experiment: Any, key: str) -> PeerRun:
    """One optimizer through the peer's own ``Visualizer.run_experiment``, timed; its image export left out."""
    objective, count, found = peer.objective, [0], {}

    def counted(*args: Any, **kwargs: Any) -> float:
        count[0] += 1
        return objective(*args, **kwargs)

    def record(func: Any, steps: torch.Tensor, output_path: Path, name: str, params: dict, *rest: Any) -> None:
        found.update(params=dict(params), final_loss=float(func(steps[:, -1].double())))

    with tempfile.TemporaryDirectory() as folder:
        visualizer = peer.Visualizer((plan.optimizers[key],), Path(folder), plan.seed)
        quiet = io.StringIO()  # its progress lines and hyperopt's progress bar
        with (mock.patch.object(peer, "SETTINGS", settings), mock.patch.object(peer, "objective", counted),
              mock.patch.object(peer, "plot_function", record),
              contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet)):
            began, began_cpu = time.perf_counter(), time.process_time()
            visualizer.run_experiment(experiment)
            seconds, cpu = time.perf_counter() - began, time.process_time() - began_cpu
    return PeerRun(seconds, cpu, count[0], found.get("params"), found.get("final_loss"))


def warm_peer(peer: types.ModuleType, plan: PeerPlan, experiment: Any, keys: list[str]) -> None:
    """First calls (torch's autograd, each optimizer class, hyperopt's TPE) outside the timing."""
    small = dataclasses.replace(peer.SETTINGS, evals_per_param=25, opt_steps=20, test_steps={})
    for key in keys:
        run_peer(peer, small, plan, dataclasses.replace(experiment, steps=20), key)


def common_names(plan: PeerPlan) -> dict[str, str]:
    """Ours that the peer's gallery shows under the same name, less its underscores (schedulefree_sgd:
    schedulefreesgd), and one algorithm (not ``DIFFERENT``): our name → the peer's key."""
    keys = {name: name.replace("_", "") for name in optimizers.names() if name not in DIFFERENT}
    return {name: key for name, key in keys.items() if key in plan.optimizers}


def evaluations(settings: Any, space: dict) -> int:
    return settings.evals_per_param * len(space)  # its Visualizer's max_evals


class Timing(NamedTuple):
    seconds: float  # wall-clock: benchmarks/gallery.py's ``best``
    cpu: float  # CPU seconds, the best of as many more runs


def timed(ours: types.ModuleType, function: Callable[[], Any], repeats: int) -> Timing:
    """``function`` timed as benchmarks/gallery.py times it, and its CPU time: the machine may be shared, and the
    peer's minutes-long runs take whatever share of a core they get, ours the best of a few short ones."""
    cpu = []
    for _ in range(repeats):
        began = time.process_time()
        function()
        cpu.append(time.process_time() - began)
    return Timing(ours.best(function, repeats), min(cpu))


def tuning(config: gallery.GalleryConfig) -> Callable[[], Any]:
    """Our gallery of ``config``, tuned and raced (no figure)."""
    return lambda: gallery.gallery(config, budget=math.inf)


def drawing(config: gallery.GalleryConfig) -> Callable[[], None]:
    """Our gallery of ``config``, tuned, raced and drawn (benchmarks/gallery.py's ``whole`` on another surface)."""
    return lambda: gallery.figure(gallery.gallery(config, budget=math.inf))


def params_text(params: dict[str, float] | None) -> str:
    return "all failed" if params is None else ", ".join(f"{k}={v:.3g}" for k, v in params.items())


def number(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, default=DEFAULT_SDIST,
                        help=f"pytorch-optimizer {PEER_VERSION}'s sdist (.tar.gz) or its {PEER_MEMBER}")
    parser.add_argument("--repeats", type=int, default=3, help="ours: best of")
    parser.add_argument("--peer-optimizers", default="adam,lion,sgd",
                        help="the peer's optimizers timed (comma-separated, or 'common': all of them, 1-3 min each)")
    parser.add_argument("--surfaces", default=",".join(SURFACES))
    parser.add_argument("--budgets", default=",".join(BUDGETS))
    args = parser.parse_args()
    surfaces = [s for s in args.surfaces.split(",") if s]
    budgets = [b for b in args.budgets.split(",") if b]
    if not set(surfaces) <= set(SURFACES) or not set(budgets) <= set(BUDGETS) or not budgets:
        parser.error(f"--surfaces from {', '.join(SURFACES)}; --budgets from {', '.join(BUDGETS)}")

    torch.set_num_threads(1)
    ours = load_ours()
    peer = load_peer(args.sdist)
    plans = {budget: peer_plan(peer, peer_settings(peer, budget)) for budget in budgets}
    plan = plans[budgets[0]]
    common = common_names(plan)
    measured = list(common) if args.peer_optimizers == "common" else [k for k in args.peer_optimizers.split(",") if k]
    unknown = [name for name in measured if name not in common]
    if unknown:
        parser.error(f"--peer-optimizers {', '.join(unknown)}: not in both galleries ({', '.join(common)})")

    print(f"Gallery against pytorch-optimizer {PEER_VERSION}'s examples/visualize_optimizers.py "
          f"({args.sdist.name}), one thread (torch {torch.get_num_threads()}), ours best of {args.repeats}, "
          f"the peer's runs once each")
    print(f"common optimizers ({len(common)}): {', '.join(common)}; not compared: "
          + "; ".join(f"{name} ({why})" for name, why in DIFFERENT.items()))
    print(f"the peer's script tunes {len(plan.optimizers)} optimizers in all; timed here: {', '.join(measured)}\n")

    for surface in surfaces:
        experiment = plan.experiments[surface]
        config = dataclasses.replace(ours.CONFIG, surface=surface)
        at_start = dataclasses.replace(config, start=tuple(experiment.initial_state), optimizers=tuple(common))

        drawn = ours.whole if config == ours.CONFIG else drawing(config)  # G as benchmarks/gallery.py times it
        drawn()  # warm: numba's cache for this surface, the grid's layout
        shown = gallery.gallery(at_start, budget=math.inf)
        g_time = timed(ours, drawn, args.repeats)
        common_time = timed(ours, tuning(at_start), args.repeats)
        per_ours = {name: timed(ours, tuning(dataclasses.replace(at_start, optimizers=(name,))), args.repeats)
                    for name in measured}

        warm_peer(peer, plan, experiment, [common[name] for name in measured])
        runs: dict[str, dict[str, PeerRun]] = {}
        for budget in budgets:
            settings = peer_settings(peer, budget)
            runs[budget] = {name: run_peer(peer, settings, plans[budget], plans[budget].experiments[surface],
                                           common[name]) for name in measured}

        points, steps = config.points, config.steps
        rows = [(f"ours: G, {len(config.names())} optimizers tuned, raced, drawn", len(config.names()), points,
                 steps, g_time, ""),
                (f"ours: the {len(common)} common, tuned and raced, peer's start", len(common), points, steps,
                 common_time, "")]
        common_totals = {}
        for budget in budgets:
            settings, bplan, done = peer_settings(peer, budget), plans[budget], runs[budget]
            label = "its own settings" if budget == "own" else "our budget"
            detail = (f"{settings.evals_per_param}/param × {settings.opt_steps} steps, "
                      f"path {bplan.experiments[surface].steps}")
            spent = Timing(sum(r.seconds for r in done.values()), sum(r.cpu for r in done.values()))
            evals = sum(r.evals for r in done.values())
            rows.append((f"peer, {label} ({detail}): {len(done)} timed", len(done), evals / len(done),
                         settings.opt_steps, spent, ""))
            rest = {name: evaluations(settings, bplan.optimizers[key][1]) for name, key in common.items()
                    if name not in done}
            total = Timing(*(part + statistics.mean(getattr(r, field) / r.evals for r in done.values())
                             * sum(rest.values()) for part, field in zip(spent, ("seconds", "cpu"))))
            mark = "  (extrapolated)" if rest else ""
            common_totals[label] = (total, mark)
            rows.append((f"peer, {label}: the {len(common)} common", len(common),
                         (evals + sum(rest.values())) / len(common), settings.opt_steps, total, mark))

        print(f"{surface}: summary (wall s: elapsed; the rest in CPU seconds of this one-thread process; "
              f"µs/ρ·step: per evaluated ρ per step, the rate free of the budget)")
        print(f"{'':72s} {'optims':>6s} {'ρ/opt':>6s} {'steps':>5s} {'wall s':>8s} {'CPU s':>8s} {'s/optim':>8s} "
              f"{'ms/ρ':>8s} {'µs/ρ·step':>9s}")
        for label, count, per, steps_each, spent, mark in rows:
            per_rho = spent.cpu / (count * per)
            print(f"{label:72s} {count:6d} {per:6.0f} {steps_each:5d} {spent.seconds:8.2f} {spent.cpu:8.2f} "
                  f"{spent.cpu / count:8.2f} {per_rho * 1e3:8.2f} {per_rho / steps_each * 1e6:9.2f}{mark}")
        for label, (total, mark) in common_totals.items():
            print(f"  the {len(common)} common: the peer at {label} takes {total.cpu / common_time.cpu:,.0f}× our CPU "
                  f"time, {total.seconds / common_time.seconds:,.0f}× our wall time{mark}")
        if surface == ours.CONFIG.surface:
            met = "met" if g_time.seconds < ours.TARGET_S else "NOT met"
            print(f"  target: G under {ours.TARGET_S:g} s: {met} ({g_time.seconds:.2f} s wall, {g_time.cpu:.2f} s CPU)")

        print(f"\n{surface}: per optimizer timed, from the peer's start {tuple(experiment.initial_state)} "
              f"(final loss at the best ρ each found, f* = 0; CPU s: tuned and raced)")
        header = f"{'optimizer':18s} {'ours ρ':>9s} {'loss@1000':>10s} {'CPU s':>6s}"
        for budget in budgets:
            path_steps = plans[budget].experiments[surface].steps
            name = "peer, its settings: best" if budget == "own" else "peer, our budget: best"
            header += f" | {name:34s} {f'loss@{path_steps}':>10s} {'evals':>5s} {'CPU s':>6s}"
        print(header)
        for name in measured:
            result = shown.results.get(name)
            line = (f"{name:18s} {number(result and result.lr):>9s} {number(result and result.final_loss):>10s} "
                    f"{per_ours[name].cpu:6.2f}")
            for budget in budgets:
                run = runs[budget][name]
                line += (f" | {params_text(run.params):34s} {number(run.final_loss):>10s} {run.evals:5d} "
                         f"{run.cpu:6.1f}")
            print(line)
        print()


if __name__ == "__main__":
    main()
