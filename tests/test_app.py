"""The Streamlit app through streamlit.testing.v1.AppTest (no browser): app.py routing to the Explore page."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import landscapes
import optimizers
from losslab import exports, race
from losslab.app.explore_sidebar import EXPANDED
from optimizers import catalogue
from tests.rendered import live_spec, race_spec, shown

TIMEOUT = 60
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OPTIMIZERS = list(race.DEFAULT_OPTIMIZERS)


def app(query: dict[str, str] | None = None, path: str = "app.py", expanded: bool = True) -> AppTest:
    """The app after its first run (``query`` in its URL); ``expanded``: every optimizer's sidebar expander open,
    so that its widgets are drawn (as after a click on each)."""
    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)
    for name in optimizers.names() if expanded else ():
        at.session_state[EXPANDED.format(name)] = True
    if query:
        at.query_params.update(query)
    return at.run()


def decode(values) -> np.ndarray:
    """A plotly array: a list, or a typed-array spec {dtype, bdata} as plotly 6+ serializes numpy."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)


def paths(at: AppTest) -> dict[str, np.ndarray]:
    """Optimizer name -> (n, 2) path drawn in the race figure."""
    found = {}
    for trace in race_spec(at)["data"]:
        if trace.get("legendgroup") and trace.get("mode") == "lines":  # the path traces (✕ markers share the group)
            found[trace["legendgroup"]] = np.stack([decode(trace["x"]), decode(trace["y"])], axis=-1)
    return found


def start_marker(at: AppTest) -> tuple[float, float]:
    (trace,) = [t for t in race_spec(at)["data"] if t.get("name", "").startswith("start")]
    return float(decode(trace["x"])[0]), float(decode(trace["y"])[0])


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


@pytest.fixture(scope="module")
def default_app() -> AppTest:
    return app()


def test_default_render_draws_the_default_race(default_app):
    at = default_app
    assert_clean(at)
    assert not at.warning
    drawn = paths(at)
    assert list(drawn) == DEFAULT_OPTIMIZERS
    config = race.RaceConfig()
    for points in drawn.values():
        assert len(points) == config.steps + 1
        np.testing.assert_allclose(points[0], config.start_point())
    assert at.selectbox(key="surface").value == "quadratic"
    assert at.select_slider(key="quadratic.condition").value == 50.0
    assert at.slider(key="quadratic.angle").value == 30.0
    assert at.multiselect(key="opt").value == DEFAULT_OPTIMIZERS
    assert at.select_slider(key="sgd.lr").value == catalogue.DEFAULT_LR["sgd"]
    assert dict(at.query_params) == race.to_query(config)
    # the update rules with their values, one per optimizer
    latex = [element.proto.body for element in at.get("latex")]
    assert len(latex) == len(DEFAULT_OPTIMIZERS)
    assert r"\rho &= 0.035" in latex[0] and r"\alpha &= 0.9" in latex[1]
    charts = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(charts) == 1  # loss and distance to the minimum side by side, beside the race (a live component)
    assert {trace.get("xaxis") for trace in charts[0]["data"]} == {"x", "x2"}
    live = live_spec(at)  # each optimizer's ρ, and α, ρ_r, β₁ where it has one, at the race's values
    assert [(s["optimizer"], s["key"]) for s in live["sliders"]] == [
        ("sgd", "lr"), ("momentum", "lr"), ("momentum", "momentum"), ("rmsprop", "lr"), ("rmsprop", "alpha"),
        ("adam", "lr"), ("adam", "beta1")]
    assert all(s["values"][s["index"]] == config.optimizers[s["optimizer"]]["betas"][0] if s["key"] == "beta1"
               else s["values"][s["index"]] == config.optimizers[s["optimizer"]][s["key"]] for s in live["sliders"])
    table = [m.value for m in at.markdown if m.value.startswith("| optimizer |")]
    assert len(table) == 1 and table[0].count("\n") == len(DEFAULT_OPTIMIZERS) + 1  # header, rule, one per row


def test_page_runs_alone():
    at = app(path="losslab/app/explore.py")
    assert_clean(at)
    assert list(paths(at)) == DEFAULT_OPTIMIZERS


