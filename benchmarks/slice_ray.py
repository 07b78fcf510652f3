"""``losslab slice`` on Ray (issue 18): one process against Ray with 1 and 2 workers, measured in the same run.

Model: the issue's small CNN on scikit-learn's 8×8 digits (benchmarks/own_model.py's: conv 1→6 3×3, ReLU, max-pool
2, conv 6→8 3×3, ReLU, linear 128→10; 512 images), seeded, float32. The grid is cut into tiles of ``--tile``²
points, sized so that one tile takes at least a second in one process. Every row computes the same fresh store
(``slice_run.prepare`` then ``compute``, the store writes included) and checks it equals the one-process store bit
for bit. One thread per process: this one and every Ray worker (OMP/MKL/NUMBA_NUM_THREADS=1).

Rows: in-process (no Ray); Ray 1 worker; Ray 2 workers (each a local cluster started for the row: its start and
stop are shown apart, the compute time is from the first tile submitted to the last written). Columns: wall
seconds, best of ``--repeats``, the speed-up over Ray 1 worker and over in-process, and the overhead per tile of
Ray 1 worker over in-process; below the table, the round trip of an empty Ray task on one worker (the floor of
that overhead). Prints the table; ``--json`` writes the figures too.

    python benchmarks/slice_ray.py [--grid 288] [--tile 72] [--repeats 2]
"""

from __future__ import annotations

import os

for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import zarr  # noqa: E402
from torch import nn  # noqa: E402

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent.parent))

from benchmarks.own_model import EXAMPLES, digits, digits_cnn  # noqa: E402, F401 - digits: --data names it


def make_cnn() -> nn.Module:
    """own_model.py's CNN, seeded (every row slices the same θ*)."""
    torch.manual_seed(0)
    return digits_cnn()


def _request(store: Path, grid: int, tile: int) -> Any:
    from losslab import slice_run

    return slice_run.Request(model=f"{HERE}:make_cnn", data=f"{HERE}:digits", store=str(store), grid=grid, tile=tile)


def one_run(folder: Path, grid: int, tile: int, workers: int | None) -> dict[str, Any]:
    """A fresh store computed in this process (``workers`` None) or on a local Ray cluster of ``workers``."""
    from losslab import slice_ray, slice_run

    store = folder / f"s{workers}_{time.monotonic_ns()}.zarr"
    job = slice_run.prepare(_request(store, grid, tile))
    quiet = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        if workers is None:
            started = time.perf_counter()
            assert slice_run.compute(job, stream=quiet) == 0
            return {"compute": time.perf_counter() - started, "start": 0.0, "stop": 0.0, "store": store,
                    "tiles": job.total, "model": job.description}
        started = time.perf_counter()
        cluster = slice_ray.Cluster(workers=workers, references=(job.request.model, job.request.data))
        cluster.__enter__()
        try:
            up = time.perf_counter()
            assert slice_run.compute(job, executor=cluster.executor(job.inputs), stream=quiet) == 0
            done = time.perf_counter()
        finally:
            cluster.__exit__(None, None, None)
        return {"compute": done - up, "start": up - started, "stop": time.perf_counter() - done, "store": store,
                "tiles": job.total, "model": job.description}
    finally:
        quiet.close()


def empty_round_trip(calls: int = 200) -> float:
    """Seconds per ``ray.get(task.remote())`` of a task that does nothing, one worker, one after another."""
    from losslab import slice_ray

    ray = slice_ray.ray_module()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1",
             logging_level="WARNING")
    try:
        nothing = ray.remote(num_cpus=1)(_nothing)
        ray.get(nothing.remote())  # the worker started
        started = time.perf_counter()
        for _ in range(calls):
            ray.get(nothing.remote())
        return (time.perf_counter() - started) / calls
    finally:
        ray.shutdown()


def _nothing() -> int:
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, default=288)
    parser.add_argument("--tile", type=int, default=72)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp(prefix="slice_ray_bench"))
    rows: dict[str, list[dict[str, Any]]] = {"in-process": [], "ray 1 worker": [], "ray 2 workers": []}
    try:
        for _ in range(args.repeats):  # interleaved: a busy spell of the shared machine hits every row alike
            for name, workers in (("in-process", None), ("ray 1 worker", 1), ("ray 2 workers", 2)):
                rows[name].append(one_run(folder, args.grid, args.tile, workers))
        reference = np.asarray(zarr.open_group(str(rows["in-process"][0]["store"]), mode="r")["loss"][:])
        for name, runs in rows.items():
            for run in runs:
                values = np.asarray(zarr.open_group(str(run["store"]), mode="r")["loss"][:])
                assert np.array_equal(values, reference), f"{name}: not the one-process store"
        trip = empty_round_trip()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    tiles = rows["in-process"][0]["tiles"]
    best = {name: min(run["compute"] for run in runs) for name, runs in rows.items()}
    starts = {name: min(run["start"] for run in runs) for name, runs in rows.items()}
    stops = {name: min(run["stop"] for run in runs) for name, runs in rows.items()}
    print(f"{rows['in-process'][0]['model']} on {EXAMPLES} digits, grid {args.grid}², tiles of {args.tile}² points: "
          f"{tiles} tiles; best of {args.repeats}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    print(f"{'row':<15}{'compute s':>11}{'per tile s':>12}{'× ray 1':>9}{'× in-proc':>11}{'start s':>9}{'stop s':>8}")
    for name in rows:
        print(f"{name:<15}{best[name]:>11.2f}{best[name] / tiles:>12.3f}{best['ray 1 worker'] / best[name]:>9.2f}"
              f"{best['in-process'] / best[name]:>11.2f}{starts[name]:>9.2f}{stops[name]:>8.2f}")
    overhead = (best["ray 1 worker"] - best["in-process"]) / tiles
    print(f"overhead per tile, Ray 1 worker − in-process: {overhead * 1e3:.1f} ms "
          f"(includes each worker's one-off surface build); an empty task's round trip: {trip * 1e3:.2f} ms")
    print("every store equals the in-process store bit for bit")
    if args.json:
        Path(args.json).write_text(json.dumps({"grid": args.grid, "tile": args.tile, "tiles": tiles,
                                               "compute_s": best, "start_s": starts, "stop_s": stops,
                                               "overhead_per_tile_s": overhead, "empty_task_s": trip}, indent=1))


if __name__ == "__main__":
    main()
