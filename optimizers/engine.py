"""The run/sweep engine: batched optimizer rows over any surface, with divergence tracking.

``run`` keeps every iterate (for figures and exports); ``sweep`` keeps O(B) summaries (for
hyper-parameter maps of thousands of rows). Both validate everything first, then step all
rows at once through the kernels of :mod:`optimizers.rules`. The engine never imports
``landscapes``: a surface is any object with ``value``/``grad`` (and optionally
``value_and_grad`` and ``minibatch_grad``), ``default_start`` and ``minimum_value``.

Divergence (DESIGN): row i is marked at the first step k where an iterate coordinate or
the loss is non-finite ("non-finite", the row then repeats its iterate of step k − 1) or
the loss exceeds 1e10·max(1, |f(θ₀)|) ("blow-up", the row keeps θₖ). From there the row is
frozen; no returned array holds NaN or inf, and nothing warns or raises.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import hyperparams, noise
from .rules import Rule

BLOW_UP_FACTOR = 1e10
REASONS = np.array(["", "non-finite", "blow-up"])
ROUNDING_RESIDUE = 1e-12  # a scheduled lr in [−1e-12·ρ₀, 0) is rounding, used as 0
FAST_PATH_MIN_ROWS = 256  # smaller sweeps skip numba's import (~0.5 s) and first compile (~2 s per kernel)


@dataclass(frozen=True)
class Trajectory:
    """Every iterate of B optimizer rows: ``points`` (B, steps + 1, 2), ``losses`` (B, steps + 1)."""

    optimizer: str
    hyperparameters: dict[str, Any]
    points: np.ndarray
    losses: np.ndarray
    lrs: np.ndarray  # (B, steps): ρₖ used for the step from iterate k to k + 1
    diverged_at: np.ndarray  # (B,) int, -1 where the row never diverged
    diverged_reason: np.ndarray  # (B,) str: "" | "non-finite" | "blow-up"

    @property
    def diverged(self) -> np.ndarray:
        """(B,) bool: whether each row diverged."""
        return self.diverged_at >= 0


@dataclass(frozen=True)
class Summary:
    """O(B) results of a sweep, one entry per row."""

    optimizer: str
    hyperparameters: dict[str, Any]
    final_loss: np.ndarray  # loss at the last (finite) iterate
    best_loss: np.ndarray  # lowest loss seen
    steps_to_tol: np.ndarray  # first k with f(θₖ) − f* ≤ tol (f* unknown: f(θₖ) ≤ tol); -1 if never
    diverged_at: np.ndarray
    diverged_reason: np.ndarray
    final_point: np.ndarray  # (B, 2)
    tol: float = field(default=1e-6)

    @property
    def diverged(self) -> np.ndarray:
        return self.diverged_at >= 0


class _Backend:
    """The array library a batch runs in: numpy, or torch on a device."""

    def __init__(self, name: str, device: Any, dtype: Any):
        if name not in ("numpy", "torch"):
            raise ValueError(f"Invalid backend value: {name!r} (must be 'numpy' or 'torch')")
        dtype_name = getattr(dtype, "__name__", None) or str(dtype).replace("torch.", "")
        if dtype_name not in ("float64", "float32"):
            raise ValueError(f"Invalid dtype value: {dtype!r} (must be float64 or float32)")
        self.name, self.dtype_name = name, dtype_name
        if name == "numpy":
            if device not in (None, "cpu"):
                raise ValueError(f"Invalid device value: {device!r} (the numpy backend runs on 'cpu' only)")
            self.xp, self.dtype, self.device, self.int64 = np, np.dtype(dtype_name), None, np.int64
            return
        import torch

        try:
            self.device = torch.device(device or "cpu")
        except (RuntimeError, TypeError):
            message = f"Invalid device value: {device!r} (must be a torch device such as 'cpu', 'cuda')"
            raise ValueError(message) from None
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"Invalid device value: {device!r} (CUDA is not available on this machine)")
        self.xp, self.dtype, self.int64 = torch, getattr(torch, dtype_name), torch.int64

    def array(self, values: np.ndarray) -> Any:
        if self.name == "numpy":
            return np.asarray(values, dtype=self.dtype)
        return self.xp.tensor(np.array(values), dtype=self.dtype, device=self.device)

    def to_numpy(self, values: Any) -> np.ndarray:
        return values if self.name == "numpy" else values.detach().cpu().numpy()

    def kernel_value(self, value: Any, rows: int) -> Any:
        """A hyper-parameter as the kernels take it: a number, or a (B, 1) array."""
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if value.ndim == 0:
            return float(value)
        return self.array(np.broadcast_to(value, (rows,))[:, None])


@dataclass
class _Batch:
    """Everything a batch needs, validated: built by :func:`_prepare`."""

    surface: Any
    rule: Rule
    optimizer: str
    hp: dict[str, Any]  # validated float64 arrays (0-d or (B,)) and flags
    start: np.ndarray  # (B, 2)
    steps: int
    rows: int
    schedule: Any
    sigma: np.ndarray
    seed: int
    batch_size: int | None
    backend: _Backend

    def hyperparameters(self) -> dict[str, Any]:
        public = {k: v for k, v in self.hp.items() if k not in ("beta1", "beta2")}
        if "beta1" in self.hp:
            public["betas"] = (self.hp["beta1"], self.hp["beta2"])
        return public

    def base_lr(self) -> np.ndarray:
        return np.broadcast_to(self.hp["lr"], (self.rows,)).astype(np.float64)

    def lr_at(self, step: int) -> np.ndarray:
        """ρₖ per row (B,): the schedule's value at step k, or the constant base lr."""
        base = self.base_lr()
        if self.schedule is None:
            return base
        lr = np.broadcast_to(np.asarray(self.schedule(step, base), dtype=np.float64), (self.rows,))
        # torch's LinearLR recursion decaying to 0 ends at ±1e-18·ρ₀, not 0: that residue counts as 0
        lr = np.where((lr < 0) & (lr >= -ROUNDING_RESIDUE * base), 0.0, lr)
        return hyperparams.check_numeric("lr", lr, hyperparams.NONNEGATIVE, f"scheduled lr at step {step}")


