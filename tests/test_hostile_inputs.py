"""Issue #20, section 1: hostile inputs that used to end in a traceback, each now a one-line refusal.

The library raises a ``ValueError`` naming the parameter and its range; the command line exits 2 with argparse's
usage and one ``losslab COMMAND: error: ...`` line; a page shows a message and raises nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import landscapes
from losslab import config_io, race
from optimizers import schedules
from tests.cli_run import error_line, run_cli
from tests.rendered import shown
from tests.test_app import ROOT, app

STEP_RULE = "must be an integer in [1, 2147483647]"
TOO_BIG = 2**63  # 9223372036854775808: overflowed np.int64 inside the schedule


def upload(**config) -> str:
    """A race JSON as the app writes it (a 10-step race), its config updated with ``config``."""
    document = json.loads(config_io.race_json(race.RaceConfig(steps=10), {}))
    document["config"].update(config)
    return json.dumps(document)


def page_messages(at) -> str:
    assert not at.exception, [e.value for e in at.exception]
    return " ".join(shown(element.value) for element in [*at.warning, *at.error])


# --- ?inspect.step=² -------------------------------------------------------------------------------------------


def test_url_inspect_step_superscript_digit():
    at = app({"inspect": "true", "inspect.step": "²"})
    assert "Ignored URL parameter inspect.step='²' (must be an integer in [0, 499])" in page_messages(at)
    assert at.slider(key="inspect.step").value == 0


# --- StepLR(step_size=2**63) -----------------------------------------------------------------------------------


def test_library_step_size_2_63():
    with pytest.raises(ValueError) as error:
        schedules.StepLR(step_size=TOO_BIG)
    assert str(error.value) == f"Invalid step_size value: {TOO_BIG} ({STEP_RULE})"
    with pytest.raises(ValueError, match=r"^Invalid T_max value: 2147483648 \(must be an integer in \[1, 2147483647\]"):
        schedules.CosineAnnealingLR(T_max=2**31)
    with pytest.raises(ValueError, match=r"^Invalid milestones value: \[2147483648\] .* and <= 2147483647\)$"):
        schedules.MultiStepLR(milestones=[2**31])
    assert schedules.StepLR(step_size=2**31 - 1)(10**5, 0.1) == 0.1  # the cap itself: never decays in a run


def test_url_step_size_2_63():
    at = app({"schedule": "StepLR", "schedule.step_size": str(TOO_BIG)})
    assert f"Invalid step_size value: {TOO_BIG} ({STEP_RULE})" in page_messages(at)
    assert "schedule" not in at.query_params  # the race runs without the refused schedule


def test_upload_step_size_2_63():
    with pytest.raises(ValueError, match=rf"^Invalid step_size value: {TOO_BIG} \(must be an integer in \[1, "):
        config_io.read_race_json(upload(schedule={"name": "StepLR", "step_size": TOO_BIG}))


def test_cli_schedule_param_step_size_2_63(tmp_path):
    code, _, err = run_cli("race", "--steps", "5", "--schedule", "StepLR", "--schedule-param",
                           f"step_size={TOO_BIG}", "--out", str(tmp_path / "race.json"))
    assert code == 2
    assert error_line(err) == (f"losslab race: error: --schedule StepLR: Invalid step_size value: {TOO_BIG} "
                               f"({STEP_RULE})")
    assert list(tmp_path.iterdir()) == []


# --- integers beyond float range in a race JSON -------------------------------------------------------------------


def test_upload_noise_10_400():
    with pytest.raises(ValueError, match=r"^Invalid noise value: 1000+… \(must be a finite number\)$"):
        config_io.read_race_json(upload(noise=10**400))


def test_upload_hidden_10_400():
    with pytest.raises(ValueError, match=r"^Invalid surface_params\.hidden value: 1000+… \(must be an integer within"):
        config_io.read_race_json(upload(surface="network", surface_params={"hidden": [10**400]}))


def test_library_hidden_10_400():
    with pytest.raises(ValueError, match=r"^Invalid hidden value: \(1000+ \(must be 1 to 4 integers in \[1, 256\]\)$"):
        landscapes.get("network", hidden=(10**400,))


def test_upload_one_followed_by_400_zeros():
    text = upload(noise=0.5).replace('"noise": 0.5', '"noise": 1' + "0" * 400)
    with pytest.raises(ValueError, match=r"^Invalid noise value: 1000+… \(must be a finite number\)$"):
        config_io.read_race_json(text)


def test_upload_schedule_gamma_10_400():
    with pytest.raises(ValueError, match=r"^Invalid gamma value: 1000+… \(must be finite and > 0\)$"):
        config_io.read_race_json(upload(schedule={"name": "StepLR", "step_size": 2, "gamma": 10**400}))


def test_cli_config_with_10_400(tmp_path):
    saved = tmp_path / "huge.json"
    saved.write_text(upload(noise=10**400))
    code, _, err = run_cli("race", "--config", str(saved), "--out", str(tmp_path / "race.json"))
    assert code == 2
    assert error_line(err).startswith(f"losslab race: error: --config {str(saved)!r}: Invalid noise value: 1000")


# --- a list nested 900 deep in a schedule ----------------------------------------------------------------------


def test_upload_schedule_nested_900_deep():
    text = upload(schedule={"name": "MultiStepLR", "milestones": "DEEP"}).replace('"DEEP"', "[" * 900 + "]" * 900)
    with pytest.raises(ValueError, match=r"^Invalid schedule\.milestones value: \[\[\[.*… \(must be a number, "
                                         r"true/false, a name or a flat list of numbers\)$"):
        config_io.read_race_json(text)


# --- losslab inspect --step -1 ---------------------------------------------------------------------------------


def test_cli_inspect_step_minus_one():
    code, out, err = run_cli("inspect", "--step", "-1")
    assert code == 2 and out == ""
    assert error_line(err) == "losslab inspect: error: --step: -1 (the race has 500 steps: 0 to 499)"


# --- a schedule that fails only at the race's last step ---------------------------------------------------------


def test_cli_one_cycle_shorter_than_the_race(tmp_path):
    code, _, err = run_cli("race", "--schedule", "OneCycleLR", "--schedule-param", "max_lr=0.1", "--schedule-param",
                           "total_steps=10", "--out", str(tmp_path / "x.png"))
    assert code == 2
    assert error_line(err) == ("losslab race: error: Invalid schedule for 500 steps: Invalid step value: 499 "
                               "(must be <= total_steps = 10; torch's OneCycleLR raises past the cycle)")
    assert list(tmp_path.iterdir()) == []


def test_cli_exponential_gamma_1e300(tmp_path):
    code, _, err = run_cli("race", "--schedule", "ExponentialLR", "--schedule-param", "gamma=1e300",
                           "--out", str(tmp_path / "x.json"))
    assert code == 2
    assert error_line(err) == ("losslab race: error: Invalid schedule for 500 steps: Invalid scheduled lr at step "
                               "499 value: inf at row 0 (must be finite and >= 0)")


def test_library_race_validates_the_schedule_at_its_last_step():
    config = race.RaceConfig(schedule={"name": "ExponentialLR", "gamma": 1e300})
    with pytest.raises(ValueError, match=r"^Invalid schedule for 500 steps: Invalid scheduled lr at step 499 "):
        config.validate()
    race.RaceConfig(steps=1, schedule={"name": "ExponentialLR", "gamma": 1e300}).validate()  # step 0 only: fine


def test_explore_drops_a_schedule_the_steps_slider_pushes_past_its_end():
    at = app({"steps": "10", "schedule": "OneCycleLR", "schedule.max_lr": "0.1", "schedule.total_steps": "10"})
    assert not page_messages(at)
    at.slider(key="steps").set_value(100).run()
    assert ("Schedule OneCycleLR: Invalid schedule for 100 steps: Invalid step value: 99 (must be <= total_steps = 10"
            in page_messages(at))
    assert "schedule" not in at.query_params


# --- --config /dev/zero ----------------------------------------------------------------------------------------


def test_cli_config_dev_zero(tmp_path):
    code, _, err = run_cli("race", "--config", "/dev/zero", "--out", str(tmp_path / "x.json"))
    assert code == 2
    assert error_line(err) == ("losslab race: error: --config: '/dev/zero' is longer than "
                               f"{config_io.MAX_JSON_BYTES} bytes (a race JSON is smaller)")


def test_cli_config_dev_stdin_fed_by_dev_zero(tmp_path):
    with open("/dev/zero", "rb") as zeros:
        done = subprocess.run([sys.executable, "-m", "losslab", "race", "--config", "/dev/stdin", "--out",
                               str(tmp_path / "x.json")], stdin=zeros, capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
    assert done.returncode == 2
    assert error_line(done.stderr) == ("losslab race: error: --config: '/dev/stdin' is longer than "
                                       f"{config_io.MAX_JSON_BYTES} bytes (a race JSON is smaller)")


# --- (-1)**(0/0) in a formula ----------------------------------------------------------------------------------


def test_formula_minus_one_to_the_nan():
    with pytest.raises(ValueError) as error:
        landscapes.get("expression", f="(-1)**(0/0)")
    assert str(error.value) == ("Invalid f value: a constant part that is not a number (like 0/0 or log(-1)) at "
                                "position 9 in '(-1)**(0/0)'")
