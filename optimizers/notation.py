"""Each optimizer's update in the lecture's notation (LaTeX), for given hyper-parameters, schedule and noise.

The equations are the rules' own (``optimizers.rules.RULES[name].equations``: v ← αv − ρg, θ ← θ + v, ...),
adjusted to the settings (Nesterov, dampening τ, AMSGrad, centered RMSprop, AdaGrad's lr decay η, weight decay λ,
gradient noise σ, and pytorch_optimizer's clipping, AMSBound, rectifier and weight decay options), beside the values in
use; the symbols are the catalogue's (:mod:`optimizers.catalogue`).
``HINTS`` says in a sentence what to watch each optimizer do in a race.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalogue import HYPERPARAMETERS, spec
from .rules import RULES

HINTS = {
    "sgd": "On an ill-conditioned bowl SGD zig-zags across the steep axis and crawls along the flat one; "
           "past ρ = 2/λ_max the zig-zag grows and the run diverges.",
    "momentum": "Momentum overshoots along the steep axis when α is large, but keeps its speed along the flat "
                "valley floor: watch it spiral into the minimum ahead of SGD.",
    "nesterov": "Nesterov takes the gradient after the momentum step, so its overshoots across the steep axis "
                "die out faster than plain momentum's at the same ρ and α.",
    "rmsprop": "RMSProp rescales x and y separately, not the bowl's eigen-axes: on a rotated quadratic its path "
               "bends, and with a constant ρ it ends rattling in a band around the minimum.",
    "adam": "Adam's first steps have length ≈ ρ per coordinate whatever the gradient's size (a diagonal start); "
            "near the minimum it circles unless ρ decays (try a schedule).",
    "adam_nobc": "Without bias correction Adam's first step is (1 − β₁)/√(1 − β₂) ≈ 3.2 times Adam's (β₂ = 0.999): "
                 "s and r start at 0, and r forgets that start a hundred times more slowly than s "
                 "(1/(1 − β₂) = 1000 steps against 10). Race it against adam and watch the first steps.",
    "adagrad": "AdaGrad's steps shrink as squared gradients pile up, so it stalls on long flat valleys; "
               "a larger ρ buys back speed.",
    "adamax": "Adamax divides by the largest recent |g| instead of an RMS: one large gradient damps that "
              "coordinate's steps for about 1/(1 − β₂) steps.",
    "nadam": "NAdam looks ahead like Nesterov: part of each step uses the fresh gradient, so it turns faster "
             "than Adam where the valley bends.",
    "radam": "RAdam starts as momentum SGD (ρ ŝ, no division) while r is too young to trust, then switches on "
             "the rectified adaptive step: watch the first steps against Adam's.",
    "adadelta": "Adadelta's first step is ρ√(ε/(1 − ρ_d)) per coordinate whatever the gradient's size (tiny), and "
                "its steps grow as its record u of past updates catches up: watch the slow start.",
    "rprop": "Rprop ignores the gradient's size: each coordinate's step grows by η⁺ while its sign holds and "
             "shrinks by η⁻ when it flips, so it crosses plateaus and steep walls at the same pace.",
    "asgd": "ASGD is SGD with ρ decaying as 1/(1 + λ_a ρ t)^ω; the average θ̄ it keeps from step t₀ on is not "
            "drawn: the race follows θ.",
    "adafactor": "Adafactor's steps scale with the size of θ itself (RMS(θ)·min(ρ, 1/√t)): near the origin it "
                 "takes steps of ε₂ρ, and far from it large ones.",
    "adamw": "AdamW pulls θ toward the origin by ρλ every step independently of the gradient: where the "
             "minimum is away from 0 it settles slightly short of it.",
    "lion": "Lion moves every coordinate by exactly ρ each step (the sign of its momentum): it crosses plateaus and "
            "steep walls at the same pace and ends rattling in a band of width ρ around the minimum.",
    "adabelief": "AdaBelief divides by how far g strays from its running mean s, not by |g|: where g is as expected "
                 "(a straight valley) its steps grow long while Adam's stay near ρ.",
    "yogi": "Yogi lowers r by at most (1 − β₂)g⊙g per step, far more slowly than Adam's r forgets a large gradient: "
            "after a steep start its steps stay short for longer. Race it against adam.",
    "adan": "Adan adds a momentum d of gradient differences, a look-ahead like Nesterov's without a second "
            "gradient: watch it cut the corner where the valley bends.",
    "madgrad": "MADGRAD steps from θ₀ by the whole weighted sum s of past gradients over ∛S: it never forgets, so an "
               "early push keeps pulling; momentum averages that point into θ.",
    "lamb": "LAMB rescales Adam's step by ‖θ‖/‖u‖: close to the origin its steps shrink and far from it they grow, "
            "the trust ratio made for layers of different scales.",
    "adabound": "AdaBound starts as Adam and, as its bounds close in on ρ*, ends as SGD with the rate ρ*: watch its "
                "path turn into SGD's.",
    "ademamix": "AdEMAMix adds ζ times a slow momentum (β₃ = 0.9999 remembers ~10⁴ steps) to Adam's: it keeps "
                "pushing along old gradients and overshoots where the valley turns.",
    "prodigy": "Prodigy learns its step size: d starts at d₀ and grows towards the distance covered from θ₀, so it "
               "creeps, then accelerates (ρ = 1 is its default; on the saddle d grows without end).",
    "schedulefree_sgd": "Schedule-free SGD takes its gradients at θ, between z (plain SGD steps) and their average x, "
                        "drawn dash-dotted: x settles at the minimum with a constant ρ, where SGD needs a decaying "
                        "schedule. Race it against sgd with CosineAnnealingLR.",
    "schedulefree_adamw": "Schedule-free AdamW: Adam's scaled gradient in schedule-free SGD's three sequences; its "
                          "average x (dash-dotted) stops circling the minimum without a schedule.",
    "sam": "SAM takes each step with the gradient at θ + r·g/‖g‖, a point uphill at distance r: in a minimum narrower "
           "than r that gradient pushes it out, so it settles in wide minima. Each step costs two gradients.",
    "lookahead": "Lookahead lets its base optimizer run κ steps ahead, then pulls θ back by a fraction 1 − φ towards "
                 "where it was: the zig-zags of a too-large ρ are averaged out (watch the jumps every κ steps).",
    "lbfgs": "LBFGS builds a curvature estimate from its last m moves, so one of its steps is a quasi-Newton step, "
             "with up to I inner iterations and their evaluations: on a quadratic it lands on the minimum in a few "
             "steps, where SGD takes hundreds.",
}
ALWAYS_SHOWN = ("lr", "alpha", "eps", "momentum")  # listed even when 0 (momentum not for sgd and rmsprop)
MACHINE_EPSILON = r"\epsilon_{\text{machine}}"  # a pair's None half: Adafactor's ε₁ by default


def latex_number(value: float) -> str:
    """A number in LaTeX: its shortest decimal form (50, 0.35), a power of ten as ``10^{-8}`` or
    ``3 \\cdot 10^{-5}``."""
    text = repr(float(value))
    text = text[:-2] if text.endswith(".0") else text
    if "e" in text:
        mantissa, exponent = text.split("e")
        return (rf"{mantissa} \cdot " if mantissa != "1" else "") + f"10^{{{int(exponent)}}}"
    return text


def _pytorch_optimizer_lines(name: str, hyper: Mapping[str, Any], lines: list[str]) -> bool:
    """pytorch_optimizer's options written into ``lines``: gradient clipping at G, AMSBound's r_max, LAMB's τ = 1,
    where weight decay λ enters, and the rectifier; returns whether λ enters as g + λθ."""
    if hyper.get("max_grad_norm", 0.0) > 0 and (name == "adan" or hyper.get("pre_norm")):
        lines.insert(0, r"g \leftarrow g \min\left(1, \frac{G}{\lVert g \rVert + \epsilon}\right)")
    if hyper.get("ams_bound"):
        lines.insert(1, r"r_{\max} \leftarrow \max(r_{\max}, r)\ \text{(AMSBound: replaces } r)")
    if hyper.get("adam"):
        lines.insert(-1, r"\tau = 1")
    through_gradient = name not in ("adan", "lamb", "prodigy")  # Prodigy's λθ joins a gradient it does not use again
    if hyper.get("weight_decay", 0.0) == 0:
        through_gradient = True
    elif hyper.get("weight_decouple"):
        through_gradient = False
        if name == "madgrad":  # after the step, from the θ before it
            lines.append(r"\theta \leftarrow \theta - \rho \lambda \theta_k")
        else:
            rate = "" if hyper.get("fixed_decay") else r"d \rho " if name == "prodigy" else r"\rho "
            lines.insert(0, rf"\theta \leftarrow \theta (1 - {rate}\lambda)")
    elif name == "adan":  # the paper's proximal step, after the update
        lines.append(r"\theta \leftarrow \frac{\theta}{1 + \rho \lambda}")
    elif name == "lamb":  # on u, before the trust ratio
        lines.insert(-1, r"u \leftarrow u + \lambda \theta")
    if hyper.get("rectify"):
        before = r"\text{, momentum SGD before}" if hyper.get("degenerated_to_sgd") else r"\text{, no step before}"
        lines.append(r"\text{rectify: } \rho \to \rho\, r_t \text{ once RAdam's } \ell_t \ge 5" + before)
    return through_gradient


def _wrapped(name: str, hyper: Mapping[str, Any], noise: float) -> list[str]:
    """A wrapper's update (SAM's, Lookahead's): its own equations around its base's, whose name stands in them."""
    base = hyper.get("base_optimizer") or RULES[name].defaults["base_optimizer"]
    gradient, *inner = equations(base, hyper, noise)
    own = [line.replace(r"\operatorname{base}", rf"\text{{{base}}}") for line in RULES[name].equations]
    if name == "sam":
        if hyper.get("adaptive"):
            own[0] = (r"e = r \frac{\theta \odot \theta \odot g}{\lVert \theta \odot g \rVert + \epsilon_r},"
                      r"\quad \tilde g = \nabla f(\theta + e)")
        return [gradient, own[0], r"\text{" + base + r" with } g \to \tilde g:", *inner]
    return [gradient, r"\text{" + base + ":}", *inner, own[-1]]


def entry(name: str, key: str, hyper: Mapping[str, Any]) -> Any:
    """The catalogue entry of ``name``'s keyword ``key``: a wrapper's own, or its base's."""
    rule = RULES[name]
    if rule.wraps and key not in rule.defaults:
        return spec(key, hyper.get("base_optimizer") or rule.defaults["base_optimizer"])
    return spec(key, name)


