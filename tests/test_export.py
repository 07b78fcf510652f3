"""Exports: every format's bytes checked for real (kaleido with the real chromium), the race JSON round trip."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import xml.etree.ElementTree as ElementTree

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image

import landscapes
import optimizers
import plots
from landscapes import registry
from losslab import config_io, exports, race
from plots import animation, static
from plots.race import frame_steps
from tests.rendered import html_live_spec

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = exports.ExportSettings(preset="paper", scale=1.0, frames=6, fps=5)


@pytest.fixture(scope="session", autouse=True)
def kaleido_server():
    """One chromium for the whole test session (kaleido's process-wide server)."""
    static.ensure_server()
    yield


def small_config(seed: int = 0, steps: int = 40) -> race.RaceConfig:
    """A random short race: random surface, two random optimizers at their race defaults, random start."""
    rng = np.random.default_rng(seed)
    # analytic surfaces (the network's and the expression's exports are checked in test_cli and test_app)
    analytic = {n for n in landscapes.names() if registry.entry(n).factory.__module__ == "landscapes.analytic"}
    surface = str(rng.choice(sorted(analytic - {"monkey_saddle"})))
    names = [str(n) for n in rng.choice(optimizers.names(), size=2, replace=False)]
    landscape = landscapes.get(surface)
    (xmin, xmax), (ymin, ymax) = landscape.bounds
    start = (float(rng.uniform(xmin, xmax)), float(rng.uniform(ymin, ymax)))
    chosen = {name: race.optimizer_defaults(name, surface) for name in names}
    noise = float(rng.choice([0.0, 0.3]))
    if any(optimizers.RULES[name].exact for name in names):  # LBFGS takes no gradient noise
        noise = 0.0
    return race.RaceConfig(surface=surface, surface_params={}, optimizers=chosen, steps=steps, start=start,
                           noise=noise, seed=int(rng.integers(0, 1000)))


@pytest.fixture(scope="module")
def small_race():
    config = small_config(1)
    return config, race.run_race(config)


def export(small_race, fmt, settings=SMALL):
    config, trajectories = small_race
    return exports.export_race(config, fmt, settings, trajectories=trajectories)


# --- static images ---------------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(static.PRESETS))
def test_png_has_the_signature_and_the_preset_size_times_the_scale(small_race, preset):
    scale = {"slide": 1.0, "paper": 2.0, "square": 1.5}[preset]
    data = export(small_race, "png", exports.ExportSettings(preset=preset, scale=scale))
    assert data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(data))
    assert image.size == static.pixel_size(preset, scale)
    assert len(np.unique(np.asarray(image.convert("RGB")).reshape(-1, 3), axis=0)) > 50  # a picture, not blank


def test_svg_parses_as_xml_with_the_unicode_labels(small_race):
    data = export(small_race, "svg")
    root = ElementTree.fromstring(data)
    assert root.tag.endswith("svg")
    text = data.decode("utf-8")
    assert "θ₁" in text and "θ₂" in text  # Unicode labels, no LaTeX (kaleido runs without MathJax)
    for name in small_race[0].optimizers:
        assert name in text


def test_pdf_starts_with_the_pdf_header(small_race):
    data = export(small_race, "pdf")
    assert data.startswith(b"%PDF")
    assert data.rstrip().endswith(b"%%EOF")


def test_plot_box_is_where_plotly_draws_the_axes(small_race):
    """The computed plot box (which the animation frames rely on) against the pixels kaleido draws."""
    config, trajectories = small_race
    figure = plots.race_figure(config.landscape(), trajectories)
    for preset in static.PRESETS:
        plain = static.static_figure(figure, preset)
        plain["layout"].update(images=[], shapes=[], plot_bgcolor="#ff0000")
        plain["data"] = []
        pixels = np.asarray(Image.open(io.BytesIO(static.render(plain, "png"))).convert("RGB")).astype(int)
        red = (pixels[..., 0] > 240) & (pixels[..., 1] < 20) & (pixels[..., 2] < 20)
        rows, columns = np.nonzero(red)
        box = static.plot_box(plain)
        assert abs(columns.min() - box.left) <= 1 and abs(rows.min() - box.top) <= 1, preset
        assert abs(columns.max() + 1 - (box.left + box.width)) <= 1, preset
        assert abs(rows.max() + 1 - (box.top + box.height)) <= 1, preset


