"""The slice on disk: a Zarr v3 store that a crash, Ctrl-C or ``kill -9`` cannot spoil, and that resumes.

Layout of ``slice.zarr`` (any Zarr v3 reader opens it: ``zarr.open_group("slice.zarr")``, xarray, …)::

    loss        float64 (grid, grid), dimension_names ("b", "a"): loss[i, j] = f(a[j], b[i]); NaN where not
                computed yet; one chunk per tile (tile × tile points)
    a, b        float64 (grid,): the plane coordinates, np.linspace(-range, range, grid)
    directions  (2, parameters) in the model's dtype: d₁ and d₂, flat in model.named_parameters() order
                (attributes: each parameter's name and shape); a resumed slice uses these, never new ones
    done        uint8 (tiles_b, tiles_a), one chunk per tile: 1 once the tile's loss chunk is on disk
    attributes  "losslab_slice": the configuration (what was asked, what it resolved to, the model's and the
                data's digests)

Why it is crash-safe: zarr's local store writes every chunk to a temporary file and renames it into place, so
a chunk is either the old one or the whole new one; a tile's ``done`` record is written after its loss chunk, so
a record always means its values are there (a tile whose values landed but whose record did not is computed
again, with the same bits). The store is created in a temporary folder and renamed into place once its
directions and configuration are written: a store at ``path`` is always whole.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import numpy as np

FORMAT = "losslab-slice"
VERSION = 1
ATTRIBUTE = "losslab_slice"
DIRECTION_CHUNK = 1 << 20  # values per chunk of a direction


def tile_count(grid: int, tile: int) -> int:
    """Tiles along one axis."""
    return -(-grid // tile)


def exists(path: str) -> bool:
    return os.path.exists(path)


def create(path: str, config: dict[str, Any], directions: np.ndarray, names: list[tuple[str, list[int]]]) -> Any:
    """A new store at ``path`` (which must not exist) for ``config`` (its "grid", "range" and "tile") and the
    flat directions (2, parameters); returns the open group."""
    import zarr

    grid, tile = int(config["grid"]), int(config["tile"])
    axis = np.linspace(-float(config["range"]), float(config["range"]), grid)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.partial")
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        root = zarr.open_group(temporary, mode="w-", zarr_format=3)
        root.create_array("loss", shape=(grid, grid), chunks=(tile, tile), dtype="float64", fill_value=np.nan,
                          dimension_names=("b", "a"),
                          attributes={"description": "loss[i, j] = f(a[j], b[i]): rows b, columns a; NaN: not "
                                                     "computed yet"})
        root.create_array("a", data=axis, dimension_names=("a",), attributes={"description": "columns of loss"})
        root.create_array("b", data=axis.copy(), dimension_names=("b",), attributes={"description": "rows of loss"})
        count = directions.shape[1]
        root.create_array("directions", data=directions, chunks=(1, min(count, DIRECTION_CHUNK)),
                          dimension_names=("direction", "parameter"),
                          attributes={"parameters": [[name, list(shape)] for name, shape in names],
                                      "description": "d1 and d2, flat in model.named_parameters() order"})
        tiles = tile_count(grid, tile)
        root.create_array("done", shape=(tiles, tiles), chunks=(1, 1), dtype="uint8", fill_value=0,
                          dimension_names=("tile_b", "tile_a"),
                          attributes={"description": "1: the tile's loss chunk is on disk"})
        root.attrs[ATTRIBUTE] = json.loads(json.dumps({"format": FORMAT, "version": VERSION, **config}))
        os.rename(temporary, path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return zarr.open_group(path, mode="r+")


def open_existing(path: str) -> tuple[Any, dict[str, Any]]:
    """The store at ``path`` and its configuration; ``ValueError`` if it is not a slice store."""
    import zarr

    try:
        root = zarr.open_group(path, mode="r+", zarr_format=3)
        config = dict(root.attrs[ATTRIBUTE])
    except Exception:  # noqa: BLE001 - any reason it is not ours: refuse, never overwrite
        raise ValueError(f"--out: {path!r} exists and is not a losslab slice store (delete it or choose another "
                         "name)") from None
    if config.get("format") != FORMAT or config.get("version") != VERSION:
        raise ValueError(f"--out: {path!r} is a slice store of another format or version (delete it or choose "
                         "another name)")
    return root, config


def directions(root: Any) -> np.ndarray:
    """The saved directions (2, parameters)."""
    return np.asarray(root["directions"][:])


def done(root: Any) -> np.ndarray:
    """(tiles_b, tiles_a) bool: which tiles are on disk."""
    return np.asarray(root["done"][:]).astype(bool)


def write_tile(root: Any, row: int, column: int, tile: int, values: np.ndarray) -> None:
    """A tile's values (its loss chunk), then its record."""
    root["loss"][row * tile:row * tile + values.shape[0], column * tile:column * tile + values.shape[1]] = values
    root["done"][row, column] = 1


def loss(root: Any) -> np.ndarray:
    return np.asarray(root["loss"][:])
