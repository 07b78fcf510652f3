"""``losslab slice``: the command line end to end on the models of ``tests/slice_models.py``: the values against
``landscapes.from_module(...).value``, the store's layout, resuming (deleted tiles, Ctrl-C, a real ``kill -9``),
bit for bit, every bad input (exit 2, one line) and the figures."""

from __future__ import annotations

import glob
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from torch.nn import functional as F

import landscapes
import optimizers
from losslab import slice_compute, slice_figure, slice_run
from tests import slice_models
from tests.cli_run import run_cli

ROOT = Path(__file__).resolve().parent.parent
MODELS = "tests.slice_models"


def slice_cli(store: Path, *extra: str, model: str = "make_mlp", data: str = "digits_flat", grid: int = 9,
              tile: int = 4) -> tuple[int, str, str]:
    return run_cli("slice", "--model", f"{MODELS}:{model}", "--data", f"{MODELS}:{data}", "--grid", str(grid),
                   "--tile", str(tile), "--out", str(store), *extra)


def reference(root: zarr.Group, model: torch.nn.Module, loss, data) -> np.ndarray:
    """``landscapes.from_module(...).value`` on the whole grid, with the store's directions and settings."""
    config = dict(root.attrs["losslab_slice"])
    resolved = config["resolved"]
    directions = np.asarray(root["directions"][:])
    extent = config["range"]
    surface = landscapes.from_module(model, loss, data, directions=(directions[0], directions[1]),
                                     bounds=((-extent, extent), (-extent, extent)),
                                     batch_size=resolved["batch_size"], points_per_chunk=resolved["points_per_chunk"],
                                     method=resolved["method"])
    axis = np.linspace(-extent, extent, config["grid"])
    return surface.value(np.stack(np.meshgrid(axis, axis), axis=-1))


def test_store_layout_and_values(tmp_path: Path) -> None:
    store = tmp_path / "mlp.zarr"
    code, out, err = slice_cli(store, "--range", "0.5", "--seed", "3")
    assert code == 0, err
    assert "9 computed now, 0 done before" in out
    assert "9/9 tiles" in err and "left" in err  # the progress bar, on stderr
    root = zarr.open_group(str(store), mode="r")
    loss = root["loss"]
    assert loss.shape == (9, 9) and loss.chunks == (4, 4) and loss.dtype == np.float64
    assert tuple(loss.metadata.dimension_names) == ("b", "a")  # rows b, columns a
    axis = np.linspace(-0.5, 0.5, 9)
    assert np.array_equal(root["a"][:], axis) and np.array_equal(root["b"][:], axis)
    config = dict(root.attrs["losslab_slice"])
    assert {config[k] for k in ("grid", "tile", "seed")} == {9, 4, 3} and config["range"] == 0.5
    assert config["resolved"]["loss_function"] == "cross_entropy"
    assert np.asarray(root["done"][:]).all()

    model, data = slice_models.make_mlp(), slice_models.digits_flat()
    values = np.asarray(loss[:])
    assert np.array_equal(values, reference(root, model, F.cross_entropy, data))  # bit for bit
    drawn = landscapes.from_module(model, F.cross_entropy, data, seed=3)  # the directions are seed 3's
    directions = np.asarray(root["directions"][:])
    for index, direction in enumerate(drawn.directions):
        flat = torch.cat([t.reshape(-1) for t in direction.values()]).numpy()
        assert np.array_equal(directions[index], flat)
    assert directions.shape == (2, sum(p.numel() for p in model.parameters()))
    # rows are b, columns a: the loss at (a, b) = (0.5, -0.5) is row 0, column 8
    assert values[0, 8] == pytest.approx(float(drawn.value(np.array([0.5, -0.5]))), rel=1e-6)