def test_a_still_figure_has_no_controls_frames_or_invisible_traces(small_race):
    config, trajectories = small_race
    figure = plots.race_figure(config.landscape(), trajectories)
    for preset, chosen in static.PRESETS.items():
        plain = static.static_figure(figure, preset)
        assert "frames" not in plain
        assert "updatemenus" not in plain["layout"] and "sliders" not in plain["layout"]
        assert "click-grid" not in [trace.get("name") for trace in plain["data"]]
        assert (plain["layout"]["width"], plain["layout"]["height"]) == (chosen.width, chosen.height)
        assert plain["layout"]["margin"]["autoexpand"] is False  # the plot box is what plot_box says
    assert figure.frames and figure.layout.updatemenus  # the figure itself is left as it was


def test_any_figure_exports_to_images_and_html(small_race):
    config, trajectories = small_race
    figure = plots.curves_figure(config.landscape(), trajectories)
    assert exports.figure_bytes(figure, "png", SMALL).startswith(PNG_SIGNATURE)
    assert b"<html" in exports.figure_bytes(figure, "html")[:200].lower()
    with pytest.raises(ValueError, match="Invalid format value: 'gif'"):
        exports.figure_bytes(figure, "gif")


# --- HTML ------------------------------------------------------------------------------------------


def test_html_is_self_contained_with_the_animation_frames(small_race):
    config, trajectories = small_race
    text = export(small_race, "html").decode("utf-8")
    assert re.findall(r"<script[^>]*\bsrc=", text) == []  # no external script: works offline
    assert len(text) > 3_000_000  # plotly.js itself is embedded
    shown = frame_steps(config.steps, 60)
    live = html_live_spec(text)
    frames = live["figure"]["frames"]
    assert [frame["name"] for frame in frames] == [str(k) for k in shown]
    assert all(frame["traces"] for frame in frames)  # each frame moves the trajectory traces
    assert '"method":"animate"' in text  # the play/pause buttons and the step slider
    assert "Plotly.animate" not in text[text.rindex("LiveRace.mount("):]  # still on load
    assert {slider["optimizer"] for slider in live["sliders"]} == set(trajectories)  # with its live sliders


# --- GIF and MP4 -----------------------------------------------------------------------------------


def test_gif_has_the_frames_the_size_and_loops(small_race):
    config, _ = small_race
    data = export(small_race, "gif")
    assert data[:6] == b"GIF89a"
    image = Image.open(io.BytesIO(data))
    assert image.size == static.pixel_size("paper", 1.0)
    expected = len(frame_steps(config.steps, SMALL.frames))
    assert image.n_frames == expected > 1
    assert image.info.get("loop") == 0
    assert image.info.get("duration") == round(1000 / SMALL.fps)
    first, last = np.asarray(image.convert("RGB")), None
    image.seek(image.n_frames - 1)
    last = np.asarray(image.convert("RGB"))
    assert (first != last).any()  # the paths grow


def test_mp4_decodes_to_the_expected_frame_count(small_race, tmp_path):
    config, _ = small_race
    settings = exports.ExportSettings(preset="square", scale=1.0, frames=8, fps=12)
    data = export(small_race, "mp4", settings)
    assert data[4:8] == b"ftyp"
    path = tmp_path / "race.mp4"
    path.write_bytes(data)
    reader = imageio.get_reader(str(path), format="FFMPEG")
    try:
        frames = [frame for frame in reader]
        assert reader.get_meta_data()["fps"] == pytest.approx(12)
    finally:
        reader.close()
    assert len(frames) == len(frame_steps(config.steps, 8))
    assert frames[0].shape == (800, 800, 3)


