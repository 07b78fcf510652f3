"""Your own model's slice (issue 18): ``landscapes.from_module`` against loss-landscapes, measured in the same run.

Model: the issue's small CNN on scikit-learn's 8×8 digits (conv 1→6 3×3, ReLU, max-pool 2, conv 6→8 3×3, ReLU,
linear 128→10; 512 images), trained to θ* by full-batch Adam, float32, one process, one thread. Rows:

- values: ours against the peer's ``planar_interpolation`` on the same plane (end models θ* + d₁ and θ* + d₂
  scaled to our grid), rtol 1e-4;
- speed at 51×51: ours (the fast graph path: best and median of the calls), ours through the generic path (vmap
  of functional_call), loss-landscapes' ``random_plane`` (its own filter-normalized directions, the same number
  of points; install with ``pip install -e ".[bench]"``), and one forward pass over the 512 images;
- bimodal timing: best and median of 10 calls in each of 3 fresh processes, with the minor page faults of each
  call, for ``network`` (the moons MLP, 101×101) and ``from_module`` (the CNN, 51×51);
- ``network``'s fused path against ``from_module`` on the same MLP: a float32 slice and a 4-row float64
  value-and-gradient (one step of a race).

Wall-clock seconds (``time.perf_counter``) and CPU seconds of the process (``time.process_time``, steadier on a
shared machine) are both shown.

    python benchmarks/own_model.py [--calls 10] [--processes 3]
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from torch import nn  # noqa: E402

import landscapes  # noqa: E402
from landscapes import network as nets  # noqa: E402

GRID = 51
EXAMPLES = 512
TRAIN_STEPS = 300
PEER_RTOL = 1e-4  # the check of our values against the peer's, and where the loss is near 0 (4e-4 at θ*)
PEER_ATOL = 1e-6  # float32's resolution of a log-sum-exp of logits of size ~10, computed in another order


def digits_cnn() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return (torch.tensor(data.images[:EXAMPLES] / 16.0, dtype=torch.float32)[:, None],
            torch.tensor(data.target[:EXAMPLES]))


def trained_cnn(x: torch.Tensor, y: torch.Tensor) -> nn.Sequential:
    """The CNN trained to θ* by TRAIN_STEPS full-batch Adam steps (seeded)."""
    torch.manual_seed(0)
    model = digits_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(TRAIN_STEPS):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model.eval()


def grid(size: int) -> np.ndarray:
    axis = np.linspace(-1.0, 1.0, size)
    return np.stack(np.meshgrid(axis, axis), axis=-1).astype(np.float32)  # rows b, columns a


def timed(repeats: int, function: Callable[[], Any]) -> tuple[list[float], list[float], list[int], Any]:
    """Wall and CPU seconds and minor page faults of each call, and the last result."""
    walls, cpus, faults, result = [], [], [], None
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    return walls, cpus, faults, result


def peer_values(surface: Any, x: torch.Tensor, y: torch.Tensor, size: int) -> tuple[np.ndarray, np.ndarray]:
    """loss-landscapes' planar_interpolation on our plane: start θ* − d₁ − d₂, end models start + (size·h)·dᵢ with
    h = 2/(size − 1), so that its steps are h along d₁ and d₂. Its values (size, size), rows b and columns a, and
    the points (a, b) it evaluated: its in-place walk adds a step along d₂ before each value of an even column
    and subtracts one after each of an odd column, so even columns sit one step higher along d₂."""
    import loss_landscapes
    import loss_landscapes.metrics

    d1, d2 = surface.directions
    h = 2.0 / (size - 1)

    def moved(a: float, b: float) -> nn.Module:
        copy = digits_cnn()
        copy.load_state_dict({name: surface.origin[name] + a * d1[name] + b * d2[name] for name in surface.origin})
        return copy.eval()

    metric = loss_landscapes.metrics.Loss(F.cross_entropy, x, y)
    values = loss_landscapes.planar_interpolation(moved(-1.0, -1.0), moved(-1.0 + size * h, -1.0),
                                                  moved(-1.0, -1.0 + size * h), metric, steps=size)
    i, j = np.meshgrid(np.arange(size), np.arange(size))  # rows j (along d₂), columns i (along d₁)
    points = np.stack([-1.0 + i * h, -1.0 + (j + (i % 2 == 0)) * h], axis=-1).astype(np.float32)
    return np.asarray(values, dtype=np.float32).T, points


def peer_random_plane(model: nn.Module, x: torch.Tensor, y: torch.Tensor, size: int) -> np.ndarray:
    import loss_landscapes
    import loss_landscapes.metrics

    metric = loss_landscapes.metrics.Loss(F.cross_entropy, x, y)
    return loss_landscapes.random_plane(model, metric, distance=1, steps=size, normalization="filter",
                                        deepcopy_model=True)


def forward_seconds(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int = 50) -> tuple[float, float]:
    def once() -> float:
        with torch.no_grad():
            return float(F.cross_entropy(model(x), y))

    walls, cpus, _, _ = timed(repeats, once)
    return min(walls), min(cpus)


def child(kind: str, weights: str, calls: int) -> None:
    """One fresh process: ``calls`` slices, each one's wall and CPU seconds and minor page faults, as JSON."""
    torch.set_num_threads(1)
    if kind == "network":
        surface, points = landscapes.get("network"), grid(101)
    else:
        x, y = digits()
        model = digits_cnn()
        model.load_state_dict(torch.load(weights, weights_only=True))
        surface, points = landscapes.from_module(model, F.cross_entropy, (x, y)), grid(GRID)
    surface.value(points[:1])  # builds what the first call builds (per-dtype tensors, traces), not timed
    walls, cpus, faults, _ = timed(calls, lambda: surface.value(points))
    print(json.dumps({"wall": walls, "cpu": cpus, "faults": faults}))


