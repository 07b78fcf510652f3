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

import io
import json
import os
import shutil
from dataclasses import dataclass
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


# --- reading a slice someone uploads: a zip of the store, every size checked before a byte is decoded ----------------
#
# The app opens a slice as a .zip of the store's folder. Nothing in it is trusted: the zip's member names (no path
# out of the store), its members' declared sizes (summed before anything is unpacked; each member read no further
# than its declared size, and only stored or deflated members, whose reading zipfile bounds), the arrays' metadata
# (shape, float32/float64 only, chunk sizes and counts) and their codecs, read by this module itself from a short
# allow-list (bytes, zstd, gzip, blosc, crc32c): zarr never sees the file, so no codec it knows (numcodecs' pickle,
# object or variable-length types) can run, and each chunk decompresses into a buffer of its declared size, no more.
# The configuration attribute is text to show: its model or data names are never imported.

MAX_ZIP_BYTES = 16 * 2**20  # the file itself (a 1001² float64 slice is ≤ 8 MB), as the app's upload cap
MAX_UNPACKED = 64 * 2**20  # all members' declared uncompressed sizes together
MAX_MEMBERS = 2 * 65_536 + 64
MAX_METADATA = 2**20  # one zarr.json
MAX_READ_GRID = 1001  # slice_run.MAX_GRID: the largest slice the command line writes
MAX_CHUNKS = 65_536  # per array: the CLI's tiles, (grid / tile)², at most this many
FLOATS = ("float32", "float64")
CODECS = ("bytes", "zstd", "gzip", "blosc", "crc32c")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZIP_HELP = "zip the store's folder: cd slice.zarr && zip -r ../slice.zip ."


@dataclass(frozen=True)
class Opened:
    """A slice read from a zip: ``loss`` (grid, grid) float64, rows b, columns a, NaN where not computed; the axes;
    ``done`` (tiles, tiles) bool; the configuration as the file has it (text to show, never to import)."""

    loss: np.ndarray
    a: np.ndarray
    b: np.ndarray
    done: np.ndarray
    config: dict[str, Any]

    @property
    def grid(self) -> int:
        return int(self.loss.shape[0])

    @property
    def extent(self) -> float:
        return float(self.a[-1])

    @property
    def computed(self) -> int:
        return int(self.done.sum())

    @property
    def tiles(self) -> int:
        return int(self.done.size)


def _megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB"


class _Zip:
    """The zip's members under the store's root (the zip's root, or its one top folder), checked."""

    def __init__(self, data: bytes) -> None:
        import zipfile

        if len(data) > MAX_ZIP_BYTES:
            raise ValueError(f"the file is {_megabytes(len(data))}, more than {_megabytes(MAX_ZIP_BYTES)}")
        try:
            self.file = zipfile.ZipFile(io.BytesIO(data))
            infos = self.file.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
            raise ValueError(f"not a zip file: open a slice store as a .zip ({ZIP_HELP})") from None
        if len(infos) > MAX_MEMBERS:
            raise ValueError(f"the zip has {len(infos):,} members, more than {MAX_MEMBERS:,}")
        names: dict[str, Any] = {}
        for info in infos:
            name = info.filename
            parts = name.rstrip("/").split("/")
            if (name.startswith("/") or "\\" in name or "\x00" in name or ":" in parts[0]
                    or any(part in ("", ".", "..") for part in parts)):
                raise ValueError(f"the zip's member {_quoted(name)} has an unsafe path (absolute, or with '..')")
            if name in names:
                raise ValueError(f"the zip holds {_quoted(name)} twice")
            names[name] = info
        total = sum(info.file_size for info in infos)
        if total > MAX_UNPACKED:
            raise ValueError(f"the zip's members unpack to {_megabytes(total)} (their declared sizes), more than "
                             f"the {_megabytes(MAX_UNPACKED)} a slice can need")
        files = {name: info for name, info in names.items()
                 if not name.endswith("/") and not name.startswith("__MACOSX/")}
        tops = {name.split("/", 1)[0] for name in files}
        if "zarr.json" in files:
            prefix = ""
        elif len(tops) == 1 and f"{next(iter(tops))}/zarr.json" in files:
            prefix = next(iter(tops)) + "/"
        else:
            raise ValueError(f"no zarr.json at the zip's root or in its one top folder: not a Zarr store ({ZIP_HELP})")
        self.members = {name[len(prefix):]: info for name, info in files.items() if name.startswith(prefix)}

    def has(self, name: str) -> bool:
        return name in self.members

    def read(self, name: str, limit: int) -> bytes:
        """A member's bytes, refused above ``limit`` (its declared size) and never read past its declared size."""
        import zipfile

        info = self.members[name]
        if info.file_size > limit:
            raise ValueError(f"{name} declares {info.file_size:,} bytes, more than the {limit:,} it can hold")
        if info.flag_bits & 0x1:
            raise ValueError(f"{name} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"{name} is compressed with zip method {info.compress_type}: only stored or deflated "
                             "members are read")
        try:
            with self.file.open(info) as handle:
                data = handle.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError) as error:
            raise ValueError(f"{name} cannot be read from the zip ({error})") from None
        if len(data) != info.file_size:
            raise ValueError(f"{name} is not the {info.file_size:,} bytes it declares")
        return data

    def metadata(self, name: str) -> dict[str, Any]:
        path = f"{name}/zarr.json" if name else "zarr.json"
        if not self.has(path):
            raise ValueError(f"the store has no {path}" + (f" (no array {name!r})" if name else ""))
        try:
            meta = json.loads(self.read(path, MAX_METADATA))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ValueError(f"{path} is not JSON") from None
        if not isinstance(meta, dict):
            raise ValueError(f"{path} is not a JSON object")
        return meta


