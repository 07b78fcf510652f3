"""landscapes.from_module: your own nn.Module's loss on a plane, on the issue's three models (a small CNN on the
digits, a ResNet-style net with batch norm in eval mode on generated 3×32×32 data, the MLP of ``network``):
values against a per-point loop, tiles bit for bit, minibatches, gradients, directions, dtypes, bad input, and
the optimizers on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

import landscapes
import optimizers
from landscapes import network as nets

FLOAT32_RTOL, FLOAT32_ATOL = 1e-5, 1e-6  # a mean over the examples of float32 losses, summed in another order


def digits_cnn() -> nn.Sequential:
    """The issue's CNN: conv 1→6 3×3, ReLU, max-pool, conv 6→8 3×3, ReLU, linear 128→10."""
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(128, 10))


class Block(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


class ResNet(nn.Module):
    """A small ResNet: a stem, two residual blocks (the second after a strided convolution), pooling, linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.block1 = Block(4)
        self.down = nn.Conv2d(4, 8, 3, stride=2, padding=1)
        self.block2 = Block(8)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block1(F.relu(self.bn(self.stem(x))))
        x = self.block2(F.relu(self.down(x)))
        return self.head(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """Parameters drawn by seed; batch norms given running statistics and affine parameters away from 1 and 0."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            p.copy_((torch.rand(p.shape, generator=generator) - 0.5) * 2 / fan_in**0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.rand(m.num_features, generator=generator) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=generator) + 0.5)
    return model


@pytest.fixture(scope="module")
def digits_data() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return (torch.tensor(data.images[:192] / 16.0, dtype=torch.float32)[:, None],
            torch.tensor(data.target[:192]))


@pytest.fixture(scope="module")
def resnet_data() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(12, 3, 32, 32, generator=generator), torch.randint(0, 10, (12,), generator=generator)


@pytest.fixture(scope="module")
def mlp():
    """The network surface's trained MLP as a module, its data and its plane's directions."""
    surface = landscapes.get("network")
    x, y = surface.network.tensors("train")
    model = nets.as_module(surface.network.weights, surface.network.config.activation)
    return surface, model, (x, y), [nets.flatten(d) for d in surface.directions]


def loop(surface, points: np.ndarray, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy) -> np.ndarray:
    """The loss per point the classic way: θ(a, b) into the module, one forward pass over all the data."""
    values = []
    with torch.no_grad():
        for a, b in points.reshape(-1, 2).tolist():
            out = torch.func.functional_call(surface.model, surface.parameters_at(a, b), (x,))
            values.append(float(loss_fn(out, y)))
    return np.array(values).reshape(points.shape[:-1])


def random_points(count: int, seed: int, scale: float = 1.2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-scale, scale, (count, 2))


def test_the_cnn_runs_on_the_fast_path_and_equals_the_loop_and_the_generic_path(digits_data):
    x, y = digits_data
    model = seeded(digits_cnn())
    surface = landscapes.from_module(model, F.cross_entropy, (x, y))
    assert surface.method == "graph" and surface.fallback == ""
    points = random_points(12, 0).reshape(3, 4, 2).astype(np.float32)
    values = surface.value(points)
    assert values.shape == (3, 4) and values.dtype == np.float32
    np.testing.assert_allclose(values, loop(surface, points, x, y), rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    generic = landscapes.from_module(model, F.cross_entropy, (x, y), method="generic")
    np.testing.assert_allclose(generic.value(points), values, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def test_the_resnet_with_batch_norm_runs_in_eval_mode_on_the_generic_path(resnet_data):
    x, y = resnet_data
    model = seeded(ResNet()).train()  # left in train mode by its owner
    surface = landscapes.from_module(model, F.cross_entropy, (x, y), batch_size=5)
    assert model.training and not surface.model.training  # the surface evaluates an eval-mode copy
    assert surface.method == "generic" and "convolution on a 16×16 map" in surface.fallback
    points = random_points(4, 1).astype(np.float32)
    np.testing.assert_allclose(surface.value(points), loop(surface, points, x, y), rtol=FLOAT32_RTOL,
                               atol=FLOAT32_ATOL)
    with pytest.raises(ValueError, match=r"Invalid method value: 'graph' \(the fast path does not cover"):
        landscapes.from_module(model, F.cross_entropy, (x, y), method="graph")


def test_the_network_mlp_in_float64_equals_the_network_surface(mlp):
    surface, model, (x, y), directions = mlp
    ours = landscapes.from_module(model, F.cross_entropy, (x, y), directions=directions)
    assert ours.method == "graph"
    points = random_points(10, 2)
    np.testing.assert_allclose(ours.value(points), surface.value(points), rtol=1e-10)
    np.testing.assert_allclose(ours.value(points), loop(ours, points, x, y), rtol=1e-10)
    value, grad = ours.value_and_grad(points[:3])
    np.testing.assert_allclose(grad, surface.grad(points[:3]), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(value, surface.value(points[:3]), rtol=1e-10)


def test_a_tile_computed_alone_equals_the_whole_grid_bit_for_bit(digits_data):
    x, y = digits_data
    surface = landscapes.from_module(seeded(digits_cnn()), F.cross_entropy, (x, y), points_per_chunk=7)
    axis = np.linspace(-1, 1, 9, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1)
    whole = surface.value(grid)
    np.testing.assert_array_equal(surface.value(grid[2:6, 3:8]), whole[2:6, 3:8])
    np.testing.assert_array_equal(surface.value(grid[4, 4]), whole[4, 4])


def test_minibatches_and_a_dataloader_give_the_data_sets_mean(digits_data):
    x, y = digits_data
    model = seeded(digits_cnn()).double()
    points = random_points(5, 3)
    options = {"loss_fn": F.cross_entropy, "points_per_chunk": 5}
    whole = landscapes.from_module(model, data=(x, y), **options).value(points)
    cut = landscapes.from_module(model, data=(x, y), batch_size=50, **options).value(points)  # 50, 50, 50, 42
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64)
    streamed = landscapes.from_module(model, data=loader, batch_size=40, **options).value(points)
    np.testing.assert_allclose(cut, whole, rtol=1e-12)
    np.testing.assert_allclose(streamed, whole, rtol=1e-12)


@pytest.mark.parametrize("which", ["cnn", "resnet"])
def test_gradients_equal_autograd_through_the_parameters_and_finite_differences(which, digits_data, resnet_data):
    x, y = digits_data if which == "cnn" else resnet_data
    model = seeded(digits_cnn() if which == "cnn" else ResNet()).double()
    surface = landscapes.from_module(model, F.cross_entropy, (x, y), batch_size=100, points_per_chunk=3)
    points = random_points(3, 4)
    grad = surface.grad(points)
    d1, d2 = surface.directions
    for (a, b), row in zip(points, grad):
        params = {k: v.clone().requires_grad_(True) for k, v in surface.parameters_at(a, b).items()}
        loss = F.cross_entropy(torch.func.functional_call(surface.model, params, (x.double(),)), y)
        grads = torch.autograd.grad(loss, list(params.values()))
        expected = [sum(float((g * d[k]).sum()) for g, k in zip(grads, params)) for d in (d1, d2)]
        np.testing.assert_allclose(row, expected, rtol=1e-9, atol=1e-12)
    h = 1e-7  # small enough that no ReLU or max-pool kink of an example lies within ±h of a point
    for axis in range(2):
        step = np.zeros(2)
        step[axis] = h
        central = (surface.value(points + step) - surface.value(points - step)) / (2 * h)
        np.testing.assert_allclose(grad[:, axis], central, rtol=1e-5, atol=1e-7)


def test_autograd_through_value_on_torch_input_equals_grad(digits_data):
    x, y = digits_data
    surface = landscapes.from_module(seeded(digits_cnn()).double(), F.cross_entropy, (x, y))
    xy = torch.tensor(random_points(3, 5), requires_grad=True)
    surface.value(xy).sum().backward()
    np.testing.assert_allclose(xy.grad.numpy(), surface.grad(xy.detach().numpy()), rtol=1e-10)


def test_directions_are_filter_normalized_seeded_and_the_networks(digits_data, mlp):
    x, y = digits_data
    model = seeded(digits_cnn())
    surface = landscapes.from_module(model, F.cross_entropy, (x, y), seed=3)
    for direction in surface.directions:
        for name, theta in surface.origin.items():
            d = direction[name]
            if theta.dim() < 2:
                assert not d.any()  # biases: zero (ignore='biasbn')
            else:
                torch.testing.assert_close(d.flatten(1).norm(dim=1), theta.flatten(1).norm(dim=1))
    again = landscapes.from_module(model, F.cross_entropy, (x, y), seed=3)
    other = landscapes.from_module(model, F.cross_entropy, (x, y), seed=4)
    assert all(torch.equal(again.directions[0][k], v) for k, v in surface.directions[0].items())
    assert not torch.equal(other.directions[0]["0.weight"], surface.directions[0]["0.weight"])
    network, module, (xm, ym), directions = mlp  # one normalization: the network surface's planes are the same
    drawn = landscapes.from_module(module, F.cross_entropy, (xm, ym), seed=network.network.config.seed)
    for ours, theirs in zip(drawn.directions, directions):
        torch.testing.assert_close(torch.cat([v.flatten() for v in ours.values()]), theirs, rtol=0, atol=0)


def test_your_directions_as_dicts_or_vectors(digits_data):
    x, y = digits_data
    model = seeded(digits_cnn())
    drawn = landscapes.from_module(model, F.cross_entropy, (x, y))
    as_dicts = landscapes.from_module(model, F.cross_entropy, (x, y), directions=drawn.directions)
    vectors = [torch.cat([v.flatten() for v in d.values()]) for d in drawn.directions]
    as_vectors = landscapes.from_module(model, F.cross_entropy, (x, y), directions=[v.numpy() for v in vectors])
    points = random_points(4, 6).astype(np.float32)
    np.testing.assert_array_equal(as_dicts.value(points), drawn.value(points))
    np.testing.assert_array_equal(as_vectors.value(points), drawn.value(points))
    moved = nn.Sequential(*digits_cnn())
    moved.load_state_dict(drawn.parameters_at(1.0, 0.0))
    with torch.no_grad():
        expected = float(F.cross_entropy(moved(x), y))
    assert float(drawn.value(np.array([1.0, 0.0]))) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_library_dtype_and_shape_round_trip(dtype, digits_data):
    x, y = digits_data
    surface = landscapes.from_module(seeded(digits_cnn()), F.cross_entropy, (x, y))  # computes in float32
    points = np.array([[[0.5, -0.25], [0.0, 0.75]], [[-1.0, 1.0], [0.25, 0.0]], [[0.0, 0.0], [1.5, -1.5]]], dtype)
    values, (both_values, grads) = surface.value(points), surface.value_and_grad(points)
    assert values.shape == (3, 2) and values.dtype == dtype and grads.shape == (3, 2, 2) and grads.dtype == dtype
    tensor = torch.from_numpy(points)
    torch_values, torch_grads = surface.value(tensor), surface.grad(tensor)
    assert isinstance(torch_values, torch.Tensor) and torch_values.dtype == tensor.dtype
    assert torch_grads.shape == (3, 2, 2) and torch_grads.dtype == tensor.dtype
    np.testing.assert_array_equal(torch_values.numpy(), values)
    np.testing.assert_array_equal(values.astype(np.float32), surface.value(points.astype(np.float32)))
    np.testing.assert_allclose(both_values, values, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)
    assert surface.value(np.zeros((0, 2), dtype)).shape == (0,)


def test_the_surface_protocol_and_the_optimizers_on_it(digits_data):
    x, y = digits_data
    surface = landscapes.from_module(seeded(digits_cnn()), F.cross_entropy, (x, y), bounds=((-2, 2), (-1, 1)),
                                     start=(0.5, -0.5))
    assert surface.bounds == ((-2.0, 2.0), (-1.0, 1.0)) and surface.default_start == (0.5, -0.5)
    assert surface.minima == () and surface.minimum_value is None and "filter-normalized" in surface.description
    run = optimizers.run(surface, "adam", start=surface.default_start, steps=15, lr=0.05)
    assert run.points.shape == (1, 16, 2) and np.all(np.isfinite(run.losses)) and run.diverged_at[0] == -1
    assert run.losses[0, -1] < run.losses[0, 0]
    sweep = optimizers.sweep(surface, "sgd", start=surface.default_start, steps=5, lr=np.array([0.01, 0.1]))
    assert sweep.final_loss.shape == (2,) and np.all(np.isfinite(sweep.final_loss))


def test_models_the_fast_path_does_not_cover_fall_back_with_a_reason(digits_data):
    x, y = digits_data

    class Scaled(nn.Module):  # a parameter used directly in forward
        def __init__(self) -> None:
            super().__init__()
            self.body = digits_cnn()
            self.scale = nn.Parameter(torch.tensor(1.5))

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.body(inputs) * self.scale

    surface = landscapes.from_module(seeded(Scaled()), F.cross_entropy, (x, y))
    assert surface.method == "generic" and "scale" in surface.fallback
    points = random_points(3, 7).astype(np.float32)
    np.testing.assert_allclose(surface.value(points), loop(surface, points, x, y), rtol=FLOAT32_RTOL,
                               atol=FLOAT32_ATOL)


def bad_calls(x, y):
    model = digits_cnn()
    d = [torch.zeros(sum(p.numel() for p in model.parameters())), torch.ones(3)]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True)
    return [
        ("model", dict(model="not a model")),
        ("model", dict(model=nn.ReLU())),
        ("loss_fn", dict(loss_fn=3)),
        ("data", dict(data=(x,))),
        ("data", dict(data=(x, y[:-1]))),
        ("data", dict(data=loader)),
        ("data", dict(data=(x[:, :, :4], y))),  # the model fails on it
        ("directions", dict(directions=d[:1])),
        ("directions", dict(directions=d)),
        ("directions", dict(directions=[d[0] + 1, {"0.weight": torch.ones(6, 1, 3, 3)}])),
        ("seed", dict(seed=-1)),
        ("bounds", dict(bounds=((1, 0), (0, 1)))),
        ("start", dict(start=(float("nan"), 0.0))),
        ("batch_size", dict(batch_size=0)),
        ("points_per_chunk", dict(points_per_chunk=100_000)),
        ("method", dict(method="fast")),
    ]


@pytest.mark.parametrize("index", range(16))
def test_bad_input_raises_a_value_error_naming_the_parameter(index, digits_data):
    x, y = digits_data
    name, override = bad_calls(x, y)[index]
    arguments = {"model": digits_cnn(), "loss_fn": F.cross_entropy, "data": (x, y), **override}
    model, loss_fn, data = arguments.pop("model"), arguments.pop("loss_fn"), arguments.pop("data")
    with pytest.raises(ValueError, match=f"^Invalid {name} value"):
        landscapes.from_module(model, loss_fn, data, **arguments)
