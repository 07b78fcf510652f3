"""A batch of optimizer rows, validated, and the records a run or sweep of it returns.

:func:`prepare` checks every argument of ``run``/``sweep`` before any work starts (a ``ValueError``
naming the parameter, the value and the range) and broadcasts hyper-parameters, starts and a
schedule's own parameters elementwise into B rows: the :class:`Batch` that the engine's reference
kernels (:mod:`optimizers.engine`) and the fused kernel (:mod:`optimizers.fast`) both step. No torch or
numba here: the torch backend imports torch when a batch chooses it.

Divergence (docs/ARCHITECTURE.md's contract): row i is marked at the first step k where an iterate coordinate
or the loss is non-finite ("non-finite") or the loss exceeds ``BLOW_UP_FACTOR``·max(1, |f(θ₀)|) ("blow-up");
``REASONS`` maps the kernels' codes 0, 1, 2 to those words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from validation import Range, check_number

from . import catalogue, hyperparams, noise
from .rules import Rule
from .surface import Surface

BLOW_UP_FACTOR = 1e10
BATCH_SIZE = Range(1, 10**6, integer=True)  # a minibatch's examples (0 or None: the full batch)
STREAM_ROW = Range(0, 2**53, integer=True)  # a shared noise and minibatch stream (engine's ``stream_row``)
REASONS = np.array(["", "non-finite", "blow-up"])
ROUNDING_RESIDUE = 1e-12  # a scheduled lr in [−1e-12·ρ₀, 0) is rounding, used as 0


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
    averaged: np.ndarray | None = None  # (B, steps + 1, 2): the averaged iterate (schedule-free's x), else None
    evaluations: np.ndarray | None = None  # (B, steps + 1) int: gradient evaluations to reach iterate k, for the
    # rules that take several per step (SAM: 2k; LBFGS: torch's func_evals); None: k, one per step

    @property
    def diverged(self) -> np.ndarray:
        """(B,) bool: whether each row diverged."""
        return self.diverged_at >= 0

    @property
    def legend(self) -> str:
        """What a figure's legend shows after the optimizer's name: ρ and its own main settings, e.g.
        ``ρ=0.01, α=0.9`` (``optimizers.catalogue.legend_values``)."""
        return catalogue.legend_values(self.optimizer, self.hyperparameters)


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


class Backend:
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
        if value is None or isinstance(value, str):  # a choice (LBFGS's line search, a wrapper's base)
            return value
        if value.ndim == 0:
            return float(value)
        return self.array(np.broadcast_to(value, (rows,))[:, None])


@dataclass
class Batch:
    """Everything a batch needs, validated: built by :func:`prepare`."""

    surface: Surface
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
    backend: Backend
    stream_row: int | None = None  # every row's noise and minibatch stream; None: row i has stream i

    def keys(self) -> np.ndarray:
        """Each row's 64-bit key for its gradient noise and minibatches (:mod:`optimizers.noise`): from (seed, i), or
        from (seed, ``stream_row``) for every row."""
        streams = np.arange(self.rows) if self.stream_row is None else np.full(self.rows, self.stream_row)
        return noise.row_keys(self.seed, streams)

    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters under the optimizer's keywords (pairs such as ``betas`` joined again)."""
        return hyperparams.public(self.optimizer, self.hp)

    def base_lr(self) -> np.ndarray:
        return np.broadcast_to(self.hp["lr"], (self.rows,)).astype(np.float64)

    def lr_at(self, step: int) -> np.ndarray:
        """ρₖ per row (B,): the schedule's value at step k, or the constant base lr."""
        base = self.base_lr()
        return base if self.schedule is None else _scheduled_lr(self.schedule, base, step)


def _scheduled_lr(schedule: Any, base: np.ndarray, step: int) -> np.ndarray:
    """``schedule``'s ρₖ for the (B,) base rates ``base``, checked finite and >= 0."""
    lr = np.broadcast_to(np.asarray(schedule(step, base), dtype=np.float64), base.shape)
    # torch's LinearLR recursion decaying to 0 ends at ±1e-18·ρ₀, not 0: that residue counts as 0
    lr = np.where((lr < 0) & (lr >= -ROUNDING_RESIDUE * base), 0.0, lr)
    return hyperparams.check_numeric("lr", lr, hyperparams.NONNEGATIVE, f"scheduled lr at step {step}")


