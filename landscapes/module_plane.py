"""Your own PyTorch model as a surface: the loss of any ``nn.Module`` on a plane through its parameters.

``landscapes.from_module(model, loss_fn, data)`` is f(a, b) = L(θ* + a·d₁ + b·d₂), L the mean of
``loss_fn(model(x), y)`` over the data set (each minibatch's mean weighted by its size), θ* the model's
parameters and d₁, d₂ two directions: Gaussian and filter-normalized as in Li et al. 2018 (each filter of a
weight, the slice along its first axis, scaled to the norm of the same filter of θ*; the directions of
biases and batch-norm parameters, the parameters with fewer than two axes, are zero: their
``ignore='biasbn'``), the same normalization as the ``network`` surface, or two directions you pass (towards
another solution, PCA directions, …). It is a surface like every other: ``value`` and ``grad`` on points
(..., 2) in numpy or torch, returned in the input's library, dtype and device; ``bounds``, ``default_start``,
``minima`` and ``minimum_value``; ``optimizers.run`` and ``sweep`` take it as it is.

The model is copied and put in eval mode (dropout off, batch norm on its running statistics). The loss is
computed in the model's dtype on its device, batched over plane points and chunked over points and data
(:mod:`landscapes.module_batch`: a fast path for the layers it knows, ``vmap`` of ``functional_call``
for any other module); the gradient (∂f/∂a, ∂f/∂b) = (⟨∇L, d₁⟩, ⟨∇L, d₂⟩) comes from autograd through the
same batch. Every size is bounded: the points of a chunk, the examples of a minibatch, the workspaces.

The data are read in a fixed order: one pass per call, minibatch by minibatch (each chunk of points runs on
that minibatch), and each point's minibatch means are summed in that order in float64. Every chunk of ``value``
has ``chunk_points`` points (the last padded by repeating its last point), so every kernel runs on the same
shapes, and no kernel mixes the points of a chunk: a point's value depends only on (a, b), never on the other
points asked with it, and a tile of a grid (any subset of its points) computed alone equals the same points of
the whole grid, bit for bit (tested), which a slice spread over workers needs. ``grad`` and ``value_and_grad``
serve optimizer steps of a few rows and are not padded (their values may differ from ``value``'s in the last
bits).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from validation import Range, check_choice, check_number

from .base import Box, Evaluated, as_points, is_torch
from .module_batch import GenericBatch, GraphBatch, Stack, Unsupported

MAX_CHUNK_POINTS = 256  # plane points per chunk
CHUNK_ELEMENTS = 1 << 22  # a chunk's widest activation: points × examples × the widest layer's values per example
BATCH_ELEMENTS = 1 << 24  # a minibatch's first-layer outputs at θ*, d₁ and d₂: 3 × examples × values per example
PARAMETER_ELEMENTS = 1 << 24  # the generic path's per-point parameters: points × parameters
MAX_BATCH = 1 << 16  # examples per minibatch of tensor data
PROBE_EXAMPLES = 4  # the fast path is checked against the generic one on this many examples at two points
PROBE_RTOL = 1e-3  # … and must agree within this (a wrong rule is off by far more than rounding)
PLANE_BOUNDS = ((-1.0, 1.0), (-1.0, 1.0))
PLANE_START = (-0.75, 0.75)
BOUNDS = Box("bounds", PLANE_BOUNDS, 1e6, "the view window in plane coordinates (a, b)")
METHODS = ("auto", "graph", "generic")
SEED = Range(0, 2**32 - 1, integer=True)


def filter_normalized(direction: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``direction`` with each filter (slice along the first axis) scaled to the norm of the same filter of
    ``reference``; zero for a bias or batch-norm parameter (fewer than two axes). Li et al. 2018."""
    if reference.dim() < 2:
        return torch.zeros_like(direction)
    scale = reference.flatten(1).norm(dim=1) / direction.flatten(1).norm(dim=1)
    return direction * scale.view(-1, *([1] * (reference.dim() - 1)))


