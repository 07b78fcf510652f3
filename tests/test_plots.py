"""Figure structure: the landscape never animates, frames touch only trajectories, no NaN anywhere."""

from __future__ import annotations

import base64
import math

import numpy as np
import pytest

import landscapes
import optimizers
import plots
from losslab.race import RaceConfig, run_race
from plots.race import MAX_FRAMES


def decode(values):
    """Plain numbers from a plotly array: lists, numpy arrays or typed-array specs {dtype, bdata}."""
    if isinstance(values, dict) and "bdata" in values:
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).tolist()
    if isinstance(values, np.ndarray):
        return values.ravel().tolist()
    return list(values)


def numbers_in(node):
    """Every number in a figure dict (trace and frame data, layout), typed arrays decoded."""
    if isinstance(node, dict):
        if "bdata" in node:
            yield from decode(node)
            return
        for value in node.values():
            yield from numbers_in(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from numbers_in(value)
    elif isinstance(node, np.ndarray):
        yield from node.ravel().tolist() if node.dtype.kind in "fiu" else ()
    elif isinstance(node, float):
        yield node


def race(surface_name="rosenbrock", steps=300, **lrs):
    surface = landscapes.get(surface_name)
    names = ("sgd", "momentum", "rmsprop", "adam")
    trajectories = {name: optimizers.run(surface, name, steps=steps, lr=lrs.get(name, 1e-3)) for name in names}
    return surface, trajectories


def trajectory_trace_indices(figure):
    names = [trace.name or "" for trace in figure.data]
    return {i for i, name in enumerate(names) if name.startswith(("sgd", "momentum", "rmsprop", "adam", "positions"))}


def test_landscape_is_a_layout_image_and_isolines_never_in_a_frame():
    surface, trajectories = race()
    figure = plots.race_figure(surface, trajectories)
    assert len(figure.layout.images) == 1 and figure.layout.images[0].source.startswith("data:image/png;base64,")
    assert figure.layout.images[0].layer == "below"
    assert not any(trace.type in ("contour", "heatmap") for trace in figure.data)
    isolines = [shape for shape in figure.layout.shapes if shape.name == "isolines"]
    assert len(isolines) == 1 and isolines[0].path.count("M") > 10  # many separate level curves
    animated = trajectory_trace_indices(figure)
    for frame in figure.frames:
        assert set(frame.traces) <= animated and len(frame.traces) == len(frame.data)


def test_frames_update_only_trajectories_without_redraw_and_axes_are_fixed():
    surface, trajectories = race(steps=1000)
    figure = plots.race_figure(surface, trajectories, frames=50)
    assert 2 <= len(figure.frames) <= 50
    steps = [int(frame.name) for frame in figure.frames]
    assert steps[0] == 0 and steps[-1] == 1000 and steps == sorted(steps)
    assert figure.layout.xaxis.autorange is False and figure.layout.yaxis.autorange is False
    assert tuple(figure.layout.xaxis.range) == surface.bounds[0]
    for button in figure.layout.updatemenus[0].buttons:
        if button.args[0] is None:  # play buttons
            assert button.args[1]["frame"]["redraw"] is False
    for step in figure.layout.sliders[0].steps:
        assert step.args[1]["frame"]["redraw"] is False
    # frame k shows the path up to step k: its last point is θₖ
    path = trajectories["adam"].points[0]
    adam_trace = next(i for i, t in enumerate(figure.data) if (t.name or "").startswith("adam"))
    for frame in figure.frames:
        k = int(frame.name)
        data = frame.data[list(frame.traces).index(adam_trace)]
        assert decode(data.x)[-1] == pytest.approx(path[k, 0], rel=1e-6)
        assert len(decode(data.x)) == k + 1 or k < 1000  # intermediate frames of long runs may be thinned


def test_long_runs_are_subsampled_to_a_bounded_frame_count():
    assert len(plots.frame_steps(100_000, MAX_FRAMES)) == MAX_FRAMES
    assert plots.frame_steps(5, 60).tolist() == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="Invalid frames value"):
        plots.frame_steps(10, MAX_FRAMES + 1)


def test_a_diverged_run_gets_a_cross_at_its_step_and_no_nan_reaches_the_figure():
    surface, trajectories = race(sgd=0.05, momentum=1.0)
    assert trajectories["sgd"].diverged_at[0] > 0 and trajectories["momentum"].diverged_at[0] > 0
    figure = plots.race_figure(surface, trajectories, gradient_field=True)
    crosses = [t for t in figure.data if (t.name or "").endswith("diverged") and len(t.x)]
    assert {t.name for t in crosses} == {"sgd diverged", "momentum diverged"}
    for trace in crosses:
        name = trace.name.split()[0]
        assert trace.text[0] == f"{name} diverged at step {trajectories[name].diverged_at[0]}"
        (xmin, xmax), (ymin, ymax) = surface.bounds
        assert xmin <= trace.x[0] <= xmax and ymin <= trace.y[0] <= ymax
    for other in (plots.curves_figure(surface, trajectories), plots.surface_figure(surface, trajectories), figure):
        assert all(math.isfinite(v) for v in numbers_in(other.to_dict())), "a NaN or inf reached a figure"