@pytest.mark.parametrize("model, data, loss", [
    ("make_cnn", "digits_images", F.cross_entropy),
    ("make_resnet", "generated_images", F.cross_entropy),  # batch norm in eval mode
    ("make_mlp", "digits_loader", F.cross_entropy),  # a DataLoader
    ("make_mlp", "regression", F.mse_loss),  # float targets: MSE by default
])
def test_models_equal_from_module(tmp_path: Path, model: str, data: str, loss) -> None:
    store = tmp_path / "s.zarr"
    code, _, err = slice_cli(store, model=model, data=data, grid=5, tile=2)
    assert code == 0, err
    root = zarr.open_group(str(store), mode="r")
    inputs = getattr(slice_models, data)()
    assert np.array_equal(root["loss"][:], reference(root, getattr(slice_models, model)(), loss, inputs))


def test_loss_option(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    code, _, err = slice_cli(store, "--loss", "torch.nn:CrossEntropyLoss", grid=4)  # a class: instantiated
    assert code == 0, err
    root = zarr.open_group(str(store), mode="r")
    expected = reference(root, slice_models.make_mlp(), torch.nn.CrossEntropyLoss(), slice_models.digits_flat())
    assert np.array_equal(root["loss"][:], expected)


def test_resume_computes_only_missing_tiles(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    assert slice_cli(store)[0] == 0
    whole = np.asarray(zarr.open_group(str(store), mode="r")["loss"][:])
    os.remove(store / "done" / "c" / "1" / "2")  # a record lost: its tile is computed again
    os.remove(store / "done" / "c" / "2" / "0")
    shutil.rmtree(store / "loss" / "c" / "2")  # and a row of tiles' values with it
    for name in ("0", "1", "2"):
        record = store / "done" / "c" / "2" / name
        if record.exists():
            os.remove(record)
    code, out, _ = slice_cli(store)
    assert code == 0
    assert "4 computed now, 5 done before" in out
    assert np.array_equal(zarr.open_group(str(store), mode="r")["loss"][:], whole)


def test_ctrl_c_saves_the_done_tiles(tmp_path: Path) -> None:
    store = str(tmp_path / "s.zarr")
    request = slice_run.Request(model=f"{MODELS}:make_mlp", data=f"{MODELS}:digits_flat", store=store, grid=9,
                                tile=4)
    job = slice_run.prepare(request)

    def interrupted(function, spec, todo):  # an executor: two tiles, then Ctrl-C
        for tile in todo[:2]:
            yield tile, function(spec, tile)
        raise KeyboardInterrupt

    errors = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        assert slice_run.compute(job, executor=interrupted, stream=errors) == 130
    finally:
        errors.close()
    assert int(np.asarray(zarr.open_group(store, mode="r")["done"][:]).sum()) == 2
    again = slice_run.prepare(request)
    assert len(again.todo) == 7 and again.resumed
    assert slice_run.compute(again, stream=sys.stderr) == 0
    fresh = tmp_path / "fresh.zarr"
    assert slice_cli(fresh)[0] == 0
    assert np.array_equal(zarr.open_group(store, mode="r")["loss"][:],
                          zarr.open_group(str(fresh), mode="r")["loss"][:])


def test_compute_tile_is_pure(tmp_path: Path) -> None:
    """A tile computed in a fresh worker (the spec pickled, the surface rebuilt from it) equals the stored one."""
    store = str(tmp_path / "s.zarr")
    job = slice_run.prepare(slice_run.Request(model=f"{MODELS}:make_cnn", data=f"{MODELS}:digits_images",
                                              store=store, grid=7, tile=3))
    assert slice_run.compute(job, stream=open(os.devnull, "w")) == 0  # noqa: SIM115
    spec = pickle.loads(pickle.dumps(job.spec))
    slice_compute._SURFACES.clear()
    tile = slice_compute.tiles(7, 3)[4]
    values = slice_compute.compute_tile(spec, tile)
    stored = np.asarray(zarr.open_group(store, mode="r")["loss"][tile.r0:tile.r1, tile.c0:tile.c1])
    assert values.shape == (3, 3) and np.array_equal(values, stored)


def test_kill_9_mid_run_then_resume(tmp_path: Path) -> None:
    store = tmp_path / "killed.zarr"
    arguments = ["slice", "--model", f"{MODELS}:make_mlp", "--data", f"{MODELS}:slow_loader", "--grid", "17",
                 "--tile", "4"]
    process = subprocess.Popen([sys.executable, "-m", "losslab", *arguments, "--out", str(store)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if len(glob.glob(str(store / "done" / "c" / "*" / "*"))) >= 3:
                break
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    root = zarr.open_group(str(store), mode="r")
    before = int(np.asarray(root["done"][:]).sum())
    assert 3 <= before < 25
    code, out, err = run_cli(*arguments, "--out", str(store))
    assert code == 0, err
    assert f"{25 - before} computed now, {before} done before" in out
    whole = tmp_path / "whole.zarr"
    assert run_cli(*arguments, "--out", str(whole))[0] == 0
    assert np.array_equal(zarr.open_group(str(store), mode="r")["loss"][:],
                          zarr.open_group(str(whole), mode="r")["loss"][:])


def test_resume_refuses_another_configuration(tmp_path: Path) -> None:
    store = tmp_path / "s.zarr"
    assert slice_cli(store)[0] == 0
    for extra, model, expected in [
        (("--grid", "11"), "make_mlp", "--grid 9 (now 11)"),
        (("--seed", "2"), "make_mlp", "--seed 0 (now 2)"),
        (("--loss", "torch.nn.functional:mse_loss"), "make_mlp", "--loss default (now torch.nn.functional:mse_loss)"),
        ((), "make_other_mlp", "--model tests.slice_models:make_mlp (now tests.slice_models:make_other_mlp)"),
    ]:
        args = list(extra)
        if "--grid" in args:
            code, out, err = slice_cli(store, model=model, grid=11)
        else:
            code, out, err = slice_cli(store, *args, model=model)
        assert code == 2, (extra, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("losslab slice: error: --out:"), err
        assert expected in lines[0], lines[0]


def _weights(tmp_path: Path, name: str, state) -> str:
    path = tmp_path / name
    torch.save(state, path)
    return str(path)


def test_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    mlp = slice_models.make_mlp().state_dict()
    missing = _weights(tmp_path, "missing.pt", {k: v for k, v in mlp.items() if k != "2.bias"})
    unexpected = _weights(tmp_path, "unexpected.pt", {**mlp, "extra.weight": torch.zeros(2)})
    shapes = _weights(tmp_path, "wide.pt", slice_models.make_wide_mlp().state_dict())
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    store = tmp_path / "s.zarr"
    base = ["slice", "--data", f"{MODELS}:digits_flat", "--grid", "5"]
    mlp_model = ["--model", f"{MODELS}:make_mlp"]
    cases = [
        (["--model", "no_such_package.models:make"], "cannot import 'no_such_package.models'"),
        (["--model", f"{MODELS}:no_such_function"], "has no 'no_such_function'"),
        (["--model", f"{MODELS}:NOT_CALLABLE"], "not a function"),
        (["--model", f"{MODELS}:fails"], "fails() failed (RuntimeError: no model here)"),
        (["--model", f"{MODELS}:not_a_model"], "not a torch.nn.Module"),
        (["--model", "make_mlp"], "is not MODULE:FUNCTION"),
        ([*mlp_model, "--weights", missing], "missing keys 2.bias"),
        ([*mlp_model, "--weights", unexpected], "unexpected keys extra.weight"),
        ([*mlp_model, "--weights", shapes], "shape mismatch 0.weight (32×64 in the file, 16×64 in the model)"),
        ([*mlp_model, "--weights", str(garbage)], "is not a state_dict"),
        ([*mlp_model, "--weights", str(tmp_path / "absent.pt")], "--weights: no file"),
        ([*mlp_model, "--loss", "no_such_package:loss"], "--loss: cannot import"),
        ([*mlp_model, "--grid", "1"], "Invalid grid value: 1 (must be an integer in [2, 1001])"),
        ([*mlp_model, "--grid", "5000"], "Invalid grid value: 5000 (must be an integer in [2, 1001])"),
        ([*mlp_model, "--range", "0"], "Invalid range value: 0.0 (must be in (0, 1e+06])"),
        ([*mlp_model, "--range", "-1"], "Invalid range value: -1.0"),
        ([*mlp_model, "--tile", "0"], "Invalid tile value: 0"),
        ([*mlp_model, "--out", str(tmp_path / "s.gif")], "--out: cannot write"),
        ([*mlp_model, "--out", str(tmp_path / "t.zarr")], "exactly one .zarr store (got 2)"),
        ([*mlp_model, "--race", "sgd"], "--race draws on a figure"),
        ([*mlp_model, "--race", "nosuch", "--out", str(tmp_path / "x.png")], "unknown optimizer 'nosuch'"),
    ]
    for extra, expected in cases:
        code, _, err = run_cli(*base, *extra, "--out", str(store))
        lines = err.strip().splitlines()
        assert code == 2, (extra, err)
        assert len(lines) == 1 and lines[0].startswith("losslab slice: error: "), (extra, err)
        assert expected in lines[0], (extra, lines[0])
        assert not store.exists()
    for extra, expected in [(["--data", f"{MODELS}:not_a_model", "--out", str(store)], "--data: "),
                            (["--data", f"{MODELS}:digits_flat", "--out", str(tmp_path / "missing" / "s.zarr")],
                             "does not exist")]:
        code, _, err = run_cli("slice", *mlp_model, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and expected in err, err
    code, _, err = run_cli("slice", "--model", f"{MODELS}:make_mlp")  # required options
    assert code == 2 and err.strip().splitlines() == [
        "losslab slice: error: the following arguments are required: --data, --out"]
    (tmp_path / "other.zarr").mkdir()  # a folder that is not a slice store is never overwritten
    (tmp_path / "other.zarr" / "keep.txt").write_text("mine")
    code, _, err = run_cli(*base, *mlp_model, "--out", str(tmp_path / "other.zarr"))
    assert code == 2 and "is not a losslab slice store" in err
    assert (tmp_path / "other.zarr" / "keep.txt").read_text() == "mine"


def test_figures_with_races(tmp_path: Path) -> None:
    store, png, svg, html = (tmp_path / name for name in ("s.zarr", "s.png", "s.svg", "s.html"))
    code, out, err = slice_cli(store, "--out", str(png), "--out", str(svg), "--out", str(html), "--race", "sgd,adam",
                               "--steps", "15", grid=11)
    assert code == 0, err
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in svg.read_bytes()[:400]
    page = html.read_text()
    assert "plotly" in page.lower() and '"type":"surface"' in page.replace(" ", "") and "adam" in page
    assert f"wrote {png}" in out


def test_figure_without_race(tmp_path: Path) -> None:
    store, png = tmp_path / "s.zarr", tmp_path / "s.png"
    code, _, err = slice_cli(store, "--out", str(png), model="make_cnn", data="digits_images", grid=6, tile=3)
    assert code == 0, err
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("races", [False, True])
def test_the_centre_is_labelled_as_the_models_weights_not_a_minimum(races: bool) -> None:
    """The plane's origin is the weights sliced, which need not minimize anything: both contours say so."""
    z = np.add.outer(np.linspace(-1, 1, 7) ** 2, np.linspace(-1, 1, 7) ** 2)
    trajectories = {}
    if races:
        trajectories = {"sgd": optimizers.run(landscapes.get("quadratic"), "sgd", start=(-0.5, 0.5), steps=5, lr=0.1)}
    figure = slice_figure.figures(z, 1.0, trajectories, "title", "caption", ["png"])["png"]
    names = [trace.name for trace in figure.data]
    assert slice_figure.CENTRE in names and "minimum θ*" not in names, names
