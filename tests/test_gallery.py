"""The gallery (``losslab.gallery``, ``plots.gallery``, ``losslab gallery``): the best ρ against direct
``optimizers.sweep`` calls, its tie-break, validation, the budget, skipped optimizers, the figure, its exports
and the command line."""

from __future__ import annotations

import csv
import io
import math
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

import landscapes
import optimizers
from losslab import budget, gallery, maps, race
from plots import gallery as gallery_plots
from plots import static
from tests.cli_run import error_line, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL = gallery.GalleryConfig(surface="rosenbrock", steps=200, points=16, optimizers=("sgd", "momentum", "adam"))


@pytest.fixture(scope="module")
def small():
    return gallery.gallery(SMALL)


def direct_sweep(config: gallery.GalleryConfig, name: str) -> optimizers.Summary:
    """The sweep the gallery should have made, written out: the ρ grid over the sliders' range, the race's defaults."""
    surface = landscapes.get(config.surface, **config.params())
    lr = np.geomspace(*optimizers.catalogue.spec("lr").ui, config.points)
    hyper = {key: value for key, value in race.optimizer_defaults(name, config.surface).items() if key != "lr"}
    start = config.start if config.start is not None else surface.default_start
    return optimizers.sweep(surface, name, start=start, steps=config.steps, lr=lr, **hyper)


def expected_best(summary: optimizers.Summary) -> int:
    """The lowest final loss among rows that did not diverge; among equal losses the fewest steps to tolerance
    (never reached: last); then the first. -1 when every row diverged."""
    alive = [i for i in range(len(summary.final_loss)) if summary.diverged_at[i] < 0]
    if not alive:
        return -1
    lowest = min(summary.final_loss[i] for i in alive)
    tied = [i for i in alive if summary.final_loss[i] == lowest]
    steps = {i: summary.steps_to_tol[i] if summary.steps_to_tol[i] >= 0 else math.inf for i in tied}
    return min(tied, key=lambda i: (steps[i], i))


# --- the best ρ ----------------------------------------------------------------------------------------------


def test_the_best_rho_is_the_argmin_of_direct_sweeps(small):
    assert list(small.results) == list(SMALL.optimizers) and small.skipped == {}
    for name, result in small.results.items():
        summary = direct_sweep(SMALL, name)
        np.testing.assert_array_equal(result.curve.cells.final_loss, summary.final_loss)
        np.testing.assert_array_equal(result.curve.cells.diverged, summary.diverged_at >= 0)
        best = expected_best(summary)
        assert best >= 0 and result.curve.best == best
        assert result.lr == pytest.approx(np.geomspace(1e-5, 10.0, SMALL.points)[best], rel=1e-12)
        assert result.final_loss == summary.final_loss[best]
        assert gallery.LR_RANGE == optimizers.catalogue.spec("lr").ui


def test_each_panel_is_the_race_at_the_best_rho(small):
    for name, result in small.results.items():
        trajectory = result.trajectory
        assert trajectory is not None and trajectory.points.shape == (1, SMALL.steps + 1, 2)
        assert trajectory.hyperparameters["lr"] == result.lr
        assert trajectory.losses[0, -1] == result.final_loss  # the race reproduces the sweep's row bit for bit
        expected = race.run_one(gallery.race_config(SMALL, name, result.lr), name)
        np.testing.assert_array_equal(trajectory.points, expected.points)


@pytest.mark.parametrize(("surface", "params", "name"), [
    ("quadratic", {"condition": 1.0}, "sgd"),  # seven ρ reach exactly 0 (underflow): 4 steps decide, twice
    ("rastrigin", {}, "lamb"),  # seven ρ reach the global minimum exactly
])
def test_ties_in_final_loss_go_to_fewer_steps_to_tolerance(surface, params, name):
    config = gallery.GalleryConfig(surface=surface, surface_params=params, optimizers=(name,))
    summary = direct_sweep(config, name)
    loss = np.where(summary.diverged_at >= 0, np.inf, summary.final_loss)
    tied = np.flatnonzero(loss == loss.min())
    assert len(tied) > 1 and len(set(summary.steps_to_tol[tied])) > 1  # a real tie, broken by the steps
    result = gallery.gallery(config).results[name]
    assert result.curve.best == expected_best(summary) != tied[0]
    assert result.steps_to_tol == min(s for s in summary.steps_to_tol[tied] if s >= 0)
    assert maps.lr_curves(config.map_config(), [name], config.points)[name].best == result.curve.best