def _schedule_rows(schedule: Any, lr: np.ndarray, rows: int) -> int:
    """The batch size once a schedule's own per-row parameters are broadcast in."""
    try:
        shape = np.broadcast_shapes(np.shape(schedule(0, np.broadcast_to(lr, (rows,)).astype(np.float64))), (rows,))
    except ValueError:
        shape = ()
    if len(shape) != 1:
        raise ValueError(f"Invalid schedule: its per-row parameters do not broadcast with the batch of {rows} rows")
    return shape[0]


def _prepare(
    surface: Any,
    optimizer: str,
    start: Any,
    steps: Any,
    lr: Any,
    schedule: Any,
    noise_sigma: Any,
    seed: Any,
    batch_size: Any,
    backend: str,
    device: Any,
    dtype: Any,
    hyper: dict[str, Any],
    keep_trajectories: bool,
) -> _Batch:
    rule, hp = hyperparams.resolve(optimizer, {"lr": lr, **hyper})
    steps = hyperparams.check_steps(steps)
    start = hyperparams.check_start(surface.default_start if start is None else start)
    sigma = hyperparams.check_numeric("noise", noise_sigma, hyperparams.NUMERIC_RANGES["noise"])
    seed = hyperparams.check_seed(seed)
    schedule = hyperparams.check_callable_schedule(schedule)
    chosen = _Backend(backend, device, dtype)
    rows = hyperparams.batch_rows({**hp, "noise": sigma}, start)
    if schedule is not None:
        rows = _schedule_rows(schedule, hp["lr"], rows)
    hyperparams.check_batch(rows, steps, keep_trajectories=keep_trajectories)
    if batch_size is not None:
        if not hasattr(surface, "minibatch_grad"):
            raise ValueError(
                f"Invalid batch_size value: {batch_size!r} (this surface has no data to sample minibatches from)"
            )
        batch_size = hyperparams.check_steps(batch_size) if batch_size else 0
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size value: {batch_size!r} (must be a positive integer)")
    batch = _Batch(
        surface, rule, optimizer, hp, np.broadcast_to(start, (rows, 2)).copy(), steps, rows, schedule,
        sigma, seed, batch_size, chosen,
    )
    for step in {0, max(steps - 1, 0)}:  # a schedule that fails or gives a bad lr does so here, before any work
        try:
            batch.lr_at(step)
        except ValueError as error:
            raise ValueError(f"Invalid schedule for {steps} steps: {error}") from None
    return batch