def equations(name: str, hyper: Mapping[str, Any], noise: float = 0.0) -> list[str]:
    """The update of optimizer ``name`` with these settings, one LaTeX equation per line, gradient first."""
    if RULES[name].wraps:
        return _wrapped(name, hyper, noise)
    lines = list(RULES[name].equations)
    if name in ("sgd", "momentum", "nesterov"):
        if hyper.get("nesterov"):
            lines = list(RULES["nesterov"].equations)
        elif hyper.get("momentum", 0.0) > 0:
            lines = list(RULES["momentum"].equations)
        else:
            lines = list(RULES["sgd"].equations)
        if hyper.get("momentum", 0.0) > 0 and hyper.get("dampening", 0.0) > 0:
            lines[0] = lines[0].replace(r"\rho", r"(1 - \tau)\rho", 1)
    if name == "adamw" or (name == "adam" and hyper.get("decoupled_weight_decay")):
        lines = [*RULES["adam"].equations[:2], *RULES["adamw"].equations]
    if name in ("nadam", "radam") and hyper.get("decoupled_weight_decay") and hyper.get("weight_decay", 0.0) > 0:
        lines.insert(0, RULES["adamw"].equations[0])
    if name == "adafactor" and hyper.get("weight_decay", 0.0) > 0:  # always decoupled, after ρ̂ₜ is taken
        lines.insert(1, RULES["adamw"].equations[0])
    if name in ("adam", "adamw") and hyper.get("amsgrad"):
        lines.insert(-1, r"\hat r_{\max} \leftarrow \max(\hat r_{\max}, \hat r)\ \text{(AMSGrad: replaces } \hat r)")
    if name == "rmsprop":
        if hyper.get("centered"):
            lines.insert(1, r"\bar g \leftarrow \rho_r \bar g + (1 - \rho_r) g,\quad"
                            r"\ \text{centered: } r - \bar g^2 \text{ replaces } r \text{ below}")
        if hyper.get("momentum", 0.0) > 0:
            lines[-1] = r"b \leftarrow \alpha b + \frac{g}{\sqrt{r} + \epsilon},\quad \theta \leftarrow \theta - \rho b"
    if name == "adagrad" and hyper.get("lr_decay", 0.0) > 0:
        lines.insert(0, r"\rho_t = \frac{\rho}{1 + (t - 1)\eta}")
    through_gradient = True
    if RULES[name].reference == "pytorch_optimizer":
        through_gradient = _pytorch_optimizer_lines(name, hyper, lines)
    gradient = r"g = \nabla f(\theta)"
    decoupled = name in ("adamw", "adafactor") or hyper.get("decoupled_weight_decay") or not through_gradient
    if hyper.get("weight_decay", 0.0) > 0 and not decoupled:
        gradient += r" + \lambda \theta"
    if noise > 0:
        gradient += r" + \sigma \xi,\ \ \xi \sim \mathcal{N}(0, I)"
    return [gradient, *lines]