def test_best_index_orders_by_loss_then_steps_then_position():
    def cells(loss, steps, diverged):
        n = len(loss)
        return maps.Cells(np.array(loss, float), np.array(loss, float), np.array(steps, float),
                          np.array(diverged, bool), np.array(diverged, float), np.full(n, -1))

    assert maps.best_index(cells([1.0, 0.0, 0.0, 0.0], [-1, 50, 20, 20], [False] * 4)) == 2
    assert maps.best_index(cells([0.0, 0.0, 0.0], [-1, 30, -1], [False] * 3)) == 1  # never reached counts last
    assert maps.best_index(cells([0.0, 0.0, 5.0], [3, 3, 9], [True, True, False])) == 2  # diverged rows never win
    assert maps.best_index(cells([0.0, 1.0], [0, 0], [True, True])) == -1


def test_an_optimizer_that_diverged_at_every_rho_says_so(monkeypatch):
    monkeypatch.setattr(gallery, "LR_RANGE", (5.0, 10.0))  # far past plain GD's 2/λ_max = 0.04 on this quadratic
    config = gallery.GalleryConfig(surface="quadratic", steps=100, points=8, optimizers=("sgd", "adam"))
    shown = gallery.gallery(config)
    sgd = shown.results["sgd"]
    assert sgd.curve.best == -1 and sgd.trajectory is None and sgd.lr is None and sgd.diverged == 8
    assert shown.results["adam"].trajectory is not None
    rows = {row["optimizer"]: row for row in gallery.rows(shown)}
    assert rows["sgd"]["note"] == "diverged at every ρ" and rows["sgd"]["best_lr"] is None
    titles = [a.text for a in gallery.figure(shown).layout.annotations]
    assert titles[0].startswith("<b>sgd · diverged at every ρ</b>") and titles[1].startswith("<b>adam · ρ=")


def test_a_failing_optimizer_is_skipped_with_its_reason_and_the_others_are_drawn(monkeypatch):
    original = maps.lr_curves

    def half_written(config, names, points=96, budget=None):
        if "momentum" in names:
            raise NotImplementedError("momentum's kernel is being rewritten")
        return original(config, names, points, budget)

    monkeypatch.setattr(maps, "lr_curves", half_written)
    shown = gallery.gallery(SMALL)
    assert list(shown.results) == ["sgd", "adam"]
    assert shown.skipped == {"momentum": "NotImplementedError: momentum's kernel is being rewritten"}
    assert gallery.rows(shown)[-1]["note"] == "skipped: NotImplementedError: momentum's kernel is being rewritten"
    assert len(gallery.figure(shown).layout.annotations) == 2
    with pytest.raises(ValueError, match="Every selected optimizer failed.*momentum"):
        gallery.gallery(gallery.GalleryConfig(steps=10, points=8, optimizers=("momentum",)))


def test_every_optimizer_by_default_and_a_start_at_the_minimum():
    config = gallery.GalleryConfig(surface="booth", steps=20, points=4, start=(1.0, 3.0))  # booth's minimum
    assert config.names() == optimizers.names()
    shown = gallery.gallery(config)
    assert set(shown.results) | set(shown.skipped) == set(optimizers.names())
    assert shown.results["sgd"].final_loss == 0.0  # no gradient at the minimum: plain SGD stays there


def test_the_tuning_runs_in_the_fused_kernel_where_numba_has_it_and_finds_the_same(monkeypatch):
    """A large gallery imports numba (``gallery.FUSED_SETUP_S``: lowered here) and tunes in the fused kernels it has
    compiled or cached, bit for bit the numpy kernel's sweeps; it never compiles one for its small sweeps."""
    from optimizers import engine, fast

    surface = landscapes.get(SMALL.surface)
    for name in ("sgd", "adam"):  # their kernels compiled; momentum's is sgd's
        optimizers.sweep(surface, name, steps=1, lr=np.full(engine.FAST_PATH_MIN_ROWS, 1e-3))
    fused, compiles = [], []
    monkeypatch.setattr(fast, "sweep", lambda batch, *args, original=fast.sweep: batch.steps and fused.append(
        batch.optimizer) or original(batch, *args))  # steps 0: maps' check of the configuration
    monkeypatch.setattr(fast, "ready", lambda batch, original=fast.ready: original(batch) or compiles.append(batch))
    monkeypatch.setattr(gallery, "FUSED_SETUP_S", 0.0)
    shown = gallery.gallery(SMALL)
    assert fused == list(SMALL.optimizers) and not compiles
    with fast.disabled():
        reference = gallery.gallery(SMALL)
    for name, result in shown.results.items():
        np.testing.assert_array_equal(result.curve.cells.final_loss, reference.results[name].curve.cells.final_loss)
        assert result.curve.best == reference.results[name].curve.best


