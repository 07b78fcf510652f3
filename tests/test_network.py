"""The network surfaces: values against the model and the classic per-point loop, gradients, directions,
minibatches, full-space training and its PCA plane, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import landscapes
import optimizers
from landscapes import fullspace
from landscapes import network as nets

CONFIGS = [  # classification (2 and 10 classes), ReLU with L2, one hidden layer, regression
    {},
    {"dataset": "xor", "hidden": (8,), "activation": "relu", "l2": 0.01, "seed": 3},
    {"dataset": "digits", "hidden": (16,)},
    {"dataset": "sine", "hidden": (8, 8), "activation": "tanh", "l2": 0.001},
]
IDS = ["moons", "xor-relu-l2", "digits", "sine-regression"]


def random_points(s, rng: np.random.Generator, count: int) -> np.ndarray:
    (x0, x1), (y0, y1) = s.bounds
    return np.stack([rng.uniform(x0, x1, count), rng.uniform(y0, y1, count)], axis=-1)


def classic_loop(s, points: np.ndarray, dtype: torch.dtype = torch.float64) -> np.ndarray:
    """The loss per point the way loss-landscape tools compute it: copy θ(a, b) into an nn.Module, forward."""
    network = s.network
    x, y = network.tensors("train")
    x = x.to(dtype)
    model = nets.as_module(network.weights, network.config.activation).to(dtype)
    losses = []
    for a, b in points.reshape(-1, 2):
        weights = s.weights_at(float(a), float(b))
        torch.nn.utils.vector_to_parameters(nets.flatten(weights).to(dtype), model.parameters())
        with torch.no_grad():
            out = model(x)
            if network.data.classes:
                loss = torch.nn.functional.cross_entropy(out, y)
            else:
                loss = torch.nn.functional.mse_loss(out[:, 0], y.to(dtype))
            penalty = sum(p.square().sum() for p in model.parameters())
            losses.append(float(loss + 0.5 * network.config.l2 * penalty))
    return np.array(losses).reshape(points.shape[:-1])


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_value_at_origin_is_the_trained_models_loss(kwargs):
    s = landscapes.get("network", **kwargs)
    assert float(s.value(np.zeros(2))) == pytest.approx(s.network.loss, rel=1e-12)
    assert float(s.value(np.zeros(2))) == pytest.approx(float(classic_loop(s, np.zeros((1, 2)))[0]), rel=1e-12)
    initial = nets.Network(s.network.config, s.network.data, s.network.initial, s.network.initial)
    assert s.network.loss < 0.5 * initial.loss  # training worked


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_batched_values_equal_one_point_at_a_time_and_the_classic_loop(kwargs):
    s = landscapes.get("network", **kwargs)
    rng = np.random.default_rng(len(IDS[CONFIGS.index(kwargs)]))
    points = random_points(s, rng, 60).reshape(6, 10, 2) * 1.5  # inside and beyond the bounds
    batched = s.value(points)
    assert batched.shape == (6, 10)
    one_at_a_time = np.array([float(s.value(p)) for p in points.reshape(-1, 2)]).reshape(6, 10)
    np.testing.assert_allclose(batched, one_at_a_time, rtol=1e-12)
    np.testing.assert_allclose(batched, classic_loop(s, points), rtol=1e-10)


def test_float32_values_equal_the_float32_loop_within_rounding():
    s = landscapes.get("network")
    points = random_points(s, np.random.default_rng(7), 80).astype(np.float32)
    ours = s.value(points)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, classic_loop(s, points, torch.float32), rtol=1e-5, atol=1e-6)


def test_a_grid_larger_than_one_chunk_is_evaluated_in_chunks(monkeypatch):
    s = landscapes.get("network")
    points = random_points(s, np.random.default_rng(11), 50)
    whole = s.value_and_grad(points)
    monkeypatch.setattr(nets, "CHUNK_ELEMENTS", 3 * 512 * 16)  # 3 points per chunk
    assert s.chunk(512) == 3
    chunked = s.value_and_grad(points)
    np.testing.assert_allclose(chunked[0], whole[0], rtol=1e-13)
    np.testing.assert_allclose(chunked[1], whole[1], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_grad_equals_finite_differences(kwargs):
    s = landscapes.get("network", **kwargs)
    points = random_points(s, np.random.default_rng(5), 20)
    grad = s.grad(points)
    h = 1e-6
    for axis in (0, 1):
        step = np.zeros(2)
        step[axis] = h
        central = (s.value(points + step) - s.value(points - step)) / (2 * h)
        np.testing.assert_allclose(grad[:, axis], central, rtol=1e-6, atol=1e-6 * np.abs(grad).max())


def test_grad_matches_autograd_through_the_full_parameters():
    """∂f/∂a = ⟨∇_θ L(θ(a, b)), d₁⟩ with ∇_θ L from autograd on the plain model."""
    s = landscapes.get("network", dataset="blobs", hidden=(8, 4), l2=0.02)
    for a, b in random_points(s, np.random.default_rng(9), 5):
        params = [p.clone().requires_grad_(True) for layer in s.weights_at(a, b) for p in layer]
        loss = s.network.objective(nets.unflatten_layers(params))
        gradient = nets.flatten(nets.unflatten_layers(list(torch.autograd.grad(loss, params))))
        expected = [float(gradient @ nets.flatten(d)) for d in s.directions]
        np.testing.assert_allclose(s.grad(np.array([a, b])), expected, rtol=1e-10)


@pytest.mark.parametrize("kwargs", CONFIGS, ids=IDS)
def test_directions_are_filter_normalized(kwargs):
    s = landscapes.get("network", **kwargs)
    for direction in s.directions:
        for layer, reference in zip(direction, s.network.weights):
            np.testing.assert_allclose(layer.weight.norm(dim=1), reference.weight.norm(dim=1), rtol=1e-12)
            assert torch.all(layer.bias == 0)  # Li et al.'s ignore='biasbn'
    d1, d2 = (nets.flatten(d) for d in s.directions)
    assert abs(float(d1 @ d2)) < 0.5 * float(d1.norm() * d2.norm())  # two different random directions


def test_seed_changes_initialization_and_directions_and_is_deterministic():
    first = nets.trained.__wrapped__(nets.Config(seed=4))
    again = nets.trained.__wrapped__(nets.Config(seed=4))
    other = nets.trained.__wrapped__(nets.Config(seed=5))
    assert torch.equal(nets.flatten(first.weights), nets.flatten(again.weights))
    assert not torch.equal(nets.flatten(first.initial), nets.flatten(other.initial))
    planes = [landscapes.get("network", seed=seed) for seed in (4, 5)]
    assert not torch.equal(nets.flatten(planes[0].directions[0]), nets.flatten(planes[1].directions[0]))
    assert landscapes.get("network", seed=4) is planes[0]  # cached by configuration


def test_the_surface_protocol():
    s = landscapes.get("network")
    assert s is landscapes.get("network", dataset="moons", hidden=(16, 16), activation="tanh", seed=0)
    assert s.bounds == ((-1.0, 1.0), (-1.0, 1.0))
    assert np.linalg.norm(s.grad(np.array(s.default_start))) > 1e-3
    assert repr(s).startswith("landscapes.get('network', dataset='moons', hidden=(16, 16)")
    # Adam's θ* is not a stationary point to 1e-6 (cross-entropy on nearly separable data has no minimizer):
    assert np.linalg.norm(s.grad(np.zeros(2))) > nets.STATIONARY_GRADIENT
    assert s.minima == () and s.minimum_value is None


def test_the_origin_is_declared_a_minimum_only_when_it_is_one(monkeypatch):
    s = landscapes.get("network")
    lowest = optimizers.run(s, "sgd", steps=300, lr=0.035).points[0, -1]
    assert s.value(lowest) < s.value(np.zeros(2))  # Adam's θ* is not the lowest point of its own slice
    monkeypatch.setattr(nets, "STATIONARY_GRADIENT", np.inf)  # only the grid decides
    assert nets.certified_minimum(s) == ((), None)
    centred = nets.NetworkPlane("network", s.network, s.weights_at(*lowest), s.directions, s.params)
    minima, value = nets.certified_minimum(centred)  # the plane re-centred on the slice's minimum
    assert minima == ((0.0, 0.0),) and value == float(centred.value(np.zeros(2)))
    monkeypatch.setattr(nets, "STATIONARY_GRADIENT", 1e-12)
    assert nets.certified_minimum(centred) == ((), None)  # not stationary to 1e-12


def test_minibatch_gradients():
    s = landscapes.get("network")
    points = random_points(s, np.random.default_rng(3), 4)
    n = len(s.network.data.y_train)
    full = s.minibatch_grad(points, n, np.random.default_rng(0))  # every example: the full gradient
    np.testing.assert_allclose(full, s.grad(points), rtol=1e-11, atol=1e-13)
    first = s.minibatch_grad(points, 32, np.random.default_rng(1))
    again = s.minibatch_grad(points, 32, np.random.default_rng(1))
    other = s.minibatch_grad(points, 32, np.random.default_rng(2))
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    # each row draws its own minibatch: the same point twice in one call gets two different gradients
    twice = s.minibatch_grad(np.repeat(points[:1], 2, axis=0), 32, np.random.default_rng(1))
    assert not np.allclose(twice[0], twice[1])
    # a minibatch gradient is the gradient of the mean loss over the drawn examples: it averages to the full one
    draws = s.minibatch_grad(np.repeat(points[:1], 400, axis=0), 32, np.random.default_rng(4))
    assert np.linalg.norm(draws.mean(axis=0) - full[0]) < 0.2 * np.linalg.norm(draws.std(axis=0))


def test_minibatch_runs_are_reproducible_by_seed_and_differ_between_seeds():
    s = landscapes.get("network")
    runs = [optimizers.run(s, "sgd", start=s.default_start, steps=60, lr=0.1, batch_size=32, seed=seed)
            for seed in (0, 0, 1)]
    full = optimizers.run(s, "sgd", start=s.default_start, steps=60, lr=0.1)
    np.testing.assert_array_equal(runs[0].points, runs[1].points)
    assert not np.allclose(runs[0].points, runs[2].points)
    assert not np.allclose(runs[0].points, full.points)
    assert runs[0].losses[0, -1] < 0.5 * runs[0].losses[0, 0]  # minibatch SGD still descends
    torch_run = optimizers.run(s, "adam", steps=20, lr=0.05, batch_size=16, seed=0, backend="torch")
    assert np.all(np.isfinite(torch_run.points))


def test_races_in_the_slice_descend():
    s = landscapes.get("network")
    for name in ("sgd", "momentum", "rmsprop", "adam"):
        t = optimizers.run(s, name, steps=200, lr=0.02)
        assert t.losses[0, -1] < 0.2 * t.losses[0, 0], name


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"dataset": "mnist"}, r"Invalid dataset value: 'mnist' \(must be one of moons, "),
        ({"hidden": (0,)}, r"Invalid hidden value: \(0,\) \(must be 1 to 4 integers in \[1, 256\]\)"),
        ({"hidden": (4, 4, 4, 4, 4)}, r"Invalid hidden value: .*must be 1 to 4 integers"),
        ({"hidden": ()}, r"Invalid hidden value: \(\) "),
        ({"hidden": "a,b"}, r"Invalid hidden value: 'a,b' "),
        ({"hidden": (2.5,)}, r"Invalid hidden value: \(2\.5,\) "),
        ({"dataset": "digits", "hidden": (128, 128)}, r"Invalid hidden value: \(128, 128\) \(26122 parameters on "
                                                       r"digits; must be at most 20000\)"),
        ({"activation": "elu"}, r"Invalid activation value: 'elu' \(must be one of tanh, relu\)"),
        ({"seed": -1}, r"Invalid seed value: -1 \(must be an integer in \[0, 9999\]\)"),
        ({"seed": 1.5}, r"Invalid seed value: 1\.5 \(must be an integer in \[0, 9999\]\)"),
        ({"l2": -0.1}, r"Invalid l2 value: -0\.1 \(must be in \[0, 0\.1\]\)"),
        ({"width": 3}, r"Surface 'network' takes no parameter 'width' \(valid: dataset, hidden, activation, seed"),
    ],
)
def test_bad_arguments_are_value_errors_naming_the_parameter(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        landscapes.get("network", **kwargs)


def test_widths_accept_their_text_form():
    s = landscapes.get("network", hidden="16, 16")
    assert s is landscapes.get("network")


def test_bad_minibatch_sizes_are_value_errors():
    s = landscapes.get("network")
    for size in (0, 513, 2.0):
        with pytest.raises(ValueError, match=r"Invalid batch_size value: .* \(must be an integer in \[1, 512\]"):
            s.minibatch_grad(np.zeros((1, 2)), size, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"Invalid batch_size value: 600 "):
        optimizers.run(s, "sgd", steps=3, lr=0.1, batch_size=600)


# --- full-space training and the PCA plane ----------------------------------------------------------------

CHOSEN = {"sgd": {"lr": 0.2}, "momentum": {"lr": 0.05}, "adam": {"lr": 0.01}}


@pytest.fixture(scope="module")
def full_run():
    return fullspace.full_space(nets.Config(hidden=(8, 8)), CHOSEN, steps=120)


def test_full_space_runs_start_from_one_initialization(full_run):
    theta0 = nets.flatten(full_run.network.initial).numpy()
    for name, run in full_run.runs.items():
        assert run.hyperparameters == CHOSEN[name]
        np.testing.assert_array_equal(run.iterates[0], theta0)
        assert run.steps[0] == 0 and run.steps[-1] == 120
        assert run.train_loss.shape == run.test_loss.shape == (121,)
        assert run.train_loss[0] == full_run.runs["sgd"].train_loss[0]
        assert run.train_loss[-1] < 0.6 * run.train_loss[0] and np.all(np.isfinite(run.test_loss))
        assert run.diverged_at == -1


def test_full_space_iterates_are_torch_optims():
    """Adam in full space equals torch.optim.Adam stepped by hand on the same objective."""
    run = fullspace.full_space(nets.Config(hidden=(4,)), {"adam": {"lr": 0.03, "betas": (0.8, 0.99)}}, steps=10)
    network = run.network
    params = [p.clone().requires_grad_(True) for layer in network.initial for p in layer]
    optimizer = torch.optim.Adam(params, lr=0.03, betas=(0.8, 0.99))
    for _ in range(10):
        optimizer.zero_grad()
        network.objective(nets.unflatten_layers(params)).backward()
        optimizer.step()
    np.testing.assert_array_equal(run.runs["adam"].iterates[-1], nets.flatten(nets.unflatten_layers(params))
                                  .detach().numpy())


def test_pca_projection_reconstructs_the_iterates_with_the_reported_explained_variance(full_run):
    iterates = np.concatenate([run.iterates for run in full_run.runs.values()])
    centred = iterates - full_run.center
    v = full_run.components
    np.testing.assert_allclose(v @ v.T, np.eye(2), atol=1e-12)
    coordinates = np.concatenate([run.coordinates for run in full_run.runs.values()])
    np.testing.assert_allclose(coordinates, centred @ v.T, rtol=1e-12, atol=1e-12)
    residual = np.square(centred - coordinates @ v).sum() / np.square(centred).sum()
    assert residual == pytest.approx(1.0 - full_run.explained_variance.sum(), abs=1e-10)
    per_direction = np.square(coordinates).sum(axis=0) / np.square(centred).sum()
    np.testing.assert_allclose(per_direction, full_run.explained_variance, rtol=1e-10)
    assert full_run.explained_variance[0] >= full_run.explained_variance[1] > 0


def test_pca_finds_a_planted_plane():
    rng = np.random.default_rng(0)
    basis = np.linalg.qr(rng.standard_normal((50, 2)))[0].T  # an orthonormal plane in 50 dimensions
    coefficients = rng.standard_normal((300, 2)) * [3.0, 1.0]
    points = 7.0 + coefficients @ basis + 1e-3 * rng.standard_normal((300, 50))
    center, components, explained = fullspace.pca_plane(points)
    np.testing.assert_allclose(np.abs(components @ basis.T), np.eye(2), atol=1e-2)
    assert explained.sum() > 0.999 and explained[0] / explained[1] == pytest.approx(9.0, rel=0.3)


def test_the_pca_plane_is_a_surface(full_run):
    s = full_run.surface
    (x0, x1), (y0, y1) = s.bounds
    for run in full_run.runs.values():
        assert np.all((run.coordinates >= [x0, y0]) & (run.coordinates <= [x1, y1]))
    assert s.default_start == tuple(full_run.runs["sgd"].coordinates[0])
    a, b = 0.3, -0.2  # θ̄ + a·v₁ + b·v₂, evaluated directly
    theta = full_run.center + a * full_run.components[0] + b * full_run.components[1]
    with torch.no_grad():
        expected = float(full_run.network.objective(nets.unflatten(torch.from_numpy(theta), full_run.network.initial)))
    assert float(s.value(np.array([a, b]))) == pytest.approx(expected, rel=1e-12)
    grid = s.value(np.stack(np.meshgrid(np.linspace(x0, x1, 21), np.linspace(y0, y1, 21)), axis=-1))
    assert grid.shape == (21, 21) and np.all(np.isfinite(grid))
    t = optimizers.run(s, "adam", steps=20, lr=0.1)
    assert np.all(np.isfinite(t.losses))


def test_full_space_minibatches_and_bad_arguments():
    run = fullspace.full_space(nets.Config(hidden=(4,)), {"sgd": {"lr": 0.1}}, steps=20, batch_size=16)
    full = fullspace.full_space(nets.Config(hidden=(4,)), {"sgd": {"lr": 0.1}}, steps=20)
    assert not np.allclose(run.runs["sgd"].iterates[-1], full.runs["sgd"].iterates[-1])
    cases = [
        ({"steps": 0}, r"Invalid steps value: 0 \(must be an integer in \[1, 5000\]\)"),
        ({"optimizers": {"lbfgs": {}}}, r"Invalid optimizer value: 'lbfgs' \(must be one of sgd, momentum"),
        ({"optimizers": {"sgd": {"lr": float("nan")}}}, r"Invalid lr value: nan \(must be a finite number\)"),
        ({"optimizers": {"adam": {"lr": -1.0}}}, r"Invalid learning rate"),
        ({"optimizers": {"sgd": {"betas": (0.9, 0.9)}}}, r"Invalid hyper-parameter for sgd"),
        ({"optimizers": {}}, r"Invalid optimizers value"),
        ({"batch_size": 0}, r"Invalid batch_size value: 0 \(must be an integer in \[1, 512\]"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            fullspace.full_space(nets.Config(hidden=(4,)), **{"optimizers": {"sgd": {"lr": 0.1}}, "steps": 5,
                                                                **kwargs})


def test_a_diverging_full_space_run_stops_with_finite_losses():
    run = fullspace.full_space(nets.Config(dataset="sine", hidden=(4,), activation="relu"),
                               {"sgd": {"lr": 1e6}}, steps=30).runs["sgd"]
    assert run.diverged_at > 0
    assert np.all(np.isfinite(run.train_loss)) and np.all(np.isfinite(run.iterates))
