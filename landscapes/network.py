"""Real small networks as surfaces: the loss on a plane θ(a, b) = θ₀ + a·d₁ + b·d₂ through parameter space.

The model is an MLP y = f(x; θ) with hidden widths h₁ … h_L, a tanh or ReLU activation and a
linear output layer: one score cₘ per class under the softmax cross-entropy
L(θ) = (1/N) Σᵢ [log Σₘ exp cₘ(xᵢ) − c_{yᵢ}(xᵢ)], or one value under the mean squared error
L(θ) = (1/N) Σᵢ (f(xᵢ; θ) − yᵢ)² for regression, plus an optional L2 term (λ/2)‖θ‖². It is
trained to θ* by full-batch Adam (torch.optim, deterministic by seed) and cached by its
configuration.

``landscapes.get("network", ...)`` is the slice through θ₀ = θ* along two random directions,
filter-normalized as in Li et al. 2018: each row of a direction's weight matrix (the incoming
weights of one neuron, a "filter") is scaled to the norm of the same row of θ*, and the bias
directions are zero (their ``ignore='biasbn'``). The full-space view's PCA plane
(:mod:`landscapes.fullspace`) is the same kind of surface with other θ₀, d₁, d₂.

Batched evaluation: the first layer is linear in (a, b), so X·W₁(a, b)ᵀ = X·W₁ᵀ + a·X·D₁ᵀ + b·X·D₂ᵀ
is three (N, h₁) products computed once per plane; later layers run as batched matmuls over
chunks of plane points sized to stay in cache, with the examples on the last (long) axis. Gradients with
respect to (a, b) come from backpropagation written out for the same batch. No Python loop over points.
Value-only chunks write into workspaces kept across chunks (:class:`landscapes.module_batch.Workspaces`), so a
slice does not fault in fresh pages (issue 18: 0.33 or 0.77 s for the same 101² slice before).

Why this fused path is not a user of :func:`landscapes.from_module` (issue 18, measured by
``benchmarks/own_model.py`` on the moons MLP, CPU seconds, one thread): ``from_module`` on the same module and
directions gives the same values (rtol 1e-10 in float64, ``tests/test_from_module.py``) and slices as fast (101²
float32: 0.19 s against 0.20–0.24 s here), but a race step, the value and gradient of 4 rows in float64, costs
1.1–1.2 ms through its autograd against 0.6 ms through the backpropagation written out here; and this surface needs what
``from_module`` does not do: each row's own minibatch (``minibatch_grad``, Algorithm 8.1, where ``from_module``'s
points share each minibatch), the L2 term, and one float64 network evaluated in each input's dtype (float32
slices, float64 races), where ``from_module`` computes in the model's dtype as the issue asks. What the two share
is written once: the filter normalization (:func:`landscapes.module_plane.random_direction`) and the workspaces.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any, NamedTuple

import numpy as np
import torch

from . import datasets
from .base import Evaluated, as_points, is_torch
from .module_batch import Workspaces
from .module_plane import random_direction
from .network_config import Config, check_config, layer_sizes

TRAIN_STEPS = 500
TRAIN_LR = 0.02
CHUNK_ELEMENTS = 1 << 19  # hidden activations per chunk of plane points (2 MB in float32, 64 points at N = 512, h = 16)
MINIBATCH_KEYS = 1 << 16  # random keys per draw of minibatch rows (512 kB): memory O(rows), not O(rows × examples)
PLANE_BOUNDS = ((-1.0, 1.0), (-1.0, 1.0))
PLANE_START = (-0.75, 0.75)
STATIONARY_GRADIENT = 1e-6  # ‖∇f(0, 0)‖ below which the origin may be declared the minimum
MINIMUM_CHECK_GRID = 101


class Layer(NamedTuple):
    """One affine layer: z = h·Wᵀ + b with W of shape (out, in)."""

    weight: torch.Tensor
    bias: torch.Tensor


Weights = tuple[Layer, ...]


def activate(z: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.tanh(z) if activation == "tanh" else torch.relu(z)


def forward(weights: Weights, x: torch.Tensor, activation: str) -> torch.Tensor:
    """f(x; θ): the network's outputs (N, outputs) for inputs x (N, features)."""
    h = x
    for index, layer in enumerate(weights):
        h = torch.nn.functional.linear(h, layer.weight, layer.bias)
        if index < len(weights) - 1:
            h = activate(h, activation)
    return h


