"""The learning-rate schedules the lecture compares, as presets over ``optimizers.schedules``.

Each preset builds a torch.optim.lr_scheduler-equivalent schedule from a run's length and one or two
parameters: constant ρₖ = ρ₀; step decay ρₖ = ρ₀γ^⌊k/s⌋; exponential ρₖ = ρ₀γᵏ; cosine annealing to 0 over
the run; Algorithm 8.1's linear decay ρₖ = (1 − k/τ)ρ₀ + (k/τ)ρ_τ until k = τ, then ρ_τ; and a linear
warm-up from f·ρ₀ to ρ₀ over w steps. :func:`scheduled_race` races one optimizer with and without it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import optimizers

from . import race


class Knob(NamedTuple):
    """A preset's parameter: key, label, default, closed range, integer or not."""

    key: str
    label: str
    default: float
    low: float
    high: float
    integer: bool = False


class Preset(NamedTuple):
    """A named schedule: its knobs and how it becomes a schedule config for a run of ``steps`` steps."""

    label: str
    knobs: tuple[Knob, ...]
    build: Callable[[int, dict[str, float]], dict[str, Any] | None]


def _fraction_of(steps: int, fraction: float) -> int:
    return max(1, round(steps * fraction))


PRESETS: dict[str, Preset] = {
    "constant": Preset("constant ρₖ = ρ₀", (), lambda steps, p: None),
    "step": Preset(
        "step decay ρₖ = ρ₀ γ^⌊k/s⌋",
        (Knob("step_fraction", "s (fraction of the run)", 0.25, 0.01, 1.0), Knob("gamma", "γ", 0.3, 0.01, 1.0)),
        lambda steps, p: {"name": "StepLR", "step_size": _fraction_of(steps, p["step_fraction"]),
                          "gamma": p["gamma"]},
    ),
    "exponential": Preset(
        "exponential ρₖ = ρ₀ γᵏ",
        (Knob("gamma", "γ per step", 0.995, 0.9, 1.0),),
        lambda steps, p: {"name": "ExponentialLR", "gamma": p["gamma"]},
    ),
    "cosine": Preset(
        "cosine annealing to 0 over the run",
        (),
        lambda steps, p: {"name": "CosineAnnealingLR", "T_max": max(steps, 1)},
    ),
    "linear": Preset(
        "linear decay (Algorithm 8.1) to ρ_τ = f·ρ₀ at τ",
        (Knob("tau_fraction", "τ (fraction of the run)", 1.0, 0.01, 1.0),
         Knob("final_factor", "f = ρ_τ/ρ₀", 0.01, 0.0, 1.0)),
        lambda steps, p: {"name": "LinearLR", "start_factor": 1.0, "end_factor": p["final_factor"],
                          "total_iters": _fraction_of(steps, p["tau_fraction"])},
    ),
    "warmup": Preset(
        "linear warm-up from f·ρ₀ to ρ₀ over w steps",
        (Knob("warmup_fraction", "w (fraction of the run)", 0.1, 0.01, 1.0),
         Knob("start_factor", "f", 0.01, 0.001, 1.0)),
        lambda steps, p: {"name": "LinearLR", "start_factor": p["start_factor"], "end_factor": 1.0,
                          "total_iters": _fraction_of(steps, p["warmup_fraction"])},
    ),
}


def schedule_config(preset: str, steps: int, values: dict[str, float] | None = None) -> dict[str, Any] | None:
    """The schedule config (``optimizers.schedules.from_config``) of ``preset`` for a run of ``steps`` steps;
    None for the constant rate. Missing knobs take their defaults; a knob out of range is a ValueError."""
    if preset not in PRESETS:
        raise ValueError(f"Invalid schedule value: {preset!r} (valid: {', '.join(PRESETS)})")
    chosen = dict(values or {})
    knobs = {knob.key: knob for knob in PRESETS[preset].knobs}
    unknown = sorted(set(chosen) - set(knobs))
    if unknown:
        raise ValueError(f"Schedule {preset!r} takes no parameter {unknown[0]!r} (valid: {', '.join(knobs) or 'none'})")
    for key, knob in knobs.items():
        value = float(chosen.get(key, knob.default))
        if not knob.low <= value <= knob.high:
            raise ValueError(f"Invalid {key} value: {value!r} (must be in [{knob.low:g}, {knob.high:g}])")
        chosen[key] = value
    config = PRESETS[preset].build(int(steps), chosen)
    if config is not None:
        optimizers.schedules.from_config(config)  # the schedule's own checks
    return config


def learning_rates(config: dict[str, Any] | None, base_lr: float, steps: int) -> np.ndarray:
    """ρₖ for k = 0 … steps − 1 (the rate of the step from θₖ to θₖ₊₁), as the engine applies it."""
    if config is None:
        return np.full(steps, float(base_lr))
    schedule = optimizers.schedules.from_config(config)
    return np.array([schedule(k, float(base_lr)) for k in range(steps)], dtype=float)


def scheduled_race(config: race.RaceConfig, schedule: dict[str, Any] | None,
                   label: str) -> dict[str, optimizers.Trajectory]:
    """Each optimizer of ``config`` at its constant ρ₀ and under ``schedule``: names "… (constant ρ)" and
    "… (``label``)" (``losslab.race.run_race`` twice)."""
    constant = race.run_race(dataclasses.replace(config, schedule=None))
    scheduled = race.run_race(dataclasses.replace(config, schedule=schedule))
    trajectories = {f"{name} (constant ρ)": t for name, t in constant.items()}
    trajectories.update({f"{name} ({label})": t for name, t in scheduled.items()})
    return trajectories
