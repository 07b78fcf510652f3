"""The Networks page through streamlit.testing.v1.AppTest (no browser), reached through losslab/app/router.py.

Small networks, grids and races keep the runs short; trained networks are cached per process.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
from streamlit.testing.v1 import AppTest

from losslab import config_io, race
from tests.rendered import live_spec, race_spec, shown

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 240
SMALL = {"dataset": "moons", "hidden": "8", "grid": "41", "steps": "40", "opt": "sgd,adam"}


def networks_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.query_params.clear()  # the Explore page wrote its own settings
    at.query_params.update(query or {})
    at.switch_page("losslab/app/networks.py")
    return at.run()


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> dict[str, dict]:
    return {chart.key: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def decode(values) -> np.ndarray:
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def race_paths(at: AppTest) -> dict[str, np.ndarray]:
    found = {}
    for trace in race_spec(at)["data"]:
        if trace.get("legendgroup") and trace.get("mode") == "lines":
            found[trace["legendgroup"]] = np.stack([decode(trace["x"]), decode(trace["y"])], axis=-1)
    return found


def test_renders_with_defaults_model_slice_race_and_downloads():
    at = networks_page()
    assert_clean(at)
    assert not at.warning
    shown = charts(at)
    assert {"net.model", "net.curves", "net.surface3d", "net.logistic2"} <= set(shown)
    live = live_spec(at)  # the slice race, with each optimizer's live ρ and α or β₁
    assert [(s["optimizer"], s["key"]) for s in live["sliders"]] == [
        ("sgd", "lr"), ("momentum", "lr"), ("momentum", "momentum"), ("adam", "lr"), ("adam", "beta1")]
    assert "net.pca" not in shown and "net.projection" not in shown  # the full-space view is off by default
    assert shown["net.model"]["data"][0]["type"] == "heatmap"  # moons: decision regions
    assert set(race_paths(at)) == {"sgd", "momentum", "adam"}
    labels = [button.label for button in at.get("download_button")]
    assert {"Download CSV", "Download JSON", "Download PNG", "Download SVG"} <= set(labels)
    assert {"Prepare GIF", "Prepare MP4"} <= {button.label for button in at.button}
    assert at.query_params["dataset"] == "moons"


def test_learning_rate_reruns_only_that_optimizer_and_goes_to_the_url():
    at = networks_page(SMALL)
    assert_clean(at)
    before = race_paths(at)
    at.select_slider(key="net.adam.lr").set_value(0.2).run()
    assert_clean(at)
    after = race_paths(at)
    assert np.array_equal(before["sgd"], after["sgd"])
    assert not np.array_equal(before["adam"], after["adam"])
    assert at.query_params["adam.lr"] == "0.2"


def test_back_from_another_page_the_settings_return_and_nothing_raises():
    at = networks_page(SMALL)
    at.select_slider(key="net.adam.lr").set_value(0.2).run()
    changed = race_paths(at)
    at.switch_page("losslab/app/explore.py").run()  # a run without the page's widgets: Streamlit drops their state
    assert "net.hidden" not in at.session_state
    at.switch_page("losslab/app/networks.py").run()
    assert_clean(at)
    assert all(np.array_equal(changed[name], path) for name, path in race_paths(at).items())
    assert at.query_params["adam.lr"] == "0.2" and at.query_params["hidden"] == "8"


def test_optimizer_and_architecture_widgets_change_the_page():
    at = networks_page(SMALL)
    at.multiselect(key="net.opt").set_value(["rmsprop"]).run()
    assert_clean(at)
    assert set(race_paths(at)) == {"rmsprop"}
    before = race_spec(at)["layout"]["images"]
    at.selectbox(key="net.hidden").set_value((4,)).run()
    assert_clean(at)
    assert at.query_params["hidden"] == "4"
    assert race_spec(at)["layout"]["images"] != before  # another network, another slice


def test_dataset_switch_shows_regression_fit_and_digit_samples():
    at = networks_page({**SMALL, "dataset": "sine"})
    assert_clean(at)
    model = charts(at)["net.model"]
    assert [trace["name"] for trace in model["data"]] == ["training data", "f(x; θ*)"]
    at.selectbox(key="net.dataset").set_value("digits").run()
    assert_clean(at)
    model = charts(at)["net.model"]
    assert sum(trace["type"] == "heatmap" for trace in model["data"]) == 6  # six sample images
    assert sum(trace["type"] == "bar" for trace in model["data"]) == 6  # and their p₁ … p_M


def test_minibatch_race_differs_from_full_batch_and_keeps_the_json():
    """The race JSON holds the minibatch size and seed (RaceConfig.batch_size), so a minibatch race offers it too:
    ``test_a_minibatch_race_json_reruns_to_the_same_paths`` checks that it reproduces the race."""
    at = networks_page(SMALL)
    full = race_paths(at)
    at.number_input(key="net.batch").set_value(16).run()
    assert_clean(at)
    assert not np.array_equal(full["sgd"], race_paths(at)["sgd"])
    assert at.query_params["batch"] == "16"
    labels = [button.label for button in at.get("download_button")]
    assert "Download CSV" in labels and "Download JSON" in labels


def test_a_minibatch_race_json_reruns_to_the_same_paths():
    params = {"dataset": "moons", "hidden": (8,), "activation": "tanh", "seed": 3, "l2": 0.0}
    config = race.RaceConfig(surface="network", surface_params=params, steps=30, seed=3, batch_size=16,
                             optimizers={name: race.optimizer_defaults(name, "network") for name in ("sgd", "adam")})
    trajectories = race.run_race(config)
    restored, stored = config_io.read_race_json(config_io.race_json(config, trajectories))
    assert restored.batch_size == 16 and restored.seed == 3
    again = race.run_race(restored)
    for name, trajectory in trajectories.items():
        assert np.array_equal(again[name].points, trajectory.points)
        assert np.array_equal(np.asarray(stored[name]["points"]), trajectory.points[0])
    full = race.run_race(dataclasses.replace(config, batch_size=None))
    assert not np.array_equal(full["sgd"].points, trajectories["sgd"].points)


def test_full_space_view_shows_pca_plane_and_curves():
    at = networks_page({**SMALL, "fullspace": "true"})
    assert_clean(at)
    shown = charts(at)
    pca = shown["net.pca"]
    assert "% of the variance" in pca["layout"]["xaxis"]["title"]["text"]
    assert {trace["name"] for trace in pca["data"]} >= {"sgd", "adam"}
    assert {trace["name"] for trace in shown["net.fullcurves"]["data"]} >= {"sgd test", "adam test"}
    # the two-parameter network next to the big network's distance from its plane
    assert {trace["name"] for trace in shown["net.projection"]["data"]} == {"sgd", "adam"}
    assert {"sgd", "adam"} <= {trace.get("legendgroup") for trace in shown["net.logistic2"]["data"]}


def test_bad_query_parameters_show_a_message_and_fall_back_to_defaults():
    at = networks_page({"dataset": "mnist", "hidden": "0,5", "steps": "-3", "adam.lr": "nan", "grid": "41",
                        "opt": "sgd,adam"})
    assert_clean(at)
    (warning,) = at.warning
    for name in ("dataset", "hidden", "steps", "adam.lr"):
        assert f"Invalid {name} value" in shown(warning.value)
    assert at.selectbox(key="net.dataset").value == "moons"
    assert at.selectbox(key="net.hidden").value == (16, 16)
    assert at.slider(key="net.steps").value == 200
    assert race_spec(at)["data"]
    at.slider(key="net.steps").set_value(30).run()  # the reader moved on: the message goes
    assert not at.warning


def test_too_many_parameters_is_a_message_not_a_traceback():
    at = networks_page({**SMALL, "dataset": "digits", "hidden": "256,256"})
    assert not at.exception
    assert any("parameters" in shown(e.value) for e in at.error)


def test_minibatch_larger_than_the_data_is_a_message_and_races_full_batch():
    at = networks_page({**SMALL, "batch": "600"})  # moons has 512 training examples
    assert not at.exception
    (error,) = at.error
    assert "at most 512" in shown(error.value)
    assert set(race_paths(at)) == {"sgd", "adam"}