def test_frames_draw_each_iterate_where_the_figure_puts_it():
    """The head marker of θₖ lands on the pixel the plot box maps θₖ to, in the optimizer's colour."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(6):
        config = small_config(int(rng.integers(0, 10_000)), steps=30)
        surface, trajectories = config.landscape(), race.run_race(config)
        frames = list(animation.race_frames(surface, trajectories, frames=4, preset="square"))
        still = static.static_figure(plots.race_figure(surface, trajectories, frames=1), "square")
        box = static.plot_box(still)
        (xmin, xmax), (ymin, ymax) = surface.bounds
        heads = np.array([t.points[0, -1] for t in trajectories.values()])
        columns = box.left + (heads[:, 0] - xmin) / (xmax - xmin) * box.width
        rows = box.top + (ymax - heads[:, 1]) / (ymax - ymin) * box.height
        x, y = heads[0]
        covered = np.hypot(columns[1:] - columns[0], rows[1:] - rows[0]).min(initial=np.inf) < 15  # drawn later
        if not (xmin < x < xmax and ymin < y < ymax) or covered:
            continue
        checked += 1
        column, row = columns[0], rows[0]
        colour = np.array([int(plots.style.trace_style(0).colour[i:i + 2], 16) for i in (1, 3, 5)])
        pixel = np.asarray(frames[-1])[int(round(row)), int(round(column))].astype(int)
        assert np.abs(pixel - colour).max() <= 40, (config, pixel, colour)
    assert checked >= 2  # most draws have the first optimizer's head in view and uncovered


def test_the_gradient_field_is_under_every_frame_of_gif_and_mp4_when_asked(small_race):
    """With ``gradient_field`` every frame shows the race figure's white −∇f arrows: at the arrows' tails (21 × 21,
    inside the window) a frame is lighter than the same points of the frame drawn without them."""
    config, trajectories = small_race
    surface = config.landscape()
    (xmin, xmax), (ymin, ymax) = surface.bounds
    tails_x, tails_y = np.meshgrid(np.linspace(xmin, xmax, 23)[1:-1], np.linspace(ymin, ymax, 23)[1:-1])
    brightness = {}
    for on in (False, True):
        frames = np.asarray(list(animation.race_frames(surface, trajectories, frames=3, preset="paper",
                                                       gradient_field=on))).astype(int)
        box = static.plot_box(static.static_figure(plots.race_figure(surface, trajectories, frames=1,
                                                                     gradient_field=on), "paper"))
        columns = np.round(box.left + (tails_x - xmin) / (xmax - xmin) * box.width).astype(int)
        rows = np.round(box.top + (ymax - tails_y) / (ymax - ymin) * box.height).astype(int)
        brightness[on] = frames[:, rows, columns].sum(axis=-1)  # (frames, 21, 21)
    lighter = brightness[True] - brightness[False]
    assert ((lighter > 0).mean(axis=(1, 2)) > 0.5).all(), lighter  # most tails, in every frame: white over the
    assert ((lighter < 0).mean(axis=(1, 2)) < 0.1).all(), lighter  # landscape (a path may cross a few tails)
    for fmt in ("gif", "mp4"):
        settings = dataclasses.replace(SMALL, frames=3)
        with_field = exports.export_race(config, fmt, settings, trajectories=trajectories, gradient_field=True)
        assert with_field != exports.export_race(config, fmt, settings, trajectories=trajectories)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"frames": 1}, "Invalid frames value: 1"),
    ({"frames": 10_000}, "Invalid frames value: 10000"),
    ({"fps": 0}, "Invalid fps value: 0"),
    ({"fps": float("nan")}, "Invalid fps value: nan"),
    ({"scale": 2.0}, "Invalid scale value: 2.0 .*at most 1000000 pixels"),
    ({"scale": 5.0}, r"Invalid scale value: 5.0 \(must be a number in \[1, 4\]\)"),
    ({"preset": "poster"}, "Invalid preset value: 'poster'"),
])
def test_animation_sizes_are_bounded(kwargs, message):
    settings = dataclasses.replace(exports.ExportSettings(preset="slide", frames=6, fps=5), **kwargs)
    with pytest.raises(ValueError, match=message):
        settings.validate("gif")


# --- CSV -------------------------------------------------------------------------------------------


def test_csv_has_one_row_per_optimizer_and_step_and_round_trips():
    config = race.RaceConfig(optimizers={"sgd": {**race.optimizer_defaults("sgd"), "lr": 0.5},
                                         "adam": race.optimizer_defaults("adam")},
                             steps=60, schedule={"name": "StepLR", "step_size": 20, "gamma": 0.5})
    trajectories = race.run_race(config)
    rows = list(csv.DictReader(io.StringIO(exports.export_race(config, "csv", trajectories=trajectories)
                                           .decode("utf-8"))))
    assert list(rows[0]) == ["optimizer", "step", "x", "y", "loss", "lr", "diverged"]
    assert len(rows) == len(config.optimizers) * (config.steps + 1)
    for name, trajectory in trajectories.items():
        mine = [row for row in rows if row["optimizer"] == name]
        assert [int(row["step"]) for row in mine] == list(range(config.steps + 1))
        points = np.array([[float(row["x"]), float(row["y"])] for row in mine])
        np.testing.assert_array_equal(points, trajectory.points[0])  # bit for bit
        np.testing.assert_array_equal([float(row["loss"]) for row in mine], trajectory.losses[0])
        np.testing.assert_array_equal([float(row["lr"]) for row in mine[:-1]], trajectory.lrs[0])
        assert mine[-1]["lr"] == ""
        step = int(trajectory.diverged_at[0])
        assert [row["diverged"] == "true" for row in mine] == [0 <= step <= k for k in range(config.steps + 1)]
    assert trajectories["sgd"].diverged_at[0] >= 0  # ρ = 0.5 on κ = 50 diverges: the column is exercised
    lrs = [float(row["lr"]) for row in rows if row["optimizer"] == "adam" and row["lr"]]
    assert lrs[0] == 0.05 and lrs[25] == 0.025  # the schedule's ρₖ, not the base ρ


# --- JSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_json_reimport_reproduces_the_trajectories_bit_for_bit(seed):
    config = small_config(100 + seed, steps=80)
    if seed % 2:
        config = dataclasses.replace(config, schedule={"name": "CosineAnnealingLR", "T_max": 80, "eta_min": 1e-4})
    trajectories = race.run_race(config)
    text = exports.export_race(config, "json", trajectories=trajectories).decode("utf-8")
    document = json.loads(text)
    assert document["schema_version"] == config_io.SCHEMA_VERSION
    assert document["losslab_version"]
    assert set(document["config"]) == set(config_io.CONFIG_KEYS)
    restored, stored = config_io.read_race_json(text)
    assert restored.surface == config.surface and restored.optimizers == config.optimizers
    assert restored.start == config.start_point() and restored.seed == config.seed
    again = race.run_race(restored)
    assert list(again) == list(trajectories)
    for name, trajectory in trajectories.items():
        np.testing.assert_array_equal(again[name].points, trajectory.points)
        np.testing.assert_array_equal(again[name].losses, trajectory.losses)
        np.testing.assert_array_equal(np.array(stored[name]["points"]), trajectory.points[0])
        np.testing.assert_array_equal(np.array(stored[name]["lrs"]), trajectory.lrs[0])
        assert stored[name]["diverged_at"] == int(trajectory.diverged_at[0])


def test_json_of_a_newer_schema_is_refused_clearly(small_race):
    document = json.loads(export(small_race, "json"))
    document["schema_version"] = config_io.SCHEMA_VERSION + 1
    with pytest.raises(ValueError, match=r"Unsupported schema_version 2: .*newer losslab.*Upgrade losslab"):
        config_io.read_race_json(json.dumps(document))


def hostile(path: str, value) -> str:
    """The default race's JSON with one field replaced."""
    document = json.loads(exports.export_race(race.RaceConfig(steps=3), "json"))
    target = document
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return json.dumps(document)


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "Invalid JSON"),
    ("[1, 2]", "Invalid document value"),
    ('{"config": {}}', "Invalid schema_version value: None"),
    ('{"schema_version": "1"}', "Invalid schema_version value: '1'"),
    ("[" * 100_000 + "]" * 100_000, "Invalid JSON"),
    (" " * (config_io.MAX_JSON_BYTES + 1), "Invalid JSON size"),
    (hostile("config.steps", 10**9), "Invalid steps value: 1000000000"),
    (hostile("config.steps", "5"), "Invalid steps value: '5'"),
    (hostile("config.optimizers.sgd.lr", -1), r"Invalid lr value: -1.0 \(must be >= 0\)"),
    (hostile("config.optimizers.sgd.lr", "fast"), "Invalid optimizers.sgd.lr value: 'fast'"),
    (hostile("config.optimizers.sgd.lr", 1e400), "Invalid optimizers.sgd.lr value: inf"),
    (hostile("config.optimizers.sgd.lr", [0.1, 0.2]), r"Invalid optimizers.sgd.lr value: \[0.1, 0.2\]"),
    (hostile("config.optimizers.adam.betas", [0.9]), r"Invalid optimizers.adam.betas value: \[0.9\]"),
    (hostile("config.optimizers.adam.betas", [0.9, 1.0]), r"Invalid betas\[1\] \(β₂\) value: 1.0"),
    (hostile("config.optimizers.sgd.warp", 1), "warp"),
    (hostile("config.optimizers", {"muon": {}}), "muon"),
    (hostile("config.optimizers", []), "Invalid optimizers value: \\[\\]"),
    (hostile("config.surface", "moon"), "moon"),
    (hostile("config.surface", {"a": 1}), "Invalid surface value"),
    (hostile("config.surface_params.condition", 1e12), "condition"),
    (hostile("config.surface_params.rings", 3), "rings"),
    (hostile("config.start", [1]), "Invalid start value: \\[1\\]"),
    (hostile("config.start", ["a", "b"]), "Invalid start value: 'a'"),
    (hostile("config.schedule", {"name": "StepLR", "step_size": "x"}), "step_size"),
    (hostile("config.schedule", {"name": "os.system"}), "name"),
    (hostile("config.seed", -4), "Invalid seed value: -4"),
    (hostile("config.noise", -1.0), "noise"),
    (hostile("config.extra", 1), "Invalid config value: 'extra'"),
])
def test_hostile_json_is_refused_with_a_clear_value_error(text, message):
    with pytest.raises(ValueError, match=message):
        config_io.read_race_json(text)


# --- files -----------------------------------------------------------------------------------------


def test_write_atomic_replaces_whole_files_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "race.csv"
    exports.write_atomic(target, b"old")
    exports.write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    blocked = tmp_path / "folder.csv"
    blocked.mkdir()  # a folder where the file should go: the rename fails after the data was written
    with pytest.raises(OSError):
        exports.write_atomic(blocked, b"data")
    with pytest.raises(OSError):
        exports.write_atomic(tmp_path / "missing" / "race.csv", b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.csv", "race.csv"]


@pytest.mark.parametrize(("path", "fmt"), [("a/race.GIF", "gif"), ("x.tar.json", "json"), ("r.mp4", "mp4")])
def test_the_format_comes_from_the_suffix(path, fmt):
    assert exports.format_of(path) == fmt


def test_an_unknown_suffix_is_refused():
    with pytest.raises(ValueError, match=r"Invalid output file 'race.txt': the suffix must be one of \.png"):
        exports.format_of("race.txt")
