"""Network slice benchmark: the loss on a plane through a small MLP, three ways, measured in the same run.

Model: the network surface's MLP 2-16-16-2 tanh trained on 512 two-moons points (``landscapes.get("network")``),
float32, one thread. Rows:

- ours: ``surface.value`` on the whole grid (first layer computed once for the grid, later layers as batched
  matmuls over cache-sized chunks, tanh in its logistic form);
- loss-landscapes: the ``loss-landscapes`` package's ``random_plane`` (filter-normalized directions; the
  tool a peer would pick; install with ``pip install -e ".[bench]"``), ``steps`` × ``steps`` points;
- classic loop: copy θ(a, b) into an ``nn.Module`` (``vector_to_parameters``) and run a forward pass per point.
  Ours must equal it within float32 rounding (asserted).

Then the same for 201 × 201 and the digits MLP (64-16-16-10 on 1348 images), and a race of 4 optimizers ×
300 steps in the slice (``losslab.race.run_race``, float64). Each row is the best of several repeats.

    python benchmarks/network_slice.py [--repeats 5]
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import landscapes  # noqa: E402
from landscapes import network as nets  # noqa: E402
from losslab import race  # noqa: E402

# ours vs the float32 loop: a few float32 roundings of a loss averaged over N examples; a cross-entropy near 0 is
# a difference of logits of size ~10, so its rounding is absolute (~10 × float32's ε)
FLOAT32_RTOL, FLOAT32_ATOL = 1e-5, 1e-6


def best_of(repeats: int, function: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def grid(surface: Any, size: int) -> np.ndarray:
    (x0, x1), (y0, y1) = surface.bounds
    return np.stack(np.meshgrid(np.linspace(x0, x1, size), np.linspace(y0, y1, size)), axis=-1).astype(np.float32)


def loss_function(surface: Any) -> Callable:
    if surface.network.data.classes:
        return torch.nn.functional.cross_entropy
    return lambda out, y: torch.nn.functional.mse_loss(out[:, 0], y)


def classic_loop(surface: Any, points: np.ndarray) -> np.ndarray:
    """Per point: θ(a, b) copied into the module, one forward pass over the training set (float32)."""
    x, y = surface.network.tensors("train")
    x = x.float()
    model = nets.as_module(surface.network.weights, surface.network.config.activation).float()
    origin, (d1, d2) = (nets.flatten(surface.origin).float(),
                        tuple(nets.flatten(d).float() for d in surface.directions))
    loss = loss_function(surface)
    values = []
    with torch.no_grad():
        for a, b in points.reshape(-1, 2).tolist():
            torch.nn.utils.vector_to_parameters(origin + a * d1 + b * d2, model.parameters())
            values.append(float(loss(model(x), y)))
    return np.array(values, dtype=np.float32).reshape(points.shape[:-1])


def loss_landscapes_plane(surface: Any, size: int) -> np.ndarray:
    """loss-landscapes' random_plane on the same trained model, data and grid size."""
    import loss_landscapes
    import loss_landscapes.metrics

    x, y = surface.network.tensors("train")
    model = nets.as_module(surface.network.weights, surface.network.config.activation).float()
    metric = loss_landscapes.metrics.Loss(loss_function(surface), x.float(), y)
    return loss_landscapes.random_plane(model, metric, distance=1, steps=size, normalization="filter",
                                        deepcopy_model=True)


def slice_row(label: str, surface: Any, size: int, repeats: int) -> tuple:
    points = grid(surface, size)
    ours_s, ours = best_of(repeats, lambda: surface.value(points))
    plane_s, plane = best_of(max(1, repeats // 2), lambda: loss_landscapes_plane(surface, size))
    loop_s, loop = best_of(1, lambda: classic_loop(surface, points))
    assert plane.shape == (size, size) and np.all(np.isfinite(plane))
    np.testing.assert_allclose(ours, loop, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)  # our values are the loop's
    error = float(np.max(np.abs(ours - loop)))
    return label, f"{size}×{size}", ours_s, plane_s, loop_s, error


def race_seconds(repeats: int) -> float:
    config = race.RaceConfig(surface="network", surface_params={}, steps=300,
                             optimizers={name: race.optimizer_defaults(name, "network")
                                         for name in race.DEFAULT_OPTIMIZERS})
    seconds, trajectories = best_of(repeats, lambda: race.run_race(config))
    assert all(np.all(np.isfinite(t.losses)) for t in trajectories.values())
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    moons = landscapes.get("network")  # trained once here: training is not timed
    digits = landscapes.get("network", dataset="digits")
    for surface in (moons, digits):  # first calls build the per-dtype tensors
        surface.value(grid(surface, 3))

    print(f"torch {torch.__version__}, one thread, float32, best of {args.repeats} "
          f"(loss-landscapes: best of {max(1, args.repeats // 2)}, classic loop: one run)\n")
    print("| model | grid | ours (s) | loss-landscapes random_plane (s) | classic loop (s) | "
          "speed-up vs loss-landscapes | max abs. diff. vs loop |")
    print("|---|---|---|---|---|---|---|", flush=True)
    cases = (("moons 2-16-16-2 tanh, N=512", moons, 101), ("moons 2-16-16-2 tanh, N=512", moons, 201),
             ("digits 64-16-16-10 tanh, N=1348", digits, 101))
    for label, surface, size in cases:
        label, size, ours_s, plane_s, loop_s, error = slice_row(label, surface, size, args.repeats)
        print(f"| {label} | {size} | {ours_s:.3f} | {plane_s:.3f} | {loop_s:.3f} | {plane_s / ours_s:.1f}× | "
              f"{error:.1e} |", flush=True)
    seconds = race_seconds(args.repeats)
    print(f"\nrace in the slice: 4 optimizers (sgd, momentum, rmsprop, adam) × 300 steps, float64: {seconds:.3f} s "
          f"(target < 1.5 s)")


if __name__ == "__main__":
    main()
