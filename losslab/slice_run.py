"""``losslab slice``: your model's loss on a plane, computed tile by tile into a resumable Zarr store.

``prepare(request)`` loads and checks everything (``ValueError`` naming the option, before any work), opens the
store or creates it (new random directions drawn by ``seed``, saved), and lists the tiles not done yet;
``compute(job)`` computes them with a progress bar, each saved as it finishes (Ctrl-C or a crash loses only the
tiles in flight: the same command continues), in this process or, with ``compute_on_ray``, as Ray tasks;
``figures(job, formats)`` draws the finished slice and the optional races. The configuration a store was made
with is checked on every resume: a different grid, range, seed, tile, loss, model, weights or data is refused with
one line that says what differs.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from validation import Range, check_number

from . import slice_compute, slice_inputs, slice_store

MAX_GRID = 1001
MAX_RANGE = 1e6
MAX_TILE = 256
GRID = Range(2, MAX_GRID, integer=True)
RANGE = Range(0, MAX_RANGE, low_open=True)
TILE = Range(1, MAX_TILE, integer=True)
SEED = Range(0, 2**32 - 1, integer=True)
BATCH = Range(1, 1 << 16, integer=True)
COMPARED = ("model", "data", "weights_sha256", "loss", "grid", "range", "seed", "tile", "batch_size")


@dataclass(frozen=True)
class Request:
    """What the command line asks for."""

    model: str
    data: str
    store: str
    weights: str | None = None
    loss: str | None = None
    grid: int = 51
    range: float = 1.0
    seed: int = 0
    tile: int = 16
    batch_size: int | None = None
    race: tuple[str, ...] = ()
    steps: int = 200
    start: tuple[float, float] | None = None

    def validate(self) -> Request:
        check_number("grid", self.grid, GRID)
        check_number("range", self.range, RANGE)
        check_number("tile", self.tile, TILE)
        check_number("seed", self.seed, SEED)
        if self.batch_size is not None:
            check_number("batch_size", self.batch_size, BATCH)
        folder = os.path.dirname(os.path.abspath(self.store))
        if not os.path.isdir(folder):
            raise ValueError(f"--out: the folder of {self.store!r} does not exist")
        if self.weights is not None and not os.path.isfile(self.weights):
            raise ValueError(f"--weights: no file {self.weights!r}")
        return self


@dataclass
class Job:
    """A prepared slice: its spec, open store, configuration and the tiles left."""

    request: Request
    spec: slice_compute.SliceSpec
    root: Any
    config: dict[str, Any]
    todo: list[slice_compute.Tile]
    total: int
    resumed: bool
    description: str = ""
    loss_name: str = ""
    computed: int = field(default=0)
    inputs: Any = None  # the loaded slice_inputs.Inputs (what a Ray run puts in the object store)


def _sha256(path: str | None) -> str | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _shown(key: str, value: Any) -> str:
    if key == "weights_sha256":
        return "none" if value is None else f"sha256 {value[:12]}…"
    return "default" if value is None else str(value)


def _option(key: str) -> str:
    return "--weights" if key == "weights_sha256" else "--" + key.replace("_", "-")


def _check_same(path: str, saved: dict[str, Any], asked: dict[str, Any], digests: dict[str, str]) -> None:
    """``ValueError`` saying what differs between the store's configuration and this request."""
    differences = [f"{_option(key)} {_shown(key, saved.get(key))} (now {_shown(key, asked[key])})"
                   for key in COMPARED if saved.get(key) != asked[key]]
    if not differences:
        if saved.get("model_sha256") != digests["model_sha256"]:
            differences.append("the model's parameters (is the --model function seeded? give --weights)")
        if saved.get("data_sha256") != digests["data_sha256"]:
            differences.append("the data")
    if differences:
        raise ValueError(f"--out: {path!r} was computed with another configuration: {'; '.join(differences)} "
                         "(run with the same options, or delete it / choose another --out)")


def _flat(directions: tuple[dict[str, Any], dict[str, Any]]) -> np.ndarray:
    import torch

    return np.stack([torch.cat([t.detach().reshape(-1) for t in d.values()]).cpu().numpy() for d in directions])


def _spec(request: Request, directions: np.ndarray, resolved: dict[str, Any], key: str) -> slice_compute.SliceSpec:
    return slice_compute.SliceSpec(model=request.model, data=request.data, weights=request.weights, loss=request.loss,
                                   directions=directions, grid=request.grid, range=float(request.range),
                                   batch_size=int(resolved["batch_size"]),
                                   points_per_chunk=int(resolved["points_per_chunk"]), method=resolved["method"],
                                   key=key)