def _quoted(text: Any, limit: int = 80) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


def _integers(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)


def _fill(meta: dict[str, Any], name: str) -> float:
    value = meta.get("fill_value")
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(value.replace("Infinity", "inf"))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    raise ValueError(f"{name}: fill value {_quoted(value)} is not a number")


def _codecs(meta: dict[str, Any], name: str, itemsize: int) -> tuple[str, list[dict[str, Any]]]:
    """The byte order and the bytes-to-bytes codecs, refusing any codec off the allow-list."""
    codecs = meta.get("codecs")
    if not isinstance(codecs, list) or not codecs or not all(isinstance(c, dict) for c in codecs):
        raise ValueError(f"{name}: no codec list in its zarr.json")
    for codec in codecs:
        if codec.get("name") not in CODECS:
            raise ValueError(f"{name}: codec {_quoted(codec.get('name'))} is refused: only {', '.join(CODECS)} are "
                             "read (a pickle, object or variable-length codec would run code or unpickle)")
    first, rest = codecs[0], codecs[1:]
    if first["name"] != "bytes" or any(codec["name"] == "bytes" for codec in rest):
        raise ValueError(f"{name}: the first codec must be 'bytes', and only the first")
    endian = (first.get("configuration") or {}).get("endian", "little")
    if endian not in ("little", "big") and itemsize > 1:
        raise ValueError(f"{name}: byte order {_quoted(endian)} is not little or big")
    return ("<" if endian == "little" else ">"), rest


def _zstd_size(data: bytes, name: str) -> int:
    """The content size a zstd frame declares in its header."""
    if len(data) < 6 or data[:4] != ZSTD_MAGIC:
        raise ValueError(f"{name}: a chunk is not a zstd frame")
    descriptor = data[4]
    single = (descriptor >> 5) & 1
    start = 5 + (0 if single else 1) + (0, 1, 2, 4)[descriptor & 3]
    width = (1 if single else 0, 2, 4, 8)[descriptor >> 6]
    if width == 0 or len(data) < start + width:
        raise ValueError(f"{name}: a zstd chunk does not declare its size")
    return int.from_bytes(data[start:start + width], "little") + (256 if width == 2 else 0)


