"""Every hyper-parameter keyword, declared once: what the library accepts, what the app's widgets hold, how the
lecture writes it, and the learning rate a race starts from.

A :class:`Hyper` is to an optimizer keyword what ``landscapes.base.Param`` is to a surface parameter. Its
``valid`` range is what ``optimizers.run`` accepts (docs/ARCHITECTURE.md's contract: stricter than torch.optim,
which takes NaN and momentum 1.5); ``ui`` is what the pages' sliders hold (a narrower window: ρ from 1e-5 to 10
on a log scale, α up to 0.999); ``symbol``/``latex`` are the lecture's notation (ρ learning rate, α momentum,
ρ_r RMSprop's decay, β₁/β₂ Adam's moment decays, λ weight decay, ε, η AdaGrad's lr decay, ψ NAdam's momentum
decay); ``label`` is the widget's text. Every table the app and the plots need (slider ranges, flag labels,
equation symbols, legend texts, the maps' ρ axis) is derived from here.

``betas`` is one keyword holding two numbers: its halves are the entries ``beta1`` and ``beta2`` (``parts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from validation import Range

from .rules import RULES

NONNEGATIVE = Range(0.0)
UNIT_OPEN = Range(0.0, 1.0, high_open=True)  # [0, 1)
UNIT_CLOSED = Range(0.0, 1.0)  # [0, 1]
UNIT_SLIDER = (0.0, 0.999)  # α, β₁, τ sliders: 1 itself is refused and 0.9999 is rarely wanted


class Hyper(NamedTuple):
    """One hyper-parameter keyword (``kind``: "number", "flag", or "pair" for ``betas``)."""

    key: str
    kind: str
    symbol: str  # the lecture's notation in Unicode (labels, legends); "" for a flag
    latex: str  # the same in LaTeX (equations); "" for a flag
    label: str  # the widget's text (browser tests find widgets by it)
    doc: str
    valid: Range | None = None  # what the library accepts (numbers)
    ui: tuple[float, float] | None = None  # what a slider holds; None: a number input over ``valid`` (or a toggle)
    log: bool = False  # whether a slider spaces its values on a log scale
    parts: tuple[str, ...] = ()  # a pair's halves (``betas``: beta1, beta2)


HYPERPARAMETERS: dict[str, Hyper] = {h.key: h for h in (
    Hyper("lr", "number", "ρ", r"\rho", "ρ  learning rate", "learning rate ρ (step size)",
          NONNEGATIVE, (1e-5, 10.0), log=True),
    Hyper("momentum", "number", "α", r"\alpha", "α  momentum", "momentum α: v ← αv − ρg",
          UNIT_OPEN, UNIT_SLIDER),
    Hyper("dampening", "number", "τ", r"\tau", "τ  dampening", "dampening τ of the momentum buffer (torch's)",
          UNIT_OPEN, UNIT_SLIDER),
    Hyper("weight_decay", "number", "λ", r"\lambda", "λ  weight decay",
          "weight decay λ: g ← g + λθ (AdamW: θ ← θ(1 − ρλ))", NONNEGATIVE),
    Hyper("alpha", "number", "ρ_r", r"\rho_r", "ρ_r  smoothing (torch alpha)",
          "RMSprop's decay ρ_r (torch's alpha): r ← ρ_r r + (1 − ρ_r) g⊙g", UNIT_CLOSED, (0.0, 1.0)),
    Hyper("eps", "number", "ε", r"\epsilon", "ε", "ε added to the denominator √r + ε",
          NONNEGATIVE, (1e-12, 0.1), log=True),
    Hyper("lr_decay", "number", "η", r"\eta", "η  lr decay", "AdaGrad's lr decay η: ρₜ = ρ / (1 + (t − 1)η)",
          NONNEGATIVE),
    Hyper("initial_accumulator_value", "number", "r₀", "r_0", "r₀  initial accumulator",
          "AdaGrad's initial sum of squared gradients r₀", NONNEGATIVE),
    Hyper("betas", "pair", "β", r"\beta", "β₁, β₂", "Adam's moment decays (β₁, β₂)", parts=("beta1", "beta2")),
    Hyper("beta1", "number", "β₁", r"\beta_1", "β₁", "Adam's first-moment decay β₁: s ← β₁s + (1 − β₁)g",
          UNIT_OPEN, UNIT_SLIDER),
    Hyper("beta2", "number", "β₂", r"\beta_2", "β₂", "Adam's second-moment decay β₂: r ← β₂r + (1 − β₂) g⊙g",
          UNIT_OPEN, (0.0, 0.9999)),
    Hyper("momentum_decay", "number", "ψ", r"\psi", "ψ  momentum decay",
          "NAdam's momentum decay ψ: μₜ = β₁(1 − ½·0.96^{tψ})", NONNEGATIVE),
    Hyper("nesterov", "flag", "", "", "Nesterov", "Nesterov momentum: the gradient at θ + αv (needs α > 0, τ = 0)"),
    Hyper("amsgrad", "flag", "", "", "AMSGrad", "AMSGrad: the running maximum of r̂"),
    Hyper("centered", "flag", "", "", "centered", "centered RMSprop: r − ḡ⊙ḡ in place of r"),
    Hyper("decoupled_weight_decay", "flag", "", "", "decoupled weight decay (AdamW)",
          "weight decay applied to θ, not through g (AdamW)"),
    Hyper("bias_correction", "flag", "", "", "bias correction", "Adam's ŝ = s/(1 − β₁ᵗ), r̂ = r/(1 − β₂ᵗ)"),
    Hyper("noise", "number", "σ", r"\sigma", "gradient noise σ", "gradient noise σ: g = ∇f(θ) + σξ, ξ ~ N(0, I)",
          NONNEGATIVE),
)}

FLAGS = tuple(key for key, h in HYPERPARAMETERS.items() if h.kind == "flag")
FLAG_LABELS = {key: HYPERPARAMETERS[key].label for key in FLAGS}
UI_RANGES = {key: h.ui for key, h in HYPERPARAMETERS.items() if h.ui is not None}  # what sliders hold

# What a legend names besides ρ (the optimizer's own distinguishing settings).
LEGEND: dict[str, tuple[str, ...]] = {"momentum": ("momentum",), "nesterov": ("momentum",), "rmsprop": ("alpha",),
                                      "adam": ("betas",), "adamw": ("betas", "weight_decay"), "adamax": ("betas",),
                                      "nadam": ("betas", "momentum_decay"), "radam": ("betas",)}

# --- the learning rate a race starts from -----------------------------------------------------------------------
# DEFAULT_LR suits the default race (the quadratic with condition 50). From the default starts of the surfaces in
# SURFACE_LR it diverges, so each analytic entry is the largest 1-1.5-2-3-5-7 learning rate below DEFAULT_LR with
# which the default race, and the same race at twice that rate, do not diverge in 500 steps (tests/test_race.py
# checks both). monkey_saddle is unbounded below: every run there leaves for −∞, which is its lesson. The network's
# entry is larger: ρ that make progress in a network's plane (and its full space) in a few hundred steps, the same
# on Explore and on the Networks page.
DEFAULT_LR = {"sgd": 0.035, "momentum": 0.01, "nesterov": 0.01, "rmsprop": 0.02, "adam": 0.05, "adam_nobc": 0.05,
              "adagrad": 0.3, "adamw": 0.05, "adamax": 0.05, "nadam": 0.05, "radam": 0.05}
SURFACE_LR = {
    "rosenbrock": {"sgd": 0.001, "momentum": 0.001, "nesterov": 0.0005, "radam": 0.005},
    "beale": {"sgd": 0.015, "momentum": 0.003, "nesterov": 0.003, "radam": 0.01},
    "six_hump_camel": {"radam": 0.03},
    "styblinski_tang": {"radam": 0.03},
    "himmelblau": {"sgd": 0.01, "momentum": 0.007, "nesterov": 0.005},
    "network": {"sgd": 0.3, "momentum": 0.03, "nesterov": 0.03, "rmsprop": 0.01, "adam": 0.05, "adagrad": 0.3,
                "adamw": 0.05},
}


def spec(key: str) -> Hyper:
    """The entry of keyword ``key``; an unknown one is a ``ValueError`` listing the known keywords."""
    try:
        return HYPERPARAMETERS[key]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown hyper-parameter {key!r} (valid: {', '.join(HYPERPARAMETERS)})") from None


def race_lr(optimizer: str, surface: str | None = None) -> float:
    """The learning rate ρ a race of ``optimizer`` on ``surface`` starts from (torch's default where none is set)."""
    fallback = DEFAULT_LR.get(optimizer, RULES[optimizer].defaults["lr"])
    return SURFACE_LR.get(surface or "", {}).get(optimizer, fallback)


def format_value(value: Any) -> str:
    """A hyper-parameter value for a label: 3 significant digits, pairs as (a, b), per-row arrays as "per-row"."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    array = np.asarray(value, dtype=float)
    return "per-row" if array.ndim else f"{float(array):.3g}"


def legend_values(optimizer: str, hyperparameters: Mapping[str, Any]) -> str:
    """What a legend shows after an optimizer's name: ρ and its ``LEGEND`` settings, e.g. ``ρ=0.01, α=0.9``."""
    shown = ("lr", *LEGEND.get(optimizer, ()))
    return ", ".join(f"{HYPERPARAMETERS[key].symbol}={format_value(hyperparameters[key])}"
                     for key in shown if key in hyperparameters)


def legend_label(optimizer: str, hyperparameters: Mapping[str, Any]) -> str:
    """Legend text such as ``momentum (ρ=0.01, α=0.9)``."""
    values = legend_values(optimizer, hyperparameters)
    return f"{optimizer} ({values})" if values else optimizer
