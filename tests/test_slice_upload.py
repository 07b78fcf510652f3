"""A slice opened in the app: ``losslab.slice_store.read_zip`` on a real ``losslab slice`` store zipped two ways
(equal to what zarr reads), an unfinished one (NaN tiles, "k of n tiles computed"), and every hostile file refused
with its own message (a zip bomb, path traversal, integer or object data, pickle codecs, wrong shapes, an over-size
grid, a zstd chunk that declares too much, a non-zip); then the Networks page's section drawn by AppTest with the
uploaded bytes (the contour, the 3-D view, the downloads, the race command, and each refusal as one error line), and
the whole page through its uploader."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import zarr
from streamlit.testing.v1 import AppTest

from losslab import slice_store
from tests.rendered import shown
from tests.test_slice_cli import slice_cli

ROOT = Path(__file__).resolve().parent.parent
GRID, TILE = 9, 4


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("upload") / "slice.zarr"
    code, _, err = slice_cli(path, "--range", "0.5", grid=GRID, tile=TILE)
    assert code == 0, err
    return path


@pytest.fixture(scope="module")
def files(store: Path) -> dict[str, bytes]:
    """The store's files by their path inside it."""
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def zipped(files: dict[str, bytes], top: str = "", method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(top + name, data)
    return buffer.getvalue()


def edited(files: dict[str, bytes], name: str, **changes) -> dict[str, bytes]:
    """The files with ``name``'s JSON changed (keys set; a value None removes the key)."""
    meta = json.loads(files[name])
    for key, value in changes.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    return {**files, name: json.dumps(meta).encode()}


def refused(data: bytes) -> str:
    with pytest.raises(ValueError) as error:
        slice_store.read_zip(data)
    return str(error.value)


# --- the reader ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top", ["", "slice.zarr/"])
def test_a_real_store_zipped_reads_as_zarr_reads_it(store: Path, files: dict[str, bytes], top: str) -> None:
    opened = slice_store.read_zip(zipped(files, top))
    root = zarr.open_group(str(store), mode="r")
    assert opened.loss.dtype == np.float64 and opened.loss.shape == (GRID, GRID)
    assert np.array_equal(opened.loss, root["loss"][:])
    assert np.array_equal(opened.a, root["a"][:]) and np.array_equal(opened.b, root["b"][:])
    assert opened.grid == GRID and opened.extent == 0.5
    assert (opened.computed, opened.tiles) == (9, 9)
    assert opened.config == dict(root.attrs["losslab_slice"])


def test_without_directions_or_done_and_stored_members(files: dict[str, bytes]) -> None:
    """The app needs only the loss and its axes: a zip of those (members stored, not deflated) reads the same."""
    whole = slice_store.read_zip(zipped(files))
    small = {name: data for name, data in files.items() if not name.startswith(("directions", "done"))}
    opened = slice_store.read_zip(zipped(small, method=zipfile.ZIP_STORED))
    assert np.array_equal(opened.loss, whole.loss) and opened.computed == opened.tiles == 9


def test_an_unfinished_slice_has_nan_tiles_and_counts_them(files: dict[str, bytes]) -> None:
    partial = {name: data for name, data in files.items()
               if name not in ("loss/c/1/2", "done/c/1/2", "loss/c/0/0", "done/c/0/0")}
    opened = slice_store.read_zip(zipped(partial))
    assert (opened.computed, opened.tiles) == (7, 9)
    assert np.isnan(opened.loss[:TILE, :TILE]).all() and np.isnan(opened.loss[TILE:2 * TILE, 2 * TILE:]).all()
    assert np.isfinite(opened.loss[TILE:, :2 * TILE]).all()
    without_records = {name: data for name, data in partial.items() if not name.startswith("done")}
    assert slice_store.read_zip(zipped(without_records)).computed == 7  # counted from the values


def test_csv_has_every_point_and_reads_back(files: dict[str, bytes]) -> None:
    opened = slice_store.read_zip(zipped({n: d for n, d in files.items() if n != "loss/c/0/0"}))
    lines = slice_store.grid_csv(opened).splitlines()
    assert lines[0] == "a,b,loss" and len(lines) == 1 + GRID * GRID
    a, b, value = lines[1].split(",")
    assert (float(a), float(b), value) == (-0.5, -0.5, "")  # not computed: empty
    a, b, value = lines[-1].split(",")
    assert (float(a), float(b), float(value)) == (0.5, 0.5, opened.loss[-1, -1])


def test_a_zip_bomb_is_refused_before_it_is_unpacked(files: dict[str, bytes]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if name != "loss/c/0/0":
                archive.writestr(name, data)
        with archive.open("loss/c/0/0", "w", force_zip64=True) as member:
            block = bytes(1 << 20)
            for _ in range(70):  # 70 MB of zeros, ≈ 70 kB deflated
                member.write(block)
    assert len(buffer.getvalue()) < 1 << 20
    assert "unpack to 70.0 MB (their declared sizes), more than the 64.0 MB" in refused(buffer.getvalue())


def test_a_chunk_larger_than_its_tile_is_refused(files: dict[str, bytes]) -> None:
    message = refused(zipped({**files, "loss/c/0/0": bytes(1 << 20)}))
    assert message.startswith("loss/c/0/0 declares 1,048,576 bytes, more than the")


def test_a_zstd_chunk_that_declares_more_than_its_tile_is_refused(files: dict[str, bytes]) -> None:
    from numcodecs import zstd

    bomb = zstd.compress(bytes(50 << 20))  # 50 MB of zeros in a few kB
    assert len(bomb) < 10_000
    assert "a zstd chunk declares 52,428,800 bytes, more than the chunk's 128" in refused(
        zipped({**files, "loss/c/0/0": bomb}))


@pytest.mark.parametrize("name", ["../x", "slice/../../x", "/etc/passwd", "a\\..\\x", "C:/x"])
def test_path_traversal_is_refused(files: dict[str, bytes], name: str) -> None:
    assert "has an unsafe path" in refused(zipped({**files, name: b"x"}))


@pytest.mark.parametrize("dtype", ["int64", "uint8", "object", "string", "variable_length_utf8", "complex128",
                                   {"name": "numpy.datetime64", "configuration": {"unit": "s"}}])
def test_data_types_other_than_floats_are_refused(files: dict[str, bytes], dtype) -> None:
    message = refused(zipped(edited(files, "loss/zarr.json", data_type=dtype)))
    assert message.startswith(f"loss: data type {dtype!r}"[:30]) and "(must be float32 or float64)" in message


def test_float32_data_is_read(files: dict[str, bytes]) -> None:
    values = np.arange(GRID * GRID, dtype=np.float32).reshape(GRID, GRID) / 7
    changed = edited(files, "loss/zarr.json", data_type="float32",
                     chunk_grid={"name": "regular", "configuration": {"chunk_shape": [GRID, GRID]}},
                     codecs=[{"name": "bytes", "configuration": {"endian": "big"}}, {"name": "gzip"},
                             {"name": "crc32c"}])
    import gzip

    import google_crc32c

    body = gzip.compress(values.astype(">f4").tobytes())
    chunk = body + google_crc32c.value(body).to_bytes(4, "little")
    changed = {name: data for name, data in changed.items() if not name.startswith(("loss/c", "done"))}
    opened = slice_store.read_zip(zipped({**changed, "loss/c/0/0": chunk}))
    assert opened.loss.dtype == np.float64 and np.array_equal(opened.loss, values.astype(np.float64))
    assert "fails its crc32c checksum" in refused(zipped({**changed, "loss/c/0/0": chunk[:-1] + b"\0"}))


def test_blosc_chunks_are_read_and_a_lying_header_refused(files: dict[str, bytes]) -> None:
    from numcodecs import blosc

    values = np.linspace(0, 1, GRID * GRID).reshape(GRID, GRID)
    changed = edited(files, "loss/zarr.json",
                     chunk_grid={"name": "regular", "configuration": {"chunk_shape": [GRID, GRID]}},
                     codecs=[{"name": "bytes", "configuration": {"endian": "little"}},
                             {"name": "blosc", "configuration": {"cname": "zstd", "clevel": 5, "shuffle": "shuffle",
                                                                 "typesize": 8, "blocksize": 0}}])
    changed = {name: data for name, data in changed.items() if not name.startswith(("loss/c", "done"))}
    chunk = bytes(blosc.compress(values.tobytes(), b"zstd", 5, blosc.SHUFFLE))
    assert np.array_equal(slice_store.read_zip(zipped({**changed, "loss/c/0/0": chunk})).loss, values)
    lying = chunk[:4] + (1 << 30).to_bytes(4, "little") + chunk[8:]
    assert "a blosc chunk declares 1,073,741,824 bytes, more than the chunk's 648" in refused(
        zipped({**changed, "loss/c/0/0": lying}))


@pytest.mark.parametrize("codec", ["numcodecs.pickle", "pickle", "vlen-utf8", "vlen-bytes", "numcodecs.json2",
                                   "transpose", "sharding_indexed"])
def test_codecs_off_the_allow_list_are_refused(files: dict[str, bytes], codec: str) -> None:
    codecs = [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": codec}]
    message = refused(zipped(edited(files, "loss/zarr.json", codecs=codecs)))
    assert message.startswith(f"loss: codec {codec!r} is refused: only bytes, zstd, gzip, blosc, crc32c are read")
    assert "unpickle" in message


def test_a_pickle_codec_is_refused_without_unpickling(files: dict[str, bytes], tmp_path: Path) -> None:
    """A pickle that would write a file if it were ever loaded: refused, and the file never appears."""
    import pickle

    class Boom:
        def __reduce__(self):
            return (Path.write_text, (tmp_path / "pwned", "x"))

    codecs = [{"name": "numcodecs.pickle", "configuration": {"protocol": 5}}]
    changed = edited(files, "loss/zarr.json", codecs=codecs, data_type="float64")
    assert "codec 'numcodecs.pickle' is refused" in refused(zipped({**changed, "loss/c/0/0": pickle.dumps(Boom())}))
    assert not (tmp_path / "pwned").exists()


def test_a_done_record_of_another_type_or_fill_is_refused(files: dict[str, bytes]) -> None:
    assert "done: data type 'int64' is refused (must be uint8)" in refused(
        zipped(edited(files, "done/zarr.json", data_type="int64")))
    assert "done: fill value 300 does not fit uint8" in refused(zipped(edited(files, "done/zarr.json", fill_value=300)))
    assert "done: shape [2, 2] (must be [3, 3])" in refused(zipped(edited(files, "done/zarr.json", shape=[2, 2])))


def test_wrong_shapes_are_refused(files: dict[str, bytes]) -> None:
    assert "loss: shape [9, 8] (must be a square grid × grid)" in refused(
        zipped(edited(files, "loss/zarr.json", shape=[9, 8])))
    assert "loss: shape [9, 9, 1] (must be a square" in refused(
        zipped(edited(files, "loss/zarr.json", shape=[9, 9, 1])))
    assert "a: shape [8] (must be [9])" in refused(zipped(edited(files, "a/zarr.json", shape=[8])))
    root = json.loads(files["zarr.json"])
    root["attributes"]["losslab_slice"]["grid"] = 11
    assert "loss: a 9×9 grid, but the configuration says 11" in refused(
        zipped({**files, "zarr.json": json.dumps(root).encode()}))
    axis = np.linspace(-1, 1, GRID) ** 3  # not evenly spaced
    from numcodecs import zstd

    assert "the axes a and b do not match the grid" in refused(zipped({**files, "a/c/0": zstd.compress(axis.tobytes()),
                                                                       "b/c/0": zstd.compress(axis.tobytes())}))


def test_an_over_size_grid_is_refused(files: dict[str, bytes]) -> None:
    assert "loss: a 2001×2001 grid (must be 2 to 1001 points per axis)" in refused(
        zipped(edited(files, "loss/zarr.json", shape=[2001, 2001])))
    tiny_tiles = edited(files, "loss/zarr.json", shape=[1001, 1001],
                        chunk_grid={"name": "regular", "configuration": {"chunk_shape": [1, 1]}})
    root = json.loads(files["zarr.json"])
    root["attributes"]["losslab_slice"]["grid"] = 1001
    message = refused(zipped({**tiny_tiles, "zarr.json": json.dumps(root).encode()}))
    assert "loss: 1,002,001 chunks, more than 65,536" in message


@pytest.mark.parametrize("data, expected", [
    (b"", "not a zip file"),
    (b"\x89HDF\r\n\x1a\n" + bytes(100), "not a zip file"),
    (b"PK\x03\x04 truncated", "not a zip file"),
    (bytes(slice_store.MAX_ZIP_BYTES + 1), "the file is 16.0 MB, more than 16.0 MB"),
])
def test_a_file_that_is_not_a_zip_is_refused(data: bytes, expected: str) -> None:
    assert expected in refused(data)


def test_a_zip_that_is_not_a_slice_store_is_refused(files: dict[str, bytes]) -> None:
    assert "no zarr.json at the zip's root or in its one top folder" in refused(zipped({"readme.txt": b"hi"}))
    assert "no zarr.json at the zip's root" in refused(zipped({"a/zarr.json": b"{}", "b/zarr.json": b"{}"}))
    assert "not a losslab slice store" in refused(zipped(edited(files, "zarr.json", attributes={})))
    assert "the zip's zarr.json is not a Zarr v3 group" in refused(zipped(edited(files, "zarr.json", zarr_format=2)))
    assert "zarr.json is not JSON" in refused(zipped({**files, "zarr.json": b"{not json"}))
    assert "the store has no loss/zarr.json" in refused(zipped({n: d for n, d in files.items()
                                                                if not n.startswith("loss")}))
    assert "only stored or deflated members are read" in refused(zipped(files, method=zipfile.ZIP_BZIP2))


# --- the page's section --------------------------------------------------------------------------------------------


def _section(data: bytes, name: str) -> None:
    from losslab.app import slice_upload

    slice_upload.show(data, name)


def section(data: bytes, name: str = "slice.zip") -> AppTest:
    at = AppTest.from_function(_section, args=(data, name), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_section_draws_the_slice_with_every_download(files: dict[str, bytes]) -> None:
    at = section(zipped(files))
    assert not at.error
    charts = {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}
    assert set(charts) == {"slice_upload.contour", "slice_upload.surface3d"}
    titles = [note["text"] for note in charts["slice_upload.contour"]["layout"]["annotations"]]
    assert any("Sequential (1,210 parameters): the loss (cross_entropy)" in title for title in titles)
    assert charts["slice_upload.contour"]["layout"]["images"]  # the colour image under the isolines
    assert any(trace["type"] == "surface" for trace in charts["slice_upload.surface3d"]["data"])
    assert {button.label for button in at.get("download_button")} == {"Download CSV", "Download PNG",
                                                                      "Download SVG"}
    assert {button.label for button in at.button} >= {"Prepare PDF", "Prepare HTML"}
    assert any("9 of 9 tiles computed" in caption.value for caption in at.caption)
    assert "do not run in the app" in at.info[0].value
    command = at.code[0].value
    assert command.startswith("losslab slice --model tests.slice_models:make_mlp --data tests.slice_models:")
    assert "--grid 9 --range 0.5 --seed 0 --tile 4" in command and command.endswith("--race sgd,adam")


def test_the_section_notes_an_unfinished_slice(files: dict[str, bytes]) -> None:
    at = section(zipped({n: d for n, d in files.items() if n not in ("loss/c/1/1", "done/c/1/1")}))
    assert "8 of 9 tiles computed" in at.warning[0].value
    assert len(at.get("plotly_chart")) == 2


def test_the_section_refuses_with_one_error_line(files: dict[str, bytes]) -> None:
    codecs = [{"name": "bytes"}, {"name": "numcodecs.pickle"}]
    at = section(zipped(edited(files, "loss/zarr.json", codecs=codecs)), "evil.zip")
    assert len(at.error) == 1 and "evil" in at.error[0].value and "is refused" in at.error[0].value
    assert not at.get("plotly_chart") and not at.get("download_button")
    at = section(b"not a zip", "slice.h5")
    assert "not a zip file" in at.error[0].value


def test_the_race_command_quotes_the_file_s_names() -> None:
    from losslab.app.slice_upload import race_command

    command = race_command({"model": "m:f; rm -rf ~", "data": "d:g", "grid": 9, "range": 0.5, "seed": 1,
                            "tile": 4, "weights_sha256": "ab" * 32, "loss": "torch.nn:MSELoss"})
    assert command == ("losslab slice --model 'm:f; rm -rf ~' --data d:g --weights WEIGHTS.pt --loss "
                       "torch.nn:MSELoss --grid 9 --range 0.5 --seed 1 --tile 4 --out slice.zarr --out slice.html "
                       "--race sgd,adam")


def test_the_networks_page_opens_an_uploaded_slice(files: dict[str, bytes]) -> None:
    """The whole page, with the zip given to its uploader: the section draws the slice and its downloads below the
    trained network's; a bad file then is one error line and the rest of the page stays."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240).run()
    at.query_params.clear()
    at.query_params.update({"dataset": "moons", "hidden": "8", "grid": "41", "steps": "20", "opt": "sgd"})
    at.switch_page("losslab/app/networks.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Your own model's slice" in [header.value for header in at.subheader]
    uploader = at.file_uploader(key="slice_upload.file")
    uploader.set_value(("slice.zip", zipped(files, "slice.zarr/"), "application/zip")).run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    keys = {chart.key for chart in at.get("plotly_chart")}
    assert {"net.model", "net.surface3d", "slice_upload.contour", "slice_upload.surface3d"} <= keys
    assert {"slice_upload.export.get.csv", "slice_upload.export.get.png"} <= {b.key for b in at.get("download_button")}
    at.file_uploader(key="slice_upload.file").set_value(("bomb.zip", b"PK\x05\x06" + bytes(18),
                                                         "application/zip")).run()
    assert not at.exception
    assert [shown(e.value) for e in at.error] == ["Could not open bomb.zip: no zarr.json at the zip's root or in its "
                                                  "one top folder: not a Zarr store (zip the store's folder: cd "
                                                  "slice.zarr && zip -r ../slice.zip .)"]
    assert "slice_upload.contour" not in {chart.key for chart in at.get("plotly_chart")}
    assert "net.model" in {chart.key for chart in at.get("plotly_chart")}