def _decode_one(codec: dict[str, Any], data: bytes, limit: int, name: str) -> bytes:
    """One codec undone, its output at most ``limit`` bytes (checked from its header before decompressing)."""
    kind = codec["name"]
    if kind == "crc32c":
        if len(data) < 4:
            raise ValueError(f"{name}: a chunk is too short for its crc32c checksum")
        body, stored = data[:-4], data[-4:]
        try:
            import google_crc32c
        except ImportError:  # the check is optional: the data is bounded either way
            return body
        if google_crc32c.value(body).to_bytes(4, "little") != stored:
            raise ValueError(f"{name}: a chunk fails its crc32c checksum")
        return body
    if kind == "zstd":
        from numcodecs import zstd

        return _sized("zstd", zstd.decompress, data, _zstd_size(data, name), limit, name)
    if kind == "gzip":
        import zlib

        inflate = zlib.decompressobj(wbits=47)  # gzip or zlib header
        try:
            out = inflate.decompress(data, limit + 1)
        except zlib.error as error:
            raise ValueError(f"{name}: a gzip chunk cannot be decompressed ({error})") from None
        if len(out) > limit or inflate.unconsumed_tail:
            raise ValueError(f"{name}: a gzip chunk decompresses to more than the chunk's {limit:,} bytes")
        return out
    # blosc: its header holds the decompressed and compressed sizes
    from numcodecs import blosc

    if len(data) < 16 or int.from_bytes(data[12:16], "little") != len(data):
        raise ValueError(f"{name}: a blosc chunk's header does not match its size")
    return _sized("blosc", blosc.decompress, data, int.from_bytes(data[4:8], "little"), limit, name)


def _sized(kind: str, decompress: Any, data: bytes, size: int, limit: int, name: str) -> bytes:
    """``decompress(data, out)`` into a buffer of the ``size`` the chunk's header declares, at most ``limit``."""
    if size > limit:
        raise ValueError(f"{name}: a {kind} chunk declares {size:,} bytes, more than the chunk's {limit:,}")
    out = bytearray(size)
    try:
        decompress(data, out)
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"{name}: a {kind} chunk cannot be decompressed ({error})") from None
    return bytes(out)


def _chunk_key(meta: dict[str, Any], name: str, index: tuple[int, ...]) -> str:
    encoding = meta.get("chunk_key_encoding") or {"name": "default"}
    kind = encoding.get("name") if isinstance(encoding, dict) else None
    separator = (encoding.get("configuration") or {}).get("separator", "/" if kind == "default" else ".") \
        if isinstance(encoding, dict) else None
    if kind not in ("default", "v2") or separator not in ("/", "."):
        raise ValueError(f"{name}: chunk key encoding {_quoted(encoding)} is not Zarr's default or v2")
    parts = separator.join(map(str, index))
    return f"{name}/c{separator}{parts}" if kind == "default" else f"{name}/{parts}"


