"""The Sweeps page through streamlit.testing.v1.AppTest (no browser), reached through losslab/app/router.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from losslab import maps, race
from tests.rendered import shown

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


def sweeps_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.query_params.clear()  # the Explore page wrote its own settings (a sidebar link carries none)
    at.query_params.update(query or {})
    at.switch_page("losslab/app/sweeps.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def chart(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def decode(values) -> np.ndarray:
    """A plotly array: a list, or a typed-array spec {dtype, bdata} as plotly serializes numpy."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def names(spec: dict) -> list[str]:
    return [trace.get("name", "") for trace in spec["data"]]


@pytest.fixture(scope="module")
def page() -> AppTest:
    return sweeps_page()


def test_default_render_draws_the_momentum_map_on_rosenbrock(page):
    assert_clean(page)
    spec = chart(page)
    assert spec["data"][0]["type"] == "heatmap"
    assert "momentum on rosenbrock" in spec["layout"]["title"]["text"]
    assert "64 × 64 cells" in spec["layout"]["title"]["text"]
    assert any(name.startswith("diverged") for name in names(spec))
    assert "divergence boundary (measured)" in names(spec)
    assert page.selectbox(key="sweeps.y").value == "momentum"


def test_changing_the_optimizer_changes_the_map_and_its_y_axis():
    at = sweeps_page()
    at.selectbox(key="sweeps.optimizer").set_value("adam").run()
    assert_clean(at)
    assert at.selectbox(key="sweeps.y").value == "beta1"
    spec = chart(at)
    assert "adam on rosenbrock" in spec["layout"]["title"]["text"]
    assert spec["layout"]["yaxis"]["title"]["text"] == maps.AXES["beta1"].label


def test_changing_the_metric_recolours_the_same_map():
    at = sweeps_page()
    before = chart(at)
    at.radio(key="sweeps.metric").set_value("steps_to_tol").run()
    assert_clean(at)
    after = chart(at)
    assert before["data"][0]["name"].startswith("log₁₀(f(θ_T)")
    assert after["data"][0]["name"] == "steps to f* + tol"
    assert any(name.startswith("never reached") for name in names(after))
    assert before["layout"]["title"] == after["layout"]["title"]


def test_clicking_a_cell_opens_it_on_explore_through_its_query_parameters():
    at = sweeps_page()
    at.session_state["sweeps.click"] = {"view": "map", "point": [0.0005, 0.8]}  # what the chart's callback stores
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    expected = maps.explore_query(maps.MapConfig(surface_params={"a": 1.0, "b": 100.0}, lr_range=(1e-5, 1.0)),
                                    0.0005, 0.8)
    assert dict(at.query_params) == expected
    assert at.multiselect(key="opt").value == ["momentum"]  # Explore ran with the cell's configuration
    # the sidebar's momentum settings (drawn when its expander is opened) hold the cell's values
    assert at.session_state["momentum.lr"] == 0.0005 and at.session_state["momentum.momentum"] == 0.8
    assert at.slider(key="steps").value == 1000 and at.selectbox(key="surface").value == "rosenbrock"
    opened, messages = race.from_query(expected)
    assert messages == [] and opened.optimizers["momentum"]["lr"] == 0.0005
    assert opened.optimizers["momentum"]["momentum"] == 0.8


def test_clicking_a_curve_point_opens_that_optimizer_on_explore():
    at = sweeps_page()
    at.session_state["sweeps.view"] = "Learning-rate curves"
    at.run()
    assert_clean(at)
    spec = chart(at)
    assert {"sgd", "momentum", "rmsprop", "adam"} <= set(names(spec))
    at.session_state["sweeps.click"] = {"view": "curves", "point": ["adam", 0.02]}
    at.run()
    opened, messages = race.from_query(dict(at.query_params))
    assert messages == [] and list(opened.optimizers) == ["adam"] and opened.optimizers["adam"]["lr"] == 0.02


def test_schedules_and_tuning_views_render():
    at = sweeps_page()
    at.session_state["sweeps.view"] = "Schedules"
    at.run()
    assert_clean(at)
    rates = chart(at, 0)
    assert len(rates["data"]) == 6  # every preset's ρₖ
    race_spec = chart(at, 1)
    assert any("(constant ρ)" in n for n in names(race_spec)) and any("(cosine)" in n for n in names(race_spec))
    at.session_state["sweeps.view"] = "Tuning"
    at.run()
    assert_clean(at)
    curve, points = chart(at, 0), chart(at, 1)
    assert {"grid search", "random search"} <= set(names(curve))
    tried = [t for t in points["data"] if t["name"] in ("grid", "random", "grid (diverged)", "random (diverged)")]
    assert sum(len(decode(t["x"])) for t in tried) == 2 * 64  # N = 64 runs each