def test_lr_slider_moves_only_that_optimizer(default_app):
    at = default_app
    before = paths(at)
    at.select_slider(key="momentum.lr").set_value(0.03).run()
    assert_clean(at)
    after = paths(at)
    assert not np.allclose(before["momentum"], after["momentum"])
    for name in ("sgd", "rmsprop", "adam"):
        np.testing.assert_array_equal(before[name], after[name])
    assert at.query_params["momentum.lr"] == "0.03"
    at.select_slider(key="momentum.lr").set_value(catalogue.DEFAULT_LR["momentum"]).run()
    assert "momentum.lr" not in at.query_params


def test_closed_optimizer_expanders_draw_no_widgets_and_race_the_same_settings():
    """A closed expander's widgets are not drawn (the browser would re-render them on every rerun); the race, the
    URL and a later opening see the same values, whether they came from the URL, a widget or a live commit."""
    query = {"opt": "sgd,adam", "adam.lr": "0.0123", "adam.betas": "0.8,0.99", "sgd.momentum": "0.5"}
    closed, opened = app(query, expanded=False), app(query)
    assert_clean(closed)
    drawn = [w.key for kind in ("select_slider", "slider", "number_input", "selectbox", "toggle")
             for w in closed.get(kind)]
    assert not [key for key in drawn if key.startswith(("sgd.", "adam."))]
    assert {"adam.lr", "adam.beta1", "sgd.momentum"} <= {w.key for w in [*opened.select_slider, *opened.slider]}
    assert dict(closed.query_params) == dict(opened.query_params)
    assert {key: closed.query_params[key] for key in query} == query
    for name, points in paths(opened).items():
        np.testing.assert_array_equal(paths(closed)[name], points)

    closed.session_state["sgd.lr"] = 0.02  # what a released live slider does (explore_sidebar.on_live_change)
    closed.run()
    assert closed.query_params["sgd.lr"] == "0.02" and closed.query_params["sgd.momentum"] == "0.5"
    expected = race.run_race(race.from_query(dict(closed.query_params))[0])
    np.testing.assert_allclose(paths(closed)["sgd"], expected["sgd"].points[0])
    closed.session_state[EXPANDED.format("sgd")] = True  # opened: its widgets show the committed values
    closed.run()
    assert closed.select_slider(key="sgd.lr").value == 0.02 and closed.slider(key="sgd.momentum").value == 0.5
    closed.slider(key="sgd.momentum").set_value(0.7).run()
    closed.toggle(key="sgd.nesterov").set_value(True).run()
    closed.session_state[EXPANDED.format("sgd")] = False  # closed again: the values set by hand are kept
    closed.run()
    closed.run()
    assert closed.query_params["sgd.momentum"] == "0.7" and closed.query_params["sgd.nesterov"] == "true"
    assert "sgd.momentum" not in [w.key for w in closed.slider]
    assert "sgd.nesterov" not in [w.key for w in closed.toggle]


@pytest.mark.parametrize("query", [
    {"steps": "-5"},
    {"sgd.lr": "abc"},
    {"sgd.lr": "0"},  # valid for the library, not on the page's slider
    {"opt": "foo"},
    {"surface": "nowhere"},
    {"condition": "1e9"},
    {"start": "nan,1"},
    {"view3d": "maybe"},
    {"steps": "7" * 10_000},
])
def test_bad_query_parameter_warns_and_uses_the_default(query):
    at = app(query)
    assert not at.exception
    (warning,) = at.warning
    key = next(iter(query))
    assert "Ignored URL parameter" in shown(warning.value) and key in shown(warning.value)
    assert list(paths(at)) == DEFAULT_OPTIMIZERS
    assert at.slider(key="steps").value == race.RaceConfig().steps
    assert at.select_slider(key="sgd.lr").value == catalogue.DEFAULT_LR["sgd"]
    assert at.select_slider(key="quadratic.condition").value == 50.0
    assert dict(at.query_params) == race.to_query(race.RaceConfig())  # the bad value left the URL
    at.slider(key="steps").set_value(100).run()  # the message goes once the user changes something
    assert not at.warning