def values(name: str, hyper: Mapping[str, Any], schedule: Mapping[str, Any] | None = None,
           noise: float = 0.0) -> list[str]:
    """The settings in use as ``symbol = value`` lines (ρ₀ and ρ_k under a schedule; zeros that change nothing
    left out)."""
    lr = HYPERPARAMETERS["lr"].latex
    lines = []
    for key, value in hyper.items():
        try:
            found = entry(name, key, hyper)
        except ValueError:
            continue
        if found.kind in ("flag", "choice") or isinstance(value, bool) or value is None:
            continue
        if found.kind == "pair":
            lines += [f"{HYPERPARAMETERS[part].latex} = {MACHINE_EPSILON if v is None else latex_number(v)}"
                      for part, v in zip(found.parts, value)]
            continue
        symbol = f"{lr}_0" if key == "lr" and schedule else found.latex
        plain_sgd = key == "momentum" and hyper.get("base_optimizer", name) in ("sgd", "rmsprop") and value == 0
        if (value != 0 or key in ALWAYS_SHOWN) and not plain_sgd:
            lines.append(f"{symbol} = {latex_number(value)}")
    if noise > 0:
        lines.append(f"{HYPERPARAMETERS['noise'].latex} = {latex_number(noise)}")
    if schedule:
        lines.append(rf"{lr}_k = \text{{{schedule['name']}}}(k, {lr}_0)")
    return lines


def update_rule(name: str, hyper: Mapping[str, Any], schedule: Mapping[str, Any] | None = None,
                noise: float = 0.0) -> str:
    """The update of ``name`` in the lecture's notation (LaTeX) for these settings, beside their values."""
    left = r"\begin{gathered}" + r" \\ ".join(equations(name, hyper, noise)) + r"\end{gathered}"
    right = r"\begin{aligned}" + r" \\ ".join(v.replace(" = ", " &= ", 1)
                                              for v in values(name, hyper, schedule, noise)) + r"\end{aligned}"
    return left + r"\qquad" + right
