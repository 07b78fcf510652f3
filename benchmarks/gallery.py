"""Gallery benchmark: every optimizer × 64 ρ × 1000 steps on Rosenbrock, tuned and drawn (no image export).

Workload G: ``losslab.gallery.gallery(GalleryConfig(surface="rosenbrock"))`` (per optimizer one batched
``optimizers.sweep`` of 64 log-spaced ρ over the ρ sliders' range, then its race at the best ρ through
``race.run_one``) and ``losslab.gallery.figure`` (``plots.gallery``: the panels' landscape layer and the small
multiples), for every optimizer of ``optimizers.names()`` at the time it runs. One thread
(``losslab.threads.one_thread_per_computation``, before numba or torch load); everything run once first (numba's
on-disk cache warm, the subplot grid cached); each time the best of ``--repeats``. Target: G under 3 s.

Rows: the whole of G, and its parts timed alone: the tuning (the sweeps, ``maps.lr_curves`` per optimizer), the
races at the best ρ, the drawing; the budget's estimate of G (``gallery.cost``); and one what-if row, the tuning
with the engine's fused numba kernel taken for sweeps of any size (``optimizers.engine.FAST_PATH_MIN_ROWS`` = 1
here only: a 64-row sweep is below its 256 and runs the numpy reference kernel; and only the rules with a fused
family, ``optimizers.fast.FAMILIES``, can take it).

Not done (a later step): a comparison with pytorch-optimizer's own gallery script, ``examples/visualize_optimizers.py``
(a hyperopt search of ρ per optimizer, then one plot each).

    python benchmarks/gallery.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from losslab.threads import one_thread_per_computation  # noqa: E402

one_thread_per_computation()  # before numba or torch load

from unittest import mock  # noqa: E402

import optimizers  # noqa: E402
from losslab import gallery, maps, race  # noqa: E402
from optimizers import engine  # noqa: E402

CONFIG = gallery.GalleryConfig(surface="rosenbrock", steps=1000, points=64)
TARGET_S = 3.0


def best(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return min(times)


def whole() -> None:
    gallery.figure(gallery.gallery(CONFIG, budget=math.inf))


def tune() -> dict[str, maps.Curve]:
    curves = CONFIG.map_config()
    return {name: maps.lr_curves(curves, [name], CONFIG.points, budget=math.inf)[name] for name in CONFIG.names()}


def tune_fused() -> None:
    with mock.patch.object(engine, "FAST_PATH_MIN_ROWS", 1):
        tune()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    shown = gallery.gallery(CONFIG, budget=math.inf)  # warm: numba's cache, the grid's layout, imports
    gallery.figure(shown)
    tune_fused()
    surface = CONFIG.landscape()
    best_lr = {name: result.lr for name, result in shown.results.items() if result.lr is not None}

    def races() -> None:
        for name, lr in best_lr.items():
            race.run_one(gallery.race_config(CONFIG, name, lr), name, surface, budget=math.inf)

    rows = [
        ("G: tuned and drawn (gallery + figure)", best(whole, args.repeats)),
        ("  tuning: one 64-row sweep per optimizer", best(tune, args.repeats)),
        ("  races at the best ρ (1000 steps each)", best(races, args.repeats)),
        ("  drawing: plots.gallery small multiples", best(lambda: gallery.figure(shown), args.repeats)),
        ("budget estimate of G (losslab.budget)", gallery.cost(CONFIG).seconds),
        ("what-if: tuning with the fused kernel at any size", best(tune_fused, args.repeats)),
    ]
    count = len(CONFIG.names())
    print(f"Gallery benchmark: {count} optimizers × {CONFIG.points} ρ × {CONFIG.steps} steps on {CONFIG.surface}, "
          f"one thread, best of {args.repeats}")
    if shown.skipped:
        print(f"(skipped, they failed: {', '.join(shown.skipped)})")
    print(f"{'':52s} {'seconds':>8s}")
    for label, seconds in rows:
        print(f"{label:52s} {seconds:8.2f}")
    total = rows[0][1]
    print(f"target: G under {TARGET_S:g} s: {'met' if total < TARGET_S else 'NOT met'} ({total:.2f} s)")
    print(f"optimizers: {', '.join(optimizers.names())}")


if __name__ == "__main__":
    main()
