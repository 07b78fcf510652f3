"""Fuzz the app's two outside doors besides the command line (``tests/test_fuzz_cli.py``): any mapping of query
strings on every page, and any JSON document as a race upload. The outcome is a message (or an error naming the
field) and the page still drawn: never a traceback, never an exception out of the page."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import landscapes
import optimizers
from losslab import config_io
from tests.rendered import shown

ROUTER = Path(__file__).resolve().parents[1] / "losslab" / "app" / "router.py"
PAGES = {"explore": None, "sweeps": "sweeps.py", "networks": "networks.py", "lessons": "lessons.py"}

HOSTILE = [
    "", " ", "²", "¹⁰", "٣", "1e400", "-1e400", "nan", "inf", "-inf", "-1", "0", "1", "2.5", "1e-300",
    str(2**63), "9" * 400, "true", "false", "none", ",", ",,,", "1,2,3", "[x](https://evil.example)",
    "![t](https://evil.example/i.png)", ":red[alert]", ":material/lock:", "$x^2$", "<b>bold</b>", "a" * 201,
    "x**2 + y**2", "(x*y+2)/(x*y+2)/(x*y+2)", "sin(x", "moons", "digits", "tanh", "16,16", "256,12",
]
KEYS = [
    "surface", "opt", "steps", "start", "schedule", "noise", "seed", "batch", "lesson", "inspect", "inspect.opt",
    "inspect.step", "field", "view3d", "same_lr", "f", "bounds", "condition", "angle", "a", "b", "dataset", "hidden",
    "activation", "l2", "grid", "fullspace", "surface.seed", "schedule.step_size", "schedule.gamma", "y", "cells",
    "lr_range", "y_range", "seeds", "view", "metric", "k" * 61,
    *[f"{name}.{key}" for name in ("sgd", "adam", "momentum") for key in optimizers.defaults(name)],
]

queries = st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)),
                          st.one_of(st.sampled_from(HOSTILE), st.text(max_size=30)), max_size=6)


def open_page(page: str | None, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROUTER), default_timeout=120)
    if page is None:
        at.query_params.update(query)
        return at.run()
    at.run()
    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page(str(ROUTER.parent / page))
    return at.run()


def assert_handled(at: AppTest, query: dict[str, str]) -> None:
    assert not at.exception, (query, [e.value for e in at.exception])
    source = " ".join(e.value for e in (*at.error, *at.warning))
    assert "Traceback" not in source, (query, source)
    assert "](" not in source and "://" not in source, (query, source)  # a link's source stays escaped


def fuzz_page(page: str | None):
    @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
    @given(query=queries)
    def check(query: dict[str, str]) -> None:
        assert_handled(open_page(page, query), query)

    return check


test_explore_takes_any_query = fuzz_page(PAGES["explore"])
test_sweeps_takes_any_query = fuzz_page(PAGES["sweeps"])
test_networks_takes_any_query = fuzz_page(PAGES["networks"])
test_lessons_takes_any_query = fuzz_page(PAGES["lessons"])


def test_a_markdown_link_in_the_url_is_shown_as_text_not_a_link():
    link = "[Session expired - log in again](https://evil.example/login)"
    at = open_page(None, {"opt": link, "steps": "![t](https://evil.example/i.png)"})
    assert_handled(at, {"opt": link})
    (warning,) = at.warning
    assert link in shown(warning.value) and "![t](https://evil.example/i.png)" in shown(warning.value)
    assert "](" not in warning.value and "://" not in warning.value and "![" not in warning.value  # all escaped


# --- uploads: any JSON document -------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
              st.sampled_from([10**400, -(10**400), 2**63, 1e308, -0.0])),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=10), children,
                                                                                max_size=4)),
    max_leaves=20)
config_keys = st.sampled_from([*config_io.CONFIG_KEYS, "bogus"])


@st.composite
def race_documents(draw) -> object:
    """Mostly race-shaped documents (so the checks behind the schema run), some anything at all."""
    if draw(st.integers(0, 4)) == 0:
        return draw(json_values)
    config = {}
    for key in draw(st.lists(config_keys, max_size=len(config_io.CONFIG_KEYS) + 1, unique=True)):
        if key == "surface":
            config[key] = draw(st.one_of(st.sampled_from(landscapes.names()), json_values))
        elif key == "optimizers":
            names = draw(st.lists(st.sampled_from([*optimizers.names(), "nope"]), max_size=3, unique=True))
            config[key] = {name: draw(st.dictionaries(st.sampled_from(["lr", "momentum", "betas", "eps", "x"]),
                                                      json_values, max_size=3)) for name in names}
        elif key == "steps":
            config[key] = draw(st.one_of(st.integers(-5, 60), json_values))
        else:
            config[key] = draw(json_values)
    return {"schema_version": draw(st.one_of(st.just(1), json_values)), "config": config}


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=300, deadline=None)
@given(document=race_documents())
def test_any_json_upload_is_a_race_or_a_value_error_naming_a_field(document):
    text = json.dumps(document)
    try:
        config, _ = config_io.read_race_json(text)
    except ValueError as error:
        assert str(error).startswith(("Invalid", "Unsupported")), str(error)
        return
    assert config.validate() is config


def test_hostile_uploads_are_value_errors():
    for document in ({"schema_version": 1, "config": {"noise": 10**400}},
                     {"schema_version": 1, "config": {"surface": "network", "surface_params": {"hidden": [10**400]}}},
                     {"schema_version": 1, "config": {"schedule": {"name": "StepLR", "step_size": nested(900)}}},
                     {"schema_version": 10**400, "config": {}}):
        text = json.dumps(document)
        try:
            config_io.read_race_json(text)
        except ValueError:
            continue
        raise AssertionError(f"accepted {text[:80]}")
    try:
        config_io.read_race_json("1" + "0" * 400)
    except ValueError:
        pass
    else:
        raise AssertionError("accepted a bare huge integer")