# --- validation and the budget -------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": 0}, r"Invalid steps value: 0 \(must be an integer in \[1, 5000\]\)"),
    ({"steps": 5001}, r"Invalid steps value: 5001 \(must be an integer in \[1, 5000\]\)"),
    ({"steps": 10.5}, "Invalid steps value: 10.5"),
    ({"steps": True}, "Invalid steps value: True"),
    ({"points": 1}, r"Invalid points value: 1 \(must be an integer in \[2, 256\]\)"),
    ({"points": 257}, r"Invalid points value: 257 \(must be an integer in \[2, 256\]\)"),
    ({"surface": "network"}, "Invalid surface value: 'network' .valid: quadratic, rosenbrock"),
    ({"surface": "nope"}, "Invalid surface value: 'nope'"),
    ({"optimizers": ("nope",)}, r"Invalid optimizers value: \['nope'\] \(distinct names from: sgd, "),
    ({"optimizers": ("sgd", "sgd")}, r"Invalid optimizers value: \['sgd', 'sgd'\]"),
    ({"start": (math.nan, 0.0)}, r"Invalid start value: \(nan, 0.0\) \(must be two finite numbers x, y\)"),
    ({"start": ("a", "b")}, "Invalid start value"),
    ({"surface": "quadratic", "surface_params": {"condition": -1.0}}, "Invalid condition value: -1.0"),
])
def test_bad_settings_raise_a_value_error_naming_the_parameter_and_its_range(changes, message, monkeypatch):
    monkeypatch.setattr(optimizers, "sweep", lambda *a, **k: pytest.fail("no work before validation"))
    config = gallery.GalleryConfig(**{**SMALL.__dict__, **changes})
    with pytest.raises(ValueError, match=message):
        gallery.gallery(config)


def test_over_the_budget_is_refused_before_any_work_naming_what_to_reduce(monkeypatch):
    monkeypatch.setattr(optimizers, "sweep", lambda *a, **k: pytest.fail("no work over the budget"))
    config = gallery.GalleryConfig(steps=5000, points=256)
    with pytest.raises(budget.BudgetExceeded, match=r"This gallery would take about .* reduce .*(points|steps)"):
        gallery.gallery(config, budget=1.0)
    assert gallery.cost(config).seconds > gallery.cost(SMALL).seconds * 50
    assert gallery.cost(config).seconds > budget.DEFAULT_BUDGET_S  # 256-row sweeps: estimated at the numpy kernel's
    assert gallery.cost(gallery.GalleryConfig()).seconds < budget.DEFAULT_BUDGET_S  # the default gallery runs


# --- the figure and its exports --------------------------------------------------------------------------------


def test_one_panel_per_optimizer_with_its_rho_in_the_title(small):
    figure = gallery.figure(small)
    titles = [annotation.text for annotation in figure.layout.annotations]
    assert len(titles) == len(small.results) == len(figure.layout.images) == len(figure.layout.shapes)
    for index, (title, (name, result)) in enumerate(zip(titles, small.results.items())):
        assert title.startswith(f"<b>{name} · ρ={result.lr:.3g}</b>")
        assert f"final loss {result.trajectory.losses[0, -1]:.3g}" in title
        axis = "x" if index == 0 else f"x{index + 1}"
        (path,) = [t for t in figure.data if t.xaxis == axis and t.mode == "lines"]
        assert path.name == f"{name} · ρ={result.lr:.3g}"
        assert len(path.x) == SMALL.steps + 1
        start = [t for t in figure.data if t.xaxis == axis and t.name == "start θ₀"]
        assert (start[0].x[0], start[0].y[0]) == tuple(SMALL.landscape().default_start)
        assert [t for t in figure.data if t.xaxis == axis and t.name == "minimum θ*"]
    assert "rosenbrock" in figure.layout.title.text and "best ρ of 16" in figure.layout.title.text