class _Stepper:
    """Advances all rows step by step, applying the divergence rule; yields (k, θₖ, f(θₖ))."""

    def __init__(self, batch: _Batch, keep_lrs: bool = False):
        self.batch = batch
        be = batch.backend
        self.xp = be.xp
        self.hp = {name: be.kernel_value(value, batch.rows) for name, value in batch.hp.items()}
        self.lrs: list[np.ndarray] | None = [] if keep_lrs else None
        self.noise_keys = noise.row_keys(batch.seed, np.arange(batch.rows)) if np.any(batch.sigma > 0) else None
        self.sigma = be.kernel_value(batch.sigma, batch.rows)
        if batch.batch_size is not None:
            self.generator = np.random.default_rng(batch.seed)

    def _value_and_grad(self, theta: Any) -> tuple[Any, Any]:
        surface = self.batch.surface
        if hasattr(surface, "value_and_grad"):
            return surface.value_and_grad(theta)
        return surface.value(theta), surface.grad(theta)

    def _gradient(self, theta: Any, grad: Any, step: int) -> Any:
        batch = self.batch
        if batch.batch_size is not None:
            grad = batch.surface.minibatch_grad(theta, batch.batch_size, self.generator)
        if self.noise_keys is not None:
            grad = grad + self.sigma * batch.backend.array(noise.gaussian(self.noise_keys, step))
        return grad

    def __iter__(self) -> Iterator[tuple[int, Any, Any]]:
        batch, xp, be = self.batch, self.xp, self.batch.backend
        theta = be.array(batch.start)
        state = batch.rule.init(xp, theta, self.hp)
        loss, grad = self._value_and_grad(theta)
        if not bool(xp.isfinite(loss).all()):
            bad = int(np.flatnonzero(~np.isfinite(be.to_numpy(loss)))[0])
            raise ValueError(f"Invalid start value: {batch.start[bad].tolist()} (the loss there is not finite)")
        limit = BLOW_UP_FACTOR * xp.clip(abs(loss), min=1.0)
        alive = xp.isfinite(loss)  # all True here
        diverged_at = xp.full_like(loss, -1, dtype=be.int64)
        reason = xp.zeros_like(diverged_at)
        yield 0, theta, loss
        for k in range(batch.steps):
            if batch.schedule is None:
                lr = self.hp["lr"]
            else:
                scheduled = batch.lr_at(k)
                if self.lrs is not None:
                    self.lrs.append(scheduled)
                lr = be.kernel_value(scheduled, batch.rows)
            previous, previous_loss = theta, loss
            self.gradient = self._gradient(theta, grad, k)  # gₖ as the rule sees it (noise, minibatch included)
            theta, state = batch.rule.step(xp, theta, self.gradient, state, self.hp, lr, k)
            self.state = state
            loss, grad = self._value_and_grad(theta)
            finite = xp.isfinite(theta).all(-1) & xp.isfinite(loss)
            blown = finite & (loss > limit) & alive
            fresh = alive & ~finite
            diverged_at = xp.where(fresh | blown, k + 1, diverged_at)
            reason = xp.where(fresh, 1, xp.where(blown, 2, reason))
            keep_previous = ~alive | ~finite
            alive = alive & finite & ~blown
            theta = xp.where(keep_previous[:, None], previous, theta)
            loss = xp.where(keep_previous, previous_loss, loss)
            yield k + 1, theta, loss
        self.diverged_at = be.to_numpy(diverged_at).astype(np.int64)
        self.reason = be.to_numpy(reason).astype(np.int8)


