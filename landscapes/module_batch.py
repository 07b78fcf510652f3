"""An ``nn.Module``'s loss at P points of a plane θ(a, b) = θ₀ + a·d₁ + b·d₂ at once, on one minibatch.

Every parameter on the plane is linear in c = (1, a, b): θ(p) = c(p)·S with S = (θ₀, d₁, d₂) stacked (3, …), so
the P points' parameters are one product c (P, 3) @ S. Two evaluators share that and one interface
(:meth:`prepare` once per minibatch, then :meth:`losses` per chunk of points):

- :class:`GenericBatch`, any module: ``torch.func.vmap`` over the points of ``torch.func.functional_call``
  with each point's parameters. Correct for whatever vmap supports; as fast as vmap's batching rules.
- :class:`GraphBatch`, the fast path: the module traced by ``torch.fx`` and run with the points inside each
  tensor, logical shape (n, P, …) for n examples, by rules for the layers it knows (:data:`PLANE_MODULES`,
  element-wise activations, pools, flatten, residual sums, batch norm in eval mode). Its home layout keeps the
  examples on the last, long axis, (P, …, n) in memory, as the ``network`` surface does; its ideas:

  * the first layer sees the same inputs at every point, and it is linear in its weights, so its output at
    every point is c(p)·Y with Y = (layer(x; θ*), layer(x; d₁), layer(x; d₂)) (3, …, n), computed once per
    minibatch for all chunks; a chunk's outputs are then one product c @ Y. A max-pool right after it (through
    non-decreasing activations, which commute with max) becomes a maximum over blocks of Y reordered once;
  * every later layer is linear in its own weights too: a linear layer is one batched product over the
    points, W(p) (out, in) @ X(p) (in, n), with W(p) = c(p)·S; a later convolution is the same product with its
    dense (Toeplitz) matrix, itself linear in the weights, built once for θ*, d₁, d₂: on a small feature map,
    where that costs at most :data:`DENSE_CONV_RATIO` times the convolution's multiply-adds, one dense product
    beats any convolution kernel (150 against 50–90 GFLOP/s on one core here). A later convolution on a larger
    map is :class:`Unsupported`: vmap's batching rule already runs it as one grouped convolution with the points
    as groups, the best there is, and the rest of the graph path gains little around it (the ResNet-style test
    model: 5.4 ms per point through grouped convolutions here, 2.7 through vmap);
  * value-only chunks write into workspaces kept across chunks and calls (``out=``), so a slice does not
    fault in fresh pages for every chunk (the bimodal timing of issue 18).

  A module the rules do not cover raises :class:`Unsupported` when traced; :mod:`landscapes.module_plane`
  then uses :class:`GenericBatch` and says why.

A point's loss depends only on its own (a, b) and the minibatch, never on which other points share its chunk
(every kernel here treats the points as independent groups); the caller fixes the minibatches and the order
in which their means are summed, so a tile of a grid computed alone equals the same points of the whole grid.
"""

from __future__ import annotations

import math
import operator
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.fx
from torch import nn
from torch.nn import functional as F

WORKSPACE_ELEMENTS = 1 << 24  # a workspace larger than this (64 MB in float32) is not kept between calls
DENSE_CONV_RATIO = 2.0  # a convolution runs as its dense matrix where that is at most this many times its work
DENSE_CONV_ELEMENTS = 1 << 22  # … and the P points' matrices hold at most this many values


class Unsupported(Exception):
    """The fast path does not cover this module; the message says which node and why."""