def test_url_reproduces_the_view():
    query = {"surface": "rosenbrock", "a": "1.2", "b": "20.0", "opt": "adam,nesterov", "adam.lr": "0.0123",
             "adam.betas": "0.8,0.99", "nesterov.lr": "0.001", "nesterov.momentum": "0.8",
             "steps": "120", "start": "-1.0,2.5",
             "schedule": "StepLR", "schedule.step_size": "40", "schedule.gamma": "0.5", "noise": "0.1", "seed": "7",
             "field": "true"}
    at = app(query)
    assert_clean(at)
    assert not at.warning
    assert at.selectbox(key="surface").value == "rosenbrock"
    assert at.multiselect(key="opt").value == ["adam", "nesterov"]
    assert at.select_slider(key="adam.lr").value == 0.0123  # a value off the slider's grid is kept exactly
    assert at.slider(key="adam.beta1").value == 0.8
    assert at.slider(key="steps").value == 120
    assert at.selectbox(key="schedule").value == "StepLR"
    assert at.toggle(key="field").value
    assert start_marker(at) == (-1.0, 2.5)
    assert dict(at.query_params) == query
    config, _ = race.from_query(query)
    expected = race.run_race(config)
    for name, points in paths(at).items():
        np.testing.assert_allclose(points, expected[name].points[0])
    assert any("−∇f" in t.get("name", "") for t in race_spec(at)["data"])


def test_url_changed_from_outside_is_loaded_again():
    at = app({"steps": "50"})
    at.select_slider(key="adam.lr").set_value(0.01).run()  # the page writes its URL; no reload from it
    assert at.select_slider(key="adam.lr").value == 0.01
    at.query_params["steps"] = "77"  # someone edits the URL
    at.run()
    assert_clean(at)
    assert at.slider(key="steps").value == 77
    assert len(paths(at)["adam"]) == 78


def test_stale_url_of_this_session_does_not_undo_a_change():
    at = app({"steps": "50"})
    stale = dict(at.query_params)
    at.select_slider(key="adam.lr").set_value(0.01).run()
    at.query_params.clear()
    at.query_params.update(stale)  # a rerun requested before the browser got the newer URL
    at.run()
    assert at.select_slider(key="adam.lr").value == 0.01
    assert at.query_params["adam.lr"] == "0.01"


def test_back_from_another_page_the_race_is_the_one_left():
    at = app({"steps": "50"})
    at.select_slider(key="adam.lr").set_value(0.2).run()
    left, written = paths(at), dict(at.query_params)
    at.query_params.clear()  # the sidebar's link: no query (Sweeps writes its own URL)
    at.switch_page("losslab/app/sweeps.py").run()  # a run without Explore's widgets: Streamlit drops their values
    assert "adam.lr" not in at.session_state
    at.query_params.clear()
    at.query_params.update(written)  # the browser's Back button: the URL Explore wrote
    at.switch_page("losslab/app/explore.py").run()
    assert_clean(at)
    assert at.select_slider(key="adam.lr").value == 0.2 and at.query_params["adam.lr"] == "0.2"
    assert all(np.array_equal(left[name], path) for name, path in paths(at).items())
    at.switch_page("losslab/app/networks.py").run()
    at.query_params.clear()  # the sidebar's link: no query at all
    at.switch_page("losslab/app/explore.py").run()
    assert_clean(at)
    assert at.slider(key="steps").value == 50 and at.query_params["adam.lr"] == "0.2"


def test_settings_survive_deselecting_an_optimizer():
    at = app({"steps": "50"})
    at.select_slider(key="adam.lr").set_value(0.2).run()
    at.multiselect(key="opt").set_value(["sgd"]).run()
    assert list(paths(at)) == ["sgd"]
    at.multiselect(key="opt").set_value(["sgd", "adam"]).run()
    assert at.select_slider(key="adam.lr").value == 0.2