def check_schedule(schedule: Any, lr: Any, steps: int) -> None:
    """What every run checks before any work, without a surface: ``schedule`` gives a finite lr >= 0 at step 0 and at
    step ``steps`` − 1 from the base rate(s) ``lr`` (a scalar or (B,) per row); else ``ValueError``."""
    lr = np.atleast_1d(np.asarray(lr, dtype=np.float64))
    base = np.broadcast_to(lr, (_schedule_rows(schedule, lr, lr.shape[0]),)).astype(np.float64)
    for step in {0, max(steps - 1, 0)}:  # a schedule that fails or gives a bad lr does so here
        try:
            _scheduled_lr(schedule, base, step)
        except ValueError as error:
            raise ValueError(f"Invalid schedule for {steps} steps: {error}") from None


def _schedule_rows(schedule: Any, lr: np.ndarray, rows: int) -> int:
    """The batch size once a schedule's own per-row parameters are broadcast in."""
    try:
        shape = np.broadcast_shapes(np.shape(schedule(0, np.broadcast_to(lr, (rows,)).astype(np.float64))), (rows,))
    except ValueError:
        shape = ()
    if len(shape) != 1:
        raise ValueError(f"Invalid schedule: its per-row parameters do not broadcast with the batch of {rows} rows")
    return shape[0]


def prepare(
    surface: Surface,
    optimizer: str,
    start: Any = None,
    steps: Any = 100,
    *,
    lr: Any = None,
    schedule: Any = None,
    noise: Any = 0.0,
    seed: Any = 0,
    batch_size: Any = None,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = "float64",
    hyperparameters: dict[str, Any] | None = None,
    keep_trajectories: bool = True,
    stream_row: Any = None,
) -> Batch:
    """The validated batch of ``optimizers.run`` (``keep_trajectories``: its limit on B × (steps + 1) points) or
    ``optimizers.sweep`` (its limit on B rows), from their arguments, the optimizer's own keywords (``momentum``,
    ``betas``, ...) in ``hyperparameters``; raises ``ValueError`` before any work starts."""
    rule, hp = hyperparams.resolve(optimizer, {"lr": lr, **(hyperparameters or {})})
    steps = hyperparams.check_steps(steps)
    start = hyperparams.check_start(surface.default_start if start is None else start)
    sigma = hyperparams.check_numeric("noise", noise)
    seed = hyperparams.check_seed(seed)
    stream_row = None if stream_row is None else int(check_number("stream_row", stream_row, STREAM_ROW))
    schedule = hyperparams.check_callable_schedule(schedule)
    chosen = Backend(backend, device, dtype)
    rows = hyperparams.batch_rows({**hp, "noise": sigma}, start)
    if schedule is not None:
        rows = _schedule_rows(schedule, hp["lr"], rows)
    hyperparams.check_batch(rows, steps, keep_trajectories=keep_trajectories)
    if rule.exact and (np.any(sigma > 0) or batch_size):
        what = "noise" if np.any(sigma > 0) else "batch_size"
        raise ValueError(f"Invalid {what} value: {noise if what == 'noise' else batch_size!r} ({optimizer} takes exact "
                         "gradients only: its line search compares values of one f, which noise or minibatches "
                         "would change between evaluations)")
    if batch_size is not None:
        if not hasattr(surface, "minibatch_grad"):
            raise ValueError(
                f"Invalid batch_size value: {batch_size!r} (this surface has no data to sample minibatches from)"
            )
        batch_size = int(check_number("batch_size", batch_size, BATCH_SIZE)) if batch_size else 0
        if batch_size < 1:
            raise ValueError(f"Invalid batch_size value: {batch_size!r} (must be a positive integer)")
    batch = Batch(
        surface, rule, optimizer, hp, np.broadcast_to(start, (rows, 2)).copy(), steps, rows, schedule,
        sigma, seed, batch_size, chosen, stream_row,
    )
    if schedule is not None:
        check_schedule(schedule, batch.base_lr(), steps)
    return batch