def random_direction(parameters: Sequence[torch.Tensor], rng: np.random.Generator) -> list[torch.Tensor]:
    """A filter-normalized Gaussian direction for ``parameters`` (float64): one standard normal draw per weight
    with two or more axes, in order (the parameters with fewer get zero and no draw)."""
    return [filter_normalized(torch.from_numpy(rng.standard_normal(tuple(p.shape))), p) if p.dim() >= 2
            else torch.zeros_like(p) for p in parameters]


class Minibatches:
    """The data as fixed minibatches (inputs, targets) on the model's device, inputs in its dtype if floating.

    Tensors are cut into minibatches of ``batch_size`` examples; a DataLoader's batches are taken as they come
    (in its order: it must not shuffle), each cut into pieces of at most ``batch_size``.
    """

    def __init__(self, data: Any, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype
        self.loader: torch.utils.data.DataLoader | None = None
        if isinstance(data, torch.utils.data.DataLoader):
            if isinstance(data.sampler, torch.utils.data.RandomSampler):
                raise ValueError("Invalid data value: a DataLoader with shuffle=True (must read the data in a fixed "
                                 "order: the loss is summed minibatch by minibatch)")
            self.loader = data
            self.inputs, self.targets = self._move(self._pair(next(iter(data))))
        else:
            self.inputs, self.targets = self._move(self._pair(data, "(inputs, targets) tensors or a DataLoader"))
            if self.inputs.shape[0] == 0:
                raise ValueError("Invalid data value: no examples (must hold at least one)")
        self.batch_size = self.inputs.shape[0]

    @staticmethod
    def _pair(value: Any, what: str = "(inputs, targets) pairs") -> tuple[torch.Tensor, torch.Tensor]:
        if (not isinstance(value, (tuple, list)) or len(value) != 2
                or not all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in value)
                or value[0].shape[0] != value[1].shape[0]):
            shown = type(value).__name__ if not isinstance(value, (tuple, list)) else \
                f"{type(value).__name__} of {[type(t).__name__ for t in value][:4]}"
            raise ValueError(f"Invalid data value: {shown} (must be {what} with as many targets as inputs)")
        return value[0], value[1]

    def _move(self, pair: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(self.device, self.dtype if t.is_floating_point() else t.dtype)

        return move(pair[0]), move(pair[1])

    def limit(self, batch_size: int) -> None:
        """Minibatches of at most ``batch_size`` examples."""
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        batches = ((self.inputs, self.targets),) if self.loader is None else \
            (self._move(self._pair(batch)) for batch in self.loader)
        for inputs, targets in batches:
            for start in range(0, inputs.shape[0], self.batch_size):
                yield inputs[start:start + self.batch_size], targets[start:start + self.batch_size]


def widest_activation(model: nn.Module, x: torch.Tensor) -> int:
    """The most values per example of the input or of any layer's output, from one forward pass on one example."""
    widest = [x[:1].numel()]

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            widest.append(output.numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for handle in handles:
            handle.remove()
    return max(widest)


@dataclass(frozen=True, eq=False)
class ModulePlane(Evaluated):
    """The loss of a module on the plane θ(a, b) = θ* + a·d₁ + b·d₂ as a surface of (a, b) (see the module)."""

    model: nn.Module  # the eval-mode copy that is evaluated
    loss_fn: Callable
    data: Minibatches
    origin: dict[str, torch.Tensor]  # θ* by parameter name, in the model's dtype and device
    directions: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]
    evaluator: GraphBatch | GenericBatch
    chunk_points: int
    bounds: tuple[tuple[float, float], tuple[float, float]] = PLANE_BOUNDS
    default_start: tuple[float, float] = PLANE_START
    fallback: str = ""  # why the generic path runs, where the fast path was not taken
    name: str = "module"
    description: str = ""
    minima: tuple[tuple[float, float], ...] = ()
    minimum_value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """"graph" (the fast path) or "generic" (vmap of functional_call)."""
        return self.evaluator.method

    @property
    def dtype(self) -> torch.dtype:
        return next(iter(self.origin.values())).dtype

    @property
    def device(self) -> torch.device:
        return next(iter(self.origin.values())).device

    def parameters_at(self, a: float, b: float) -> dict[str, torch.Tensor]:
        """θ(a, b) by parameter name (``torch.func.functional_call``'s form; ``model.load_state_dict`` takes it)."""
        d1, d2 = self.directions
        return {name: theta + a * d1[name] + b * d2[name] for name, theta in self.origin.items()}

    def _evaluate(self, xy: Any, gradient: bool) -> tuple[Any, Any]:
        """(values, gradients or None) for points xy (..., 2), in xy's library, dtype and device."""
        xy = as_points(xy)
        points = xy if is_torch(xy) else torch.from_numpy(np.ascontiguousarray(xy))
        track = is_torch(xy) and xy.requires_grad and not gradient
        flat = points.reshape(-1, 2).to(self.device, self.dtype)
        c_all = torch.cat([torch.ones_like(flat[:, :1]), flat], dim=1)
        count = c_all.shape[0]
        if not (gradient or track) and count % self.chunk_points:  # every chunk of a slice the same shape
            c_all = torch.cat([c_all, c_all[-1:].expand(self.chunk_points - count % self.chunk_points, 3)])
        starts = range(0, c_all.shape[0], self.chunk_points)
        sums: list[Any] = [0.0] * len(starts)
        grads: list[Any] = [0.0] * len(starts)
        examples = 0
        for inputs, targets in self.data:
            size = inputs.shape[0]
            examples += size
            prepared = self.evaluator.prepare(inputs)
            for index, start in enumerate(starts):
                c = c_all[start:start + self.chunk_points]
                if gradient:
                    c = c.detach().requires_grad_(True)
                with torch.set_grad_enabled(gradient or track):
                    loss = self.evaluator.losses(prepared, c, targets)
                    if gradient:
                        (dc,) = torch.autograd.grad(loss.sum(), c)
                        grads[index] = grads[index] + size * dc[:, 1:].double()
                    sums[index] = sums[index] + size * (loss if track else loss.detach()).double()
        shape = tuple(points.shape[:-1])
        value = (torch.cat(sums)[:count] / examples if sums else flat.new_zeros(0, dtype=torch.float64)).reshape(shape)
        grad = (torch.cat(grads) / examples if grads else flat.new_zeros(0, 2, dtype=torch.float64)
                ).reshape(*shape, 2) if gradient else None
        if is_torch(xy):
            return value.to(xy.device, xy.dtype), None if grad is None else grad.to(xy.device, xy.dtype)
        return value.cpu().numpy().astype(xy.dtype), None if grad is None else grad.cpu().numpy().astype(xy.dtype)

    def __repr__(self) -> str:
        return f"landscapes.from_module({type(self.model).__name__}, method={self.method!r})"


def _check_directions(directions: Any, origin: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """Two directions as {name: tensor} in the model's dtype and device, from dicts or flat vectors."""
    count = sum(p.numel() for p in origin.values())
    rule = (f"must be two directions, each a {{name: tensor}} dict shaped like model.named_parameters() or a "
            f"flat tensor of its {count} parameters, finite and not zero")
    if not isinstance(directions, (tuple, list)) or len(directions) != 2:
        raise ValueError(f"Invalid directions value: {type(directions).__name__} ({rule})")
    theta = next(iter(origin.values()))
    out = []
    for direction in directions:
        if isinstance(direction, dict):
            if set(direction) != set(origin) or not all(isinstance(direction[k], torch.Tensor)
                                                        and direction[k].shape == p.shape for k, p in origin.items()):
                raise ValueError(f"Invalid directions value: a dict with keys {sorted(direction)[:6]} ({rule})")
            parts = {k: direction[k].detach().to(theta.device, theta.dtype) for k in origin}
        elif isinstance(direction, (torch.Tensor, np.ndarray)) and tuple(direction.shape) == (count,):
            vector = torch.as_tensor(direction).detach().to(theta.device, theta.dtype)
            parts, offset = {}, 0
            for k, p in origin.items():
                parts[k] = vector[offset:offset + p.numel()].view(p.shape)
                offset += p.numel()
        else:
            raise ValueError(f"Invalid directions value: {type(direction).__name__} "
                             f"{tuple(getattr(direction, 'shape', ()))} ({rule})")
        values = torch.cat([v.reshape(-1) for v in parts.values()])
        if not bool(torch.isfinite(values).all()) or not bool(values.any()):
            raise ValueError(f"Invalid directions value: a direction that is zero or not finite ({rule})")
        out.append(parts)
    return out[0], out[1]


def _check_point(name: str, value: Any) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name} value: {value!r:.80} (must be two finite numbers (a, b))") from None
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"Invalid {name} value: {value!r:.80} (must be two finite numbers (a, b))")
    return a, b