@pytest.mark.parametrize(("count", "shape"), [(1, (1, 1)), (3, (1, 3)), (4, (2, 2)), (8, (2, 4)), (24, (4, 6)),
                                              (64, (7, 10))])
def test_the_grid_is_about_three_columns_for_two_rows(count, shape):
    assert gallery_plots.grid_shape(count) == shape
    rows, columns = shape
    assert rows * columns >= count > (rows - 1) * columns


def test_a_panel_without_a_path_draws_the_start_and_minimum_only():
    surface = landscapes.get("himmelblau")
    panels = [gallery_plots.Panel("a <b>", "x", None), gallery_plots.Panel("b", "y", np.zeros((5, 2)), 3)]
    figure = gallery_plots.gallery_figure(surface, panels, (0.0, 0.0))
    first = [t.name for t in figure.data if t.xaxis == "x"]
    assert first == ["start θ₀", "minimum θ*"]
    assert "a &lt;b&gt;" in figure.layout.annotations[0].text  # titles are escaped
    assert "b diverged" in [t.name for t in figure.data if t.xaxis == "x2"]
    with pytest.raises(ValueError, match="Invalid panels value: 0"):
        gallery_plots.gallery_figure(surface, [], (0.0, 0.0))


@pytest.fixture(scope="module")
def kaleido():
    static.ensure_server()


def test_exports_are_valid_png_svg_pdf_html_and_csv(small, kaleido):
    drawn = gallery.figure(small)
    png = gallery.export(small, "png", drawn=drawn)
    assert png.startswith(PNG_SIGNATURE)
    root = ElementTree.fromstring(gallery.export(small, "svg", drawn=drawn))
    assert root.tag.endswith("svg") and "momentum · ρ=" in "".join(root.itertext())
    assert gallery.export(small, "pdf", drawn=drawn).startswith(b"%PDF")
    page = gallery.export(small, "html", drawn=drawn)
    assert b"<html" in page[:200].lower() and b"adam \\u00b7 \\u03c1=" in page  # "adam · ρ=", as JSON writes it
    rows = list(csv.DictReader(io.StringIO(gallery.export(small, "csv").decode())))
    assert [row["optimizer"] for row in rows] == list(small.results)
    assert float(rows[0]["best_lr"]) == small.results["sgd"].lr
    with pytest.raises(ValueError, match="a gallery exports to png, svg, pdf, html, csv"):
        gallery.export(small, "gif")


# --- the URL ---------------------------------------------------------------------------------------------------


def test_the_url_round_trips_and_refuses_bad_values_with_messages():
    config = gallery.GalleryConfig(surface="quadratic", surface_params={"condition": 200.0}, steps=300, points=32,
                                   optimizers=("adam", "sgd"))
    query = gallery.to_query(config)
    assert query == {"surface": "quadratic", "condition": "200.0", "steps": "300", "points": "32", "opt": "adam,sgd"}
    back, messages = gallery.from_query(query)
    assert messages == [] and gallery.to_query(back) == query and back.optimizers == ("adam", "sgd")
    assert gallery.to_query(gallery.GalleryConfig()) == {}
    config, messages = gallery.from_query({"surface": "network", "steps": "0", "points": "abc", "opt": "sgd,nope"})
    assert config == gallery.GalleryConfig(optimizers=("sgd",))
    assert len(messages) == 4 and "nope" in messages[-1]
    config, messages = gallery.from_query({"opt": "<b>,x", "condition": "1e400", "k" * 61: "1"})
    assert config == gallery.GalleryConfig() and len(messages) == 2


# --- the command line --------------------------------------------------------------------------------------------


