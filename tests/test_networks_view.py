"""The Networks page's library parts: model views (losslab.networks), their figures (plots.networks), the race in a
slice with minibatches, and the projection error of full-space iterates (landscapes.fullspace)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscapes import fullspace
from landscapes import network as nets
from losslab import networks, race
from plots import networks as network_plots
from plots.race import landscape_layer

SMALL = nets.Config("moons", (8,), "tanh", 0, 0.0)


def finite_numbers(figure) -> None:
    """Every numeric array in the figure's traces is finite (no NaN or inf in a figure)."""
    for trace in figure.data:
        for name in ("x", "y", "z"):
            values = getattr(trace, name, None)
            if values is None:
                continue
            array = np.asarray(values, dtype=object).ravel()
            numbers = np.array([v for v in array if v is not None], dtype=float)
            assert np.isfinite(numbers).all(), (trace.name, name)


def test_decision_regions_are_the_networks_softmax_on_the_grid():
    network = nets.trained(SMALL)
    regions = networks.decision_regions(network, resolution=21)
    assert regions.probabilities.shape == (21, 21, 2)
    np.testing.assert_allclose(regions.probabilities.sum(-1), 1.0)
    rng = np.random.default_rng()
    i, j = rng.integers(0, 21, 2)
    point = torch.tensor([[regions.x1[j], regions.x2[i]]], dtype=torch.float64)
    expected = torch.softmax(nets.forward(network.weights, point, "tanh"), -1).numpy()[0]
    np.testing.assert_allclose(regions.probabilities[i, j], expected, rtol=1e-12)
    # the trained classifier gets most training points right
    x = regions.points
    scores = nets.forward(network.weights, torch.from_numpy(x), "tanh").numpy()
    assert (scores.argmax(-1) == regions.labels).mean() > 0.8
    figure = network_plots.decision_figure(regions)
    assert figure.data[0].type == "heatmap" and [t.name for t in figure.data[1:]] == ["class 0", "class 1"]
    finite_numbers(figure)


def test_fit_and_samples_and_their_figures():
    fit = networks.regression_fit(nets.trained(nets.Config("sine", (8,))), count=50)
    assert fit.x.shape == fit.y.shape == (50,) and np.isfinite(fit.y).all()
    figure = network_plots.fit_figure(fit)
    assert [t.name for t in figure.data] == ["training data", "f(x; θ*)"]
    finite_numbers(figure)
    samples = networks.digit_samples(nets.trained(nets.Config("digits", (8,))), count=4)
    assert samples.images.shape == (4, 8, 8) and samples.probabilities.shape == (4, 10)
    np.testing.assert_allclose(samples.probabilities.sum(-1), 1.0)
    figure = network_plots.samples_figure(samples)
    assert [t.type for t in figure.data].count("bar") == 4 and [t.type for t in figure.data].count("heatmap") == 4
    finite_numbers(figure)


@pytest.mark.parametrize("call", [
    lambda: networks.decision_regions(nets.trained(nets.Config("sine", (8,)))),
    lambda: networks.regression_fit(nets.trained(SMALL)),
    lambda: networks.digit_samples(nets.trained(SMALL)),
    lambda: networks.decision_regions(nets.trained(SMALL), resolution=202),
    lambda: networks.digit_samples(nets.trained(nets.Config("digits", (8,))), count=0),
    lambda: race.run_race(slice_race(SMALL, {"sgd": {"lr": 0.1}}, 10**6), nets.slice_plane(SMALL)),
])
def test_bad_requests_raise_value_error(call):
    with pytest.raises(ValueError, match="Invalid"):
        call()


def slice_race(config: nets.Config, chosen: dict, steps: int, **settings) -> race.RaceConfig:
    """A race in the slice of network ``config`` (the Networks page's race)."""
    params = {"dataset": config.dataset, "hidden": config.hidden, "activation": config.activation,
              "seed": config.seed, "l2": config.l2}
    return race.RaceConfig(surface="network", surface_params=params, optimizers=chosen, steps=steps, **settings)


def test_slice_race_minibatches_are_reproducible_by_seed():
    plane = nets.slice_plane(SMALL)
    chosen = {"sgd": {"lr": 0.3}, "adam": {"lr": 0.05}}
    full = race.run_race(slice_race(SMALL, chosen, 20), plane)
    first = race.run_race(slice_race(SMALL, chosen, 20, batch_size=16, seed=3), plane)
    again = race.run_race(slice_race(SMALL, chosen, 20, batch_size=16, seed=3), plane)
    other = race.run_race(slice_race(SMALL, chosen, 20, batch_size=16, seed=4), plane)
    for name in chosen:
        assert np.array_equal(first[name].points, again[name].points)
        assert not np.array_equal(first[name].points, other[name].points)
        assert not np.array_equal(first[name].points, full[name].points)
        assert full[name].losses[0, -1] < full[name].losses[0, 0]


def test_projection_error_is_zero_in_the_plane_and_positive_off_it():
    rng = np.random.default_rng()
    dimension = int(rng.integers(3, 40))
    components = np.linalg.qr(rng.standard_normal((dimension, 2)))[0].T
    center = rng.standard_normal(dimension)
    in_plane = center + rng.standard_normal((7, 2)) @ components
    np.testing.assert_allclose(fullspace.projection_error(in_plane, center, components), 0.0, atol=1e-12)
    normal = rng.standard_normal(dimension)
    normal -= components.T @ (components @ normal)
    normal /= np.linalg.norm(normal)
    heights = rng.uniform(0.1, 3.0, 7)
    off_plane = in_plane + heights[:, None] * normal
    np.testing.assert_allclose(fullspace.projection_error(off_plane, center, components), heights, rtol=1e-10)


def test_full_space_runs_carry_their_distance_from_the_plane_and_figures_are_finite():
    full = fullspace.full_space(SMALL, {"sgd": {"lr": 0.3}, "adam": {"lr": 0.02}}, steps=30)
    for run in full.runs.values():
        expected = fullspace.projection_error(run.iterates, full.center, full.components)
        np.testing.assert_array_equal(run.off_plane, expected)
        assert run.off_plane.shape == run.steps.shape and (run.off_plane >= 0).all()
    # with 2 optimizers × 31 iterates in a space of dozens of dimensions, the plane leaves some of them out
    assert max(run.off_plane.max() for run in full.runs.values()) > 0
    grid = landscape_layer(full.surface, 15).grid
    pca = network_plots.pca_figure(full, grid)
    assert pca.data[0].type == "contour" and {t.name for t in pca.data[1:]} >= {"sgd", "adam"}
    assert "% of the variance" in pca.layout.xaxis.title.text
    finite_numbers(pca)
    curves = network_plots.fullspace_curves_figure(full)
    assert len(curves.data) == 2 * len(full.runs)  # train and test loss per optimizer
    finite_numbers(curves)
    projection = network_plots.projection_error_figure(full)
    assert [t.name for t in projection.data] == list(full.runs)
    for trace, run in zip(projection.data, full.runs.values()):
        np.testing.assert_array_equal(trace.customdata, run.off_plane)
        assert (np.asarray(trace.y) >= 0).all() and (np.asarray(trace.y) <= 1 + 1e-12).all()  # a fraction of ‖θ − θ̄‖
    finite_numbers(projection)


def test_grid_progress_reports_fractions_up_to_one_and_the_same_values():
    plane = nets.slice_plane(SMALL)
    fractions: list[float] = []
    with_progress = landscape_layer(plane, 23, progress=fractions.append).grid
    plain = landscape_layer(plane, 23).grid
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 1
    np.testing.assert_allclose(with_progress.z, plain.z, rtol=1e-12)
