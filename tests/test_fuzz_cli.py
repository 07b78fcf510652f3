"""Fuzz the command line's door (issue #20): any argument vector to any ``losslab`` command ends with exit code 0,
1 or 2, never a traceback; a usage error (2) ends with one ``losslab ...: error: ...`` line.

``losslab.cli.main`` runs in-process. Argument vectors are built from the parsers' real option names with hostile
values; outputs go to the test's folder as .json or .csv (no figure is rendered, no browser launched), and
``losslab app`` is only asked for its help. Surfaces that train a network are left out: their cost is the compute
budget's business, not this door's.
"""

from __future__ import annotations

import argparse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import landscapes
import optimizers
from losslab import config_io, lessons, race
from losslab.cli import build_parser
from optimizers import schedules
from plots.static import PRESETS
from tests.cli_run import error_line, run_cli

COMMANDS = next(action for action in build_parser()._actions
                if isinstance(action, argparse._SubParsersAction)).choices
SURFACES = [name for name in landscapes.names() if name != "network"]
HOSTILE = [
    "", " ", "0", "1", "3", "-1", "-0", "2.5", "1e9", "nan", "NaN", "inf", "-inf", "1e400", "-1e400", "1e-400",
    str(2**31), str(2**63), str(10**400), "²", "٣", "1_000", "0x10", "1,2", "-1.5,2", "a,b", ",", "=", "==",
    "x" * 5000, "é" * 300, "none", "true", "StepLR", "OneCycleLR", "SequentialLR", "sgd,adam", "sgd,,adam", "lbfgs",
    "adam=0.05", "adamw=abc", "quadratic", "expression", "moon", "ravine", "paper", "/dev/zero", "/dev/null", "/",
    "(-1)**(0/0)", "x**2 + y**2", "__import__('os')", "a\nb", "sgd\x1e", "\t",
]
NUMBERS = st.one_of(st.sampled_from(["0", "0.5", "1", "2", "10", "-1", "0.001", "1e300", "0.9"]),
                    st.floats(-10, 10).map(repr))
PARAMETERS = sorted({spec.name for name in SURFACES for spec in landscapes.parameters(name)})
SCHEDULE_PARAMETERS = sorted({key for params in schedules.PARAMETERS.values() for key, _, _ in params})
KEYWORDS = sorted({f"{name}.{key}" for name in optimizers.names() for key in optimizers.defaults(name)})
values = st.one_of(  # anything, mostly hostile
    st.sampled_from(HOSTILE),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.tuples(st.sampled_from(PARAMETERS + SCHEDULE_PARAMETERS + KEYWORDS + ["", "é"]), st.sampled_from(HOSTILE))
    .map("=".join),
    st.text(max_size=20).filter(lambda text: not text.startswith("--")),  # not an option of its own
)


def assignments(keys: list[str], value: st.SearchStrategy[str] = NUMBERS) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(keys), value).map("=".join)


PLAUSIBLE = {  # each option's realistic values (the fuzz then mixes in hostile ones): a race gets run, not refused
    "--config": st.just("SAVED"), "--lesson": st.sampled_from(lessons.names()), "--surface": st.sampled_from(SURFACES),
    "--param": assignments(PARAMETERS), "--optimizers": st.lists(st.sampled_from(optimizers.names()), min_size=1,
                                                                 max_size=3).map(",".join),
    "--lr": st.one_of(NUMBERS, assignments(optimizers.names())),
    "--momentum": st.one_of(NUMBERS, assignments(optimizers.names())),
    "--set": assignments(KEYWORDS, st.one_of(NUMBERS, st.sampled_from(["true", "false", "0.9,0.99"]))),
    "--steps": st.sampled_from(["0", "1", "2", "5", "10", "20"]),
    "--start": st.tuples(NUMBERS, NUMBERS).map(",".join), "--schedule": st.sampled_from([*schedules.names(), "none"]),
    "--schedule-param": st.one_of(assignments(SCHEDULE_PARAMETERS), assignments(["milestones"], st.just("2,5"))),
    "--noise": NUMBERS, "--seed": st.sampled_from(["0", "1", "42"]), "--batch-size": st.sampled_from(["0", "4"]),
    "--preset": st.sampled_from(list(PRESETS)), "--scale": NUMBERS, "--frames": NUMBERS,
    "--fps": NUMBERS, "--optimizer": st.sampled_from(optimizers.names()), "--step": st.sampled_from(["0", "1", "3"]),
}


