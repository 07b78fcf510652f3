"""Validation and broadcasting of optimizer hyper-parameters, starts and sizes.

Every check runs before any work and raises ``ValueError`` naming the parameter, the value
and the valid range, e.g. ``Invalid lr value: -1.0 (must be >= 0)``. Ranges are DESIGN's
(stricter than torch.optim, which accepts NaN and momentum 1.5).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .rules import RULES, Rule

MAX_STEPS = 100_000
MAX_SWEEP_ROWS = 1_000_000
MAX_RUN_POINTS = 5_000_000


class Range(NamedTuple):
    """A numeric range; ``closed_high`` False means the upper end is excluded."""

    low: float
    high: float = float("inf")
    closed_high: bool = True

    def contains(self, values: np.ndarray) -> np.ndarray:
        above = values >= self.low
        below = values <= self.high if self.closed_high else values < self.high
        return np.isfinite(values) & above & below

    def __str__(self) -> str:
        if self.high == float("inf"):
            return f"must be >= {self.low:g}"
        return f"must be in [{self.low:g}, {self.high:g}{']' if self.closed_high else ')'}"


NONNEGATIVE = Range(0.0)
UNIT_OPEN = Range(0.0, 1.0, closed_high=False)
UNIT_CLOSED = Range(0.0, 1.0)

NUMERIC_RANGES: dict[str, Range] = {
    "lr": NONNEGATIVE,
    "momentum": UNIT_OPEN,
    "dampening": UNIT_OPEN,
    "weight_decay": NONNEGATIVE,
    "alpha": UNIT_CLOSED,
    "eps": NONNEGATIVE,
    "lr_decay": NONNEGATIVE,
    "initial_accumulator_value": NONNEGATIVE,
    "beta1": UNIT_OPEN,
    "beta2": UNIT_OPEN,
    "noise": NONNEGATIVE,
}
FLAGS = ("nesterov", "amsgrad", "centered", "decoupled_weight_decay", "bias_correction")


def rule(name: str) -> Rule:
    """The rule of optimizer ``name``; unknown names list the valid ones."""
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r} (valid: {', '.join(RULES)})") from None


def _row_array(name: str, value: Any) -> np.ndarray:
    """A scalar or 1-D per-row array of floats; anything else names the parameter."""
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid {name} value: {value!r} (must be a number or a 1-D array of numbers)") from None
    if array.ndim > 1:
        raise ValueError(f"Invalid {name} shape: {array.shape} (must be a scalar or a 1-D per-row array)")
    return array


def check_numeric(name: str, value: Any, valid: Range, label: str | None = None) -> np.ndarray:
    """Validate a scalar or per-row array against ``valid``; returns it as float64."""
    array = _row_array(label or name, value)
    bad = ~valid.contains(array)
    if bad.any():
        first = float(array[bad].flat[0] if array.ndim else array)
        raise ValueError(f"Invalid {label or name} value: {first!r} ({valid})")
    return array


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"Invalid {name} value: {value!r} (must be True or False)")
    return bool(value)


def _split_betas(value: Any) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"Invalid betas value: {value!r} (must be a pair (β₁, β₂), each in [0, 1))")
    return (
        check_numeric("beta1", value[0], NUMERIC_RANGES["beta1"], "betas[0] (β₁)"),
        check_numeric("beta2", value[1], NUMERIC_RANGES["beta2"], "betas[1] (β₂)"),
    )


def resolve(optimizer: str, keywords: dict[str, Any]) -> tuple[Rule, dict[str, Any]]:
    """Check keywords against the optimizer's own and validate each value.

    Returns the rule and a flat dict of hyper-parameters: numbers as float64 arrays (0-d or
    (B,)), flags as bools, ``betas`` split into ``beta1``/``beta2``; defaults filled in.
    """
    found = rule(optimizer)
    unknown = sorted(set(keywords) - set(found.defaults))
    if unknown:
        raise ValueError(
            f"Optimizer {optimizer!r} takes no keyword {unknown[0]!r} (valid: {', '.join(found.defaults)})"
        )
    merged = {**found.defaults, **{k: v for k, v in keywords.items() if v is not None}, **found.fixed}
    values: dict[str, Any] = {}
    for name, value in merged.items():
        if name == "betas":
            values["beta1"], values["beta2"] = _split_betas(value)
        elif name in FLAGS:
            values[name] = _check_flag(name, value)
        else:
            values[name] = check_numeric(name, value, NUMERIC_RANGES[name])
    if values.get("nesterov"):
        if np.any(values["momentum"] <= 0) or np.any(values["dampening"] != 0):
            raise ValueError(
                "Invalid nesterov value: True (Nesterov momentum requires momentum > 0 and dampening = 0;"
                f" got momentum={values['momentum'].tolist()}, dampening={values['dampening'].tolist()})"
            )
    return found, values


def check_steps(steps: Any) -> int:
    """Steps: an integer in [0, MAX_STEPS]."""
    try:
        count = operator.index(steps)
    except TypeError:
        if isinstance(steps, float) and steps.is_integer():
            count = int(steps)
        else:
            raise ValueError(f"Invalid steps value: {steps!r} (must be an integer in [0, {MAX_STEPS}])") from None
    if not 0 <= count <= MAX_STEPS:
        raise ValueError(f"Invalid steps value: {steps!r} (must be an integer in [0, {MAX_STEPS}])")
    return count


def check_start(start: Any) -> np.ndarray:
    """A start: two finite numbers (2,) or a (B, 2) array of finite numbers."""
    message = f"Invalid start value: {start!r:.200} (must be two finite numbers or a (B, 2) array)"
    if type(start).__module__.startswith("torch"):
        start = start.detach().cpu().numpy()
    try:
        array = np.asarray(start, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if array.ndim not in (1, 2) or array.shape[-1] != 2 or array.size == 0 or not np.isfinite(array).all():
        raise ValueError(message)
    return array


def check_seed(seed: Any) -> int:
    """A seed: an integer in [0, 2⁶³)."""
    try:
        value = operator.index(seed)
    except TypeError:
        raise ValueError(f"Invalid seed value: {seed!r} (must be an integer in [0, 2**63))") from None
    if not 0 <= value < 2**63:
        raise ValueError(f"Invalid seed value: {seed!r} (must be an integer in [0, 2**63))")
    return value


def batch_rows(arrays: dict[str, np.ndarray], start: np.ndarray) -> int:
    """The batch size B all per-row inputs broadcast to (elementwise, like numpy)."""
    shapes = {name: a.shape for name, a in arrays.items() if isinstance(a, np.ndarray) and a.ndim == 1}
    if start.ndim == 2:
        shapes["start"] = start.shape[:1]
    try:
        shape = np.broadcast_shapes(*shapes.values()) if shapes else ()
    except ValueError:
        listed = ", ".join(f"{name} {s}" for name, s in shapes.items())
        raise ValueError(f"Invalid batch: per-row inputs do not broadcast together ({listed})") from None
    return shape[0] if shape else 1


def check_batch(rows: int, steps: int, *, keep_trajectories: bool) -> None:
    """Size caps: B ≤ 1 000 000 rows for a sweep, B × (steps + 1) ≤ 5 000 000 points for a run."""
    if keep_trajectories and rows * (steps + 1) > MAX_RUN_POINTS:
        raise ValueError(
            f"Invalid batch: {rows} rows × {steps + 1} points = {rows * (steps + 1)} "
            f"(run keeps trajectories: must be <= {MAX_RUN_POINTS}; use sweep for summaries)"
        )
    if rows > MAX_SWEEP_ROWS:
        raise ValueError(f"Invalid batch: {rows} rows (must be <= {MAX_SWEEP_ROWS})")


def check_callable_schedule(schedule: Any) -> Callable | None:
    """A schedule is None or callable as ``schedule(step, base_lr)``."""
    if schedule is not None and not callable(schedule):
        raise ValueError(
            f"Invalid schedule value: {schedule!r} (must be None or a schedule from optimizers.schedules)"
        )
    return schedule