def test_each_optimizer_has_its_own_colour_dash_and_marker():
    surface, trajectories = race()
    figure = plots.race_figure(surface, trajectories)
    paths = [t for t in figure.data if t.mode == "lines" and (t.name or "").startswith(("sgd", "momentum", "rmsprop",
                                                                                          "adam"))]
    assert len({t.line.color for t in paths}) == 4
    assert len({t.line.dash for t in paths}) == 4
    positions = next(t for t in figure.data if t.name == "positions θₖ")
    assert len(set(positions.marker.symbol)) == 4 and list(positions.marker.color) == [t.line.color for t in paths]


def panel_traces(figure, axis):
    return {t.name: t for t in figure.data if t.xaxis == axis and t.mode == "lines"}


def test_loss_curve_log_scale_and_known_optimum():
    surface, trajectories = race()
    figure = plots.curves_figure(surface, trajectories)
    assert figure.layout.yaxis.type == "log" and "f* = 0" in figure.layout.annotations[0].text
    np.testing.assert_array_equal(decode(panel_traces(figure, "x")["adam"].y), trajectories["adam"].losses[0])
    assert [t.name for t in figure.data if t.showlegend is not False] == list(trajectories)  # one legend entry each
    camel = landscapes.get("six_hump_camel")  # negative losses: linear axis and the f* line drawn
    camel_race = {"adam": optimizers.run(camel, "adam", steps=200, lr=0.02)}
    camel_figure = plots.curves_figure(camel, camel_race)
    assert camel_figure.layout.yaxis.type == "linear"
    assert any(shape.y0 == pytest.approx(camel.minimum_value) for shape in camel_figure.layout.shapes)


def test_distance_to_minimum_and_surfaces_without_minima():
    surface, trajectories = race()
    figure = plots.curves_figure(surface, trajectories)
    assert figure.layout.yaxis2.type == "log" and figure.layout.xaxis2.domain[0] > figure.layout.xaxis.domain[1]
    expected = np.linalg.norm(trajectories["adam"].points[0] - np.array(surface.minima[0]), axis=1)
    np.testing.assert_allclose(decode(panel_traces(figure, "x2")["adam"].y), expected)
    saddle = landscapes.get("saddle")
    saddle_figure = plots.curves_figure(saddle, {"sgd": optimizers.run(saddle, "sgd", steps=10)})
    assert {t.xaxis for t in saddle_figure.data} == {"x"} and len(saddle_figure.layout.annotations) == 1


def test_summary_rows():
    surface, trajectories = race(sgd=0.05)
    rows = {row["optimizer"].split()[0]: row for row in plots.summary_rows(surface, trajectories, tol=1e-6)}
    assert rows["sgd"]["diverged at"].startswith(f"step {trajectories['sgd'].diverged_at[0]} (")
    assert rows["adam"]["final loss"] == trajectories["adam"].losses[0, -1]
    assert rows["adam"]["best loss"] == trajectories["adam"].losses[0].min()


def test_three_d_view_has_the_surface_and_every_trajectory():
    surface, trajectories = race()
    figure = plots.surface_figure(surface, trajectories)
    assert figure.data[0].type == "surface"
    assert [t.name for t in figure.data[1:]] == list(trajectories)


@pytest.mark.parametrize("surface_name", landscapes.names())
def test_default_race_figure_builds_on_every_surface(surface_name):
    config = RaceConfig(surface=surface_name, surface_params={}, steps=120)
    trajectories = run_race(config)
    figure = plots.race_figure(config.landscape(), trajectories, frames=20, resolution=60)
    assert len(figure.frames) <= 20
    assert all(math.isfinite(v) for v in numbers_in(figure.to_dict()))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "rmsprop", "adam", "adagrad"])
def test_step_figure_draws_the_step_the_gradient_step_and_the_curvature(optimizer):
    from landscapes.curvature import curvature
    from optimizers.step_view import step_view
    from plots.step_figure import step_figure, step_rows

    surface = landscapes.get("rosenbrock")
    view = step_view(surface, optimizer, 25, lr=1e-3)
    local = curvature(surface, view.theta)
    run = optimizers.run(surface, optimizer, steps=60, lr=1e-3)
    figure = step_figure(surface, view, local, optimizer, 1, run.points[0])
    arrows = [a for a in figure.layout.annotations if a.showarrow]
    assert len(arrows) == 2
    np.testing.assert_allclose([arrows[1].x, arrows[1].y], view.theta + view.update)  # the step taken
    assert sum((t.name or "").startswith("eigen-direction") for t in figure.data) == 2
    adaptive = optimizer in ("rmsprop", "adam", "adagrad")
    assert any("per-coordinate reach" in (t.name or "") for t in figure.data) == adaptive
    assert all(math.isfinite(v) for v in numbers_in(figure.to_dict()))
    rows = dict(step_rows(view, local))
    assert rows["Hessian eigenvalues λ₁, λ₂"].startswith("(")


def test_a_surface_title_shows_typed_text_as_text():
    """plotly draws <a href>, <b> and entities in titles: a title quoting a user's text escapes them."""
    from plots.style import surface_title

    class Typed:
        name = "expression"
        params = {"f": "<a href='https://evil.example'>x</a> & y", "bounds": ((-1.0, 1.0), (-2.0, 2.0))}

    title = surface_title(Typed())
    assert "<a" not in title and "&lt;a href=&#x27;https://evil.example&#x27;&gt;x&lt;/a&gt; &amp; y" in title
