"""Every hyper-parameter keyword, declared once: what the library accepts, what the app's widgets hold, how the
lecture writes it, and the learning rate a race starts from.

A :class:`Hyper` is to an optimizer keyword what ``landscapes.base.Param`` is to a surface parameter. Its
``valid`` range is what ``optimizers.run`` accepts (docs/ARCHITECTURE.md's contract: stricter than torch.optim,
which takes NaN and momentum 1.5); ``ui`` is what the pages' sliders hold (a narrower window: ρ from 1e-5 to 10
on a log scale, α up to 0.999); ``symbol``/``latex`` are the lecture's notation (ρ learning rate, α momentum,
ρ_r RMSprop's decay, β₁/β₂ Adam's moment decays, λ weight decay, ε, η AdaGrad's lr decay, ψ NAdam's momentum
decay, ρ_d Adadelta's decay, η⁻/η⁺ and Δ_min/Δ_max Rprop's step factors and bounds, λ_a, ω and t₀ ASGD's decay,
power and averaging start, c, d and ε₁/ε₂ Adafactor's β₂ decay, clipping threshold and floors; for
pytorch_optimizer's optimizers, within what its constructors accept: β₃ the third decay of Adan and AdEMAMix,
ζ AdEMAMix's slow-momentum weight, ρ* and γ AdaBound's final rate and bound speed, G a gradient-norm clip, r₀ Yogi's
initial moments, d₀ and c_d Prodigy's first distance estimate and its coefficient); ``label`` is the widget's text.
Every table the app and the plots need (slider ranges, flag labels, equation symbols, legend texts, the maps' ρ axis)
is derived from here.

``betas`` is one keyword holding two numbers: its halves are the entries ``beta1`` and ``beta2`` (``parts``);
``etas``, ``step_sizes`` and Adafactor's ``eps`` are pairs too; the betas triple of pytorch_optimizer's Adan and
AdEMAMix is ``betas`` and ``beta3``. Where a reference gives a keyword another meaning in one optimizer (ASGD's
``alpha``, Adafactor's ``eps``, AdEMAMix's ``alpha``), ``OWN`` holds that optimizer's entry.
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
BASES = tuple(name for name, rule in RULES.items() if not (rule.wraps or rule.closure))
# what SAM and Lookahead may wrap: every optimizer but the wrappers and LBFGS (whose steps search lines themselves)
UNIT_SLIDER = (0.0, 0.999)  # α, β₁, τ sliders: 1 itself is refused and 0.9999 is rarely wanted


class Hyper(NamedTuple):
    """One hyper-parameter keyword (``kind``: "number", "flag", "pair" for ``betas``, or "choice" among ``choices``,
    one for every row)."""

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
    choices: tuple[Any, ...] = ()  # a choice's options (``base_optimizer``, ``line_search_fn``, ...)


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
          NONNEGATIVE, (1e-16, 0.1), log=True),  # from AdaBelief's default 1e-16
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
    Hyper("rho", "number", "ρ_d", r"\rho_d", "ρ_d  decay (torch rho)",
          "Adadelta's decay ρ_d (torch's rho, not the learning rate ρ): r ← ρ_d r + (1 − ρ_d) g⊙g, and the same for "
          "the squared updates", UNIT_CLOSED, (0.0, 1.0)),
    Hyper("etas", "pair", "η±", r"\eta^\pm", "η⁻, η⁺", "Rprop's step-size factors (η⁻, η⁺)",
          parts=("etaminus", "etaplus")),
    Hyper("etaminus", "number", "η⁻", r"\eta^-", "η⁻", "Rprop's η⁻: Δ ← η⁻Δ where g flips its sign",
          Range(0.0, 1.0, low_open=True, high_open=True), (0.01, 0.99)),
    Hyper("etaplus", "number", "η⁺", r"\eta^+", "η⁺", "Rprop's η⁺: Δ ← η⁺Δ where g keeps its sign",
          Range(1.0, low_open=True), (1.01, 3.0)),
    Hyper("step_sizes", "pair", "Δ", r"\Delta", "Δ_min, Δ_max", "Rprop's step-size bounds (Δ_min, Δ_max)",
          parts=("step_size_min", "step_size_max")),
    Hyper("step_size_min", "number", "Δ_min", r"\Delta_{\min}", "Δ_min", "Rprop's smallest step size Δ_min",
          NONNEGATIVE),
    Hyper("step_size_max", "number", "Δ_max", r"\Delta_{\max}", "Δ_max", "Rprop's largest step size Δ_max",
          NONNEGATIVE),
    Hyper("lambd", "number", "λ_a", r"\lambda_a", "λ_a  decay (torch lambd)",
          "ASGD's decay λ_a (torch's lambd): θ ← θ(1 − λ_a ηₜ) − ηₜg, ηₜ₊₁ = ρ/(1 + λ_a ρ t)^ω", NONNEGATIVE),
    Hyper("t0", "number", "t₀", "t_0", "t₀  averaging start",
          "ASGD's t₀: the step from which θ̄ averages the iterates (μₜ = 1/max(1, t − t₀))", NONNEGATIVE),
    Hyper("beta2_decay", "number", "c", "c", "c  β₂ decay (torch beta2_decay)",
          "Adafactor's decay c (torch's beta2_decay): r ← (1 − t^c) r + t^c g⊙g, i.e. 1 − β₂ₜ = t^c",
          Range(high=0.0), (-1.0, 0.0)),
    Hyper("d", "number", "d", "d", "d  clipping threshold",
          "Adafactor's clipping threshold d: the update u is scaled down to RMS(u) ≤ d", Range(1.0), (1.0, 10.0)),
    Hyper("eps1", "number", "ε₁", r"\epsilon_1", "ε₁",
          "Adafactor's ε₁: r is floored at ε₁² (None, torch's default: the machine epsilon of θ's dtype)",
          NONNEGATIVE),
    Hyper("eps2", "number", "ε₂", r"\epsilon_2", "ε₂",
          "Adafactor's ε₂: the smallest RMS(θ) its step is relative to, ρ̂ₜ = max(ε₂, RMS(θ))ρₜ", NONNEGATIVE),
    Hyper("nesterov", "flag", "", "", "Nesterov", "Nesterov momentum: the gradient at θ + αv (needs α > 0, τ = 0)"),
    Hyper("amsgrad", "flag", "", "", "AMSGrad", "AMSGrad: the running maximum of r̂"),
    Hyper("centered", "flag", "", "", "centered", "centered RMSprop: r − ḡ⊙ḡ in place of r"),
    Hyper("decoupled_weight_decay", "flag", "", "", "decoupled weight decay (AdamW)",
          "weight decay applied to θ, not through g (AdamW)"),
    Hyper("bias_correction", "flag", "", "", "bias correction", "Adam's ŝ = s/(1 − β₁ᵗ), r̂ = r/(1 − β₂ᵗ)"),
    Hyper("noise", "number", "σ", r"\sigma", "gradient noise σ", "gradient noise σ: g = ∇f(θ) + σξ, ξ ~ N(0, I)",
          NONNEGATIVE),
    # pytorch_optimizer's keywords (its ranges: what its constructors accept, finite)
    Hyper("initial_accumulator", "number", "r₀", "r_0", "s₀ = r₀  initial moments",
          "Yogi's initial moments s₀ = r₀ (pytorch_optimizer's initial_accumulator)", Range()),
    Hyper("weight_decouple", "flag", "", "", "decoupled weight decay (weight_decouple)",
          "weight decay applied to θ, θ ← θ(1 − ρλ), not through g (pytorch_optimizer's weight_decouple)"),
    Hyper("fixed_decay", "flag", "", "", "fixed decay (without ρ)",
          "decoupled weight decay without the learning rate: θ ← θ(1 − λ)"),
    Hyper("rectify", "flag", "", "", "rectify (RAdam)",
          "RAdam's rectifier: the adaptive step only once ℓₜ ≥ 5, scaled by rₜ"),
    Hyper("degenerated_to_sgd", "flag", "", "", "SGD steps before rectification",
          "rectify: momentum-SGD steps while ℓₜ < 5 (else no step)"),
    Hyper("ams_bound", "flag", "", "", "AMSBound", "the running maximum of r in the denominator (AMSGrad's)"),
    Hyper("beta3", "number", "β₃", r"\beta_3", "β₃",
          "the third decay β₃ (the third of pytorch_optimizer's betas): Adan's r ← β₃r + (1 − β₃)(g + β₂Δ)², "
          "AdEMAMix's slow momentum s₂ ← β₃s₂ + (1 − β₃)g", UNIT_CLOSED, (0.0, 0.9999)),
    Hyper("max_grad_norm", "number", "G", "G", "G  gradient-norm clip",
          "g ← g·min(1, G/(‖g‖ + ε)) (Adan; LAMB with pre_norm); 0: off", NONNEGATIVE),
    Hyper("grad_averaging", "flag", "", "", "gradient averaging", "LAMB's s ← β₁s + (1 − β₁)g (off: s ← β₁s + g)"),
    Hyper("adam", "flag", "", "", "Adam (trust ratio 1)", "LAMB without its trust ratio: Adam's step"),
    Hyper("pre_norm", "flag", "", "", "pre-norm (clip ‖g‖ to G)", "LAMB: g ← g·min(1, G/(‖g‖ + ε)) first"),
    Hyper("final_lr", "number", "ρ*", r"\rho^*", "ρ*  final learning rate",
          "AdaBound's final (SGD) learning rate ρ*: its bounds close in on it", Range(), (0.0, 1.0)),
    Hyper("gamma", "number", "γ", r"\gamma", "γ  bound convergence speed",
          "AdaBound's γ: bounds ρ*(1 − 1/(γt + 1)) and ρ*(1 + 1/(γt))", Range(0.0, low_open=True)),
    Hyper("d0", "number", "d₀", "d_0", "d₀  initial distance estimate",
          "Prodigy's first estimate d₀ of the distance to the minimum (> 0: the reference divides by it)",
          Range(0.0, low_open=True)),
    Hyper("d_coef", "number", "c_d", "c_d", "c_d  d coefficient", "Prodigy's coefficient c_d of d̂ = c_d·n/‖σ‖₁",
          Range()),
    Hyper("safeguard_warmup", "flag", "", "", "safeguard warm-up",
          "Prodigy: σ accumulates (d/d₀)·d·g, without the learning rate"),
    # LBFGS (torch.optim's; the sizes bounded here, so that one step's work is)
    Hyper("max_iter", "number", "I", "I", "I  iterations per step (max_iter)",
          "LBFGS: at most I quasi-Newton iterations within one step (one optimizer.step(closure))",
          Range(1, 1000, integer=True)),
    Hyper("max_eval", "number", "E", "E", "E  evaluations per step (max_eval)",
          "LBFGS: at most E evaluations of f and ∇f within one step (None: ⌊5I/4⌋)", Range(1, 1250, integer=True)),
    Hyper("tolerance_grad", "number", "ε_g", r"\epsilon_g", "ε_g  gradient tolerance",
          "LBFGS stops a step once max |g| ≤ ε_g", NONNEGATIVE),
    Hyper("tolerance_change", "number", "ε_Δ", r"\epsilon_\Delta", "ε_Δ  change tolerance",
          "LBFGS stops a step once its move, or its change of f, is ≤ ε_Δ", NONNEGATIVE),
    Hyper("history_size", "number", "m", "m", "m  history size",
          "LBFGS keeps the last m pairs (s, y) of moves and gradient changes", Range(1, 1000, integer=True)),
    Hyper("line_search_fn", "choice", "", "", "line search", "LBFGS's line search: None (a fixed step ρ after the "
          "first) or 'strong_wolfe' (cubic interpolation to the strong Wolfe conditions)",
          choices=(None, "strong_wolfe")),
    # SAM and Lookahead (pytorch_optimizer's), which wrap a base optimizer
    Hyper("base_optimizer", "choice", "base", r"\text{base}", "base optimizer",
          "the optimizer SAM or Lookahead wraps; its own keywords are taken too", choices=BASES),
    Hyper("adaptive", "flag", "", "", "adaptive (ASAM)", "ASAM: the perturbation scaled by θ⊙θ, its norm by |θ|"),
    Hyper("perturb_eps", "number", "ε_r", r"\epsilon_r", "ε_r  perturbation ε",
          "SAM's ε in r·g/(‖g‖ + ε_r)", NONNEGATIVE),
    Hyper("k", "number", "κ", r"\kappa", "κ  sync period (k)",
          "Lookahead's κ (its k): every κ base steps θ moves by φ towards its slow weights",
          Range(1, 10**6, integer=True)),
    Hyper("pullback_momentum", "choice", "", "", "pullback momentum",
          "Lookahead at a sync: the base's momentum buffer kept ('none'), zeroed ('reset') or pulled back like θ "
          "('pullback')", choices=("none", "reset", "pullback")),
    # schedule-free SGD and AdamW (pytorch_optimizer's)
    Hyper("r", "number", "q", "q", "q  step-weight power (r)",
          "schedule-free: step t's weight in the average x is t^q·ρ_max^p", Range()),
    Hyper("weight_lr_power", "number", "p", "p", "p  ρ_max weight power (weight_lr_power)",
          "schedule-free: step t's weight in the average x is t^q·ρ_max^p", Range()),
    Hyper("warmup_steps", "number", "T_w", "T_w", "T_w  warm-up steps",
          "schedule-free: ρ ramps up as ρ·t/T_w for t < T_w", Range(0, 10**6, integer=True)),
    Hyper("decoupling_c", "number", "c_w", "c_w", "c_w  averaging decoupling (decoupling_c)",
          "schedule-free AdamW: the average's weight c_t becomes min(1, c_t(1 − β₁)c_w) where c_w > 0", NONNEGATIVE),
)}

# Keywords that torch.optim gives another meaning in one optimizer: that optimizer's own entry (``spec(key, name)``).
OWN: dict[str, dict[str, Hyper]] = {
    "asgd": {"alpha": Hyper("alpha", "number", "ω", r"\omega", "ω  ρ decay power (torch alpha)",
                            "ASGD's power ω (torch's alpha): ηₜ₊₁ = ρ/(1 + λ_a ρ t)^ω", Range(), (0.0, 1.0))},
    "adafactor": {"eps": Hyper("eps", "pair", "ε", r"\epsilon", "ε₁, ε₂", "Adafactor's (ε₁, ε₂); ε₁ may be None",
                               parts=("eps1", "eps2"))},
    "sam": {"rho": Hyper("rho", "number", "r", "r", "r  neighbourhood radius (rho)",
                         "SAM's radius r (its rho, not the learning rate ρ): the gradient is taken at θ + r·g/‖g‖",
                         NONNEGATIVE, (0.0, 0.5))},
    "lookahead": {"alpha": Hyper("alpha", "number", "φ", r"\phi", "φ  slow-weight step (alpha)",
                                 "Lookahead's φ (its alpha): at a sync θ ← θ_slow + φ(θ − θ_slow)", UNIT_CLOSED,
                                 (0.0, 1.0))},
    "schedulefree_sgd": {"momentum": Hyper("momentum", "number", "β", r"\beta", "β  interpolation (momentum)",
                                           "schedule-free's β: gradients are taken at y = (1 − β)z + βx",
                                           Range(0.0, 1.0, low_open=True, high_open=True), UNIT_SLIDER)},
    "ademamix": {"alpha": Hyper("alpha", "number", "ζ", r"\zeta", "ζ  slow-momentum weight (alpha)",
                                "AdEMAMix's weight ζ of the slow momentum s₂ (pytorch_optimizer's alpha)", NONNEGATIVE,
                                (0.0, 20.0))},
}

FLAGS = tuple(key for key, h in HYPERPARAMETERS.items() if h.kind == "flag")
FLAG_LABELS = {key: HYPERPARAMETERS[key].label for key in FLAGS}
UI_RANGES = {key: h.ui for key, h in HYPERPARAMETERS.items() if h.ui is not None}  # what sliders hold

# The optimizer picker's groups: plain and momentum gradient steps, per-coordinate adaptive steps (torch.optim's), and
# the modern methods people compare against Adam (pytorch-optimizer's). Every optimizer is in exactly one (a test).
GROUPS: dict[str, tuple[str, ...]] = {
    "classic": ("sgd", "momentum", "nesterov", "asgd", "rprop", "lbfgs"),
    "adaptive": ("rmsprop", "adagrad", "adadelta", "adam", "adam_nobc", "adamw", "adamax", "nadam", "radam",
                 "adafactor"),
    "modern": ("lion", "adabelief", "yogi", "adan", "madgrad", "lamb", "adabound", "ademamix", "prodigy",
               "schedulefree_sgd", "schedulefree_adamw", "sam", "lookahead"),
}


def group(optimizer: str) -> str:
    """The picker group of ``optimizer`` ("classic", "adaptive" or "modern")."""
    return next(name for name, members in GROUPS.items() if optimizer in members)


def picker_label(optimizer: str) -> str:
    """How the optimizer picker shows a short name: its group and what it stands for (the reference's class),
    e.g. ``adan · modern · Adan (pytorch_optimizer)``."""
    rule = RULES[optimizer]
    reference = f"{rule.torch_name} ({rule.reference})" if rule.torch_name else "ours: Adam without bias correction"
    return f"{optimizer} · {group(optimizer)} · {reference}"


# What a legend names besides ρ (the optimizer's own distinguishing settings).
LEGEND: dict[str, tuple[str, ...]] = {"momentum": ("momentum",), "nesterov": ("momentum",), "rmsprop": ("alpha",),
                                      "adam": ("betas",), "adam_nobc": ("betas",),
                                      "adamw": ("betas", "weight_decay"), "adamax": ("betas",),
                                      "nadam": ("betas", "momentum_decay"), "radam": ("betas",), "adadelta": ("rho",),
                                      "asgd": ("lambd", "alpha"), "adafactor": ("beta2_decay",), "lion": ("betas",),
                                      "adabelief": ("betas",), "yogi": ("betas",), "adan": ("betas", "beta3"),
                                      "madgrad": ("momentum",), "lamb": ("betas",), "adabound": ("betas", "final_lr"),
                                      "ademamix": ("betas", "alpha"), "prodigy": ("betas",),
                                      "schedulefree_sgd": ("momentum",), "schedulefree_adamw": ("betas",),
                                      "sam": ("rho", "base_optimizer"), "lookahead": ("alpha", "k", "base_optimizer"),
                                      "lbfgs": ("line_search_fn",)}

# --- the learning rate a race starts from -----------------------------------------------------------------------
# DEFAULT_LR suits the default race (the quadratic with condition 50). From the default starts of the surfaces in
# SURFACE_LR it diverges, so each analytic entry is the largest 1-1.5-2-3-5-7 learning rate below DEFAULT_LR with
# which the default race, and the same race at twice that rate, do not diverge in 500 steps (tests/test_race.py
# checks both). monkey_saddle is unbounded below: every run there leaves for −∞, which is its lesson. The network's
# entry: ρ with which each optimizer reaches f(θ*) in the default slice (moons, 16×16 tanh) within 200 steps
# without leaving the window (sgd at ρ = 0.3 or momentum at 0.03 leave it within 20 steps and stall at 17 f(θ*)),
# the same on Explore and on the Networks page.
DEFAULT_LR = {"sgd": 0.035, "momentum": 0.01, "nesterov": 0.01, "rmsprop": 0.02, "adam": 0.05, "adam_nobc": 0.05,
              "adagrad": 0.3, "adamw": 0.05, "adamax": 0.05, "nadam": 0.05, "radam": 0.05, "adadelta": 1.5,
              "rprop": 0.01, "asgd": 0.01, "adafactor": 0.05, "lion": 0.02, "adabelief": 0.05, "yogi": 0.05,
              "adan": 0.05, "madgrad": 0.05, "lamb": 0.05, "adabound": 0.05, "ademamix": 0.05, "prodigy": 1.0,
              "schedulefree_sgd": 0.035, "schedulefree_adamw": 0.05, "lbfgs": 1.0}  # SAM, Lookahead: their base's
SURFACE_LR = {
    "rosenbrock": {"sgd": 0.001, "momentum": 0.001, "nesterov": 0.0005, "radam": 0.005, "asgd": 0.001,
                   "schedulefree_sgd": 0.002},
    "beale": {"sgd": 0.015, "momentum": 0.003, "nesterov": 0.003, "radam": 0.01, "schedulefree_sgd": 0.015},
    "six_hump_camel": {"radam": 0.03, "sam": 0.03, "lbfgs": 0.7},  # SAM over its default base, sgd
    "styblinski_tang": {"radam": 0.03},
    "himmelblau": {"sgd": 0.01, "momentum": 0.007, "nesterov": 0.005},
    "saddle": {"prodigy": 0.007, "lbfgs": 0.007},  # unbounded below: Prodigy's d (its distance to the minimum) grows
    # without end, and LBFGS's curvature pairs make its steps ever longer
    "network": {"sgd": 0.1, "momentum": 0.005, "nesterov": 0.005, "rmsprop": 0.03, "adam": 0.05, "adagrad": 0.3,
                "adamw": 0.05, "lbfgs": 0.7},
}


def spec(key: str, optimizer: str | None = None) -> Hyper:
    """The entry of keyword ``key`` (``optimizer``'s own where it has one, see ``OWN``); an unknown one is a
    ``ValueError`` listing the known keywords."""
    try:
        return OWN.get(optimizer, {}).get(key) or HYPERPARAMETERS[key]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown hyper-parameter {key!r} (valid: {', '.join(HYPERPARAMETERS)})") from None


def race_lr(optimizer: str, surface: str | None = None, base_optimizer: str | None = None) -> float:
    """The learning rate ρ a race of ``optimizer`` on ``surface`` starts from (torch's default where none is set); a
    wrapper's (SAM's, Lookahead's) is its base's (``base_optimizer`` or its default base), or its own entry in
    ``SURFACE_LR`` over its default base."""
    rule = RULES[optimizer]
    if rule.wraps:
        base = base_optimizer or rule.defaults["base_optimizer"]
        own = SURFACE_LR.get(surface or "", {}).get(optimizer) if base == rule.defaults["base_optimizer"] else None
        return own or race_lr(base, surface)
    fallback = DEFAULT_LR.get(optimizer, rule.defaults["lr"])
    return SURFACE_LR.get(surface or "", {}).get(optimizer, fallback)


def format_value(value: Any) -> str:
    """A hyper-parameter value for a label: 3 significant digits, pairs as (a, b), per-row arrays as "per-row"."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if value is None or isinstance(value, str):  # a choice
        return str(value)
    array = np.asarray(value, dtype=float)
    return "per-row" if array.ndim else f"{float(array):.3g}"


def legend_values(optimizer: str, hyperparameters: Mapping[str, Any]) -> str:
    """What a legend shows after an optimizer's name: ρ and its ``LEGEND`` settings, e.g. ``ρ=0.01, α=0.9``."""
    shown = ("lr", *LEGEND.get(optimizer, ()))
    return ", ".join(_legend_entry(spec(key, optimizer), hyperparameters[key]) for key in shown
                     if key in hyperparameters and hyperparameters[key] is not None)


def _legend_entry(entry: Hyper, value: Any) -> str:
    """``symbol=value``, or a choice by its value alone (``strong_wolfe``) or as ``base=sgd``."""
    if entry.kind == "choice" and not entry.symbol:
        return format_value(value)
    return f"{entry.symbol}={format_value(value)}"


def legend_label(optimizer: str, hyperparameters: Mapping[str, Any]) -> str:
    """Legend text such as ``momentum (ρ=0.01, α=0.9)``."""
    values = legend_values(optimizer, hyperparameters)
    return f"{optimizer} ({values})" if values else optimizer