def prepare(request: Request) -> Job:
    """Everything checked and loaded, the store opened or created; the tiles to compute listed."""
    import landscapes

    request = request.validate()
    inputs = slice_inputs.load(request.model, request.data, request.weights, request.loss)
    asked = {"model": request.model, "data": request.data, "weights_sha256": _sha256(request.weights),
             "loss": request.loss, "grid": int(request.grid), "range": float(request.range),
             "seed": int(request.seed), "tile": int(request.tile),
             "batch_size": None if request.batch_size is None else int(request.batch_size)}
    digests = {"model_sha256": slice_inputs.fingerprint(inputs.model),
               "data_sha256": slice_inputs.data_fingerprint(inputs.data)}
    resumed = slice_store.exists(request.store)
    if resumed:
        root, config = slice_store.open_existing(request.store)
        _check_same(request.store, config, asked, digests)
        directions = slice_store.directions(root)
        resolved = config["resolved"]
    else:
        extent = float(request.range)
        first = landscapes.from_module(inputs.model, inputs.loss_fn, inputs.data, seed=int(request.seed),
                                       bounds=((-extent, extent), (-extent, extent)),
                                       start=slice_compute.default_start(extent), batch_size=request.batch_size)
        directions = _flat(first.directions)
        resolved = {"batch_size": first.data.batch_size, "points_per_chunk": first.chunk_points,
                    "method": first.method, "dtype": str(first.dtype).removeprefix("torch."),
                    "parameters": int(directions.shape[1]), "loss_function": inputs.loss_name,
                    "model_class": type(inputs.model).__name__}
        config = {**asked, **digests, "resolved": resolved}
    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    spec = _spec(request, directions, resolved, key)
    try:
        built = spec.build(inputs)
    except ValueError as error:
        raise ValueError(f"--out: {request.store!r}: {error}" if resumed else str(error)) from None
    if not resumed:
        names = [(name, list(p.shape)) for name, p in inputs.model.named_parameters()]
        root = slice_store.create(request.store, config, directions, names)
    slice_compute.prime(spec, built)
    done = slice_store.done(root)
    every = slice_compute.tiles(request.grid, request.tile)
    todo = [tile for tile in every if not done[tile.row, tile.column]]
    description = f"{resolved.get('model_class', type(inputs.model).__name__)} ({resolved['parameters']:,} parameters)"
    return Job(request, spec, root, config, todo, len(every), resumed, description,
               resolved.get("loss_function", inputs.loss_name), inputs=inputs)


def compute(job: Job, executor: slice_compute.Executor = slice_compute.local, stream: Any = None) -> int:
    """The tiles left, saved one by one with a progress bar on stderr; exit status 0, or 130 on Ctrl-C (what is
    done is saved: the same command continues)."""
    stream = stream if stream is not None else sys.stderr
    progress = slice_compute.Progress(job.total, job.total - len(job.todo), stream=stream)
    tile = job.request.tile

    def save(each: slice_compute.Tile, values: np.ndarray) -> None:
        slice_store.write_tile(job.root, each.row, each.column, tile, values)
        job.computed += 1

    try:
        slice_compute.run_tiles(job.spec, job.todo, save, executor=executor, progress=progress)
    except KeyboardInterrupt:
        progress.close()
        print(f"losslab slice: interrupted: {job.total - len(job.todo) + job.computed}/{job.total} tiles saved in "
              f"{job.request.store}; run the same command to continue", file=stream)
        return 130
    except slice_compute.TileFailed as error:
        progress.close()
        print(f"losslab slice: {error}; {job.total - len(job.todo) + job.computed}/{job.total} tiles saved in "
              f"{job.request.store}; run the same command to continue", file=stream)
        return 1
    progress.close()
    return 0


def compute_on_ray(job: Job, workers: int | None = None, address: str | None = None, stream: Any = None) -> int:
    """``compute`` with the tiles as Ray tasks: on a local cluster of ``workers`` processes started for this run,
    or on the cluster at ``address`` (``slice_ray``); ``ValueError`` if it cannot be started or joined. The driver
    still writes every tile, so resuming works the same."""
    from . import slice_ray

    request = job.request
    with slice_ray.Cluster(workers=workers, address=address,
                           references=(request.model, request.data, request.loss)) as cluster:
        return compute(job, executor=cluster.executor(job.inputs), stream=stream)


def figures(job: Job, formats: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The finished slice's figure per format, with the races drawn on it; the races skipped, with why."""
    from . import slice_figure

    request = job.request
    extent = float(request.range)
    trajectories, skipped = {}, {}
    if request.race:
        start = request.start or slice_compute.default_start(extent)
        trajectories, skipped = slice_figure.races(slice_compute.surface(job.spec), list(request.race), start,
                                                   request.steps)
    title = f"{job.description}: the loss ({job.loss_name}) on θ* + a·d₁ + b·d₂"
    caption = (f"filter-normalized random directions (seed {job.config['seed']}) · {request.grid}×{request.grid} "
               f"grid, a, b ∈ [−{extent:g}, {extent:g}]")
    shown = slice_figure.figures(slice_store.loss(job.root), extent, trajectories, title, caption, formats)
    return shown, skipped