class Stack(NamedTuple):
    """A parameter on the plane: (θ₀, d₁, d₂) stacked, (3, *shape), in the model's dtype and device."""

    parts: torch.Tensor

    def at(self, c: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """θ(p) = c(p)·S for P points c (P, 3): (P, *shape)."""
        flat = self.parts.reshape(3, -1)
        value = torch.mm(c, flat) if out is None else torch.mm(c, flat, out=out.view(c.shape[0], -1))
        return value.view(c.shape[0], *self.parts.shape[1:])


class Workspaces:
    """Buffers reused by value-only chunks: one flat storage per key, grown to the largest size asked, never shrunk.

    Large per-chunk temporaries freed and allocated again land on fresh pages (about 180 000 minor faults a
    slice, and twice the time, in the slow mode of issue 18); buffers kept across chunks and calls do not.
    Each thread has its own (surfaces are cached and shared: the app computes in two threads). ``get`` returns
    None while autograd is recording (a buffer written with ``out=`` cannot be part of a differentiated graph),
    and the caller then allocates as usual.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def get(self, key: Any, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        if torch.is_grad_enabled():
            return None
        buffers = self._local.__dict__.setdefault("buffers", {})
        numel = math.prod(shape)
        buffer = buffers.get(key)
        if buffer is None or buffer.numel() < numel or buffer.dtype != like.dtype or buffer.device != like.device:
            buffer = torch.empty(numel, dtype=like.dtype, device=like.device)
            if numel <= WORKSPACE_ELEMENTS:
                buffers[key] = buffer
        return buffer[:numel].view(shape)

    def clear(self) -> None:
        self._local.__dict__.pop("buffers", None)


# --- the generic evaluator: vmap over points of functional_call ---------------------------------------------


class GenericBatch:
    """Any module: ``vmap`` over the P points of ``functional_call(model, θ(p), x)`` and the loss."""

    method = "generic"

    def __init__(self, model: nn.Module, stacks: dict[str, Stack], loss_fn: Callable) -> None:
        self.model, self.stacks, self.loss_fn = model, stacks, loss_fn
        self.buffers = dict(model.named_buffers())

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def losses(self, prepared: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The minibatch's mean loss at each of the P points c (P, 3): (P,)."""
        params = {name: stack.at(c) for name, stack in self.stacks.items()}

        def one(point_params: dict[str, torch.Tensor]) -> torch.Tensor:
            out = torch.func.functional_call(self.model, (point_params, self.buffers), (prepared,))
            return self.loss_fn(out, y)

        return torch.func.vmap(one)(params)


# --- the fast evaluator: the traced graph run with the points inside each tensor ------------------------------


class Shared(NamedTuple):
    """A value that is the same at every point: (n, …), computed from the inputs without parameters."""

    t: torch.Tensor


class Lazy(NamedTuple):
    """A first layer's output at every point, c(p)·Y, not yet formed: Y (3, *features, n), then ``post``."""

    y: torch.Tensor
    post: tuple[Callable, ...]  # element-wise modules or functions applied after, in order
    monotone: bool  # every one of them is non-decreasing (commutes with max)
    blocks: torch.Tensor | None = None  # Y reordered for a max-pool: (window, 3, C·H'·W'·n) (see _pool_lazy)
    pooled: tuple[int, ...] = ()  # (C, H', W') after the pool


class Plane(NamedTuple):
    """A value at each point: logical shape (n, P, *features), any strides."""

    t: torch.Tensor
    fresh: bool = False  # a tensor this chunk made (a rule may overwrite it when nothing else reads it)


CONVOLUTIONS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
PLANE_MODULES = (*CONVOLUTIONS, nn.Linear, *NORMS)  # the layers with parameters the fast path runs
MONOTONE_MODULES = (nn.ReLU, nn.ReLU6, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Softplus, nn.Identity, nn.Dropout,
                    nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout)
ELEMENTWISE_MODULES = (*MONOTONE_MODULES, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
                       nn.Hardsigmoid, nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.SELU, nn.CELU)
POOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
MONOTONE_FUNCTIONS = {torch.relu, F.relu, torch.sigmoid, F.sigmoid, torch.tanh, F.tanh, F.relu6, F.hardtanh,
                      F.softplus}
ELEMENTWISE_FUNCTIONS = MONOTONE_FUNCTIONS | {F.leaky_relu, F.elu, F.gelu, F.silu, F.mish, F.hardswish,
                                              F.hardsigmoid, F.softsign, F.logsigmoid, F.selu, F.celu,
                                              torch.exp, torch.abs, torch.square, torch.sqrt}
ELEMENTWISE_METHODS = {"relu", "sigmoid", "tanh", "exp", "abs", "square", "sqrt", "relu_", "sigmoid_", "tanh_"}
POOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
                  F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
                  F.adaptive_max_pool1d, F.adaptive_max_pool2d, F.adaptive_max_pool3d}
BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub, operator.imul,
          torch.add, torch.sub, torch.mul}
IN_PLACE = {operator.iadd: operator.add, operator.isub: operator.sub, operator.imul: operator.mul}
IN_PLACE_METHODS = {operator.add: "add_", torch.add: "add_", operator.sub: "sub_", torch.sub: "sub_",
                    operator.mul: "mul_", torch.mul: "mul_", operator.truediv: "div_"}
IN_PLACE_FUNCTIONS = {torch.relu: "relu_", F.relu: "relu_", torch.sigmoid: "sigmoid_", F.sigmoid: "sigmoid_",
                      torch.tanh: "tanh_", F.tanh: "tanh_", torch.exp: "exp_", torch.abs: "abs_",
                      torch.square: "square_", torch.sqrt: "sqrt_"}
FLATTENS = {torch.flatten}
MEANS = {torch.mean}


def _monotone_module(module: nn.Module) -> bool:
    if isinstance(module, nn.LeakyReLU):
        return module.negative_slope >= 0
    if isinstance(module, nn.ELU):
        return module.alpha >= 0
    return isinstance(module, MONOTONE_MODULES)


