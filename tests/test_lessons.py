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
    drawn = [t["legendgroup"] for t in spec["data"] if t.get("legendgroup") and t.get("mode") == "lines"
             and t.get("meta") != "average"]  # schedule-free's average x is drawn beside its θ
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


def test_schedule_free_x_is_near_the_minimum_halfway_where_cosine_sgd_still_rattles():
    config = lessons.get("schedulefree-cosine").config
    assert config.schedule["name"] == "CosineAnnealingLR" and config.constant_lr == ("schedulefree_sgd",)
    surface, paths = race("schedulefree-cosine")
    sgd, free = paths["sgd"], paths["schedulefree_sgd"]
    assert np.all(free.lrs == config.optimizers["schedulefree_sgd"]["lr"])  # constant ρ under the race's schedule
    assert sgd.lrs[0, -1] < 1e-3 * sgd.lrs[0, 0]  # cosine: down to about 0
    x_loss = surface.value(free.averaged[0]) - surface.minimum_value
    halfway, end = slice(230, 251), slice(-21, None)
    sgd_loss = sgd.losses[0] - surface.minimum_value
    assert round(float(sgd_loss[halfway].mean()), 2) == 0.06 and round(float(x_loss[halfway].mean()), 4) == 0.0003
    assert x_loss[halfway].mean() < sgd_loss[halfway].mean() / 20  # the caption: x near the minimum halfway
    assert x_loss[halfway].mean() < free.losses[0, halfway].mean()  # x, not θ, is the good point
    assert round(float(sgd_loss[end].mean()), 4) == 0.0007 and round(float(x_loss[end].mean()), 3) == 0.001


def sam_swing(name):
    """The lesson's race, and SAM's last 50 iterates' largest distance from the well's minimum it is in."""
    from landscapes.analytic import sharp_flat_local_minimum

    surface, paths = race(name)
    minimum = np.array(surface.minima[0] if name == "sam-sharp" else sharp_flat_local_minimum()[0])
    return surface, paths, minimum, float(np.abs(paths["sam"].points[0, -50:] - minimum).max())


def worst_within(surface, minimum, r):
    angles = np.linspace(0, 2 * np.pi, 3601)
    return float(surface.value(minimum + r * np.stack([np.cos(angles), np.sin(angles)], axis=-1)).max())


def curvature(surface, point, h=1e-5):
    """The Hessian's largest eigenvalue at ``point`` (central differences of the analytic gradient)."""
    columns = [(surface.grad(point + h * e) - surface.grad(point - h * e)) / (2 * h) for e in np.eye(2)]
    return float(np.linalg.eigvalsh(np.stack(columns, axis=1)).max())


def test_sam_swings_in_the_sharp_minimum_where_gradient_descent_settles():
    surface, paths, minimum, swing = sam_swing("sam-sharp")
    config = lessons.get("sam-sharp").config
    rho, r = config.optimizers["sam"]["lr"], config.optimizers["sam"]["rho"]
    lam = curvature(surface, minimum)
    assert round(lam, -1) == 100 and round(rho * lam * r / (2 - rho * lam), 2) == 0.05  # the caption's first order
    assert np.allclose(paths["sgd"].points[0, -1], minimum, atol=1e-6)
    assert round(swing, 2) == 0.03 and swing < rho * lam * r / (2 - rho * lam)  # softer than first order
    assert np.all(np.round(paths["sam"].losses[0, -50:], 3) >= 0.075 - 0.001)
    assert round(worst_within(surface, minimum, r), 3) == 0.153


def test_sam_settles_in_the_flat_minimum_and_its_worst_loss_within_r_is_the_lower():
    surface, paths, minimum, swing = sam_swing("sam-flat")
    config = lessons.get("sam-flat").config
    rho, r = config.optimizers["sam"]["lr"], config.optimizers["sam"]["rho"]
    lam = curvature(surface, minimum)
    assert round(lam, 1) == 1.9 and round(rho * lam * r / (2 - rho * lam), 4) == 0.0005
    assert swing < 0.001 and round(float(paths["sam"].losses[0, -1]), 3) == 0.147
    sharp = np.array(surface.minima[0])
    assert surface.value(sharp) < surface.value(minimum)  # the sharp well is deeper ...
    assert round(worst_within(surface, minimum, r), 3) == 0.150  # ... but worse within r
    assert worst_within(surface, minimum, r) < worst_within(surface, sharp, r)