def from_module(model: nn.Module, loss_fn: Callable, data: Any, *, directions: Any = None, seed: int = 0,
                bounds: Any = PLANE_BOUNDS, start: Any = PLANE_START, batch_size: int | None = None,
                points_per_chunk: int | None = None, method: str = "auto") -> ModulePlane:
    """The loss of ``model`` on a plane through its parameters, as a surface of plane coordinates (a, b).

    - ``model``: any ``torch.nn.Module`` with floating-point parameters; it is copied and evaluated in eval
      mode, in its dtype and on its device.
    - ``loss_fn(outputs, targets)``: a minibatch's mean loss (``torch.nn.functional.cross_entropy``,
      ``nn.MSELoss()``, …); the surface is the data set's mean.
    - ``data``: ``(inputs, targets)`` tensors, or a ``torch.utils.data.DataLoader`` of such pairs that does not
      shuffle.
    - ``directions``: None for two filter-normalized Gaussian directions drawn by ``seed``, or your two (each a
      ``{name: tensor}`` dict like ``model.named_parameters()`` or a flat vector), used as given.
    - ``bounds``, ``start``: the default view window and start point in (a, b).
    - ``batch_size``: examples per minibatch (default: as many as fit the bounds on memory);
      ``points_per_chunk``: plane points per batched evaluation (default: from the same bounds).
    - ``method``: "auto" (the fast path where it covers the model, else the generic one), "graph" (the fast
      path or a ValueError saying why not) or "generic" (``vmap`` of ``functional_call``).
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"Invalid model value: {type(model).__name__} (must be a torch.nn.Module)")
    named = dict(model.named_parameters())
    if not named or not all(p.is_floating_point() for p in named.values()):
        raise ValueError(f"Invalid model value: {type(model).__name__} (must have floating-point parameters, "
                         f"all of one dtype)")
    if len({(p.dtype, p.device) for p in named.values()}) != 1:
        raise ValueError(f"Invalid model value: {type(model).__name__} (its parameters must share one dtype and "
                         "device)")
    if not callable(loss_fn):
        raise ValueError(f"Invalid loss_fn value: {loss_fn!r:.80} (must be a function (outputs, targets) -> the "
                         "minibatch's mean loss)")
    method = check_choice("method", method, METHODS)
    seed = int(check_number("seed", seed, SEED))
    bounds = BOUNDS.validate(bounds)
    start = _check_point("start", start)
    if batch_size is not None:
        batch_size = int(check_number("batch_size", batch_size, Range(1, MAX_BATCH, integer=True)))
    if points_per_chunk is not None:
        points_per_chunk = int(check_number("points_per_chunk", points_per_chunk,
                                            Range(1, MAX_CHUNK_POINTS, integer=True)))

    model = copy.deepcopy(model).eval().requires_grad_(False)
    origin = {name: p.detach() for name, p in model.named_parameters()}
    theta = next(iter(origin.values()))
    data = Minibatches(data, theta.device, theta.dtype)
    drawn = None
    if directions is None:
        rng = np.random.default_rng([seed, 1])
        reference = [p.double().cpu() for p in origin.values()]
        drawn = [random_direction(reference, rng) for _ in range(2)]
        directions = tuple({name: d.to(theta.device, theta.dtype) for name, d in zip(origin, ds)} for ds in drawn)
    else:
        directions = _check_directions(directions, origin)
    stacks = {name: Stack(torch.stack([origin[name], directions[0][name], directions[1][name]]))
              for name in origin}

    try:
        widest = widest_activation(model, data.inputs)
    except Exception as error:  # noqa: BLE001 - the model's own error on the data, whatever it is
        raise ValueError(f"Invalid data value: the model fails on its inputs ({type(error).__name__}: "
                         f"{error})"[:300]) from None
    limit = batch_size or max(1, min(MAX_BATCH, BATCH_ELEMENTS // (3 * widest)))
    data.limit(limit)
    examples = min(limit, data.inputs.shape[0])

    count = sum(p.numel() for p in origin.values())
    chunk = points_per_chunk or max(1, min(MAX_CHUNK_POINTS, CHUNK_ELEMENTS // (widest * examples)))
    evaluator, fallback = _evaluator(model, stacks, loss_fn, method, data, chunk)
    if evaluator.method == "generic" and points_per_chunk is None:
        chunk = max(1, min(chunk, PARAMETER_ELEMENTS // count))
    plane = "your directions" if drawn is None else f"filter-normalized random directions (seed {seed})"
    description = f"{type(model).__name__} ({count} parameters): the loss on the plane through θ* along {plane}"
    return ModulePlane(model, loss_fn, data, origin, directions, evaluator, chunk,
                       bounds=bounds, default_start=start, fallback=fallback, description=description,
                       params={"seed": seed, "method": method})


def _evaluator(model: nn.Module, stacks: dict[str, Stack], loss_fn: Callable, method: str, data: Minibatches,
               chunk: int) -> tuple[GraphBatch | GenericBatch, str]:
    """The fast path where it covers the model and agrees with the generic one on a probe, else the generic."""
    generic, graph, reason = GenericBatch(model, stacks, loss_fn), None, ""
    x, y = data.inputs[:PROBE_EXAMPLES], data.targets[:PROBE_EXAMPLES]
    c = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.5, -0.25]], dtype=next(iter(stacks.values())).parts.dtype,
                     device=x.device)
    with torch.no_grad():
        if method != "generic":
            try:
                graph = GraphBatch(model, stacks, loss_fn, chunk)
                fast = graph.losses(graph.prepare(x), c, y)
            except Unsupported as error:
                graph, reason = None, str(error)
        try:
            reference = generic.losses(x, c, y)
        except Exception as error:  # noqa: BLE001 - whatever vmap or the model raise
            if graph is None:
                raise ValueError(f"Invalid model value: {type(model).__name__} (torch.func.vmap of functional_call "
                                 f"fails on it: {type(error).__name__}: {error})"[:400]) from None
            reference = fast  # the fast path alone covers it
    if graph is not None and not torch.allclose(fast, reference, rtol=PROBE_RTOL, atol=PROBE_RTOL):
        graph, reason = None, f"it disagrees with vmap on a probe ({fast.tolist()} against {reference.tolist()})"
    if method == "graph" and graph is None:
        raise ValueError(f"Invalid method value: 'graph' (the fast path does not cover this model: {reason})")
    if graph is None:
        return generic, reason
    graph.workspaces.clear()
    return graph, ""