ONE_IN_SIX = st.sampled_from([False] * 5 + [True])  # uniform: hypothesis favours an integer range's ends


def race_options(command: str) -> dict[str, int]:
    """Option name -> number of values (0: a flag) of ``race`` or ``inspect``, help and --out left out."""
    return {action.option_strings[-1]: 0 if action.nargs == 0 else 1 for action in COMMANDS[command]._actions
            if action.option_strings and action.option_strings[-1] not in ("--help", "--out")}


@st.composite
def race_argv(draw, command: str, folder: str, saved: str) -> list[str]:
    argv = [command]
    options = race_options(command)
    for option in draw(st.lists(st.sampled_from(sorted(options)), max_size=4)):
        if not options[option]:
            argv.append(option)
            continue
        plausible = PLAUSIBLE.get(option, values)  # an option added later: hostile values only
        value = draw(values if draw(ONE_IN_SIX) else plausible).replace("SAVED", saved)
        argv += [f"{option}={value}"] if draw(st.booleans()) else [option, value]
    if "--steps" not in argv and not any(token.startswith("--steps=") for token in argv):
        argv += ["--steps", draw(PLAUSIBLE["--steps"])]  # a valid race stays fast
    outs = draw(st.sampled_from([1, 1, 1, 1, 2, 2, 0] if command == "race" else [0, 0, 0, 1]))
    for _ in range(outs):  # inspect writes figures only: its .json/.csv are refused
        good = not draw(ONE_IN_SIX)
        stem = "race" if good else draw(st.sampled_from(["missing/race", "é", ""]))
        suffix = draw(st.sampled_from([".json", ".csv"] if good else [".json", ".txt", ""]))
        argv += ["--out", f"{folder}/{stem}{suffix}"]
    if draw(ONE_IN_SIX) and draw(ONE_IN_SIX):
        argv.insert(draw(st.integers(1, len(argv))), draw(values))  # a stray positional argument
    return argv


def plain_argv() -> st.SearchStrategy[list[str]]:
    """The listing commands, the top level and ``app --help``, with stray or hostile arguments."""
    listings = st.tuples(st.sampled_from(["surfaces", "optimizers", "lessons"]),
                         st.lists(st.one_of(st.sampled_from(["--help", "-h", "--bogus"]), values), max_size=2))
    return st.one_of(
        listings.map(lambda pair: [pair[0], *pair[1]]),
        st.sampled_from([[], ["--help"], ["-h"], ["--version"], ["app", "--help"], ["app", "-h"], ["race", "--help"],
                         ["inspect", "--help"]]),
        st.lists(values.filter(lambda text: text.strip() != "app"), min_size=1, max_size=3),
    )


def assert_clean_exit(argv: list[str]) -> None:
    code, _, err = run_cli(*argv)
    assert code in (0, 1, 2), (argv, code, err)
    assert "Traceback" not in err, (argv, err)
    if code == 2:
        assert error_line(err).startswith("losslab"), (argv, err)
    if code == 1:
        assert err.strip().splitlines()[-1].startswith("losslab: error: "), (argv, err)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("fuzz_cli"))


@pytest.fixture(scope="module")
def saved(folder) -> str:
    """A valid race JSON to start from (--config)."""
    path = f"{folder}/saved.json"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(config_io.race_json(race.RaceConfig(steps=10), {}))
    return path


FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(data=st.data())
def test_race_arguments_exit_cleanly(data, folder, saved):
    assert_clean_exit(data.draw(race_argv("race", folder, saved)))


@FUZZ
@given(data=st.data())
def test_inspect_arguments_exit_cleanly(data, folder, saved):
    assert_clean_exit(data.draw(race_argv("inspect", folder, saved)))


@settings(max_examples=100, deadline=None)
@given(argv=plain_argv())
def test_listing_and_top_level_arguments_exit_cleanly(argv):
    assert_clean_exit(argv)
