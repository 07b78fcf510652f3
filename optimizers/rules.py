"""Optimizer update rules as pure ``init``/``step`` functions over a NamedTuple state.

One kernel per family serves numpy and torch alike: it receives the array namespace ``xp``
(``numpy`` or ``torch``), the parameters θ of shape (B, 2), the gradient g (B, 2), the state,
the hyper-parameters ``hp`` (each a Python number or a (B, 1) array, so rows may differ), the
learning rate ρ of this step (number or (B, 1)) and the 0-based step index k. Nothing is
mutated: ``step`` returns the new θ and the new state, so the same kernel runs one
trajectory or a 4096-row sweep.

The arithmetic follows torch.optim's single-tensor kernels in order of operations
(``add(x, alpha=a)`` is x·a added last, ``addcmul(t1, t2, value=c)`` is (c·t1)·t2 added,
``addcdiv(t1, t2, value=c)`` is (c·t1)/t2 added, ``lerp`` is torch's two-branch form), so
float64 results agree with torch.optim to a few ulps (torch fuses some multiply-adds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


def _lerp(xp: Any, start: Any, end: Any, weight: Any) -> Any:
    """torch.lerp: start + w·(end − start) for |w| < ½, else end − (end − start)·(1 − w)."""
    if isinstance(weight, float):
        if abs(weight) < 0.5:
            return start + weight * (end - start)
        return end - (end - start) * (1 - weight)
    diff = end - start
    return xp.where(abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def _decay_gradient(grad: Any, params: Any, weight_decay: Any) -> Any:
    """L2 weight decay folded into the gradient: g ← g + λθ (torch's ``grad.add(p, alpha=λ)``)."""
    if isinstance(weight_decay, float) and weight_decay == 0:
        return grad
    return grad + weight_decay * params


def _weight_decay(params: Any, grad: Any, hp: dict, lr: Any) -> tuple[Any, Any]:
    """Weight decay λ as Adam, NAdam and RAdam apply it: decoupled θ ← θ(1 − ρλ) (AdamW), else g ← g + λθ."""
    weight_decay = hp["weight_decay"]
    if hp["decoupled_weight_decay"]:
        if not (isinstance(weight_decay, float) and weight_decay == 0):
            params = params * (1 - lr * weight_decay)
        return params, grad
    return params, _decay_gradient(grad, params, weight_decay)


def _moments(xp: Any, state: Any, grad: Any, beta1: Any, beta2: Any) -> tuple[Any, Any]:
    """Adam's moments: s ← lerp(s, g, 1 − β₁), r ← β₂r + ((1 − β₂)g)g (torch's ``mul_(β₂).addcmul_``)."""
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    return exp_avg, state.exp_avg_sq * beta2 + ((1 - beta2) * grad) * grad


def _float32(xp: Any, value: Any, like: Any) -> Any:
    """``value`` (a number or (B, 1) array) rounded to float32, as an array of ``like``'s dtype and rows."""
    value = value + xp.zeros_like(like)
    if hasattr(value, "astype"):  # numpy
        return value.astype(xp.float32).astype(like.dtype)
    return value.to(xp.float32).to(like.dtype)


# --- SGD, momentum, Nesterov ------------------------------------------------------------


class SGDState(NamedTuple):
    """torch's momentum buffer b (None for plain SGD with momentum 0)."""

    momentum_buffer: Any


def sgd_init(xp: Any, params: Any, hp: dict) -> SGDState:
    return SGDState(momentum_buffer=None)


def sgd_step(xp: Any, params: Any, grad: Any, state: SGDState, hp: dict, lr: Any, k: int):
    """SGD with momentum as torch.optim.SGD computes it.

    Lecture form (Algorithm 8.2): v ← αv − ρg, θ ← θ + v. torch keeps b = v/(−ρ) instead:
    b ← αb + (1 − τ)g (b₀ = g₀, τ the dampening), θ ← θ − ρb; Nesterov steps with g + αb.
    Both agree while ρ is constant; under a schedule torch's form rescales past velocity
    by the new ρ. Plain SGD (α = 0) is θ ← θ − ρg.
    """
    momentum = hp["momentum"]
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    buffer = None
    if not (isinstance(momentum, float) and momentum == 0):
        if k == 0 or state.momentum_buffer is None:
            buffer = grad
        else:
            buffer = state.momentum_buffer * momentum + (1 - hp["dampening"]) * grad
        grad = grad + momentum * buffer if hp["nesterov"] else buffer
    return params + (-lr) * grad, SGDState(buffer)


# --- RMSProp ----------------------------------------------------------------------------


class RMSpropState(NamedTuple):
    """r: running mean of g⊙g; ḡ: running mean of g (centered); b: momentum buffer."""

    square_avg: Any
    grad_avg: Any
    momentum_buffer: Any


def rmsprop_init(xp: Any, params: Any, hp: dict) -> RMSpropState:
    zeros = xp.zeros_like(params)
    return RMSpropState(zeros, zeros, zeros)


def rmsprop_step(xp: Any, params: Any, grad: Any, state: RMSpropState, hp: dict, lr: Any, k: int):
    """RMSProp as torch.optim.RMSprop computes it (ρ_r is torch's ``alpha``).

    r ← ρ_r r + (1 − ρ_r) g⊙g;   centered: ḡ ← ρ_r ḡ + (1 − ρ_r) g, r̃ = r − ḡ⊙ḡ (else r̃ = r);
    θ ← θ − ρ g / (√r̃ + ε);   with momentum μ: b ← μb + g / (√r̃ + ε), θ ← θ − ρb.
    """
    alpha, momentum = hp["alpha"], hp["momentum"]
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    square_avg = state.square_avg * alpha + ((1 - alpha) * grad) * grad
    grad_avg = state.grad_avg
    if hp["centered"]:
        grad_avg = _lerp(xp, grad_avg, grad, 1 - alpha)
        avg = xp.sqrt(square_avg + (-grad_avg) * grad_avg)
    else:
        avg = xp.sqrt(square_avg)
    avg = avg + hp["eps"]
    buffer = state.momentum_buffer
    if isinstance(momentum, float) and momentum == 0:
        params = params + ((-lr) * grad) / avg
    else:
        buffer = buffer * momentum + grad / avg
        params = params + (-lr) * buffer
    return params, RMSpropState(square_avg, grad_avg, buffer)


# --- Adam, AdamW ------------------------------------------------------------------------


class AdamState(NamedTuple):
    """s: first moment (mean of g), r: second moment (mean of g⊙g), r̂max for AMSGrad."""

    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any


def adam_init(xp: Any, params: Any, hp: dict) -> AdamState:
    zeros = xp.zeros_like(params)
    return AdamState(zeros, zeros, zeros)


def adam_step(xp: Any, params: Any, grad: Any, state: AdamState, hp: dict, lr: Any, k: int):
    """Adam as torch.optim.Adam / AdamW compute it, at step t = k + 1.

    s ← β₁s + (1 − β₁)g,  r ← β₂r + (1 − β₂) g⊙g,  ŝ = s/(1 − β₁ᵗ),  r̂ = r/(1 − β₂ᵗ),
    θ ← θ − ρ ŝ / (√r̂ + ε)   (torch: θ + (−ρ/(1 − β₁ᵗ))·s / (√r/√(1 − β₂ᵗ) + ε)).
    AMSGrad uses max(r̂max, r) for r. Weight decay λ: Adam adds λθ to g; AdamW
    (decoupled) first shrinks θ ← θ(1 − ρλ). ``bias_correction=False`` (our "adam_nobc", not in
    torch.optim) uses ŝ = s and r̂ = r.
    """
    beta1, beta2 = hp["beta1"], hp["beta2"]
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg, exp_avg_sq = _moments(xp, state, grad, beta1, beta2)
    t = k + 1
    if hp.get("bias_correction", True):
        step_size = lr / (1 - beta1**t)
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
    else:  # ours, for the lesson: ŝ = s, r̂ = r (s and r start at 0, so early steps are too short or too long)
        step_size, bias_correction2_sqrt = lr, 1.0
    max_exp_avg_sq = state.max_exp_avg_sq
    if hp["amsgrad"]:
        max_exp_avg_sq = xp.maximum(max_exp_avg_sq, exp_avg_sq)
        second_moment = max_exp_avg_sq
    else:
        second_moment = exp_avg_sq
    denom = xp.sqrt(second_moment) / bias_correction2_sqrt + hp["eps"]
    params = params + ((-step_size) * exp_avg) / denom
    return params, AdamState(exp_avg, exp_avg_sq, max_exp_avg_sq)


# --- Adagrad ----------------------------------------------------------------------------


class AdagradState(NamedTuple):
    """r: the accumulated sum of g⊙g."""

    sum: Any


def adagrad_init(xp: Any, params: Any, hp: dict) -> AdagradState:
    return AdagradState(xp.zeros_like(params) + hp["initial_accumulator_value"])


def adagrad_step(xp: Any, params: Any, grad: Any, state: AdagradState, hp: dict, lr: Any, k: int):
    """AdaGrad as torch.optim.Adagrad computes it, at step t = k + 1.

    r ← r + g⊙g,  θ ← θ − ρₜ g / (√r + ε)  with ρₜ = ρ / (1 + (t − 1)·lr_decay).
    """
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    clr = lr / (1 + k * hp["lr_decay"])
    total = state.sum + grad * grad
    std = xp.sqrt(total) + hp["eps"]
    return params + ((-clr) * grad) / std, AdagradState(total)


# --- Adamax, NAdam, RAdam ---------------------------------------------------------------


class AdamaxState(NamedTuple):
    """s: first moment (mean of g), u: the exponentially weighted infinity norm of g."""

    exp_avg: Any
    exp_inf: Any


def _zero_state(state: type) -> Callable:
    """An ``init`` that starts every field of the NamedTuple ``state`` at zeros shaped like θ."""

    def init(xp: Any, params: Any, hp: dict) -> Any:
        return state(*[xp.zeros_like(params)] * len(state._fields))

    return init


adamax_init = _zero_state(AdamaxState)


def adamax_step(xp: Any, params: Any, grad: Any, state: AdamaxState, hp: dict, lr: Any, k: int):
    """Adamax as torch.optim.Adamax computes it, at step t = k + 1.

    s ← β₁s + (1 − β₁)g,  u ← max(β₂u, |g| + ε),  θ ← θ − ρ/(1 − β₁ᵗ) · s/u.
    torch adds ε to |g| inside the maximum (the paper has no ε; u is never 0 once g ≠ 0).
    """
    beta1 = hp["beta1"]
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    exp_inf = xp.maximum(state.exp_inf * hp["beta2"], abs(grad) + hp["eps"])
    clr = lr / (1 - beta1 ** (k + 1))
    return params + ((-clr) * exp_avg) / exp_inf, AdamaxState(exp_avg, exp_inf)


class NAdamState(NamedTuple):
    """s, r: Adam's moments; μ-product: ∏ μᵢ so far, (B, 1), float32 as torch keeps it."""

    exp_avg: Any
    exp_avg_sq: Any
    mu_product: Any


def nadam_init(xp: Any, params: Any, hp: dict) -> NAdamState:
    return NAdamState(xp.zeros_like(params), xp.zeros_like(params), xp.ones_like(params[:, :1]))  # Π₀ = 1


def nadam_step(xp: Any, params: Any, grad: Any, state: NAdamState, hp: dict, lr: Any, k: int):
    """NAdam as torch.optim.NAdam computes it, at step t = k + 1 (ψ is torch's ``momentum_decay``).

    μₜ = β₁(1 − ½·0.96^{tψ}),  Πₜ = Πₜ₋₁μₜ,  s and r as Adam's,  r̂ = r/(1 − β₂ᵗ),
    θ ← θ − ρ(1 − μₜ)/(1 − Πₜ) · g/(√r̂ + ε) − ρμₜ₊₁/(1 − Πₜμₜ₊₁) · s/(√r̂ + ε).
    torch keeps Πₜ as a scalar tensor of its default dtype (float32) whatever the parameters' dtype, so Πₜ is
    rounded to float32 here too (μₜ is cast to float32 before the product, as torch's in-place multiply does).
    Weight decay λ: g ← g + λθ, or decoupled θ ← θ(1 − ρλ).
    """
    beta1, beta2, psi = hp["beta1"], hp["beta2"], hp["momentum_decay"]
    t = k + 1
    bias_correction2 = 1 - beta2**t
    params, grad = _weight_decay(params, grad, hp, lr)
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
    mu_product = _float32(xp, _float32(xp, mu, state.mu_product) * state.mu_product, state.mu_product)
    exp_avg, exp_avg_sq = _moments(xp, state, grad, beta1, beta2)
    denom = xp.sqrt(exp_avg_sq / bias_correction2) + hp["eps"]
    mu_product_next = mu_product * mu_next
    params = params + ((-lr * (1.0 - mu) / (1.0 - mu_product)) * grad) / denom
    params = params + (((-lr) * mu_next / (1.0 - mu_product_next)) * exp_avg) / denom
    return params, NAdamState(exp_avg, exp_avg_sq, mu_product)


class RAdamState(NamedTuple):
    """s: first moment, r: second moment (Adam's)."""

    exp_avg: Any
    exp_avg_sq: Any


radam_init = _zero_state(RAdamState)


def radam_step(xp: Any, params: Any, grad: Any, state: RAdamState, hp: dict, lr: Any, k: int):
    """RAdam as torch.optim.RAdam computes it, at step t = k + 1.

    s and r as Adam's, ŝ = s/(1 − β₁ᵗ);  ℓ_∞ = 2/(1 − β₂) − 1,  ℓₜ = ℓ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ) (the length of the
    approximated SMA, torch's rho_t).  If ℓₜ > 5: γₜ = √((ℓₜ − 4)(ℓₜ − 2)ℓ_∞ / ((ℓ_∞ − 4)(ℓ_∞ − 2)ℓₜ)),
    θ ← θ − ρ ŝ · √(1 − β₂ᵗ)/(√r + ε) · γₜ;  else θ ← θ − ρŝ (momentum SGD while r is too young).
    Weight decay λ: g ← g + λθ, or decoupled θ ← θ(1 − ρλ).
    """
    beta1, beta2 = hp["beta1"], hp["beta2"]
    t = k + 1
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg, exp_avg_sq = _moments(xp, state, grad, beta1, beta2)
    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    bias_corrected_exp_avg = exp_avg / bias_correction1
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * (beta2**t) / bias_correction2
    plain = bias_corrected_exp_avg * lr
    if isinstance(rho_t, float) and rho_t <= 5.0:
        return params + (-1.0) * plain, RAdamState(exp_avg, exp_avg_sq)
    per_row = not isinstance(rho_t, float)
    if per_row:  # per-row β₂: the rectifier where ℓₜ > 5, computed on a harmless stand-in elsewhere
        rectified = rho_t > 5.0
        rho_t, rho_inf = xp.where(rectified, rho_t, 6.0), xp.where(rectified, rho_inf, 7.0)
    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    adaptive_lr = (bias_correction2**0.5) / (xp.sqrt(exp_avg_sq) + hp["eps"])
    update = plain * adaptive_lr * rect
    if per_row:
        update = xp.where(rectified, update, plain)
    return params + (-1.0) * update, RAdamState(exp_avg, exp_avg_sq)


class Rule(NamedTuple):
    """An optimizer: torch.optim class name ("" for ours), keyword defaults, kernel pair and its math."""

    name: str
    torch_name: str
    defaults: dict[str, Any]
    init: Callable
    step: Callable
    equations: tuple[str, ...]  # the update in the lecture's notation, LaTeX
    summary: str
    fixed: dict[str, Any] = {}  # settings implied by the name, not keywords (AdamW's decoupling)


_SGD_DEFAULTS = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
_ADAM_DEFAULTS = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
}
_ADAMAX_DEFAULTS = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
_MOMENTS_EQUATION = r"s \leftarrow \beta_1 s + (1 - \beta_1) g,\quad r \leftarrow \beta_2 r + (1 - \beta_2)\, g \odot g"
_MOMENTUM_EQUATIONS = (r"v \leftarrow \alpha v - \rho g", r"\theta \leftarrow \theta + v")

