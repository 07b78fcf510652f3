"""What an optimizer "sees" at one step: θₖ, the gradient gₖ it is fed, the step it takes and its state.

For the lecture's pictures at a scrubbed step k: −gₖ against the actual update θₖ₊₁ − θₖ (for momentum the
velocity v, lecture form v ← αv − ρg, θ ← θ + v), and for the adaptive methods the per-coordinate effective
learning rate ρ/(√r̂ + ε) — an axis-aligned ellipse of step sizes — with Adam's moments s, r and their
bias-corrected ŝ = s/(1 − β₁ᵗ), r̂ = r/(1 − β₂ᵗ) side by side.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .batch import prepare
from .engine import Stepper
from .surface import Surface


class StepView(NamedTuple):
    """One row's step k: θₖ → θₖ₊₁ under gradient gₖ and learning rate ρₖ, and the state after it."""

    step: int
    theta: np.ndarray  # θₖ (2,)
    loss: float  # f(θₖ)
    grad: np.ndarray  # gₖ as fed to the rule (2,)
    lr: float  # ρₖ
    update: np.ndarray  # θₖ₊₁ − θₖ (2,): momentum's velocity v
    state: dict[str, np.ndarray]  # the rule's state after the step, by torch's names (2,) each
    effective_lr: np.ndarray | None  # per-coordinate step size ρ/(√r̂ + ε) of the adaptive methods (2,)
    moments: dict[str, np.ndarray]  # Adam: s, r, ŝ, r̂ (2,) each; empty for the others
    diverged: bool  # this step is where the row diverged (θₖ₊₁ is frozen at its last finite iterate)


def step_view(surface: Surface, optimizer: str, step: int, start: Any = None, *, lr: Any = None,
              schedule: Any = None, noise: float = 0.0, seed: int = 0, batch_size: int | None = None,
              **hyperparameters: Any) -> StepView:
    """Replay ``optimizer`` from ``start`` for ``step + 1`` steps (the same arguments as ``optimizers.run``, one
    row) and describe step ``step``."""
    try:
        valid = not isinstance(step, (bool, str)) and int(step) == step >= 0
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise ValueError(f"Invalid step value: {step!r} (must be an integer >= 0)")
    batch = prepare(surface, optimizer, start, int(step) + 1, lr=lr, schedule=schedule, noise=noise, seed=seed,
                    batch_size=batch_size, hyperparameters=hyperparameters, keep_trajectories=False)
    if batch.rows != 1:
        raise ValueError(f"Invalid batch: {batch.rows} rows (step_view inspects one: scalar hyper-parameters and "
                         "one start)")
    with np.errstate(all="ignore"):
        before, after = None, None
        for record in Stepper(batch):
            if record.k == step:
                before = record
            after = record  # the last: step k + 1, reached by step k
    diverged_at = int(after.diverged_at[0])
    if 0 <= diverged_at <= step:  # frozen from there on: no step to describe, and its state is not finite
        raise ValueError(f"Invalid step value: {step} (the run diverged at step {diverged_at}; inspect a step "
                         f"before it, at most {diverged_at - 1})")
    theta, loss = np.array(before.theta[0]), float(before.loss[0])
    state = {name: np.array(value[0]) for name, value in _flat(after.state) if value is not None}
    lr_k = float(after.lr[0])
    hp = {name: value if value is None or isinstance(value, (bool, str)) else float(np.asarray(value).reshape(-1)[0])
          for name, value in batch.hp.items()}  # numbers as floats; flags and choices as they are
    base = {name.removeprefix("base."): value for name, value in state.items()}  # a wrapped base's, as its own
    effective, moments = _adaptive(optimizer, base, hp, lr_k, step + 1)
    return StepView(step, theta, loss, np.array(after.grad[0]), lr_k, np.array(after.theta[0]) - theta, state,
                    effective, moments, diverged_at == step + 1)


def _flat(state: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """A state's fields by name, a wrapped base's state inside (Lookahead's) as ``base.<name>``."""
    fields = []
    for name, value in state._asdict().items():
        if hasattr(value, "_asdict"):
            fields += _flat(value, f"{prefix}{name}.")
        else:
            fields.append((prefix + name, value))
    return fields


def _adaptive(optimizer: str, state: dict[str, np.ndarray], hp: dict[str, Any], lr: float,
              t: int) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
    """Per-coordinate step sizes and Adam's moments after step t (1-based)."""
    if "amsgrad" in hp:  # adam, adamw, adam_nobc (AdaBound's state has a max_exp_avg_sq too)
        s, r = state["exp_avg"], state["max_exp_avg_sq"] if hp.get("amsgrad") else state["exp_avg_sq"]
        s_hat, r_hat = s / (1 - hp["beta1"] ** t), r / (1 - hp["beta2"] ** t)
        used = r_hat if hp.get("bias_correction", True) else r
        return lr / (np.sqrt(used) + hp["eps"]), {"s": s, "r": r, "ŝ": s_hat, "r̂": r_hat}
    if "grad_avg" in state:  # rmsprop (Adadelta has a square_avg too)
        r = state["square_avg"] - (state["grad_avg"] ** 2 if hp.get("centered") else 0.0)
        return lr / (np.sqrt(r) + hp["eps"]), {}
    if "sum" in state:  # adagrad
        return lr / (1 + (t - 1) * hp["lr_decay"]) / (np.sqrt(state["sum"]) + hp["eps"]), {}
    return None, {}