def bimodal_rows(weights: str, calls: int, processes: int) -> None:
    print(f"\n### Bimodal timing: {calls} calls in each of {processes} fresh processes (wall s; CPU s; minor faults)\n")
    print("| surface | process | best wall | median wall | best CPU | median CPU | median faults | max faults |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    for kind, label in (("network", "network, moons MLP 101×101"), ("module", f"from_module, CNN {GRID}×{GRID}")):
        medians = []
        for process in range(processes):
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--weights", weights, "--calls",
                                  str(calls)], capture_output=True, text=True, check=True).stdout
            row = json.loads(out.strip().splitlines()[-1])
            medians.append(float(np.median(row["wall"])))
            print(f"| {label} | {process + 1} | {min(row['wall']):.3f} | {np.median(row['wall']):.3f} | "
                  f"{min(row['cpu']):.3f} | {np.median(row['cpu']):.3f} | {int(np.median(row['faults']))} | "
                  f"{max(row['faults'])} |", flush=True)
        print(f"| {label} | all | | spread of the medians: {max(medians) / min(medians):.2f}× | | | | |", flush=True)


def network_rows(repeats: int) -> None:
    """network's fused path against from_module on the same trained MLP and plane."""
    print("\n### network's fused path against from_module on the same MLP (moons 2-16-16-2 tanh, N=512)\n")
    print("| what | network (s) | from_module (s) | from_module / network |")
    print("|---|---|---|---|", flush=True)
    surface = landscapes.get("network")
    x, y = surface.network.tensors("train")
    directions = [nets.flatten(d) for d in surface.directions]
    module = nets.as_module(surface.network.weights, surface.network.config.activation)  # float64
    ours64 = landscapes.from_module(module, F.cross_entropy, (x, y), directions=directions)
    ours32 = landscapes.from_module(module.float(), F.cross_entropy, (x.float(), y),
                                    directions=[d.float() for d in directions])
    points = grid(101)
    rows = np.random.default_rng(0).uniform(-1, 1, (4, 2))
    np.testing.assert_allclose(ours32.value(points[::10, ::10]), surface.value(points[::10, ::10]), rtol=1e-5)
    np.testing.assert_allclose(ours64.value_and_grad(rows)[1], surface.value_and_grad(rows)[1], rtol=1e-9)
    slice_calls, step_calls = repeats, 50
    for label, theirs, ours, calls in (
            ("slice 101×101, float32", lambda: surface.value(points), lambda: ours32.value(points), slice_calls),
            ("value and gradient of 4 rows, float64 (one step of a race)", lambda: surface.value_and_grad(rows),
             lambda: ours64.value_and_grad(rows), step_calls)):
        theirs_cpu, ours_cpu = timed(calls, theirs)[1], timed(calls, ours)[1]
        for pick in (min, np.median):
            print(f"| {label}, {pick.__name__} of {calls} (CPU) | {pick(theirs_cpu):.4f} | {pick(ours_cpu):.4f} | "
                  f"{pick(ours_cpu) / pick(theirs_cpu):.2f}× |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=2)
    parser.add_argument("--child", choices=("network", "module"))
    parser.add_argument("--weights", default="")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.weights, args.calls)
        return
    torch.set_num_threads(1)
    x, y = digits()
    model = trained_cnn(x, y)
    surface = landscapes.from_module(model, F.cross_entropy, (x, y))
    generic = landscapes.from_module(model, F.cross_entropy, (x, y), method="generic")
    points = grid(GRID)
    print(f"torch {torch.__version__}, one thread, float32; CNN {sum(p.numel() for p in model.parameters())} "
          f"parameters on {EXAMPLES} digits; our path: {surface.method} ({surface.chunk_points} points a chunk)\n")

    peer, peer_points = peer_values(surface, x, y, GRID)
    ours = surface.value(peer_points)
    error = np.abs(ours - peer)
    np.testing.assert_allclose(ours, peer, rtol=PEER_RTOL, atol=PEER_ATOL)
    print(f"values against loss-landscapes' planar_interpolation on our plane, at the {GRID}×{GRID} points it "
          f"evaluates: max relative difference {np.max(error / peer):.1e}, {np.mean(error / peer > PEER_RTOL):.2%} "
          f"of the points above {PEER_RTOL:g}, all within {PEER_ATOL:g} absolute (passed: rtol {PEER_RTOL:g}, atol "
          f"{PEER_ATOL:g}); loss at θ* {float(surface.value(np.zeros(2))):.2e}")

    count = GRID * GRID
    walls, cpus, faults, ours = timed(args.calls, lambda: surface.value(points))
    generic_walls, generic_cpus, _, values = timed(1, lambda: generic.value(points))
    np.testing.assert_allclose(values, ours, rtol=1e-5, atol=1e-6)
    peer_walls, peer_cpus, _, plane = timed(args.peer_runs, lambda: peer_random_plane(model, x, y, GRID))
    assert plane.shape == (GRID, GRID) and np.all(np.isfinite(plane))
    forward_wall, forward_cpu = forward_seconds(model, x, y)

    def ms(seconds: float) -> str:
        return f"{seconds / count * 1e3:.3f}"

    print(f"\n### Speed, {GRID}×{GRID} = {count} points (ms per point; the speed-up is the peer's best over ours)\n")
    print("| method | wall best | wall median | CPU best | CPU median | speed-up (wall best) | speed-up (wall median) "
          "| speed-up (CPU median) |")
    print("|---|---|---|---|---|---|---|---|")
    peer_wall, peer_cpu = min(peer_walls), min(peer_cpus)
    rows = ((f"ours, from_module ({surface.method} path), {args.calls} calls", walls, cpus),
            ("ours, from_module (generic path: vmap of functional_call), 1 call", generic_walls, generic_cpus),
            (f"loss-landscapes random_plane, {args.peer_runs} runs", peer_walls, peer_cpus))
    for label, wall, cpu in rows:
        print(f"| {label} | {ms(min(wall))} | {ms(np.median(wall))} | {ms(min(cpu))} | {ms(np.median(cpu))} | "
              f"{peer_wall / min(wall):.1f}× | {peer_wall / np.median(wall):.1f}× | "
              f"{peer_cpu / np.median(cpu):.1f}× |")
    print(f"| one forward pass over the {EXAMPLES} images (best of 50) | {forward_wall * 1e3:.3f} | | "
          f"{forward_cpu * 1e3:.3f} | | | | |")
    print(f"\nminor page faults per call of ours: {faults}", flush=True)

    with tempfile.TemporaryDirectory() as folder:
        weights = os.path.join(folder, "cnn.pt")
        torch.save(model.state_dict(), weights)
        bimodal_rows(weights, args.calls, args.processes)
    network_rows(max(3, args.calls // 2))


if __name__ == "__main__":
    main()
