"""Validation and broadcasting of optimizer hyper-parameters, starts and sizes.

Every check runs before any work and raises ``ValueError`` naming the parameter, the value
and the valid range, e.g. ``Invalid lr value: -1.0 (must be >= 0)`` (the checks of :mod:`validation`).
The ranges are the catalogue's (:mod:`optimizers.catalogue`, the contract in docs/ARCHITECTURE.md: stricter
than torch.optim, which accepts NaN and momentum 1.5).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from validation import Range, check_choice, check_number

from . import catalogue
from .rules import BASE_PREFIX, RULES, Rule

MAX_STEPS = 100_000
MAX_SWEEP_ROWS = 1_000_000
MAX_RUN_POINTS = 5_000_000
STEPS = Range(0, MAX_STEPS, integer=True)
NONNEGATIVE = catalogue.NONNEGATIVE  # a scheduled lr, a sweep's tol: finite >= 0


def rule(name: str) -> Rule:
    """The rule of optimizer ``name``; unknown names list the valid ones."""
    try:
        return RULES[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown optimizer {name!r} (valid: {', '.join(RULES)})") from None


def check_numeric(name: str, value: Any, valid: Range | None = None, label: str | None = None) -> np.ndarray:
    """Validate a scalar or per-row array against ``valid`` (default: the catalogue's range of keyword ``name``);
    returns it as float64 (0-d or (B,)). ``label`` names it in the message instead of ``name``."""
    valid = catalogue.spec(name).valid if valid is None else valid
    return np.array(check_number(label or name, value, valid, per_row=True, floats=True), dtype=np.float64)


def _check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"Invalid {name} value: {value!r} (must be True or False)")
    return bool(value)


def _split_pair(key: str, entry: catalogue.Hyper, value: Any, default: tuple) -> dict[str, np.ndarray]:
    """A pair keyword (``betas``, ``etas``, ...) as its halves, each checked against its own range. A half whose
    torch default is None (Adafactor's ε₁) may be None: it is then left out, and the kernel uses that default."""
    halves = [catalogue.spec(half) for half in entry.parts]
    rules = [("None or " if fallback is None else "") + half.valid.rule for half, fallback in zip(halves, default)]
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != len(halves):
        symbols = ", ".join(half.symbol for half in halves)
        each = f"each {rules[0]}" if len(set(rules)) == 1 else ", ".join(
            f"{half.symbol} {rule}" for half, rule in zip(halves, rules))
        raise ValueError(f"Invalid {key} value: {value!r} (must be a pair ({symbols}), {each})")
    return {half.key: check_numeric(half.key, part, label=f"{key}[{i}] ({half.symbol})")
            for i, (half, part, fallback) in enumerate(zip(halves, value, default))
            if part is not None or fallback is not None}


def defaults(optimizer: str, base_optimizer: str | None = None) -> dict[str, Any]:
    """The keywords ``optimizer`` takes, with their defaults (the reference constructor's). A wrapper (SAM,
    Lookahead) takes its base optimizer's too (``base_optimizer``, else its default base), its own last: where names
    clash, the wrapper's entry and default stand for the keyword."""
    found = rule(optimizer)
    if not found.wraps:
        return dict(found.defaults)
    base = check_base(base_optimizer or found.defaults["base_optimizer"])
    return {**RULES[base].defaults, **found.defaults, "base_optimizer": base}


def check_base(name: Any) -> str:
    """A wrapper's base optimizer: one of ``catalogue.BASES`` (every optimizer but the wrappers and LBFGS)."""
    return check_choice("base_optimizer", name, catalogue.BASES)


def entry(optimizer: str, key: str, base_optimizer: str | None = None) -> catalogue.Hyper:
    """The catalogue entry of keyword ``key`` as ``optimizer`` takes it: a wrapper's own keyword, or its base's."""
    found = rule(optimizer)
    if found.wraps and key not in found.defaults:
        return catalogue.spec(key, base_optimizer or found.defaults["base_optimizer"])
    return catalogue.spec(key, optimizer)


def public(optimizer: str, hp: dict[str, Any]) -> dict[str, Any]:
    """:func:`resolve`'s hyper-parameters under the optimizer's keywords again: each pair from its halves (a half
    left out as None); a wrapper's base keeps its clashing keywords' defaults to itself."""
    values = {key: value for key, value in hp.items() if not key.startswith(BASE_PREFIX)}
    for key in defaults(optimizer, hp.get("base_optimizer")):
        found = entry(optimizer, key, hp.get("base_optimizer"))
        if found.kind == "pair":
            values[key] = tuple(values.pop(half, None) for half in found.parts)
    return values


def _value(name: str, spec: catalogue.Hyper, value: Any, default: Any) -> dict[str, Any]:
    """One keyword's value checked: a pair as its halves, a flag, a choice, or a number (None where the reference's
    default is None: LBFGS's ``max_eval``)."""
    if spec.kind == "pair":
        return _split_pair(name, spec, value, default)
    if spec.kind == "flag":
        return {name: _check_flag(name, value)}
    if spec.kind == "choice":
        return {name: check_choice(name, value, spec.choices)}
    if value is None and default is None:
        return {name: None}
    return {name: check_numeric(name, value, spec.valid)}


def resolve(optimizer: str, keywords: dict[str, Any]) -> tuple[Rule, dict[str, Any]]:
    """Check keywords against the optimizer's own and validate each value.

    Returns the rule and a flat dict of hyper-parameters: numbers as float64 arrays (0-d or (B,)), flags as bools,
    choices as given, pairs split into their halves (``betas`` into ``beta1``/``beta2``; :func:`public` joins them
    again); defaults filled in. A wrapper's values hold its base's too; where the base is built apart
    (``Rule.wraps`` "instance", Lookahead) its defaults of the keywords the wrapper's own take are kept as
    ``base.<name>``.
    """
    found = rule(optimizer)
    base = keywords.get("base_optimizer") if found.wraps else None
    accepted = defaults(optimizer, base)
    unknown = sorted(set(keywords) - set(accepted))
    if unknown:
        raise ValueError(
            f"Optimizer {optimizer!r} takes no keyword {unknown[0]!r} (valid: {', '.join(accepted)})"
        )
    base = accepted.get("base_optimizer")
    fixed = {**(RULES[base].fixed if base else {}), **found.fixed}
    merged = {**accepted, **{k: v for k, v in keywords.items() if v is not None}, **fixed}
    values: dict[str, Any] = {}
    for name, value in merged.items():
        values.update(_value(name, entry(optimizer, name, base), value, accepted.get(name)))
    if found.wraps == "instance":  # the base's defaults of the keywords the wrapper's own take (Lookahead's alpha)
        for name in set(RULES[base].defaults) & set(found.defaults):
            own = {**RULES[base].defaults, **RULES[base].fixed}[name]
            values.update({BASE_PREFIX + key: value
                           for key, value in _value(name, catalogue.spec(name, base), own, own).items()})
    _check_combinations(optimizer, values)
    return found, values


def _check_combinations(optimizer: str, values: dict[str, Any]) -> None:
    """Settings valid one by one but not together."""
    if values.get("nesterov"):
        if np.any(values["momentum"] <= 0) or np.any(values["dampening"] != 0):
            raise ValueError(
                "Invalid nesterov value: True (Nesterov momentum requires momentum > 0 and dampening = 0;"
                f" got momentum={values['momentum'].tolist()}, dampening={values['dampening'].tolist()})"
            )
    if optimizer == "schedulefree_adamw" and np.any(values["beta1"] <= 0):
        raise ValueError(f"Invalid betas[0] (β₁) value: {values['beta1'].tolist()} (schedule-free AdamW needs β₁ in "
                         "(0, 1): its average is x = θ + (1 − 1/β₁)(z − θ))")


def check_steps(steps: Any) -> int:
    """Steps: an integer in [0, MAX_STEPS] (2.0 counts as 2)."""
    return check_number("steps", steps, STEPS)


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