RULES: dict[str, Rule] = {
    "sgd": Rule(
        "sgd", "SGD", _SGD_DEFAULTS, sgd_init, sgd_step,
        (r"\theta \leftarrow \theta - \rho g",),
        "gradient descent: a step of size ρ down the gradient",
    ),
    "momentum": Rule(
        "momentum", "SGD", {**_SGD_DEFAULTS, "momentum": 0.9}, sgd_init, sgd_step,
        _MOMENTUM_EQUATIONS,
        "heavy-ball momentum: the velocity v accumulates past gradients with decay α",
    ),
    "nesterov": Rule(
        "nesterov", "SGD", {**_SGD_DEFAULTS, "momentum": 0.9, "nesterov": True}, sgd_init, sgd_step,
        (r"v \leftarrow \alpha v - \rho \nabla f(\theta + \alpha v)", r"\theta \leftarrow \theta + v"),
        "Nesterov momentum: the gradient is taken after the momentum step",
    ),
    "rmsprop": Rule(
        "rmsprop", "RMSprop",
        {"lr": 1e-2, "alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False},
        rmsprop_init, rmsprop_step,
        (r"r \leftarrow \rho_r r + (1 - \rho_r)\, g \odot g",
         r"\theta \leftarrow \theta - \frac{\rho}{\sqrt{r} + \epsilon} \odot g"),
        "RMSProp: each coordinate's step is divided by a running RMS of its gradients",
    ),
    "adam": Rule(
        "adam", "Adam", {**_ADAM_DEFAULTS, "decoupled_weight_decay": False}, adam_init, adam_step,
        (_MOMENTS_EQUATION,
         r"\hat s = \frac{s}{1 - \beta_1^t},\quad \hat r = \frac{r}{1 - \beta_2^t}",
         r"\theta \leftarrow \theta - \rho \frac{\hat s}{\sqrt{\hat r} + \epsilon}"),
        "Adam: momentum on g plus RMSProp's per-coordinate scaling, both bias-corrected",
    ),
    "adam_nobc": Rule(
        "adam_nobc", "", dict(_ADAM_DEFAULTS), adam_init, adam_step,
        (_MOMENTS_EQUATION,
         r"\theta \leftarrow \theta - \rho \frac{s}{\sqrt{r} + \epsilon}"),
        "Adam without bias correction (ours, not in torch.optim): s and r start at 0, so the first steps use "
        "moments shrunk towards 0",
        {"bias_correction": False, "decoupled_weight_decay": False},
    ),
    "adagrad": Rule(
        "adagrad", "Adagrad",
        {"lr": 1e-2, "lr_decay": 0.0, "weight_decay": 0.0, "initial_accumulator_value": 0.0, "eps": 1e-10},
        adagrad_init, adagrad_step,
        (r"r \leftarrow r + g \odot g", r"\theta \leftarrow \theta - \frac{\rho}{\sqrt{r} + \epsilon} \odot g"),
        "AdaGrad: steps shrink as squared gradients accumulate",
    ),
    "adamw": Rule(
        "adamw", "AdamW", {**_ADAM_DEFAULTS, "weight_decay": 1e-2},
        adam_init, adam_step,
        (r"\theta \leftarrow \theta (1 - \rho \lambda)",
         r"\theta \leftarrow \theta - \rho \frac{\hat s}{\sqrt{\hat r} + \epsilon}"),
        "AdamW: Adam with weight decay λ applied to θ directly, not through g",
        {"decoupled_weight_decay": True},
    ),
    "adamax": Rule(
        "adamax", "Adamax", dict(_ADAMAX_DEFAULTS), adamax_init, adamax_step,
        (r"s \leftarrow \beta_1 s + (1 - \beta_1) g,\quad u \leftarrow \max(\beta_2 u, |g| + \epsilon)",
         r"\theta \leftarrow \theta - \frac{\rho}{1 - \beta_1^t} \frac{s}{u}"),
        "Adamax: Adam with the RMS of past gradients replaced by their decaying maximum |g| (an ∞-norm)",
    ),
    "nadam": Rule(
        "nadam", "NAdam", {**_ADAMAX_DEFAULTS, "momentum_decay": 4e-3, "decoupled_weight_decay": False},
        nadam_init, nadam_step,
        (r"\mu_t = \beta_1 \left(1 - \tfrac{1}{2}\, 0.96^{t \psi}\right)",
         _MOMENTS_EQUATION,
         r"\hat r = \frac{r}{1 - \beta_2^t}",
         r"\theta \leftarrow \theta - \frac{\rho (1 - \mu_t)}{1 - \prod_{i \le t} \mu_i}"
         r" \frac{g}{\sqrt{\hat r} + \epsilon}"
         r" - \frac{\rho\, \mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i} \frac{s}{\sqrt{\hat r} + \epsilon}"),
        "NAdam: Adam with Nesterov momentum, its momentum μₜ warming up to β₁ at the rate ψ",
    ),
    "radam": Rule(
        "radam", "RAdam", {**_ADAMAX_DEFAULTS, "lr": 1e-3, "decoupled_weight_decay": False}, radam_init, radam_step,
        (_MOMENTS_EQUATION,
         r"\ell_\infty = \frac{2}{1 - \beta_2} - 1,\quad \ell_t = \ell_\infty - \frac{2 t \beta_2^t}{1 - \beta_2^t}",
         r"\gamma_t = \sqrt{\frac{(\ell_t - 4)(\ell_t - 2)\ell_\infty}{(\ell_\infty - 4)(\ell_\infty - 2)\ell_t}}",
         r"\theta \leftarrow \theta - \rho \frac{s}{1 - \beta_1^t} \cdot "
         r"\begin{cases} \gamma_t \frac{\sqrt{1 - \beta_2^t}}{\sqrt{r} + \epsilon} & \ell_t > 5"
         r" \\ 1 & \text{else} \end{cases}"),
        "RAdam: Adam whose adaptive step is switched on, and rectified, once the variance of r is tractable",
    ),
}