def _non_overlapping_max_pool(module: Any) -> tuple[int, int] | None:
    """(kh, kw) of a 2-D max-pool whose windows tile the input (kernel = stride, no padding or dilation)."""
    if not isinstance(module, nn.MaxPool2d) or module.return_indices or module.ceil_mode:
        return None
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    kernel, stride = pair(module.kernel_size), pair(module.stride if module.stride is not None else module.kernel_size)
    if kernel != stride or pair(module.padding) != (0, 0) or pair(module.dilation) != (1, 1):
        return None
    return kernel


IN_PLACE_MODULES: dict[type, Callable] = {  # element-wise modules on a tensor nothing else reads
    nn.ReLU: lambda m, t: t.relu_(),
    nn.Sigmoid: lambda m, t: t.sigmoid_(),
    nn.Tanh: lambda m, t: t.tanh_(),
    nn.LeakyReLU: lambda m, t: F.leaky_relu_(t, m.negative_slope),
    nn.Hardtanh: lambda m, t: F.hardtanh_(t, m.min_val, m.max_val),
    nn.ReLU6: lambda m, t: F.hardtanh_(t, 0.0, 6.0),
    nn.ELU: lambda m, t: F.elu_(t, m.alpha),
    nn.SiLU: lambda m, t: F.silu(t, inplace=True),
}


def _apply(fn: Callable, t: torch.Tensor, in_place: bool) -> torch.Tensor:
    """An element-wise module or function on t, in place where allowed and it has an in-place form."""
    if in_place and type(fn) in IN_PLACE_MODULES:
        return IN_PLACE_MODULES[type(fn)](fn, t)
    return fn(t)


def fast_loss(loss_fn: Callable) -> str | None:
    """"cross_entropy" or "mse" for torch's own mean losses with default settings (computed with the examples on
    the long axis, not through vmap), else None."""
    if loss_fn is F.cross_entropy or type(loss_fn) is nn.CrossEntropyLoss and loss_fn.weight is None and (
            loss_fn.reduction == "mean" and loss_fn.label_smoothing == 0.0):
        return "cross_entropy"
    if loss_fn is F.mse_loss or type(loss_fn) is nn.MSELoss and loss_fn.reduction == "mean":
        return "mse"
    return None