def test_every_optimizer_on_every_surface():
    at = app({"steps": "60"})
    at.multiselect(key="opt").set_value(optimizers.names()).run()
    assert_clean(at)
    assert list(paths(at)) == optimizers.names()
    for name in landscapes.names():
        at.selectbox(key="surface").set_value(name).run()
        assert not at.exception, (name, [e.value for e in at.exception])
        assert not at.error, (name, [e.value for e in at.error])
        assert start_marker(at) == pytest.approx(landscapes.get(name).default_start)
        assert len(at.get("latex")) == len(optimizers.names())
        for warning in at.warning:  # a run may diverge on some surfaces: reported, never raised
            assert " diverged at step " in warning.value


def test_3d_view_and_gradient_field():
    at = app({"steps": "50"})
    at.toggle(key="view3d").set_value(True).run()
    assert_clean(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert any(trace.get("type") == "surface" for spec in specs for trace in spec["data"])
    at.toggle(key="field").set_value(True).run()
    assert_clean(at)
    assert any("−∇f" in t.get("name", "") for t in race_spec(at)["data"])
    assert at.query_params["view3d"] == "true" and at.query_params["field"] == "true"


def test_start_number_inputs_move_the_start():
    at = app({"steps": "50"})
    at.number_input(key="start_x").set_value(0.5).run()
    at.number_input(key="start_y").set_value(-1.25).run()
    assert_clean(at)
    assert start_marker(at) == (0.5, -1.25)
    for points in paths(at).values():
        np.testing.assert_allclose(points[0], (0.5, -1.25))
    assert at.query_params["start"] == "0.5,-1.25"


def test_start_follows_the_default_until_moved():
    at = app({"steps": "20", "surface": "plateau"})
    at.slider(key="plateau.width").set_value(0.3).run()
    assert start_marker(at) == pytest.approx(landscapes.get("plateau", width=0.3).default_start)
    assert "start" not in at.query_params
    at.number_input(key="start_x").set_value(0.1).run()
    at.slider(key="plateau.width").set_value(0.6).run()  # a start the user chose stays
    assert start_marker(at)[0] == 0.1


def test_chart_click_moves_the_start():
    at = app({"steps": "50"})
    at.session_state["start_click"] = (1.2, 0.4)  # what a click on the race (on_live_change) stores
    at.run()
    assert_clean(at)
    assert start_marker(at) == (1.2, 0.4)
    assert at.number_input(key="start_x").value == 1.2
    assert at.query_params["start"] == "1.2,0.4"
    at.run()  # a later rerun keeps the clicked start
    assert start_marker(at) == (1.2, 0.4)


def test_same_lr_for_all_drives_every_optimizer():
    at = app({"steps": "50"})
    at.toggle(key="same_lr").set_value(True).run()
    at.select_slider(key="lr_all").set_value(0.02).run()
    assert_clean(at)
    for name in DEFAULT_OPTIMIZERS:
        assert at.query_params.get(f"{name}.lr", str(catalogue.DEFAULT_LR[name])) == "0.02"
    assert [element.proto.body.count(r"\rho &= 0.02") for element in at.get("latex")] == [1] * 4
    at.toggle(key="same_lr").set_value(False).run()  # each optimizer gets its own lr back
    assert at.select_slider(key="adam.lr").value == catalogue.DEFAULT_LR["adam"]


def test_invalid_combination_is_an_error_not_a_traceback():
    at = app({"steps": "50", "opt": "sgd,nesterov"})
    at.slider(key="nesterov.momentum").set_value(0.0).run()
    assert not at.exception
    assert any("nesterov" in shown(error.value) and "momentum > 0" in shown(error.value) for error in at.error)
    assert list(paths(at)) == ["sgd"]  # the others still race


def test_divergence_is_a_warning():
    at = app({"steps": "50", "opt": "adam,sgd"})
    at.select_slider(key="sgd.lr").set_value(10.0).run()
    assert not at.exception
    assert any(w.value.startswith("sgd diverged at step ") and "(blow-up)" in w.value for w in at.warning)


@pytest.mark.parametrize("surface, lr", [("saddle", 10.0), ("monkey_saddle", 10.0), ("cliff", 10.0),
                                         ("rastrigin", 1e-5), ("beale", 1e-5)])
def test_overflow_and_extreme_learning_rates_are_reported_not_raised(surface, lr):
    """Every optimizer at the same extreme ρ: runs that blow up are marked, the rest is drawn, no traceback."""
    at = app({"surface": surface, "opt": ",".join(optimizers.names()), "steps": "200", "same_lr": "true"})
    at.select_slider(key="lr_all").set_value(lr).run()
    assert not at.exception and not at.error
    drawn = paths(at)
    assert list(drawn) == optimizers.names()
    assert all(np.isfinite(points).all() for points in drawn.values())
    diverged = [w.value for w in at.warning if " diverged at step " in w.value]
    if lr == 1e-5:
        assert not diverged
    if surface in ("saddle", "monkey_saddle"):  # unbounded below: at ρ = 10 plain gradient steps explode
        assert any(message.startswith("sgd diverged at step ") for message in diverged)


def test_schedules_render():
    at = app({"steps": "50", "opt": "sgd"})
    for name in ("StepLR", "MultiStepLR", "CosineAnnealingLR", "OneCycleLR"):
        at.selectbox(key="schedule").set_value(name).run()
        assert not at.exception, name
        assert at.query_params["schedule"] == name
    at.number_input(key="schedule.OneCycleLR.total_steps").set_value(10).run()  # shorter than the race
    assert any("OneCycleLR" in shown(error.value) for error in at.error)
    assert list(paths(at)) == ["sgd"]


def test_a_new_surface_brings_its_own_default_learning_rates():
    at = app()
    at.selectbox(key="surface").set_value("rosenbrock").run()
    assert_clean(at)
    assert at.select_slider(key="sgd.lr").value == catalogue.SURFACE_LR["rosenbrock"]["sgd"]
    assert not [w.value for w in at.warning if "diverged" in w.value]
    assert "sgd.lr" not in at.query_params  # the surface's default is not written to the URL
    at.selectbox(key="surface").set_value("quadratic").run()
    assert at.select_slider(key="sgd.lr").value == catalogue.DEFAULT_LR["sgd"]


# --- downloads and JSON upload ---------------------------------------------------------------------


def test_download_section_has_a_button_per_format_and_renders_nothing_heavy(default_app):
    at = default_app
    labels = [button.label for button in at.get("download_button")]
    assert labels == ["Download CSV", "Download JSON", "Download PNG", "Download SVG"]  # deferred: made on click
    assert [button.label for button in at.button if button.label.startswith("Prepare")] == [
        "Prepare PDF", "Prepare HTML", "Prepare GIF", "Prepare MP4"]
    assert not at.session_state["export._prepared"]["files"]  # no export ran during the render


def test_prepare_renders_the_file_and_a_change_drops_it():
    at = app({"steps": "60"})
    assert "export.frames" not in [slider.key for slider in at.slider]  # drawn only while its expander is open
    at.session_state["export.settings"] = True  # the export settings' expander opened
    at.run()
    at.slider(key="export.frames").set_value(5).run()
    at.session_state["export.settings"] = False  # closed again: the chosen frames are kept
    at.run()
    assert "export.frames" not in [slider.key for slider in at.slider]
    at.button(key="export.prepare.gif").click().run()
    assert_clean(at)
    assert "Download GIF" in [button.label for button in at.get("download_button")]
    gif = at.session_state["export._prepared"]["files"]["gif"]
    image = Image.open(io.BytesIO(gif))
    assert image.format == "GIF" and image.n_frames == 5
    at.button(key="export.prepare.pdf").click().run()
    assert at.session_state["export._prepared"]["files"]["pdf"].startswith(b"%PDF")
    at.select_slider(key="sgd.lr").set_value(0.02).run()  # another race: the prepared files are stale
    assert not at.session_state["export._prepared"]["files"]
    assert "Download GIF" not in [button.label for button in at.get("download_button")]
    at.session_state["export.settings"] = True  # opened again: the widgets show the kept settings
    at.run()
    assert at.slider(key="export.frames").value == 5


def test_uploading_a_race_json_restores_the_view():
    config = race.RaceConfig(surface="rosenbrock", surface_params={"a": 1.0, "b": 50.0},
                             optimizers={"adam": race.optimizer_defaults("adam", "rosenbrock"),
                                         "nesterov": {**race.optimizer_defaults("nesterov", "rosenbrock"),
                                                      "lr": 0.0007}},
                             steps=120, start=(-1.0, 1.5), noise=0.1, seed=3)
    data = exports.export_race(config, "json")
    at = app()
    at.file_uploader(key="export.upload").set_value(("race.json", data, "application/json")).run()
    assert_clean(at)
    assert at.success and "Restored the race" in at.success[0].value
    assert at.selectbox(key="surface").value == "rosenbrock"
    assert at.multiselect(key="opt").value == ["adam", "nesterov"]
    assert at.slider(key="steps").value == 120
    assert at.query_params["start"] == ["-1.0,1.5"] or at.query_params["start"] == "-1.0,1.5"
    expected = race.run_race(config)
    for name, points in paths(at).items():
        np.testing.assert_array_equal(points, expected[name].points[0])  # the same trajectories, bit for bit


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "Invalid JSON"),
    (json.dumps({"schema_version": 7, "config": {}}).encode(), "Unsupported schema_version 7"),
    (exports.export_race(race.RaceConfig(steps=5), "json").replace(b'"steps": 5', b'"steps": -3'),
     "Invalid steps value: -3"),
])
def test_a_bad_upload_is_an_error_message_and_the_view_stays(content, message):
    at = app()
    at.file_uploader(key="export.upload").set_value(("bad.json", content, "application/json")).run()
    assert not at.exception
    assert any(message in shown(error.value) for error in at.error), [e.value for e in at.error]
    assert list(paths(at)) == DEFAULT_OPTIMIZERS