def test_a_mostly_divergent_map_renders_with_its_legend_and_no_nan():
    at = sweeps_page()
    at.select_slider(key="sweeps.lr_range.from").set_value(0.01).run()
    at.select_slider(key="sweeps.lr_range.to").set_value(10.0).run()
    assert_clean(at)
    spec = chart(at)
    cover = next(t for t in spec["data"] if t.get("name", "").startswith("diverged"))
    assert int(cover["name"].split("(")[1].split("%")[0]) > 50
    assert "NaN" not in at.get("plotly_chart")[0].proto.spec


def test_a_reversed_range_is_reported_not_raised():
    at = sweeps_page()
    at.select_slider(key="sweeps.lr_range.from").set_value(1.0).run()
    at.select_slider(key="sweeps.lr_range.to").set_value(0.001).run()
    assert not at.exception
    assert any("lr_range" in shown(e.value) for e in at.error)


def test_quadratic_map_draws_the_theory():
    at = sweeps_page()
    at.selectbox(key="sweeps.surface").set_value("quadratic").run()
    assert_clean(at)
    spec = chart(at)
    drawn = names(spec)
    assert any(n.startswith("theory: GD") for n in drawn) and any(n.startswith("optimum ρ*") for n in drawn)
    star = next(t for t in spec["data"] if t.get("name", "").startswith("optimum ρ*"))
    kappa = race.DEFAULT_SURFACE_PARAMS["condition"]
    assert np.isclose(10 ** decode(star["x"])[0], (2 / (np.sqrt(kappa) + 1)) ** 2)


def test_gradient_noise_maps_average_repeats():
    at = sweeps_page()
    at.select_slider(key="sweeps.cells").set_value(16).run()
    at.number_input(key="sweeps.noise").set_value(0.3).run()
    at.slider(key="sweeps.seeds").set_value(3).run()
    assert_clean(at)
    assert "σ = 0.3, mean of 3 repeats" in chart(at)["layout"]["title"]["text"]
    assert "16 × 16 cells" in chart(at)["layout"]["title"]["text"]


def test_the_optimizers_own_quantity_is_held_fixed_off_the_y_axis():
    at = sweeps_page()
    at.selectbox(key="sweeps.y").set_value("distance").run()
    at.slider(key="sweeps.fixed.momentum.momentum").set_value(0.5).run()
    assert_clean(at)
    at.session_state["sweeps.click"] = {"view": "map", "point": [0.0002, 1.0]}
    at.run()
    opened, messages = race.from_query(dict(at.query_params))
    assert messages == [] and opened.optimizers["momentum"]["momentum"] == 0.5
    assert np.linalg.norm(np.subtract(opened.start_point(), (1.0, 1.0))) == pytest.approx(1.0)


def test_the_map_downloads_as_images_html_and_csv_that_reads_back():
    at = sweeps_page()
    assert_clean(at)
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download PNG", "Download SVG"]
    assert [b.label for b in at.button if b.label.startswith("Prepare")] == ["Prepare PDF", "Prepare HTML"]
    at.button(key="sweeps.export.prepare.html").click().run()
    assert_clean(at)
    html = at.session_state["sweeps.export._prepared"]["files"]["html"]
    assert b"<html" in html[:300].lower() and b'<script src="http' not in html


def test_map_rows_as_csv_round_trip():
    import csv
    import io

    from plots.export import rows_csv

    hmap = maps.hyper_map(maps.MapConfig(surface="rosenbrock", optimizer="momentum", y="momentum", cells=6,
                                             steps=50))
    rows = maps.map_rows(hmap)
    read = list(csv.DictReader(io.StringIO(rows_csv(rows))))
    assert len(read) == 36 and list(read[0]) == list(rows[0])
    for written, original in zip(read, rows):
        assert float(written["final_loss"]) == original["final_loss"]  # exact: shortest round-tripping floats
        assert written["diverged"] == ("true" if original["diverged"] else "false")


def test_a_wrappers_base_is_picked_on_the_page_and_travels_in_the_url():
    """SAM maps over the base its select box holds (the URL's ``sam.base_optimizer``), and the map is that base's."""
    at = sweeps_page({"opt": "sam", "sam.base_optimizer": "adam", "steps": "100", "cells": "16", "y": "distance"})
    assert_clean(at)
    assert at.selectbox(key="sweeps.base").value == "adam"
    assert at.query_params["sam.base_optimizer"] == "adam"
    at.selectbox(key="sweeps.base").set_value("sgd").run()  # the default base: out of the URL
    assert_clean(at)
    assert "sam.base_optimizer" not in at.query_params