class GraphBatch:
    """The fast path: the module's ``torch.fx`` graph run on (n, P, …) tensors (see the module's docstring)."""

    method = "graph"

    def __init__(self, model: nn.Module, stacks: dict[str, Stack], loss_fn: Callable, max_points: int) -> None:
        self.model, self.stacks, self.loss_fn, self.max_points = model, stacks, loss_fn, max_points
        self.loss_kind = fast_loss(loss_fn)
        self._dense: dict[Any, tuple[torch.Tensor, tuple[int, ...]] | None] = {}
        try:
            self.graph = torch.fx.symbolic_trace(model).graph
        except Exception as error:  # noqa: BLE001 - fx raises many kinds; any of them means "not traceable"
            raise Unsupported(f"torch.fx cannot trace the module ({type(error).__name__}: {error})"[:300]) from None
        self.modules = dict(model.named_modules())
        self.workspaces = Workspaces()
        self.output = self.graph.find_nodes(op="output")[0].args[0]
        if not isinstance(self.output, torch.fx.Node):
            raise Unsupported("the module returns a structure, not one tensor")
        self._check()

    # -- which nodes are covered (decided once, before any data) --

    def _check(self) -> None:
        placeholders = [node for node in self.graph.nodes if node.op == "placeholder"]
        if len(placeholders) != 1:
            raise Unsupported(f"the module's forward takes {len(placeholders)} inputs (the fast path takes one)")
        for node in self.graph.nodes:
            if node.op == "get_attr":
                raise Unsupported(f"node {node.name} reads a tensor attribute ({node.target}) in forward")
            if node.op == "call_module":
                module = self.modules[node.target]
                if isinstance(module, PLANE_MODULES):
                    self._check_layer(node, module)
                    shared = [name for name, _ in module.named_parameters(recurse=False)
                              if f"{node.target}.{name}" not in self.stacks]
                    if shared:
                        raise Unsupported(f"node {node.name}: its {', '.join(shared)} is another module's (tied)")
                elif list(module.parameters()) or list(module.buffers()):
                    raise Unsupported(f"node {node.name}: {type(module).__name__} has parameters or buffers the "
                                      "fast path does not know")
                elif not isinstance(module, (*ELEMENTWISE_MODULES, *POOL_MODULES, nn.Flatten)):
                    raise Unsupported(f"node {node.name}: {type(module).__name__} is not a known layer")
            elif node.op == "call_function":
                known = ELEMENTWISE_FUNCTIONS | POOL_FUNCTIONS | BINARY | FLATTENS | MEANS | {operator.getitem, getattr}
                if node.target not in known:
                    raise Unsupported(f"node {node.name}: function {getattr(node.target, '__name__', node.target)}")
            elif node.op == "call_method" and node.target not in {*ELEMENTWISE_METHODS, "size", "view", "reshape",
                                                                   "flatten", "mean", "contiguous"}:
                raise Unsupported(f"node {node.name}: method .{node.target}()")

    @staticmethod
    def _check_layer(node: torch.fx.Node, module: nn.Module) -> None:
        if isinstance(module, CONVOLUTIONS) and module.padding_mode != "zeros":
            raise Unsupported(f"node {node.name}: padding_mode {module.padding_mode!r}")
        if isinstance(module, NORMS) and (module.running_mean is None or module.running_var is None):
            raise Unsupported(f"node {node.name}: batch norm without running statistics normalizes by the batch")

    # -- once per minibatch: what every point shares --

    def prepare(self, x: torch.Tensor) -> dict[str, Any]:
        """Everything that is the same at every point, for one minibatch x: shared values and first layers' Y;
        the other nodes are listed under "deferred", to run per chunk."""
        env: dict[str, Any] = {}
        deferred = []
        with torch.no_grad():
            for node in self.graph.nodes:
                if node.op == "output":
                    break
                if node.op == "placeholder":
                    env[node.name] = Shared(x)
                    continue
                value = self._prepare_node(node, env)
                if value is None:
                    deferred.append(node)
                else:
                    env[node.name] = value
        env["deferred"] = deferred
        return env

    def _prepare_node(self, node: torch.fx.Node, env: dict[str, Any]) -> Any:
        """A node's value if it needs no point's parameters (shared, or a first layer's Y); else None (deferred)."""
        inputs = [env.get(a.name, _MISSING) for a in node.all_input_nodes]
        if any(a is _MISSING or isinstance(a, Plane) for a in inputs):
            return None
        args = [env[a.name] if isinstance(a, torch.fx.Node) else a for a in node.args]
        module = self.modules.get(node.target) if node.op == "call_module" else None
        first = args[0] if args else None
        if isinstance(module, (*CONVOLUTIONS, nn.Linear)) and isinstance(first, Shared):
            return Lazy(self._first_layer(module, node.target, first.t), (), True)
        if isinstance(first, Lazy):
            return _extend_lazy(node, module, first, args)
        if any(isinstance(a, Lazy) for a in inputs) or isinstance(module, PLANE_MODULES):
            return None
        return self._shared(node, env)

    def _shared(self, node: torch.fx.Node, env: dict[str, Any]) -> Any:
        def unwrap(value: Any) -> Any:
            if isinstance(value, torch.fx.Node):
                value = env[value.name]
            return value.t if isinstance(value, Shared) else value

        args = torch.fx.node.map_aggregate(node.args, unwrap)
        kwargs = torch.fx.node.map_aggregate(node.kwargs, unwrap)
        if node.op == "call_module":
            out = self.modules[node.target](*args, **kwargs)
        elif node.op == "call_function":
            out = node.target(*args, **kwargs)
        else:
            out = getattr(args[0], node.target)(*args[1:], **kwargs)
        return Shared(out) if isinstance(out, torch.Tensor) else out

    def _first_layer(self, module: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
        """Y = the layer on x with the weights and biases of θ*, d₁ and d₂: (3, *features, n)."""
        weight = self.stacks[f"{name}.weight"].parts
        bias = self.stacks[f"{name}.bias"].parts if f"{name}.bias" in self.stacks else None
        if isinstance(module, nn.Linear):
            y = F.linear(x, weight.flatten(0, 1), None if bias is None else bias.flatten())
            return y.unflatten(-1, (3, -1)).movedim(-2, 0).movedim(1, -1).contiguous()
        conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(module)]
        if module.groups == 1:
            y = conv(x, weight.flatten(0, 1), None if bias is None else bias.flatten(), module.stride, module.padding,
                     module.dilation)
            return y.unflatten(1, (3, -1)).movedim(1, 0).movedim(1, -1).contiguous()
        return torch.stack([conv(x, weight[k], None if bias is None else bias[k], module.stride, module.padding,
                                 module.dilation, module.groups) for k in range(3)]).movedim(1, -1).contiguous()

    # -- per chunk of points --

    def losses(self, env: dict[str, Any], c: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The minibatch's mean loss at each of the P points c (P, 3): (P,)."""
        env = dict(env)
        points: dict[str, torch.Tensor] = {}
        for node in env["deferred"]:
            env[node.name] = self._run(node, env, c, points)
        out = self._plane(env[self.output.name], c, self.output.name)
        return self._loss(out, y)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each point's mean loss from outputs (n, P, …): torch's cross-entropy or MSE with the examples on the
        last axis, or ``vmap`` of the loss function over the points."""
        if self.loss_kind == "cross_entropy" and out.dim() == 3 and y.dim() == 1 and not y.is_floating_point() \
                and bool((y >= 0).all()):
            logits = out.permute(1, 2, 0)  # (P, classes, n), in memory as the last layer wrote it
            picked = logits.gather(1, y.view(1, 1, -1).expand(logits.shape[0], 1, -1)).squeeze(1)
            return (torch.logsumexp(logits, dim=1) - picked).mean(1)
        if self.loss_kind == "mse" and out.shape[2:] == y.shape[1:] and out.shape[0] == y.shape[0]:
            difference = out - y.unsqueeze(1)
            return difference.square().mean(dim=(0, *range(2, out.dim())))
        return torch.func.vmap(self.loss_fn, in_dims=(1, None))(out, y)

    def _param(self, name: str, c: torch.Tensor, points: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The P points' values of a parameter (P, *shape), once per chunk."""
        if name not in points:
            stack = self.stacks.get(name)
            if stack is None:
                return None
            points[name] = stack.at(c, self.workspaces.get(("param", name), (c.shape[0], stack.parts[0].numel()), c))
        return points[name]

    def _plane(self, value: Any, c: torch.Tensor, key: str) -> torch.Tensor:
        """A value as a (n, P, …) tensor: a shared one broadcast, a lazy first layer formed (c @ Y, its post)."""
        if isinstance(value, Plane):
            return value.t
        if isinstance(value, Shared):
            return value.t.unsqueeze(1).expand(value.t.shape[0], c.shape[0], *value.t.shape[1:])
        if not isinstance(value, Lazy):
            raise Unsupported(f"node {key}: a {type(value).__name__} where a tensor is needed")
        p, in_place = c.shape[0], not torch.is_grad_enabled()
        if value.blocks is not None:
            t = self._pooled(value, c, key)
        else:
            out = self.workspaces.get(("lazy", key), (p, value.y[0].numel()), c)
            t = _logical(torch.mm(c, value.y.view(3, -1), out=out).view(p, *value.y.shape[1:]))
        for fn in value.post:
            t = _apply(fn, t, in_place)
        return t

    def _pooled(self, value: Lazy, c: torch.Tensor, key: str) -> torch.Tensor:
        """The max-pool of c @ Y: the maximum over the window of c @ Y_k, one product per window position k."""
        p, (window, _, m) = c.shape[0], value.blocks.shape
        best = torch.mm(c, value.blocks[0], out=self.workspaces.get(("pool", key), (p, m), c))
        other = self.workspaces.get(("pool-other", key), (p, m), c)
        for k in range(1, window):
            candidate = torch.mm(c, value.blocks[k], out=other)
            best = torch.maximum(best, candidate, out=None if other is None else best)
        return _logical(best.view(p, *value.pooled))

    def _run(self, node: torch.fx.Node, env: dict[str, Any], c: torch.Tensor, points: dict[str, torch.Tensor]
             ) -> Any:
        def arg(value: Any) -> Any:
            if not isinstance(value, torch.fx.Node):
                return value
            if isinstance(env[value.name], Lazy):  # formed once per chunk, whoever reads it
                env[value.name] = Plane(self._plane(env[value.name], c, value.name), fresh=True)
            return env[value.name]

        args = [arg(a) for a in node.args]
        kwargs = {k: arg(v) for k, v in node.kwargs.items()}
        key = node.name
        first = node.args[0] if node.args else None
        # a rule may overwrite its input when this chunk made it and no other node reads it
        in_place = (not torch.is_grad_enabled() and isinstance(first, torch.fx.Node) and len(first.users) == 1
                    and isinstance(args[0], Plane) and args[0].fresh)
        if node.op == "call_module":
            module = self.modules[node.target]
            x = self._plane(args[0], c, key)
            if isinstance(module, CONVOLUTIONS):
                return Plane(self._conv(module, node.target, x, c, points, key), fresh=True)
            if isinstance(module, nn.Linear):
                return Plane(self._linear(node.target, x, c, points, key), fresh=True)
            if isinstance(module, NORMS):
                return Plane(self._norm(module, node.target, x, c, points, key), fresh=True)
            if isinstance(module, POOL_MODULES):
                return Plane(self._pool(module, x, key), fresh=True)
            if isinstance(module, nn.Flatten):
                return Plane(self._flatten(x, key, module.start_dim, module.end_dim))
            out = _apply(module, x, in_place)  # element-wise
            return Plane(out, fresh=out is not x or args[0].fresh)
        if node.op == "call_function":
            target = node.target
            if target in (operator.getitem, getattr):
                if isinstance(args[0], (Plane, Lazy, Shared)):
                    t = self._plane(args[0], c, key)
                    if target is getattr and args[1] in ("shape", "dtype", "device"):
                        return _logical_shape(t) if args[1] == "shape" else getattr(t, args[1])
                    raise Unsupported(f"node {key}: {target.__name__} on a tensor")
                return target(*args, **kwargs)
            if target in BINARY:
                operands = [a.t.unsqueeze(1) if isinstance(a, Shared) else self._plane(a, c, key)
                            if isinstance(a, Plane) else a for a in args]
                fn = IN_PLACE.get(target, target)
                if in_place and not kwargs and fn in IN_PLACE_METHODS and len(operands) == 2 and (
                        torch.broadcast_shapes(operands[0].shape, getattr(operands[1], "shape", ())) ==
                        operands[0].shape):
                    return Plane(getattr(operands[0], IN_PLACE_METHODS[fn])(operands[1]), fresh=True)
                return Plane(fn(*operands, **kwargs), fresh=True)
            x = self._plane(args[0], c, key)
            if target in ELEMENTWISE_FUNCTIONS:
                if in_place and len(args) == 1 and set(kwargs) <= {"inplace"} and target in IN_PLACE_FUNCTIONS:
                    return Plane(getattr(x, IN_PLACE_FUNCTIONS[target])(), fresh=True)
                return Plane(target(x, *args[1:], **kwargs), fresh=True)
            if target in POOL_FUNCTIONS:
                return Plane(self._per_channel(lambda t: target(t, *args[1:], **kwargs), x, key), fresh=True)
            if target in FLATTENS:
                return Plane(self._flatten(x, key, *args[1:], **kwargs))
            return Plane(_mean(x, *args[1:], **kwargs), fresh=True)  # MEANS
        x = self._plane(args[0], c, key) if isinstance(args[0], (Plane, Shared)) else args[0]
        method = node.target  # call_method
        if method == "size":
            shape = _logical_shape(x)
            return shape if len(args) == 1 else shape[args[1]]
        if method in ELEMENTWISE_METHODS:
            if in_place and len(args) == 1 and not method.endswith("_"):
                method += "_"
            return Plane(getattr(x, method)(), fresh=in_place or not method.endswith("_"))
        if method == "contiguous":
            return args[0]
        if method == "flatten":
            return Plane(self._flatten(x, key, *args[1:], **kwargs))
        if method == "mean":
            return Plane(_mean(x, *args[1:], **kwargs), fresh=True)
        return Plane(_reshape(x, args[1:]))  # view / reshape

    def _conv(self, module: nn.Module, name: str, x: torch.Tensor, c: torch.Tensor,
              points: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        """Each point's convolution as one batched product with its dense matrix, W(p) (out·S', in·S) times the
        columns X(p) (in·S, n)."""
        n, p = x.shape[:2]
        bias = self._param(f"{name}.bias", c, points)
        dense = self._dense_form(module, name, x)
        if dense is not None:
            matrices, shape = dense  # (3, out·S', in·S) and (out, *S')
            weight = torch.mm(c, matrices.view(3, -1), out=self.workspaces.get(("dense", name), (
                p, matrices[0].numel()), c)).view(p, *matrices.shape[1:])
            columns = self._examples_last(x, key).view(p, matrices.shape[2], n)
            out = self.workspaces.get(("conv", key), (p, matrices.shape[1], n), x)
            if bias is None:
                y = torch.bmm(weight, columns, out=out)
            else:
                spread = bias.unsqueeze(2).expand(p, shape[0], math.prod(shape[1:])).reshape(p, -1, 1)
                y = torch.baddbmm(spread, weight, columns, out=out)
            return _logical(y.view(p, *shape, n))
        raise Unsupported(f"node {key}: a convolution on a {'×'.join(map(str, x.shape[3:]))} map, whose dense "
                          f"matrix would cost over {DENSE_CONV_RATIO:g} times its multiply-adds")

    def _dense_form(self, module: nn.Module, name: str, x: torch.Tensor
                    ) -> tuple[torch.Tensor, tuple[int, ...]] | None:
        """The convolution's dense matrices for θ*, d₁, d₂, (3, out·S', in·S), and its output shape (out, *S'),
        where they are worth it (see :data:`DENSE_CONV_RATIO`); cached by input shape."""
        features = tuple(x.shape[2:])
        key = (name, features, x.dtype)
        if key not in self._dense:
            self._dense[key] = None
            weight = self.stacks[f"{name}.weight"].parts  # (3, out, in/groups, *kernel)
            spatial = math.prod(features[1:])
            conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(module)]
            kernel = math.prod(weight.shape[3:]) * weight.shape[2]
            inputs = math.prod(features)
            probe = conv(torch.zeros(1, *features, dtype=x.dtype, device=x.device), weight[0], None, module.stride,
                         module.padding, module.dilation, module.groups)
            outputs = probe[0].numel()
            if (inputs <= DENSE_CONV_RATIO * kernel and self.max_points * 3 * outputs * inputs <= DENSE_CONV_ELEMENTS
                    and spatial > 0):
                basis = torch.eye(inputs, dtype=x.dtype, device=x.device).view(inputs, *features)
                matrices = torch.stack([  # column j of each: the response to input j alone
                    conv(basis, weight[k], None, module.stride, module.padding, module.dilation, module.groups)
                    .reshape(inputs, outputs).t() for k in range(3)]).contiguous()
                self._dense[key] = (matrices, tuple(probe.shape[1:]))
        return self._dense[key]

    def _pool(self, module: nn.Module, x: torch.Tensor, key: str) -> torch.Tensor:
        """A pooling layer: a max-pool whose windows tile the input as a maximum over strided views when the
        examples are last in memory (no copy), any other through the points-as-channels view."""
        window = _non_overlapping_max_pool(module)
        inner = x.permute(1, *range(2, x.dim()), 0)
        if window is None or not inner.is_contiguous() or x.dim() != 5:
            return self._per_channel(module, x, key)
        (kh, kw), (p, channels, height, width, n) = window, inner.shape
        rows, cols = height // kh, width // kw
        views = [inner[:, :, i:rows * kh:kh, j:cols * kw:kw] for i in range(kh) for j in range(kw)]
        out = self.workspaces.get(("pool", key), (p, channels, rows, cols, n), x)
        best = torch.maximum(views[0], views[1], out=out) if len(views) > 1 else views[0].clone()
        for view in views[2:]:
            best = torch.maximum(best, view, out=None if out is None else best)
        return _logical(best)

    def _examples_last(self, x: torch.Tensor, key: str) -> torch.Tensor:
        """x (n, P, *features) as a contiguous (P, *features, n) tensor: a view where it is one, else a copy."""
        inner = x.permute(1, *range(2, x.dim()), 0)
        if inner.is_contiguous():
            return inner
        out = self.workspaces.get(("examples-last", key), tuple(inner.shape), x)
        return inner.contiguous() if out is None else out.copy_(inner)

    def _per_channel(self, fn: Callable, x: torch.Tensor, key: str) -> torch.Tensor:
        """A per-channel operation (pooling) on (n, P, C, *spatial) through the points-as-channels view."""
        return fn(self._grouped(x, ("grouped-in", key))).unflatten(1, (x.shape[1], x.shape[2]))

    def _grouped(self, x: torch.Tensor, key: Any) -> torch.Tensor:
        """x (n, P, C, *spatial) as (n, P·C, *spatial) with the points and channels innermost (channels last)."""
        order = (0, *range(3, x.dim()), 1, 2)  # (n, *spatial, P, C)
        inner = x.permute(order)
        if not inner.is_contiguous():
            out = self.workspaces.get(key, tuple(inner.shape), x)
            inner = inner.contiguous() if out is None else out.copy_(inner)
        return inner.permute(_inverse(order)).flatten(1, 2)

    def _flatten(self, x: torch.Tensor, key: str, start_dim: int = 0, end_dim: int = -1) -> torch.Tensor:
        start, end = _physical(start_dim, x), _physical(end_dim, x)
        merged = x.shape[start:end + 1]
        shape = (*x.shape[:start], math.prod(merged), *x.shape[end + 1:])
        try:
            return x.view(shape)
        except RuntimeError:  # not a view: copy into a workspace (examples first, then points, then features)
            out = self.workspaces.get(("flatten", key), tuple(x.shape), x)
            return (x.contiguous() if out is None else out.copy_(x)).view(shape)

    def _linear(self, name: str, x: torch.Tensor, c: torch.Tensor, points: dict[str, torch.Tensor],
                key: str) -> torch.Tensor:
        """Each point's y = x·Wᵀ + b as one batched product over the points, W(p) (out, in) times x(p)ᵀ (in, n):
        (P, out, n) in memory, the examples on the long axis, returned as (n, P, …, out)."""
        n, p, *middle, features = x.shape
        weight = self._param(f"{name}.weight", c, points)  # (P, out, in)
        bias = self._param(f"{name}.bias", c, points)
        columns = x.movedim(1, 0).reshape(p, -1, features).transpose(1, 2)  # (P, in, n·…), a view where it can be
        out = self.workspaces.get(("linear", key), (p, weight.shape[1], columns.shape[2]), x)
        if bias is None:
            y = torch.bmm(weight, columns, out=out)
        else:
            y = torch.baddbmm(bias.unsqueeze(2), weight, columns, out=out)
        return y.view(p, -1, n, *middle).permute(2, 0, *range(3, 3 + len(middle)), 1)

    def _norm(self, module: nn.Module, name: str, x: torch.Tensor, c: torch.Tensor,
              points: dict[str, torch.Tensor], key: str) -> torch.Tensor:
        """Batch norm in eval mode at each point: x·s(p) + t(p), s = γ(p)/√(var + ε), t = β(p) − mean·s."""
        p, channels = x.shape[1], x.shape[2]
        weight = self._param(f"{name}.weight", c, points)
        bias = self._param(f"{name}.bias", c, points)
        inverse = torch.rsqrt(module.running_var.to(x.dtype) + module.eps)
        scale = inverse.expand(p, channels) if weight is None else weight * inverse
        shift = -module.running_mean.to(x.dtype) * scale
        if bias is not None:
            shift = shift + bias
        shape = (1, p, channels, *([1] * (x.dim() - 3)))
        out = self.workspaces.get(("norm", key), tuple(x.shape), x)
        return torch.addcmul(shift.reshape(shape), x, scale.reshape(shape), out=None if out is None else _like(out, x))


_MISSING = object()


def _extend_lazy(node: torch.fx.Node, module: nn.Module | None, lazy: Lazy, args: list) -> Lazy | None:
    """A lazy first layer through one more node: an element-wise function joins its ``post``; a max-pool whose
    windows tile the input, after non-decreasing functions only, reorders Y (:func:`_pool_lazy`). Else None."""
    if len(args) != 1:
        return None
    if node.op == "call_module" and isinstance(module, ELEMENTWISE_MODULES):
        fn, monotone = module, _monotone_module(module)
    elif node.op == "call_function" and node.target in ELEMENTWISE_FUNCTIONS:
        fn = lambda t, target=node.target, kwargs=dict(node.kwargs): target(t, **kwargs)  # noqa: E731
        monotone = node.target in MONOTONE_FUNCTIONS
    elif node.op == "call_method" and node.target in ELEMENTWISE_METHODS:
        fn = lambda t, name=node.target: getattr(t, name)()  # noqa: E731
        monotone = node.target.rstrip("_") in {"relu", "sigmoid", "tanh"}
    else:
        window = _non_overlapping_max_pool(module)
        if window is None or lazy.blocks is not None or not lazy.monotone or lazy.y.dim() != 5:
            return None
        return _pool_lazy(lazy, window)
    return lazy._replace(post=(*lazy.post, fn), monotone=lazy.monotone and monotone)


def _pool_lazy(lazy: Lazy, window: tuple[int, int]) -> Lazy:
    """Y (3, C, H, W, n) reordered for a (kh, kw) max-pool: (kh·kw, 3, C·H'·W'·n), one block per window position.

    Non-decreasing functions commute with max, so the post functions apply after the pool, to 1/(kh·kw) of the
    values.
    """
    _, channels, height, width, n = lazy.y.shape
    kh, kw = window
    rows, cols = height // kh, width // kw
    y = lazy.y[:, :, :rows * kh, :cols * kw].reshape(3, channels, rows, kh, cols, kw, n)
    blocks = y.permute(3, 5, 0, 1, 2, 4, 6).reshape(kh * kw, 3, -1).contiguous()
    return lazy._replace(blocks=blocks, pooled=(channels, rows, cols, n))


def _logical(t: torch.Tensor) -> torch.Tensor:
    """A (P, *features, n) tensor, examples last in memory, as the logical (n, P, *features)."""
    return t.permute(t.dim() - 1, *range(t.dim() - 1))


def _inverse(order: tuple[int, ...]) -> list[int]:
    back = [0] * len(order)
    for position, axis in enumerate(order):
        back[axis] = position
    return back


def _like(buffer: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``buffer`` (x's numel) viewed with x's shape and the same order of strides, dense."""
    order = tuple(sorted(range(x.dim()), key=lambda axis: -x.stride(axis)))
    return buffer.view([x.shape[axis] for axis in order]).permute(_inverse(order))


def _logical_shape(x: torch.Tensor) -> torch.Size:
    """A (n, P, …) tensor's shape as the module sees it: (n, …)."""
    return torch.Size((x.shape[0], *x.shape[2:]))


def _physical(dim: int, x: torch.Tensor) -> int:
    """A module's dimension (over (n, …)) as the dimension of the (n, P, …) tensor."""
    logical = dim if dim >= 0 else dim + x.dim() - 1
    if logical == 0:
        raise Unsupported("an operation across the examples of a minibatch")
    return logical + 1


def _mean(x: torch.Tensor, dim: Any = None, keepdim: bool = False, **kwargs: Any) -> torch.Tensor:
    if dim is None:
        raise Unsupported("a mean over the whole minibatch")
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return x.mean(tuple(_physical(d, x) for d in dims), keepdim=keepdim, **kwargs)


def _reshape(x: torch.Tensor, sizes: tuple) -> torch.Tensor:
    sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)) else tuple(sizes)
    features = math.prod(x.shape[2:])
    rest = sizes[1:]
    keeps = sizes and (sizes[0] == x.shape[0] or sizes[0] == -1 and -1 not in rest and math.prod(rest) == features)
    if not keeps:
        raise Unsupported(f"a reshape to {sizes} that does not keep the minibatch's first axis")
    return x.reshape(x.shape[0], x.shape[1], *rest)
