"""The ``losslab`` command line through a real subprocess (``python -m losslab``): exit codes, messages, files."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import landscapes
import optimizers
from losslab import config_io, race
from optimizers import catalogue
from optimizers.step_view import step_view

ROOT = Path(__file__).resolve().parent.parent


def losslab(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "losslab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_help_everywhere_has_examples():
    for args in ([], ["--help"], ["race", "--help"], ["surfaces", "--help"], ["optimizers", "--help"],
                 ["inspect", "--help"], ["lessons", "--help"]):
        result = losslab(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert "example" in result.stdout, args
    race_help = losslab("race", "--help").stdout
    for option in ("--out", "--config", "--lr", "--momentum", "--start", "--steps", "--schedule", "--noise",
                   "--seed", "--preset", "--scale", "--fps", "--frames", "--param", "--set"):
        assert option in race_help


def test_listings_name_every_surface_and_optimizer_with_defaults():
    surfaces = losslab("surfaces")
    assert surfaces.returncode == 0
    for name in landscapes.names():
        assert name in surfaces.stdout
    assert "condition=" in surfaces.stdout
    listed = losslab("optimizers")
    assert listed.returncode == 0
    for name in optimizers.names():  # under its group, with its reference
        assert f"\n  {name} " in listed.stdout
    assert "\nclassic:\n" in "\n" + listed.stdout and "\nmodern:\n" in listed.stdout
    assert "pytorch_optimizer.Lion:" in listed.stdout and "torch.optim.Adam:" in listed.stdout
    assert "betas=(0.9, 0.999)" in listed.stdout and "lr=" in listed.stdout
    assert "Muon" in listed.stdout and "SparseAdam" in listed.stdout


def test_the_issue_example_writes_every_format(tmp_path):
    outputs = [tmp_path / f"race.{fmt}" for fmt in ("gif", "png", "csv", "json")]
    result = losslab("race", "--surface", "rosenbrock", "--optimizers", "sgd,momentum,rmsprop,adam", "--lr", "1e-3",
                     "--lr", "adam=0.05", "--momentum", "0.9", "--steps", "300", "--start=-1.5,2", "--frames", "8",
                     *[f"--out={path}" for path in outputs])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    gif = Image.open(outputs[0])
    assert gif.format == "GIF" and gif.n_frames == 8
    assert outputs[1].read_bytes().startswith(b"\x89PNG")
    rows = list(csv.DictReader(io.StringIO(outputs[2].read_text())))
    assert len(rows) == 4 * 301
    config, _ = config_io.read_race_json(outputs[3].read_bytes())
    assert config.surface == "rosenbrock" and list(config.optimizers) == ["sgd", "momentum", "rmsprop", "adam"]
    assert [hyper["lr"] for hyper in config.optimizers.values()] == [1e-3, 1e-3, 1e-3, 0.05]
    assert config.optimizers["momentum"]["momentum"] == 0.9
    assert config.optimizers["sgd"]["momentum"] == 0.0  # a plain --momentum leaves SGD plain SGD
    assert config.steps == 300 and config.start == (-1.5, 2.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in outputs)  # no temporary left


def test_field_draws_the_negative_gradient_under_the_paths(tmp_path):
    common = ("race", "--surface", "himmelblau", "--steps", "40", "--frames", "3", "--preset", "paper")
    plain, field = tmp_path / "plain", tmp_path / "field"
    for folder, extra in ((plain, ()), (field, ("--field",))):
        folder.mkdir()
        result = losslab(*common, *extra, f"--out={folder / 'race.png'}", f"--out={folder / 'race.gif'}")
        assert result.returncode == 0, result.stderr
    for name in ("race.png", "race.gif"):
        a, b = (np.asarray(Image.open(folder / name).convert("RGB")).astype(int) for folder in (plain, field))
        assert a.shape == b.shape and (a != b).any(axis=-1).sum() > 500, name  # --field reaches both exporters


def test_a_saved_json_reproduces_the_race_bit_for_bit(tmp_path):
    first = tmp_path / "first.json"
    result = losslab("race", "--optimizers", "nesterov,adamw", "--steps", "120", "--noise", "0.4", "--seed", "11",
                     "--schedule", "StepLR", "--schedule-param", "step_size=30", "--schedule-param", "gamma=0.5",
                     "--set", "adamw.betas=0.8,0.99", "--param", "condition=20", "--out", str(first))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again.json"
    result = losslab("race", "--config", str(first), "--out", str(again))
    assert result.returncode == 0, result.stderr
    one, two = json.loads(first.read_text()), json.loads(again.read_text())
    assert one["config"] == two["config"]
    assert one["config"]["schedule"]["step_size"] == 30 and one["config"]["surface_params"]["condition"] == 20
    assert one["config"]["optimizers"]["adamw"]["betas"] == [0.8, 0.99]
    for name in ("nesterov", "adamw"):
        np.testing.assert_array_equal(np.array(one["trajectories"][name]["points"]),
                                      np.array(two["trajectories"][name]["points"]))
    config, _ = config_io.read_race_json(first.read_bytes())
    np.testing.assert_array_equal(race.run_race(config)["adamw"].points[0], one["trajectories"]["adamw"]["points"])


@pytest.mark.parametrize(("args", "message"), [
    (["--lr", "-1"], r"Invalid lr value: -1.0 \(must be >= 0\)"),
    (["--lr", "adam=abc"], r"argument --lr: 'abc' is not a number"),
    (["--optimizers", "sgd,muon"], r"argument --optimizers: unknown optimizer 'muon' \(valid: sgd, momentum"),
    (["--start=1"], r"argument --start: '1' is not two numbers"),
    (["--start=a,2"], r"argument --start: 'a' is not a number"),
    (["--steps", "1e9"], r"Invalid steps value: 1000000000"),
    (["--momentum", "1.5"], r"Invalid momentum value: 1.5"),
    (["--surface", "moon"], r"--surface: unknown surface 'moon'"),
    (["--param", "rings=3"], r"--param: quadratic has no parameter 'rings'"),
    (["--set", "adam.warp=1"], r"--set: adam takes no keyword 'warp'"),
    (["--lr", "adamw=0.1"], r"--lr: 'adamw' is not among the selected optimizers"),
    (["--scale", "9"], r"Invalid scale value: 9.0"),
    (["--schedule", "StepLR"], r"--schedule StepLR: Missing parameter 'step_size'"),
    (["--config", "missing.json"], r"--config: cannot read 'missing.json'"),
])
def test_bad_arguments_exit_2_with_usage_and_one_error_line(tmp_path, args, message):
    result = losslab("race", *args, "--out", str(tmp_path / "race.png"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: losslab race")
    assert lines[-1].startswith("losslab race: error: ")
    assert re.search(message, lines[-1]), lines[-1]
    assert list(tmp_path.iterdir()) == []


def test_bad_suffix_and_missing_out_exit_2(tmp_path):
    result = losslab("race", "--out", str(tmp_path / "race.txt"))
    assert result.returncode == 2 and "the suffix must be one of .png" in result.stderr
    result = losslab("race")
    assert result.returncode == 2 and "the following arguments are required: --out" in result.stderr


def test_a_newer_json_is_refused_with_exit_2(tmp_path):
    saved = tmp_path / "future.json"
    saved.write_text(json.dumps({"schema_version": 99, "config": {}}))
    result = losslab("race", "--config", str(saved), "--out", str(tmp_path / "x.csv"))
    assert result.returncode == 2
    assert "Unsupported schema_version 99" in result.stderr and "Traceback" not in result.stderr


def test_unwritable_output_exits_1_and_leaves_no_partial_file(tmp_path):
    taken = tmp_path / "taken.csv"
    taken.mkdir()  # a folder where the file should go: the rename fails after the data was written
    result = losslab("race", "--steps", "10", "--out", str(tmp_path / "missing" / "race.csv"))
    assert result.returncode == 1
    assert result.stderr.startswith("losslab: error: cannot write") and "No such file or directory" in result.stderr
    result = losslab("race", "--steps", "10", "--out", str(taken))
    assert result.returncode == 1 and "cannot write" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.csv"]
    assert list(taken.iterdir()) == []


def test_network_parameters_from_the_command_line(tmp_path):
    out = tmp_path / "net.json"
    result = losslab("race", "--surface", "network", "--param", "dataset=xor", "--param", "hidden=8,4",
                     "--param", "activation=relu", "--steps", "20", "--out", str(out))
    assert result.returncode == 0, result.stderr
    saved = json.loads(out.read_text())
    assert saved["config"]["surface_params"] == {"dataset": "xor", "hidden": [8, 4], "activation": "relu"}
    loaded = config_io.config_from_dict(saved["config"])  # the JSON reads back to the same race
    assert loaded.surface_params == {"dataset": "xor", "hidden": (8, 4), "activation": "relu"}
    bad = losslab("race", "--surface", "network", "--param", "activation=elu", "--out", str(out))
    assert bad.returncode == 2 and "Invalid activation value: 'elu'" in bad.stderr


def test_inspect_describes_a_step_and_draws_it(tmp_path):
    done = losslab("inspect", "--optimizer", "adam", "--step", "12", "--out", str(tmp_path / "step.svg"))
    assert done.returncode == 0, done.stderr
    assert "adam at step k = 12" in done.stdout and re.search(r"Hessian eigenvalues λ₁, λ₂\s+\(1, 50\)", done.stdout)
    assert "r̂" in done.stdout and (tmp_path / "step.svg").read_bytes().lstrip().startswith(b"<svg")
    view = step_view(landscapes.get("quadratic", condition=50.0, angle=30.0), "adam", 12, lr=catalogue.race_lr("adam"))
    assert f"({view.update[0]:.3g}, {view.update[1]:.3g})" in done.stdout  # the step θₖ₊₁ − θₖ, as replayed


@pytest.mark.parametrize(("args", "message"), [
    (("--optimizer", "bogus"), "--optimizer: 'bogus' is not in the race"),
    (("--steps", "10", "--step", "10"), "--step: 10"),
    (("--optimizers", "sgd", "--lr", "10", "--steps", "50", "--step", "40"), "Invalid step value: 40 (the run"),
    (("--out", "x.gif"), "--out: the step figure exports to png, svg, pdf, html"),
])
def test_inspect_bad_arguments_exit_2_without_a_traceback(args, message):
    done = losslab("inspect", *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