def test_the_server_runs_one_thread_per_computation():
    """In a fresh process (as ``streamlit run`` is) the app caps numba's and torch's threads before they load."""
    script = ("from streamlit.testing.v1 import AppTest\n"
              "at = AppTest.from_file('app.py', default_timeout=120).run()\n"
              "assert not at.exception, at.exception\n"
              "import numba, torch\n"
              "print(numba.config.NUMBA_NUM_THREADS, torch.get_num_threads())\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "1"]


def test_inspect_a_step_shows_curvature_and_the_optimizers_view():
    at = app({"steps": "80"})
    at.toggle(key="inspect").set_value(True).run()
    assert_clean(at)
    assert at.query_params["inspect"] == "true"
    at.selectbox(key="inspect.opt").set_value("adam").run()
    at.slider(key="inspect.step").set_value(12).run()
    assert_clean(at)
    (table,) = [m.value for m in at.markdown if m.value.startswith("| quantity |")]
    assert "| Hessian eigenvalues λ₁, λ₂ | (1, 50) |" in table and "| r̂ |" in table and "| ŝ |" in table
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("adam at step k = 12")
    names = [trace.get("name", "") for trace in spec["data"]]
    assert any(n.startswith("eigen-direction λ₁") for n in names) and any("per-coordinate reach" in n for n in names)
    at.selectbox(key="inspect.opt").set_value("momentum").run()  # on the quadratic: theory next to measurement
    (table,) = [m.value for m in at.markdown if m.value.startswith("| quantity |")]
    theory_rate = float(table.split("| contraction per step, theory (spectral radius, λ = 1 and κ) | ")[1].split()[0])
    measured = float(table.split("| contraction per step, measured | ")[1].split()[0])
    assert measured == pytest.approx(theory_rate, abs=0.02)


def test_network_surface_from_the_url_and_its_widgets():
    """Categorical and widths parameters: read from the URL, shown in their widgets, written back."""
    at = app({"surface": "network", "dataset": "xor", "hidden": "8,4", "activation": "relu", "surface.seed": "2",
              "steps": "40"})
    assert_clean(at)
    assert at.selectbox(key="network.dataset").value == "xor"
    assert at.selectbox(key="network.hidden").value == "8,4"  # not a suggestion: offered because the URL holds it
    assert at.selectbox(key="network.activation").value == "relu"
    assert at.number_input(key="network.seed").value == 2
    assert at.query_params["hidden"] == "8,4" and at.query_params["surface.seed"] == "2"
    assert start_marker(at) == pytest.approx(landscapes.get("network").default_start)
    at.selectbox(key="network.hidden").set_value("16,16").run()
    assert_clean(at)
    assert at.query_params["hidden"] == "16,16"
    assert all(len(points) == 41 for points in paths(at).values())


def test_your_own_surface_typed_checked_and_shared_by_url():
    at = app({"steps": "60"})
    at.selectbox(key="surface").set_value("expression").run()
    at.text_input(key="expression.f").set_value("sin(x)*cos(y) + 0.1*(x**2 + y**2)").run()
    at.text_input(key="expression.bounds").set_value("-3,3,-3,3").run()
    assert_clean(at)
    assert at.query_params["f"] == "sin(x)*cos(y) + 0.1*(x**2 + y**2)"
    assert at.query_params["bounds"] == "-3.0,3.0,-3.0,3.0"
    surface = landscapes.get("expression", f="sin(x)*cos(y) + 0.1*(x**2 + y**2)", bounds="-3,3,-3,3")
    expected = optimizers.run(surface, "adam", steps=60, lr=catalogue.DEFAULT_LR["adam"])
    np.testing.assert_array_equal(paths(at)["adam"], expected.points[0])
    shared = app(dict(at.query_params))
    assert_clean(shared)
    assert shared.text_input(key="expression.f").value == "sin(x)*cos(y) + 0.1*(x**2 + y**2)"
    for hostile in ("__import__('os').system('ls')", "x.__class__", "(" * 50 + "x" + ")" * 50, "open(x)"):
        at.text_input(key="expression.f").set_value(hostile).run()
        assert not at.exception
        assert any(shown(error.value).startswith("Invalid f value") for error in at.error), hostile
        assert at.query_params["f"] == "x**2 + 10*y**2"  # the default is raced meanwhile
    hostile_url = app({"surface": "expression", "f": "eval('1')", "bounds": "0,0,1,1"})
    assert not hostile_url.exception
    warning = " ".join(w.value for w in hostile_url.warning)
    assert "bounds" in warning and "Invalid f value" in warning


def test_inspecting_a_diverged_run_stops_at_its_last_step():
    at = app({"steps": "100", "opt": "sgd,adam"})
    at.select_slider(key="sgd.lr").set_value(10.0).run()
    at.toggle(key="inspect").set_value(True).run()
    diverged_at = int(race.run_race(race.RaceConfig(
        optimizers={"sgd": {**race.optimizer_defaults("sgd"), "lr": 10.0}}, steps=100))["sgd"].diverged_at[0])
    slider = at.slider(key="inspect.step")
    assert slider.max == diverged_at - 1
    slider.set_value(diverged_at - 1).run()
    assert_clean(at)
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert spec["layout"]["title"]["text"].startswith(f"sgd at step k = {diverged_at - 1}")
    assert "nan" not in json.dumps(spec).lower()


def test_every_figure_on_the_page_can_be_downloaded():
    at = app({"steps": "40"})
    assert at.selectbox(key="export.figure").options == ["the race", "loss and distance"]
    at.toggle(key="view3d").set_value(True).run()
    at.selectbox(key="export.figure").set_value("curves").run()
    assert_clean(at)
    at.button(key="export.prepare.html").click().run()
    html = at.session_state["export._prepared"]["files"]["html"]
    assert "distance to the nearest minimum" in html.decode("utf-8")  # the curves figure, not the race
    at.selectbox(key="export.figure").set_value("surface").run()
    assert not at.session_state["export._prepared"]["files"]  # another figure: prepared files dropped


def test_the_inspected_step_travels_in_the_url():
    at = app({"steps": "80", "inspect": "true", "inspect.opt": "momentum", "inspect.step": "17"})
    assert_clean(at)
    assert at.selectbox(key="inspect.opt").value == "momentum" and at.slider(key="inspect.step").value == 17
    assert at.query_params["inspect.opt"] == "momentum" and at.query_params["inspect.step"] == "17"
    at.slider(key="inspect.step").set_value(30).run()
    assert at.query_params["inspect.step"] == "30"
    bad = app({"steps": "80", "inspect": "true", "inspect.opt": "bogus", "inspect.step": "900"})
    assert not bad.exception
    warning = " ".join(shown(w.value) for w in bad.warning)
    assert "inspect.opt='bogus'" in warning and "inspect.step='900'" in warning