def test_the_cli_writes_the_figure_and_the_table(tmp_path, kaleido):
    png, html, table = tmp_path / "gallery.png", tmp_path / "gallery.html", tmp_path / "gallery.csv"
    code, out, err = run_cli("gallery", "--surface", "rastrigin", "--optimizers", "sgd,adam", "--steps", "150",
                             "--points", "12", "--out", str(png), "--out", str(html), "--out", str(table),
                             "--preset", "paper")
    assert code == 0, err
    assert png.read_bytes().startswith(PNG_SIGNATURE) and b"<html" in html.read_bytes()[:200].lower()
    config = gallery.GalleryConfig(surface="rastrigin", steps=150, points=12, optimizers=("sgd", "adam"))
    expected = gallery.gallery(config)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["optimizer", "best"]
    assert lines[1].split()[:2] == ["sgd", f"{expected.results['sgd'].lr:.4g}"]
    rows = list(csv.DictReader(io.StringIO(table.read_text())))
    assert [float(row["best_lr"]) for row in rows] == [r.lr for r in expected.results.values()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gallery.csv", "gallery.html", "gallery.png"]


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "g.png"], "the following arguments are required: --surface"),
    (["--surface", "network", "--out", "g.png"], "--surface: 'network' cannot be a gallery's surface"),
    (["--surface", "quadratic", "--param", "nope=1", "--out", "g.png"], "--param: quadratic has no parameter 'nope'"),
    (["--surface", "quadratic", "--param", "condition=-1", "--out", "g.png"], "--param condition='-1': Invalid"),
    (["--surface", "rosenbrock", "--steps", "0", "--out", "g.png"], "Invalid steps value: 0"),
    (["--surface", "rosenbrock", "--points", "999", "--out", "g.png"], "Invalid points value: 999"),
    (["--surface", "rosenbrock", "--optimizers", "sgd,nope", "--out", "g.png"], "unknown optimizer 'nope'"),
    (["--surface", "rosenbrock", "--out", "g.gif"], "a gallery exports to .png, .svg, .pdf, .html, .csv"),
    (["--surface", "rosenbrock", "--steps", "5000", "--out", "g.png"], "This gallery would take about"),
    (["--surface", "rosenbrock", "--steps", "5000", "--points", "256", "--out", "g.png"], "points (256)"),
])
def test_cli_usage_errors_exit_2_with_one_line(tmp_path, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(budget.BUDGET_ENV, raising=False)
    code, out, err = run_cli("gallery", *args)
    assert code == 2 and out == ""
    assert message in error_line(err), err
    assert not any(tmp_path.iterdir())


def test_cli_reports_a_skipped_optimizer_and_still_draws_the_others(tmp_path, monkeypatch):
    original = maps.lr_curves

    def half_written(config, names, points=96, budget=None):
        if "adam" in names:
            raise KeyError("betas")
        return original(config, names, points, budget)

    monkeypatch.setattr(maps, "lr_curves", half_written)
    table = tmp_path / "g.csv"
    code, out, err = run_cli("gallery", "--surface", "booth", "--optimizers", "sgd,adam", "--steps", "50",
                             "--points", "8", "--out", str(table))
    assert code == 0, err
    assert err.strip() == "losslab: skipped adam: KeyError: 'betas'"
    assert "sgd" in out and f"wrote {table}" in out


def test_cli_help_lists_the_options_with_examples():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "losslab", "gallery", "--help"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "examples:" in done.stdout and "losslab gallery --surface rastrigin --out gallery.png" in done.stdout
    for option in ("--surface", "--param", "--optimizers", "--steps", "--points", "--start", "--budget", "--out",
                   "--preset", "--scale"):
        assert option in done.stdout
    assert "gallery" in subprocess.run([sys.executable, "-m", "losslab", "--help"], capture_output=True, text=True,
                                       timeout=120).stdout


def test_every_optimizer_gets_the_same_budget_of_gradient_evaluations():
    """A gallery's steps are gradient evaluations: SAM (two a step) races half as many steps and LBFGS (up to
    max_eval = 25 a step) a 25th; neither evaluates ∇f more often than the others, and their panels say so."""
    config = gallery.GalleryConfig(surface="quadratic", steps=200, points=8, optimizers=("sgd", "sam", "lbfgs"))
    assert [config.steps_of(name) for name in config.names()] == [200, 100, 8]
    shown = gallery.gallery(config)
    for name, result in shown.results.items():
        assert result.trajectory.points.shape[1] == config.steps_of(name) + 1
        evaluations = result.trajectory.evaluations
        assert evaluations is None or evaluations[0, -1] <= config.steps
    titles = [gallery.panel_title(result, config) for result in shown.results.values()]
    assert titles[0].endswith(f"ρ={shown.results['sgd'].lr:.3g}") and titles[2].endswith(" · 8 steps")
    assert [row["steps"] for row in gallery.rows(shown)] == [200, 100, 8]