def _read_array(store: _Zip, name: str, shape: tuple[int, ...], dtypes: tuple[str, ...]) -> np.ndarray:
    """An array of the store, its metadata checked against what it must be before any chunk is read."""
    meta = store.metadata(name)
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
        raise ValueError(f"{name}: not a Zarr v3 array")
    dtype = meta.get("data_type")
    if dtype not in dtypes:
        raise ValueError(f"{name}: data type {_quoted(dtype)} is refused (must be {' or '.join(dtypes)})")
    declared = meta.get("shape")
    if not _integers(declared) or tuple(declared) != shape:
        raise ValueError(f"{name}: shape {_quoted(declared)} (must be {list(shape)})")
    if meta.get("storage_transformers"):
        raise ValueError(f"{name}: storage transformers are not read")
    grid = meta.get("chunk_grid")
    chunks = (grid.get("configuration") or {}).get("chunk_shape") if isinstance(grid, dict) else None
    if not isinstance(grid, dict) or grid.get("name") != "regular" or not _integers(chunks) \
            or len(chunks) != len(shape) or any(c < 1 for c in chunks):
        raise ValueError(f"{name}: chunk grid {_quoted(grid)} is not a regular grid of {len(shape)}-D chunks")
    itemsize = np.dtype(dtype).itemsize
    chunk_bytes = int(np.prod(chunks, dtype=object)) * itemsize
    if chunk_bytes > MAX_READ_GRID ** 2 * 8:
        raise ValueError(f"{name}: chunks of {chunks} hold {_megabytes(chunk_bytes)}, more than "
                         f"{_megabytes(MAX_READ_GRID ** 2 * 8)}")
    counts = [-(-size // chunk) for size, chunk in zip(shape, chunks)]
    if int(np.prod(counts, dtype=object)) > MAX_CHUNKS:
        raise ValueError(f"{name}: {int(np.prod(counts, dtype=object)):,} chunks, more than {MAX_CHUNKS:,} (use "
                         "a larger --tile)")
    order, codecs = _codecs(meta, name, itemsize)
    fill = _fill(meta, name)
    wire = np.dtype(dtype).newbyteorder(order)
    try:
        out = np.full(shape, fill, dtype=dtype)
    except (OverflowError, ValueError):
        raise ValueError(f"{name}: fill value {_quoted(fill)} does not fit {dtype}") from None
    slack = chunk_bytes + chunk_bytes // 64 + 4096  # compressed data is never much larger than the raw bytes
    for index in np.ndindex(*counts):
        key = _chunk_key(meta, name, index)
        if not store.has(key):
            continue  # a chunk not written: the fill value
        data = store.read(key, slack + 4 * len(codecs))
        for depth, codec in reversed(list(enumerate(codecs))):
            data = _decode_one(codec, data, chunk_bytes if depth == 0 else slack + 4 * depth, name)
        if len(data) != chunk_bytes:
            raise ValueError(f"{name}: a chunk holds {len(data):,} bytes, not the {chunk_bytes:,} its shape needs")
        values = np.frombuffer(data, dtype=wire).reshape(chunks)
        where = tuple(slice(i * c, min((i + 1) * c, size)) for i, c, size in zip(index, chunks, shape))
        out[where] = values[tuple(slice(0, s.stop - s.start) for s in where)]
    return out


def read_zip(data: bytes) -> Opened:
    """The slice in a .zip of a store made by ``losslab slice``, every size, type and codec checked first;
    ``ValueError`` with one sentence saying what is wrong."""
    store = _Zip(data)
    root = store.metadata("")
    if root.get("zarr_format") != 3 or root.get("node_type") != "group":
        raise ValueError("the zip's zarr.json is not a Zarr v3 group")
    config = (root.get("attributes") or {}).get(ATTRIBUTE) if isinstance(root.get("attributes"), dict) else None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ValueError(f"not a losslab slice store (no {ATTRIBUTE!r} attribute in its zarr.json)")
    if config.get("version") != VERSION:
        raise ValueError(f"a slice store of version {_quoted(config.get('version'))}; this app reads version "
                         f"{VERSION}")
    meta = store.metadata("loss")
    shape = meta.get("shape")
    if not _integers(shape) or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"loss: shape {_quoted(shape)} (must be a square grid × grid)")
    grid = shape[0]
    if not 2 <= grid <= MAX_READ_GRID:
        raise ValueError(f"loss: a {grid}×{grid} grid (must be 2 to {MAX_READ_GRID} points per axis)")
    if config.get("grid") != grid:
        raise ValueError(f"loss: a {grid}×{grid} grid, but the configuration says {_quoted(config.get('grid'))}")
    loss = _read_array(store, "loss", (grid, grid), FLOATS).astype(np.float64)
    a = _read_array(store, "a", (grid,), FLOATS).astype(np.float64)
    b = _read_array(store, "b", (grid,), FLOATS).astype(np.float64)
    extent = a[-1]
    if not (np.all(np.isfinite(a)) and extent > 0 and np.array_equal(a, b)
            and np.allclose(a, np.linspace(-extent, extent, grid), rtol=1e-9, atol=1e-12 * extent)):
        raise ValueError("the axes a and b do not match the grid (each must be np.linspace(-range, range, grid))")
    chunks = meta["chunk_grid"]["configuration"]["chunk_shape"]
    tiles = (-(-grid // chunks[0]), -(-grid // chunks[1]))
    if store.has("done/zarr.json"):
        done = _read_array(store, "done", tiles, ("uint8",)).astype(bool)
    else:  # a store zipped without its records: a tile is done where any of its values is
        done = np.array([[bool(np.isfinite(loss[i * chunks[0]:(i + 1) * chunks[0],
                                                 j * chunks[1]:(j + 1) * chunks[1]]).any())
                          for j in range(tiles[1])] for i in range(tiles[0])])
    return Opened(loss, a, b, done, dict(config))


def grid_csv(opened: Opened) -> str:
    """The slice as CSV, one row per point: a, b, loss (empty where not computed); floats read back exactly."""
    a, b = np.meshgrid(opened.a, opened.b)
    lines = ["a,b,loss"]
    lines += [f"{x!r},{y!r},{'' if z != z else repr(z)}"
              for x, y, z in zip(a.ravel().tolist(), b.ravel().tolist(), opened.loss.ravel().tolist())]
    return "\n".join(lines) + "\n"