def run(
    surface: Any,
    optimizer: str,
    start: Any = None,
    steps: int = 100,
    *,
    lr: Any = None,
    schedule: Any = None,
    noise: Any = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = "float64",
    **hyperparameters: Any,
) -> Trajectory:
    """Run ``optimizer`` on ``surface`` for ``steps`` steps and keep every iterate.

    Hyper-parameters use torch.optim's names (``lr``, ``momentum``, ``betas``, ``eps``, ...);
    each, and ``start``, is a scalar or a per-row array, broadcast elementwise into B rows.
    ``schedule(k, base_lr)`` gives ρₖ; ``noise=σ`` adds N(0, σ²) to each gradient (row i's
    stream fixed by (seed, i)); ``batch_size`` samples real minibatches on surfaces with data.
    """
    batch = _prepare(surface, optimizer, start, steps, lr, schedule, noise, seed, batch_size,
                     backend, device, dtype, hyperparameters, keep_trajectories=True)
    be = batch.backend
    xp = be.xp
    stepper = _Stepper(batch, keep_lrs=True)
    shape = (batch.rows, batch.steps + 1)
    if xp is np:
        points, losses = np.empty((*shape, 2), be.dtype), np.empty(shape, be.dtype)
    else:
        points = xp.empty((*shape, 2), dtype=be.dtype, device=be.device)
        losses = xp.empty(shape, dtype=be.dtype, device=be.device)
    with np.errstate(all="ignore"):
        for k, theta, loss in stepper:
            points[:, k] = theta
            losses[:, k] = loss
    if batch.schedule is not None and batch.steps:
        lrs = np.stack(stepper.lrs, axis=1)
    else:
        lrs = np.broadcast_to(batch.base_lr()[:, None], (batch.rows, batch.steps)).copy()
    return Trajectory(
        optimizer=optimizer,
        hyperparameters=batch.hyperparameters(),
        points=be.to_numpy(points),
        losses=be.to_numpy(losses),
        lrs=lrs,
        diverged_at=stepper.diverged_at,
        diverged_reason=REASONS[stepper.reason],
    )


def sweep(
    surface: Any,
    optimizer: str,
    start: Any = None,
    steps: int = 100,
    *,
    lr: Any = None,
    tol: float = 1e-6,
    schedule: Any = None,
    noise: Any = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = "float64",
    **hyperparameters: Any,
) -> Summary:
    """Run B rows like :func:`run` but keep only O(B) summaries (final/best loss, steps to tol).

    For grids pass raveled meshgrids: ``sweep(s, "momentum", lr=R.ravel(), momentum=A.ravel())``.
    ``steps_to_tol`` counts to the first k with f(θₖ) − f* ≤ tol (f* = ``surface.minimum_value``,
    or f(θₖ) ≤ tol where f* is unknown).
    """
    tol_value = float(hyperparams.check_numeric("tol", tol, hyperparams.NONNEGATIVE))
    batch = _prepare(surface, optimizer, start, steps, lr, schedule, noise, seed, batch_size,
                     backend, device, dtype, hyperparameters, keep_trajectories=False)
    be = batch.backend
    xp = be.xp
    target = (getattr(surface, "minimum_value", None) or 0.0) + tol_value
    if be.name == "numpy" and batch.rows >= FAST_PATH_MIN_ROWS and batch.batch_size is None:
        from . import fast  # imports numba: only for sweeps large enough to use it

        summary = fast.sweep(batch, target, tol_value)  # None where the fused kernel does not apply
        if summary is not None:
            return summary
    stepper = _Stepper(batch)
    with np.errstate(all="ignore"):
        for k, theta, loss in stepper:  # noqa: B007  (the last θ is the final point)
            if k == 0:
                best = loss
                steps_to_tol = xp.where(loss <= target, 0, -1)
            else:
                best = xp.minimum(best, loss)
                steps_to_tol = xp.where((steps_to_tol < 0) & (loss <= target), k, steps_to_tol)
    return Summary(
        optimizer=optimizer,
        hyperparameters=batch.hyperparameters(),
        final_loss=be.to_numpy(loss).astype(np.float64),
        best_loss=be.to_numpy(best).astype(np.float64),
        steps_to_tol=be.to_numpy(steps_to_tol).astype(np.int64),
        diverged_at=stepper.diverged_at,
        diverged_reason=REASONS[stepper.reason],
        final_point=be.to_numpy(theta).astype(np.float64),
        tol=tol_value,
    )
