"""Every lecture preset loads through the uploader's reader, and what its caption claims is what the race shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from losslab import config_io, lessons
from losslab.race import run_race
from tests.rendered import race_spec, shown

ROOT = Path(__file__).resolve().parent.parent


def race(name):
    config = lessons.get(name).config
    return config.landscape(), run_race(config)


def steps_to_tol(surface, trajectory, tol=1e-6):
    reached = np.flatnonzero(trajectory.losses[0] - surface.minimum_value <= tol)
    return int(reached[0]) if reached.size else None


def step_lengths(trajectory):
    return np.linalg.norm(np.diff(trajectory.points[0], axis=0), axis=1)


def test_at_least_eight_lessons_each_a_valid_race_json():
    assert len(lessons.names()) >= 8
    for name in lessons.names():
        lesson = lessons.get(name)
        assert lesson.title and len(lesson.caption) > 80
        text = (lessons.LESSONS_DIR / f"{name}.json").read_text(encoding="utf-8")
        config, trajectories = config_io.read_race_json(text)  # the code an uploaded file goes through
        assert config == lesson.config and trajectories == {}
        assert lessons.matching(config).name == name


def test_unknown_lesson_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Unknown lesson 'nope' \\(valid: ravine"):
        lessons.get("nope")


def test_ravine_momentum_reaches_the_minimum_in_fewer_steps_than_sgd():
    surface, runs = race("ravine")
    sgd, momentum = steps_to_tol(surface, runs["sgd"]), steps_to_tol(surface, runs["momentum"])
    assert momentum is not None and sgd is not None and momentum < 0.6 * sgd
    # SGD zig-zags: the steep-axis coordinate v changes sign at most every other step early on
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    steep = c * runs["sgd"].points[0, :20, 1] - s * runs["sgd"].points[0, :20, 0]
    assert np.sum(np.diff(np.sign(steep)) != 0) >= 10


def test_overshoot_momentum_099_swings_across_the_minimum():
    surface, runs = race("overshoot")
    crossings = {name: int(np.sum(np.diff(np.sign(t.points[0, :, 0])) != 0)) for name, t in runs.items()}
    assert crossings["momentum"] >= 10 and crossings["sgd"] == 0
    assert runs["momentum"].losses[0, -1] > 1e6 * runs["sgd"].losses[0, -1]


def test_adaptive_methods_help_on_the_aligned_ravine_only():
    aligned, aligned_runs = race("aligned-ravine")
    rotated, rotated_runs = race("rotated-ravine")
    for name in ("rmsprop", "adam"):
        assert steps_to_tol(aligned, aligned_runs[name]) is not None
        assert steps_to_tol(rotated, rotated_runs[name]) is None and rotated_runs[name].losses[0, -1] > 1e-3
    assert steps_to_tol(rotated, rotated_runs["sgd"]) is not None


def test_adagrad_steps_fade_and_it_stops_short():
    _, runs = race("adagrad-stall")
    adagrad, rmsprop = step_lengths(runs["adagrad"]), step_lengths(runs["rmsprop"])
    assert adagrad[-100:].mean() < 0.05 * adagrad[:10].mean()
    assert rmsprop[-100:].mean() > 3 * adagrad[-100:].mean()  # RMSProp's running mean keeps it moving
    assert runs["adagrad"].losses[0, -1] > 10 * runs["rmsprop"].losses[0, -1]


def test_without_bias_correction_the_first_step_is_about_three_times_adams():
    _, runs = race("bias-correction")
    first = {name: step_lengths(t)[0] for name, t in runs.items()}
    assert first["adam_nobc"] / first["adam"] == pytest.approx(0.1 / np.sqrt(0.001), rel=1e-3)


def test_saddle_momentum_and_adam_escape_in_under_half_sgds_steps():
    _, runs = race("saddle")
    escape = {name: int(np.flatnonzero(np.abs(t.points[0, :, 1]) > 1.0)[0]) for name, t in runs.items()}
    assert escape["momentum"] < 0.5 * escape["sgd"] and escape["adam"] < 0.5 * escape["sgd"]


def test_plateau_sgd_never_arrives_adam_and_momentum_do():
    surface, runs = race("plateau")
    assert steps_to_tol(surface, runs["sgd"]) is None and runs["sgd"].losses[0, -1] > 0.99
    assert steps_to_tol(surface, runs["adam"]) < steps_to_tol(surface, runs["momentum"])


def test_cliff_catapults_a_large_step_and_not_a_small_one():
    surface, large = race("cliff")
    _, small = race("cliff-small-lr")
    assert step_lengths(large["sgd"]).max() > 0.5 and large["sgd"].losses[0, -1] - surface.minimum_value > 0.01
    assert step_lengths(small["sgd"]).max() < 0.1 and small["sgd"].losses[0, -1] - surface.minimum_value < 1e-3


def test_a_decaying_learning_rate_shrinks_the_noise_ball():
    _, constant = race("noise-ball")
    _, decaying = race("noise-decay")
    ball = {name: np.linalg.norm(runs["sgd"].points[0, -100:], axis=1).mean()
            for name, runs in (("constant", constant), ("decaying", decaying))}
    assert ball["decaying"] < 0.6 * ball["constant"]


def test_rastrigin_every_optimizer_ends_in_a_local_minimum():
    surface, runs = race("rastrigin")
    for trajectory in runs.values():
        assert trajectory.losses[0, -1] > surface.minimum_value + 1.0
        assert np.linalg.norm(surface.grad(trajectory.points[0, -1])) < 1e-3  # a stationary point, not the global


@pytest.fixture(scope="module")
def explore():
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()


@pytest.mark.parametrize("name", lessons.names())
def test_each_lesson_opens_on_explore_with_its_caption(explore, name):
    at = explore
    at.selectbox(key="lesson").set_value(name).run()
    assert not at.exception and not at.error
    lesson = lessons.get(name)
    assert at.selectbox(key="lesson").value == name
    assert any(info.value.startswith(f"**Lesson: {lesson.title}.**") for info in at.info)
    assert at.selectbox(key="surface").value == lesson.config.surface
    assert at.multiselect(key="opt").value == list(lesson.config.optimizers)
    spec = race_spec(at)
    drawn = [t["legendgroup"] for t in spec["data"] if t.get("legendgroup") and t.get("mode") == "lines"]
    assert drawn == list(lesson.config.optimizers)


def test_changing_a_setting_leaves_the_lesson_and_a_url_opens_one():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["lesson"] = "saddle"
    at.run()
    assert at.selectbox(key="lesson").value == "saddle" and at.selectbox(key="surface").value == "saddle"
    assert "lesson" not in at.query_params and at.query_params["surface"] == "saddle"  # the URL spells it out
    at.slider(key="steps").set_value(100).run()
    assert at.selectbox(key="lesson").value == "" and not at.info
    bad = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    bad.query_params["lesson"] = "nope"
    bad.run()
    assert not bad.exception and any("lesson='nope'" in shown(w.value) for w in bad.warning)


def test_the_lessons_page_lists_every_lesson_and_opens_one_on_explore():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("losslab/app/lessons.py").run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert all(lessons.get(name).title in text for name in lessons.names())
    at.button(key="lessons.open.overshoot").click().run()
    assert not at.exception
    assert at.selectbox(key="lesson").value == "overshoot" and at.query_params["surface"] == "quadratic"


def test_the_command_line_lists_and_runs_lessons(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "losslab", "lessons"], cwd=ROOT, capture_output=True, text=True)
    assert listing.returncode == 0 and all(name in listing.stdout for name in lessons.names())
    out = tmp_path / "ravine.json"
    made = subprocess.run([sys.executable, "-m", "losslab", "race", "--lesson", "ravine", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert config_io.read_race_json(out.read_bytes())[0] == lessons.get("ravine").config
    bad = subprocess.run([sys.executable, "-m", "losslab", "race", "--lesson", "nope", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "Unknown lesson 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def test_lion_moves_every_coordinate_by_rho_and_adams_steps_shrink():
    config = lessons.get("lion-sign").config
    paths = run_race(config)
    lion, adam = paths["lion"], paths["adam"]
    rho = config.optimizers["lion"]["lr"]
    steps = np.abs(np.diff(lion.points[0], axis=0))
    assert np.allclose(steps, rho, rtol=1e-9, atol=0)  # every coordinate, every step: exactly ρ
    assert adam.losses[0, -1] < lion.losses[0, -1]
    assert np.abs(np.diff(adam.points[0], axis=0))[-1].max() < rho / 10 < steps[-1].min()