def data_loss(outputs: torch.Tensor, targets: torch.Tensor, classes: int, dim: int = -1,
              out: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax cross-entropy over axis ``dim`` (classes > 0) or mean squared error, averaged over the last axis.

    ``outputs`` is (N, M) for one network, or (P, M, N) with ``dim=1`` for P networks (the plane's layout);
    ``out``, a buffer shaped like ``outputs``, receives the log-softmax.
    """
    if classes:
        index = targets.expand(outputs.select(dim, 0).shape).unsqueeze(dim)
        return -torch.log_softmax(outputs, dim=dim, out=out).gather(dim, index).squeeze(dim).mean(-1)
    return (outputs.select(dim, 0) - targets).square().mean(-1)


def squared_norm(weights: Weights) -> torch.Tensor:
    return sum(layer.weight.square().sum() + layer.bias.square().sum() for layer in weights)


def as_module(weights: Weights, activation: str) -> torch.nn.Sequential:
    """The same network as a ``torch.nn.Sequential`` holding copies of ``weights``."""
    modules: list[torch.nn.Module] = []
    for index, layer in enumerate(weights):
        linear = torch.nn.Linear(layer.weight.shape[1], layer.weight.shape[0], dtype=layer.weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(layer.weight)
            linear.bias.copy_(layer.bias)
        modules.append(linear)
        if index < len(weights) - 1:
            modules.append(torch.nn.Tanh() if activation == "tanh" else torch.nn.ReLU())
    return torch.nn.Sequential(*modules)


def initial_weights(data: datasets.Dataset, hidden: tuple[int, ...], seed: int) -> Weights:
    """torch.nn.Linear's default initialization, W, b ~ U(−1/√fan_in, 1/√fan_in), drawn from numpy by seed."""
    rng = np.random.default_rng([seed, 0])
    sizes = layer_sizes(data, hidden)
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1.0 / np.sqrt(fan_in)
        layers.append(Layer(torch.from_numpy(rng.uniform(-bound, bound, (fan_out, fan_in))),
                            torch.from_numpy(rng.uniform(-bound, bound, fan_out))))
    return tuple(layers)


def filter_normalized_direction(weights: Weights, rng: np.random.Generator) -> Weights:
    """A Gaussian direction d with each weight row scaled to the norm of the same row of θ, bias directions 0
    (:func:`landscapes.module_plane.random_direction`, the normalization of every plane through a model)."""
    return unflatten_layers(random_direction([p for layer in weights for p in layer], rng))


@dataclass(frozen=True, eq=False)
class Network:
    """A trained MLP: its configuration, data, initialization θ₀ and trained parameters θ* (float64)."""

    config: Config
    data: datasets.Dataset
    initial: Weights
    weights: Weights

    def objective(self, weights: Weights, split: str = "train") -> torch.Tensor:
        """L(θ) + (λ/2)‖θ‖² on the train split (the trained objective), or the data loss alone on the test split."""
        x, y = self.tensors(split)
        loss = data_loss(forward(weights, x, self.config.activation), y, self.data.classes)
        return loss + 0.5 * self.config.l2 * squared_norm(weights) if split == "train" else loss

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        x, y = (self.data.x_train, self.data.y_train) if split == "train" else (self.data.x_test, self.data.y_test)
        return torch.from_numpy(np.array(x)), torch.from_numpy(np.array(y))

    @cached_property
    def loss(self) -> float:
        """The trained objective at θ*."""
        with torch.no_grad():
            return float(self.objective(self.weights))


@contextmanager
def one_thread() -> Iterator[None]:
    """torch's intra-op threads set to 1 inside the block, restored after it.

    A network here has at most MAX_PARAMETERS parameters and its tensors are small: splitting each op
    over threads costs more than it saves (and on a loaded machine spin-waiting threads made training
    ten times slower).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@lru_cache(maxsize=32)
def trained(config: Config) -> Network:
    """The network of ``config`` trained to θ* by TRAIN_STEPS full-batch Adam steps (ρ = TRAIN_LR), float64."""
    config = check_config(Config(*config))
    data = datasets.load(config.dataset)
    initial = initial_weights(data, tuple(config.hidden), config.seed)
    network = Network(config, data, initial, initial)
    params = [p.clone().requires_grad_(True) for layer in initial for p in layer]
    optimizer = torch.optim.Adam(params, lr=TRAIN_LR)
    with one_thread():
        for _ in range(TRAIN_STEPS):
            optimizer.zero_grad()
            network.objective(unflatten_layers(params)).backward()
            optimizer.step()
    return Network(config, data, initial, unflatten_layers([p.detach() for p in params]))


def unflatten_layers(params: list[torch.Tensor]) -> Weights:
    return tuple(Layer(w, b) for w, b in zip(params[::2], params[1::2]))


def flatten(weights: Weights) -> torch.Tensor:
    """θ as one vector (W₁, b₁, W₂, b₂, …), the order of ``nn.Module.parameters()``."""
    return torch.cat([p.reshape(-1) for layer in weights for p in layer])


def unflatten(vector: torch.Tensor, like: Weights) -> Weights:
    """The inverse of :func:`flatten` for parameters shaped like ``like``."""
    params, offset = [], 0
    for layer in like:
        for p in layer:
            params.append(vector[offset:offset + p.numel()].reshape(p.shape))
            offset += p.numel()
    return unflatten_layers(params)


# --- the plane θ(a, b) = θ₀ + a·d₁ + b·d₂, evaluated in batches ----------------------------------------


class _PlaneTensors(NamedTuple):
    """A plane's tensors in one dtype/device, each a stack of three rows (θ₀'s, d₁'s, d₂'s part).

    Everything on the plane is linear in c = (1, a, b), so the quantities of P points are one product
    c (P, 3) @ stack (3, k): the first layer's pre-activations X·W₁(a, b)ᵀ + b₁(a, b) for all N examples,
    each later layer's weight (transposed, (in, out)) and bias, and the Gram matrix of (θ₀, d₁, d₂) for
    the L2 term ‖θ(a, b)‖² = c·G·c.
    """

    first: torch.Tensor  # (3, h₁, N): examples last, the long axis of every batched product
    later: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # per later layer: weight (3, out·in), bias (3, out)
    targets: torch.Tensor
    gram: torch.Tensor  # (3, 3)


def logistic_form(weights: Weights, activation: str) -> Weights:
    """The same network for evaluation with σ(z) = 1/(1 + e^(−z)) in place of tanh: tanh z = 2σ(2z) − 1.

    Each hidden layer's pre-activation is doubled (W, b → 2W, 2b) and the next layer takes
    h = 2s − 1 (W, b → 2W, b − W·1). torch's float32 tanh costs several times its sigmoid, and the
    hidden activations are most of a slice's work. The form is linear in θ, so it applies to θ₀, d₁
    and d₂ alike. ReLU networks are returned unchanged.
    """
    if activation != "tanh":
        return weights
    folded = []
    for index, layer in enumerate(weights):
        weight, bias = layer
        if index > 0:  # input h = 2s − 1
            weight, bias = 2.0 * weight, bias - weight.sum(dim=1)
        if index < len(weights) - 1:  # output feeds σ(2z)
            weight, bias = 2.0 * weight, 2.0 * bias
        folded.append(Layer(weight, bias))
    return tuple(folded)


@dataclass(frozen=True, eq=False)
class NetworkPlane(Evaluated):
    """The loss of a network on the plane θ(a, b) = θ₀ + a·d₁ + b·d₂ as a surface of (a, b)."""

    name: str
    network: Network
    origin: Weights
    directions: tuple[Weights, Weights]
    params: dict[str, Any]
    bounds: tuple[tuple[float, float], tuple[float, float]] = PLANE_BOUNDS
    default_start: tuple[float, float] = PLANE_START
    description: str = ""
    minima: tuple[tuple[float, float], ...] = ()
    minimum_value: float | None = None
    _tensors: dict = field(default_factory=dict, repr=False)
    _workspaces: Workspaces = field(default_factory=Workspaces, repr=False)

    def weights_at(self, a: float, b: float) -> Weights:
        """θ(a, b) as layers (float64)."""
        d1, d2 = self.directions
        return tuple(Layer(o.weight + a * u.weight + b * v.weight, o.bias + a * u.bias + b * v.bias)
                     for o, u, v in zip(self.origin, d1, d2))

    def tensors(self, dtype: torch.dtype, device: torch.device) -> _PlaneTensors:
        key = (dtype, str(device))
        if key not in self._tensors:
            self._tensors[key] = self._build_tensors(dtype, device)
        return self._tensors[key]

    def _build_tensors(self, dtype: torch.dtype, device: torch.device) -> _PlaneTensors:
        x, y = self.network.tensors("train")
        activation = self.network.config.activation
        parts = [logistic_form(w, activation) for w in (self.origin, *self.directions)]
        first = torch.stack([torch.nn.functional.linear(x, w[0].weight, w[0].bias).t() for w in parts])
        later = tuple((torch.stack([w[i].weight.reshape(-1) for w in parts]),
                       torch.stack([w[i].bias for w in parts]))
                      for i in range(1, len(self.origin)))
        vectors = torch.stack([flatten(w) for w in (self.origin, *self.directions)])
        targets = y if self.network.data.classes else y.to(dtype)

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, dtype)

        return _PlaneTensors(move(first), tuple((move(w), move(b)) for w, b in later), targets.to(device),
                             move(vectors @ vectors.t()))

    def losses(self, c: torch.Tensor, rows: torch.Tensor | None = None, gradient: bool = False
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """f(θ(a, b)) (P,) for P points c = (1, a, b) (P, 3), and (∂f/∂a, ∂f/∂b) (P, 2) if ``gradient``.

        On all training examples, or on row p's examples rows[p] (minibatches). The gradient is
        backpropagation written out for the batch: δ = ∂f/∂z per layer, ∂f/∂W(p) = hᵀδ and ∂f/∂b(p) = Σδ,
        and since W(p) = stack·c, ∂f/∂c = stack·∂f/∂W(p) (plus ⟨δ₁, X·W₁ᵀ + b₁ stack⟩ for the first layer).
        """
        t = self.tensors(c.dtype, c.device)
        points = c.shape[0]
        sigmoid = self.network.config.activation == "tanh"  # tanh in its logistic form (logistic_form)
        first = t.first.flatten(1)  # z₁ = F₀ + a·F₁ + b·F₂ (P, h₁, N): linear in (a, b)
        out = self._workspaces.get("z0", (points, first.shape[1]), c)  # buffers kept across chunks (issue 18)
        z = torch.addcmul(first[0], c[:, 1:2], first[1], out=out).addcmul_(c[:, 2:3], first[2]).reshape(
            points, *t.first.shape[1:])
        if rows is not None:
            z = z.gather(2, rows[:, None, :].expand(-1, z.shape[1], -1))
        hidden, matrices = [], []
        for layer, (weight, bias) in enumerate(t.later, 1):
            h = z.sigmoid_() if sigmoid else z.relu_()
            matrix = (c @ weight).reshape(points, bias.shape[1], h.shape[1])  # W(p): (P, out, in)
            out = self._workspaces.get(f"z{layer}", (points, bias.shape[1], h.shape[2]), c)
            z = torch.bmm(matrix, h, out=out).add_((c @ bias)[:, :, None])  # (P, out, n)
            hidden.append(h)
            matrices.append(matrix)
        targets = t.targets if rows is None else t.targets[rows]
        loss = data_loss(z, targets, self.network.data.classes, dim=1,
                         out=self._workspaces.get("log_softmax", tuple(z.shape), c))
        l2 = self.network.config.l2
        if l2:
            loss = loss + 0.5 * l2 * ((c @ t.gram) * c).sum(dim=1)
        if not gradient:
            return loss, None
        examples = z.shape[2]
        if self.network.data.classes:  # ∂/∂z of the mean cross-entropy: (softmax(z) − onehot(y)) / N
            delta = torch.softmax(z, dim=1)
            index = targets.expand(points, examples).unsqueeze(1)
            delta.scatter_add_(1, index, torch.full(index.shape, -1.0, dtype=z.dtype, device=z.device))
            delta /= examples
        else:
            delta = (2.0 / examples) * (z - targets.expand(points, examples).unsqueeze(1))
        dc = l2 * (c @ t.gram) if l2 else torch.zeros_like(c)
        for (weight, bias), h, matrix in zip(reversed(t.later), reversed(hidden), reversed(matrices)):
            dc += torch.bmm(delta, h.transpose(1, 2)).flatten(1) @ weight.t() + delta.sum(dim=2) @ bias.t()
            delta = torch.bmm(matrix.transpose(1, 2), delta)
            delta *= h * (1.0 - h) if sigmoid else (h > 0).to(h.dtype)
        if rows is None:
            dc += delta.flatten(1) @ t.first.flatten(1).t()
        else:
            dc += torch.einsum("phn,khpn->pk", delta, t.first[:, :, rows])  # each row's own examples
        return loss, dc[:, 1:]

    def chunk(self, examples: int) -> int:
        """Plane points per batched chunk: CHUNK_ELEMENTS hidden activations."""
        widest = max(self.network.config.hidden)
        return max(1, CHUNK_ELEMENTS // (examples * widest))

    def _evaluate(self, xy: Any, gradient: bool, rows: torch.Tensor | None = None) -> tuple[Any, Any]:
        """(values, gradients or None) for points xy (..., 2), in chunks, in xy's library, dtype and device."""
        xy = as_points(xy)
        points = xy if is_torch(xy) else torch.from_numpy(np.ascontiguousarray(xy))
        flat = points.reshape(-1, 2)
        track = is_torch(xy) and xy.requires_grad and not gradient
        examples = self.network.data.x_train.shape[0] if rows is None else rows.shape[1]
        size = self.chunk(examples)
        values, grads = [], []
        for start in range(0, flat.shape[0], size):
            part = flat[start:start + size]
            c = torch.cat([torch.ones_like(part[:, :1]), part], dim=1)
            chunk_rows = None if rows is None else rows[start:start + size]
            with torch.set_grad_enabled(track), one_thread():
                value, grad = self.losses(c, chunk_rows, gradient)
            values.append(value)
            grads.append(grad)
        shape = tuple(points.shape[:-1])
        value = (torch.cat(values) if values else flat.new_empty(0)).reshape(shape)
        grad = (torch.cat(grads) if grads else flat.new_empty(0, 2)).reshape(*shape, 2) if gradient else None
        if is_torch(xy):
            return value, grad
        return value.numpy(), None if grad is None else grad.numpy()

    def minibatch_grad(self, xy: Any, batch_size: int, generator: Any) -> Any:
        """∇f on a random minibatch of ``batch_size`` training examples per row (Algorithm 8.1).

        Row i of xy (B, 2) gets its own minibatch, drawn without replacement from ``generator.random((rows,
        examples))`` called on consecutive chunks of rows: a numpy ``Generator``, or the engine's counter-based
        ``optimizers.noise.MinibatchDraw`` (row i's examples from (seed, stream, step) alone).
        """
        examples = self.network.data.x_train.shape[0]
        if not isinstance(batch_size, (int, np.integer)) or not 1 <= batch_size <= examples:
            raise ValueError(f"Invalid batch_size value: {batch_size!r} (must be an integer in [1, {examples}], "
                             f"the number of training examples)")
        xy = as_points(xy)
        if xy.ndim != 2:
            raise ValueError(f"Invalid xy shape: {tuple(xy.shape)} (minibatch gradients take rows of shape (B, 2))")
        grads = []
        step = max(1, MINIBATCH_KEYS // examples)  # rows per draw: O(rows) memory whatever the data's size
        for start in range(0, max(xy.shape[0], 1), step):  # the same stream as one (B, examples) draw
            part = xy[start:start + step]
            keys = generator.random((part.shape[0], examples))
            rows = torch.from_numpy(np.argpartition(keys, batch_size - 1, axis=1)[:, :batch_size])
            if is_torch(xy):
                rows = rows.to(xy.device)
            grads.append(self._evaluate(part, gradient=True, rows=rows)[1])
        return torch.cat(grads) if is_torch(xy) else np.concatenate(grads)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"landscapes.get({self.name!r}, {args})"


def certified_minimum(plane: NetworkPlane) -> tuple[tuple[tuple[float, float], ...], float | None]:
    """((0, 0),) and f(0, 0) if the origin is a minimum of the plane as far as can be checked, else ((), None).

    The check: ‖∇f(0, 0)‖ ≤ STATIONARY_GRADIENT (a stationary point, which Adam's θ* rarely is exactly:
    cross-entropy on separable data has no minimizer at all without L2) and f(0, 0) ≤ f on a
    MINIMUM_CHECK_GRID² grid over the bounds.
    """
    origin = np.zeros(2)
    value, grad = plane.value_and_grad(origin)
    if not np.linalg.norm(grad) <= STATIONARY_GRADIENT:
        return (), None
    (x0, x1), (y0, y1) = plane.bounds
    gx, gy = np.meshgrid(np.linspace(x0, x1, MINIMUM_CHECK_GRID), np.linspace(y0, y1, MINIMUM_CHECK_GRID))
    if float(value) > plane.value(np.stack([gx, gy], axis=-1)).min():
        return (), None
    return ((0.0, 0.0),), float(value)


@lru_cache(maxsize=32)
def slice_plane(config: Config) -> NetworkPlane:
    """The filter-normalized random slice through θ* of the network ``config`` (cached by configuration)."""
    network = trained(config)
    rng = np.random.default_rng([config.seed, 1])
    directions = (filter_normalized_direction(network.weights, rng), filter_normalized_direction(network.weights, rng))
    params = dict(config._asdict())
    data = network.data
    description = (f"{'-'.join(map(str, layer_sizes(data, config.hidden)))} {config.activation} MLP on "
                   f"{data.description}: loss on a filter-normalized random plane through θ* (a = b = 0)")
    plane = NetworkPlane("network", network, network.weights, directions, params, description=description)
    minima, minimum_value = certified_minimum(plane)
    return replace(plane, minima=minima, minimum_value=minimum_value)  # shares the tensors the check built
