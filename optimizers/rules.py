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

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .lbfgs import lbfgs_init, lbfgs_step


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


def _decay_params(params: Any, lr: Any, weight_decay: Any) -> Any:
    """Decoupled weight decay θ ← θ(1 − ρλ) (torch's ``param.mul_(1 - lr * weight_decay)``)."""
    if isinstance(weight_decay, float) and weight_decay == 0:
        return params
    return params * (1 - lr * weight_decay)


def _weight_decay(params: Any, grad: Any, hp: dict, lr: Any) -> tuple[Any, Any]:
    """Weight decay λ as Adam, NAdam and RAdam apply it: decoupled θ ← θ(1 − ρλ) (AdamW), else g ← g + λθ.

    pytorch_optimizer's flags: ``weight_decouple`` is torch's ``decoupled_weight_decay``, and ``fixed_decay`` drops ρ
    from it, θ ← θ(1 − λ) (its ``apply_weight_decay``).
    """
    weight_decay = hp["weight_decay"]
    if hp.get("decoupled_weight_decay", hp.get("weight_decouple")):
        return _decay_params(params, 1.0 if hp.get("fixed_decay") else lr, weight_decay), grad
    return params, _decay_gradient(grad, params, weight_decay)


def _moments(xp: Any, state: Any, grad: Any, beta1: Any, beta2: Any) -> tuple[Any, Any]:
    """Adam's moments: s ← lerp(s, g, 1 − β₁), r ← β₂r + ((1 − β₂)g)g (torch's ``mul_(β₂).addcmul_``)."""
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    return exp_avg, state.exp_avg_sq * beta2 + ((1 - beta2) * grad) * grad


def _filled(xp: Any, value: Any, like: Any) -> Any:
    """``value`` (a number or (B, 1) array) as an array shaped like ``like``: what torch's ``where`` and ``clip`` take
    whatever its size (they refuse a Python number beyond float32's range, and a number beside an array)."""
    return value + xp.zeros_like(like)


def _float32(xp: Any, value: Any, like: Any) -> Any:
    """``value`` (a number or (B, 1) array) rounded to float32, as an array of ``like``'s dtype and rows."""
    value = _filled(xp, value, like)
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


# --- Adadelta, Rprop, ASGD, Adafactor ---------------------------------------------------


class AdadeltaState(NamedTuple):
    """r: running mean of g⊙g; u: running mean of the squared updates Δ⊙Δ."""

    square_avg: Any
    acc_delta: Any


adadelta_init = _zero_state(AdadeltaState)


def adadelta_step(xp: Any, params: Any, grad: Any, state: AdadeltaState, hp: dict, lr: Any, k: int):
    """Adadelta as torch.optim.Adadelta computes it (ρ_d is torch's ``rho``: the decay, not the learning rate ρ).

    r ← ρ_d r + (1 − ρ_d) g⊙g,  Δ = √(u + ε)/√(r + ε) ⊙ g,  u ← ρ_d u + (1 − ρ_d) Δ⊙Δ,  θ ← θ − ρΔ.
    The paper's Adadelta has no ρ: torch's default ρ = 1 is it.
    """
    rho, eps = hp["rho"], hp["eps"]
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    square_avg = state.square_avg * rho + ((1 - rho) * grad) * grad
    std = xp.sqrt(square_avg + eps)
    delta = xp.sqrt(state.acc_delta + eps) / std * grad
    acc_delta = state.acc_delta * rho + ((1 - rho) * delta) * delta
    return params + (-lr) * delta, AdadeltaState(square_avg, acc_delta)


class RpropState(NamedTuple):
    """The previous gradient (0 where its sign flipped) and each coordinate's step size Δ."""

    prev: Any
    step_size: Any


rprop_init = _zero_state(RpropState)


def rprop_step(xp: Any, params: Any, grad: Any, state: RpropState, hp: dict, lr: Any, k: int):
    """Rprop as torch.optim.Rprop computes it (η⁻, η⁺ are torch's ``etas``, Δ_min, Δ_max its ``step_sizes``).

    Per coordinate, by the sign of g·g_prev: Δ ← η⁺Δ where it is > 0, Δ ← η⁻Δ where it is < 0 (and g counts as 0:
    no step, and no sign to compare at the next one), Δ unchanged where it is 0; Δ clipped to [Δ_min, Δ_max];
    θ ← θ − sign(g)Δ. Δ starts at ρ: torch reads ρ at its first step only, so a schedule changes nothing after it.
    """
    step_size = _filled(xp, lr, params) if k == 0 else state.step_size
    sign = xp.sign(grad * state.prev)
    factor = xp.where(sign > 0, _filled(xp, hp["etaplus"], sign),
                      xp.where(sign < 0, _filled(xp, hp["etaminus"], sign), xp.ones_like(sign)))
    step_size = xp.clip(step_size * factor, _filled(xp, hp["step_size_min"], sign),
                        _filled(xp, hp["step_size_max"], sign))  # torch's clamp_: max(·, Δ_min), then min(·, Δ_max)
    grad = xp.where(sign < 0, 0.0, grad)
    return params + (-xp.sign(grad)) * step_size, RpropState(grad, step_size)


class ASGDState(NamedTuple):
    """η: the learning rate of the next step and μ: the averaging weight, (B, 1) each, float32 as torch keeps them;
    ax: the averaged θ (torch's; the trajectory is θ itself)."""

    eta: Any
    mu: Any
    ax: Any


def asgd_init(xp: Any, params: Any, hp: dict) -> ASGDState:
    return ASGDState(xp.zeros_like(params[:, :1]), xp.ones_like(params[:, :1]), xp.zeros_like(params))  # μ₁ = 1


def asgd_step(xp: Any, params: Any, grad: Any, state: ASGDState, hp: dict, lr: Any, k: int):
    """ASGD as torch.optim.ASGD computes it, at step t = k + 1 (λ_a is torch's ``lambd``, ω its ``alpha``).

    θ ← θ(1 − λ_a ηₜ) − ηₜ g,  ax ← ax + μₜ(θ − ax) (ax ← θ while μₜ = 1),  then  ηₜ₊₁ = ρ/(1 + λ_a ρ t)^ω
    and μₜ₊₁ = 1/max(1, t − t₀);  η₁ = ρ, μ₁ = 1. torch keeps η and μ as float32 scalars whatever θ's dtype, so
    both are rounded to float32 here too.
    """
    t, lambd = k + 1, hp["lambd"]
    eta = _float32(xp, lr, state.eta) if k == 0 else state.eta  # torch's η₁: the ρ of its first step
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    params = _decay_params(params, eta, lambd) + (-eta) * grad
    ax = xp.where(state.mu != 1, state.ax + (params - state.ax) * state.mu, params)
    base = _filled(xp, 1 + lambd * lr * t, eta)  # an array: its power overflows to inf, not OverflowError
    eta = _float32(xp, lr / base ** hp["alpha"], eta)
    mu = _float32(xp, 1 / xp.clip(_filled(xp, t - hp["t0"], eta), 1.0, None), eta)
    return params, ASGDState(eta, mu, ax)


class AdafactorState(NamedTuple):
    """r: the running mean of g⊙g (torch's ``variance``: a row is one vector parameter, whose r is not factored)."""

    variance: Any


adafactor_init = _zero_state(AdafactorState)


def _norm(xp: Any, v: Any) -> Any:
    """Each row's ‖v‖₂ (B, 1): a row is one length-2 parameter, torch's ``v.norm(2)``."""
    squares = v * v
    return xp.sqrt(squares[:, :1] + squares[:, 1:])


def adafactor_step(xp: Any, params: Any, grad: Any, state: AdafactorState, hp: dict, lr: Any, k: int):
    """Adafactor as torch.optim.Adafactor computes it for a vector parameter, at step t = k + 1 (c is torch's
    ``beta2_decay``, (ε₁, ε₂) its ``eps``, d its clipping threshold).

    ρₜ = min(ρ, 1/√t),  ρ̂ₜ = max(ε₂, RMS(θ)) ρₜ,  r ← lerp(r, g⊙g, t^c) (1 − β₂ₜ = t^c),
    u = g/√max(r, ε₁²),  θ ← θ − ρ̂ₜ u / max(1, RMS(u)/d),  the RMS over a row's two coordinates (torch's norms
    over the whole parameter). Weight decay λ is decoupled, θ ← θ(1 − ρλ), after ρ̂ₜ is taken. ε₁ None
    (torch's default) is the machine epsilon of θ's dtype.
    """
    t = k + 1
    eps1 = hp.get("eps1")
    if eps1 is None:
        eps1 = float(xp.finfo(params.dtype).eps)
    rms = _norm(xp, params) / 2**0.5
    alpha = xp.clip(rms, _filled(xp, hp["eps2"], rms), None) * xp.clip(_filled(xp, lr, rms), None, 1 / t**0.5)
    params = _decay_params(params, lr, hp["weight_decay"])
    variance = _lerp(xp, state.variance, grad * grad, t ** hp["beta2_decay"])
    floor = _filled(xp, eps1 * eps1, variance)
    update = (1 / xp.sqrt(xp.clip(variance, floor, None))) * grad  # torch's rsqrt_().mul_(grad)
    denom = xp.clip(_norm(xp, update) / (2**0.5 * hp["d"]), 1.0, None)
    return params + (-alpha / denom) * update, AdafactorState(variance)


# --- pytorch_optimizer's: Lion, AdaBelief, Yogi, Adan, MADGRAD, LAMB, AdaBound, AdEMAMix, Prodigy ------------------
# Their reference is pytorch-optimizer 4.1.0 (its default code path on the CPU: the foreach kernels where a class has
# them), whose order of operations these kernels follow like the ones above follow torch.optim's.


def _sqrt(xp: Any, value: Any) -> Any:
    """√value of a number (``math.sqrt``, as pytorch_optimizer computes its scalars) or of a (B, 1) array."""
    return math.sqrt(value) if isinstance(value, float) else xp.sqrt(value)


def _power(base: Any, t: int) -> Any:
    """βᵗ (t ≥ 1): Python's for a number, as pytorch_optimizer computes it, and for a (B, 1) array by repeated
    squaring, the same multiplications in numpy and torch (whose own powers differ in the last bit, which a chaotic
    row amplifies until the backends disagree)."""
    if isinstance(base, float):
        return base**t
    result, square = None, base
    while True:
        if t & 1:
            result = square if result is None else result * square
        t >>= 1
        if not t:
            return result
        square = square * square


def _debias(beta: Any, t: int) -> Any:
    """1 − βᵗ, a bias correction (pytorch_optimizer's ``debias``)."""
    return 1 - _power(beta, t)


def _select(xp: Any, condition: Any, yes: Any, no: Any) -> Any:
    """``yes`` where ``condition`` holds, else ``no``: a bool for every row, or a (B, 1) array of them."""
    if isinstance(condition, bool):
        return yes if condition else no
    return xp.where(condition, yes, no)


def _rectifier(xp: Any, beta2: Any, t: int, degenerated_to_sgd: bool) -> tuple[Any, Any]:
    """pytorch_optimizer's RAdam rectification at step t (``get_rectify_step_size``): (rₜ, whether ℓₜ ≥ 5).

    ℓ_∞ = 2/(1 − β₂) − 1,  ℓₜ = ℓ_∞ − 2tβ₂ᵗ/(1 − β₂ᵗ);  rₜ = √((1 − β₂ᵗ)(ℓₜ − 4)(ℓₜ − 2)ℓ_∞ / ((ℓ_∞ − 4)ℓₜ(ℓ_∞ − 2)))
    where ℓₜ ≥ 5 (the step size is ρrₜ), else 1 with ``degenerated_to_sgd`` (an SGD-with-momentum step) and −1
    without (no step). RAdam's rₜ is the γₜ of torch.optim.RAdam times √(1 − β₂ᵗ).
    """
    n_sma_max = 2.0 / (1.0 - beta2) - 1.0
    beta2_t = _power(beta2, t)
    n_sma = n_sma_max - 2 * t * beta2_t / (1.0 - beta2_t)
    adaptive = n_sma >= 5
    fallback = 1.0 if degenerated_to_sgd else -1.0
    if isinstance(n_sma, float):
        if not adaptive:
            return fallback, False
    else:  # per-row β₂: rₜ where ℓₜ ≥ 5, computed on a harmless stand-in elsewhere
        n_sma, n_sma_max = xp.where(adaptive, n_sma, 6.0), xp.where(adaptive, n_sma_max, 7.0)
    rect = _sqrt(xp, (1.0 - beta2_t) * (n_sma - 4) / (n_sma_max - 4) * (n_sma - 2) / n_sma * n_sma_max
                 / (n_sma_max - 2))
    return _select(xp, adaptive, rect, fallback), adaptive


class LionState(NamedTuple):
    """m: the momentum (pytorch_optimizer's ``exp_avg``)."""

    exp_avg: Any


lion_init = _zero_state(LionState)


def lion_step(xp: Any, params: Any, grad: Any, state: LionState, hp: dict, lr: Any, k: int):
    """Lion as pytorch_optimizer.Lion computes it.

    u = sign(β₁m + (1 − β₁)g),  m ← β₂m + (1 − β₂)g,  θ ← θ − ρu: every coordinate moves by ρ (or stays where
    u = 0), whatever the gradient's size. Weight decay λ: decoupled θ ← θ(1 − ρλ) first (``weight_decouple``, the
    default, as the paper's; ``fixed_decay``: θ(1 − λ)), else g ← g + λθ.
    """
    params, grad = _weight_decay(params, grad, hp, lr)
    update = xp.sign(_lerp(xp, state.exp_avg, grad, 1 - hp["beta1"]))
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - hp["beta2"])
    return params + (-lr) * update, LionState(exp_avg)


class AdaBeliefState(NamedTuple):
    """s: first moment; r: the running mean of (g − s)⊙(g − s) (+ ε), the "belief"; r_max for ``ams_bound``."""

    exp_avg: Any
    exp_avg_var: Any
    max_exp_avg_var: Any


adabelief_init = _zero_state(AdaBeliefState)


def adabelief_step(xp: Any, params: Any, grad: Any, state: AdaBeliefState, hp: dict, lr: Any, k: int):
    """AdaBelief as pytorch_optimizer.AdaBelief computes it, at step t = k + 1.

    s ← β₁s + (1 − β₁)g,  r ← β₂r + (1 − β₂)(g − s)⊙(g − s) + ε,  θ ← θ − ρ/(1 − β₁ᵗ) · s/(√r/√(1 − β₂ᵗ) + ε):
    Adam with r the spread of g around its prediction s instead of g⊙g, so steps are long where g is as expected.
    ``ams_bound``: max(r_max, r) for r. ``rectify``: RAdam's rectifier rₜ (:func:`_rectifier`),
    θ ← θ − ρrₜ/(1 − β₁ᵗ) · s/(√r + ε) once ℓₜ ≥ 5 and θ ← θ − ρ/(1 − β₁ᵗ) · s before (``degenerated_to_sgd``;
    without it no step before). Weight decay λ as Lion's (decoupled by default).
    """
    beta1, beta2, eps = hp["beta1"], hp["beta2"], hp["eps"]
    t = k + 1
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    residual = grad - exp_avg
    exp_avg_var = state.exp_avg_var * beta2 + ((1 - beta2) * residual) * residual + eps
    max_exp_avg_var = state.max_exp_avg_var
    if hp["ams_bound"]:
        max_exp_avg_var = xp.maximum(max_exp_avg_var, exp_avg_var)
    denom = xp.sqrt(max_exp_avg_var if hp["ams_bound"] else exp_avg_var)
    new_state = AdaBeliefState(exp_avg, exp_avg_var, max_exp_avg_var)
    bias_correction1 = _debias(beta1, t)
    if not hp["rectify"]:
        denom = denom / _sqrt(xp, _debias(beta2, t)) + eps
        return params + ((-lr / bias_correction1) * exp_avg) / denom, new_state
    rect, adaptive = _rectifier(xp, beta2, t, hp["degenerated_to_sgd"])
    step_size = lr * rect / bias_correction1
    adaptive_step = params + ((-step_size) * exp_avg) / (denom + eps)
    sgd_step = params + exp_avg * (-step_size) if hp["degenerated_to_sgd"] else params
    return _select(xp, adaptive, adaptive_step, sgd_step), new_state


class YogiState(NamedTuple):
    """s: first moment; r: Yogi's second moment, both starting at pytorch_optimizer's ``initial_accumulator``."""

    exp_avg: Any
    exp_avg_sq: Any


def yogi_init(xp: Any, params: Any, hp: dict) -> YogiState:
    start = xp.zeros_like(params) + hp["initial_accumulator"]
    return YogiState(start, start)


def yogi_step(xp: Any, params: Any, grad: Any, state: YogiState, hp: dict, lr: Any, k: int):
    """Yogi as pytorch_optimizer.Yogi computes it, at step t = k + 1.

    s ← β₁s + (1 − β₁)g,  r ← r − (1 − β₂) sign(r − g⊙g) ⊙ g⊙g,  θ ← θ − ρ/(1 − β₁ᵗ) · s/(√r/√(1 − β₂ᵗ) + ε):
    r moves towards g⊙g by a step of (1 − β₂)g⊙g, additively, where Adam's r is a mean that a sudden large g⊙g
    takes over. Both s and r start at s₀ = r₀ (the paper starts s at 0); Adam's bias corrections are the
    reference's (the paper has none). Weight decay λ as Lion's (decoupled by default).
    """
    beta1, beta2 = hp["beta1"], hp["beta2"]
    t = k + 1
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    grad_p2 = grad * grad
    exp_avg_sq = state.exp_avg_sq + ((-(1 - beta2)) * xp.sign(state.exp_avg_sq - grad_p2)) * grad_p2
    denom = xp.sqrt(exp_avg_sq) / _sqrt(xp, _debias(beta2, t)) + hp["eps"]
    return params + ((-lr / _debias(beta1, t)) * exp_avg) / denom, YogiState(exp_avg, exp_avg_sq)


def _clip_factor(xp: Any, grad: Any, max_grad_norm: Any, eps: Any) -> Any:
    """pytorch_optimizer's gradient-norm clipping factor min(1, G/(‖g‖ + ε)) per row (B, 1), 1 where G = 0.

    It is float32 whatever θ's dtype, as pytorch_optimizer computes it: ``get_global_gradient_norm`` rounds ‖g‖ to
    float32 and squares it there, then √ and + ε in float32, and G/n is torch's ``n.reciprocal() * G``.
    """
    if isinstance(max_grad_norm, float) and max_grad_norm == 0:
        return 1.0
    like = grad[:, :1]
    norm = _float32(xp, _norm(xp, grad), like)
    norm = _float32(xp, xp.sqrt(_float32(xp, norm * norm, like)), like)
    norm = _float32(xp, norm + _float32(xp, eps, like), like)
    factor = _float32(xp, _float32(xp, 1 / norm, like) * _float32(xp, max_grad_norm, like), like)
    return _select(xp, max_grad_norm == 0, 1.0, xp.clip(factor, None, 1.0))


class AdanState(NamedTuple):
    """s: mean of g; r: mean of the squared corrected gradient; d: mean of the differences g − g_prev;
    −g_prev (pytorch_optimizer's ``previous_grad``)."""

    exp_avg: Any
    exp_avg_sq: Any
    exp_avg_diff: Any
    previous_grad: Any


adan_init = _zero_state(AdanState)


def adan_step(xp: Any, params: Any, grad: Any, state: AdanState, hp: dict, lr: Any, k: int):
    """Adan as pytorch_optimizer.Adan computes it, at step t = k + 1 (β₁, β₂, β₃ its betas; our ``betas`` holds the
    first two and ``beta3`` the third).

    g ← g·min(1, G/(‖g‖ + ε)) where G > 0 (``max_grad_norm``, :func:`_clip_factor`), Δ = g − g_prev (0 at t = 1),
    s ← β₁s + (1 − β₁)g,  d ← β₂d + (1 − β₂)Δ,  r ← β₃r + (1 − β₃)(g + β₂Δ)⊙(g + β₂Δ),
    θ ← θ − (ρ/(1 − β₁ᵗ) · s + ρβ₂/(1 − β₂ᵗ) · d) / (√r/√(1 − β₃ᵗ) + ε).
    The paper's β's are 1 − these and its update has no bias corrections (the reference's are the official code's).
    Weight decay λ: θ ← θ/(1 + ρλ) after the step (the paper's proximal form, the default), or
    ``weight_decouple``: θ ← θ(1 − ρλ) before it.
    """
    beta1, beta2, beta3, weight_decay = hp["beta1"], hp["beta2"], hp["beta3"], hp["weight_decay"]
    t = k + 1
    grad = grad * _clip_factor(xp, grad, hp["max_grad_norm"], hp["eps"])
    grad_diff = xp.zeros_like(grad) if k == 0 else state.previous_grad + grad
    exp_avg = _lerp(xp, state.exp_avg, grad, 1 - beta1)
    exp_avg_diff = _lerp(xp, state.exp_avg_diff, grad_diff, 1 - beta2)
    grad_diff = grad_diff * beta2 + grad
    exp_avg_sq = state.exp_avg_sq * beta3 + ((1 - beta3) * grad_diff) * grad_diff
    denom = xp.sqrt(exp_avg_sq) / _sqrt(xp, _debias(beta3, t)) + hp["eps"]
    if hp["weight_decouple"]:
        params = _decay_params(params, lr, weight_decay)
    params = params + ((-lr / _debias(beta1, t)) * exp_avg) / denom
    params = params + ((-lr * beta2 / _debias(beta2, t)) * exp_avg_diff) / denom
    if not hp["weight_decouple"] and not (isinstance(weight_decay, float) and weight_decay == 0):
        params = params / (1 + lr * weight_decay)
    return params, AdanState(exp_avg, exp_avg_sq, exp_avg_diff, -grad)


class MADGRADState(NamedTuple):
    """S = Σwg⊙g and s = Σwg (dual averaging's sums, wₖ = ρ√(k + 1)); x0 = θ₀, the point the sums step from."""

    grad_sum_sq: Any
    s: Any
    x0: Any


def madgrad_init(xp: Any, params: Any, hp: dict) -> MADGRADState:
    return MADGRADState(xp.zeros_like(params), xp.zeros_like(params), params)


def _cube_root_rms(xp: Any, grad_sum_sq: Any, eps: Any) -> Any:
    """MADGRAD's denominator ∛S + ε, ∞ where it is 0 (ε = 0: a coordinate without gradient stays put)."""
    rms = grad_sum_sq ** (1.0 / 3.0) + eps
    return xp.where(rms == 0, math.inf, rms)


def madgrad_step(xp: Any, params: Any, grad: Any, state: MADGRADState, hp: dict, lr: Any, k: int):
    """MADGRAD as pytorch_optimizer.MADGRAD computes it, at step k (0-based).

    wₖ = ρ'√(k + 1) with ρ' = ρ + ε (0 where ρ = 0: the reference's shift),  S ← S + wₖ g⊙g,  s ← s + wₖ g,
    z = θ₀ − s/(∛S + ε),  θ ← (1 − α)z + αθ  (α: ``momentum``, in [0, 1)). With α = 0 there is no θ₀: z steps from
    θ + s/(∛S + ε) with the sums before this step. Weight decay λ: g ← g + λθ, or ``weight_decouple``:
    θ ← θ − ρ'λθ_prev after the step.
    """
    momentum, eps, weight_decay = hp["momentum"], hp["eps"], hp["weight_decay"]
    lr = _select(xp, lr == 0, 0.0, lr + eps)
    step_scale = lr * (k + 1) ** 0.5
    if not hp["weight_decouple"]:
        grad = _decay_gradient(grad, params, weight_decay)
    x0 = _select(xp, momentum == 0, params + state.s / _cube_root_rms(xp, state.grad_sum_sq, eps), state.x0)
    grad_sum_sq = state.grad_sum_sq + (step_scale * grad) * grad
    s = state.s + step_scale * grad
    z = x0 + (-1.0 * s) / _cube_root_rms(xp, grad_sum_sq, eps)
    new = _lerp(xp, params, z, 1 - momentum)  # exactly z where α = 0
    if hp["weight_decouple"] and not (isinstance(weight_decay, float) and weight_decay == 0):
        new = new + (-lr * weight_decay) * params
    return new, MADGRADState(grad_sum_sq, s, state.x0)


class LambState(NamedTuple):
    """s, r: Adam's moments (s a sum of (1 − β₁)g, or of g without ``grad_averaging``)."""

    exp_avg: Any
    exp_avg_sq: Any


lamb_init = _zero_state(LambState)


def lamb_step(xp: Any, params: Any, grad: Any, state: LambState, hp: dict, lr: Any, k: int):
    """LAMB as pytorch_optimizer.Lamb computes it, at step t = k + 1, each row one parameter tensor.

    s ← β₁s + (1 − β₁)g,  r ← β₂r + (1 − β₂)g⊙g,  u = s/(√r + ε),  θ ← θ − ρ/(1 − β₁ᵗ) · τ u  with the trust ratio
    τ = min(‖θ‖, 10)/(‖u‖ + ε) (1 where either norm is 0; ``adam``: τ = 1), the norms over the row. The reference
    bias-corrects s only (its docstring says neither, as the paper's v3; the paper's v1 corrects both).
    ``grad_averaging`` off: s ← β₁s + g.
    ``pre_norm``: g scaled by :func:`_clip_factor` with G = ``max_grad_norm`` first. Weight decay λ: decoupled
    θ ← θ(1 − ρλ) first (``weight_decouple``, the default; ``fixed_decay``: θ(1 − λ)), else u ← u + λθ.
    ``rectify``: RAdam's rectifier rₜ (:func:`_rectifier`); the step is p = −ρrₜ/(1 − β₁ᵗ) · s/(√r + ε) once
    ℓₜ ≥ 5, p = −ρ/(1 − β₁ᵗ) · s before (``degenerated_to_sgd``; without it no step), θ ← θ + τp with
    τ = min(‖θ‖, 10)/(‖θ + p‖ + ε): the reference's trust ratio there divides by the norm of the stepped θ, not of
    the step, and its rectified update has no u ← u + λθ (coupled weight decay is dropped).
    """
    beta1, beta2, eps, weight_decay = hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"]
    t = k + 1
    if hp["pre_norm"]:
        grad = grad * _clip_factor(xp, grad, hp["max_grad_norm"], eps)
    if hp["weight_decouple"]:
        params = _decay_params(params, 1.0 if hp["fixed_decay"] else lr, weight_decay)
    exp_avg = state.exp_avg * beta1 + (1 - beta1 if hp["grad_averaging"] else 1.0) * grad
    exp_avg_sq = state.exp_avg_sq * beta2 + ((1 - beta2) * grad) * grad
    new_state = LambState(exp_avg, exp_avg_sq)
    weight_norm = xp.clip(_norm(xp, params), None, 10.0)
    bias_correction1 = _debias(beta1, t)
    if not hp["rectify"]:
        update = (1 / (xp.sqrt(exp_avg_sq) + eps)) * exp_avg
        if not hp["weight_decouple"]:
            update = _decay_gradient(update, params, weight_decay)
        if not hp["adam"]:
            update = update * _trust_ratio(xp, weight_norm, _norm(xp, update), eps)
        return params + (-lr / bias_correction1) * update, new_state
    rect, adaptive = _rectifier(xp, beta2, t, hp["degenerated_to_sgd"])
    step_size = lr * rect / bias_correction1
    denom = xp.sqrt(exp_avg_sq) + eps
    trust_ratio = 1.0
    if not hp["adam"]:
        step = _select(xp, adaptive, ((-step_size) * exp_avg) / denom, exp_avg * (-step_size))
        trust_ratio = _trust_ratio(xp, weight_norm, _norm(xp, params + step), eps)
    adaptive_step = params + ((-step_size * trust_ratio) * exp_avg) / denom
    sgd_step = params + exp_avg * (-step_size * trust_ratio) if hp["degenerated_to_sgd"] else params
    return _select(xp, adaptive, adaptive_step, sgd_step), new_state


def _trust_ratio(xp: Any, weight_norm: Any, update_norm: Any, eps: Any) -> Any:
    """LAMB's ‖θ‖/(‖u‖ + ε) per row, 1 where either norm is 0."""
    return xp.where((weight_norm != 0) & (update_norm != 0), weight_norm / (update_norm + eps), 1.0)


class AdaBoundState(NamedTuple):
    """s, r: Adam's moments; r_max for ``ams_bound``; ρ₀ (B, 1): the learning rate the bounds follow
    (pytorch_optimizer's ``base_lrs``: the constructor's ρ, or the first ρₜ > 0 where that is 0)."""

    exp_avg: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any
    base_lr: Any


def adabound_init(xp: Any, params: Any, hp: dict) -> AdaBoundState:
    zeros = xp.zeros_like(params)
    return AdaBoundState(zeros, zeros, zeros, xp.zeros_like(params[:, :1]) + hp["lr"])


def adabound_step(xp: Any, params: Any, grad: Any, state: AdaBoundState, hp: dict, lr: Any, k: int):
    """AdaBound as pytorch_optimizer.AdaBound computes it, at step t = k + 1 (ρ* its ``final_lr``).

    s and r as Adam's; Adam's per-coordinate step size η = ρ√(1 − β₂ᵗ)/(1 − β₁ᵗ) / (√(r + 10⁻¹⁵) + ε) is clipped to
    [ρ*(1 − 1/(γt + 1)), ρ*(1 + 1/(γt))], bounds that close in on ρ* (an SGD rate) as t grows: θ ← θ − η ⊙ s.
    Under a schedule ρ* follows ρₜ/ρ₀. The reference (like the official code) bias-corrects, clips the step size
    itself and adds 10⁻¹⁵ under the root; the paper's Algorithm 1 clips ρ/√r, then divides by √t, without them.
    ``ams_bound``: max(r_max, r) for r (AMSBound). Weight decay λ as Lion's (decoupled by default).
    """
    beta1, beta2 = hp["beta1"], hp["beta2"]
    t = k + 1
    base_lr = xp.where((state.base_lr == 0) & (lr > 0), lr, state.base_lr)
    final_lr = xp.where(base_lr > 0, hp["final_lr"] * lr / xp.where(base_lr > 0, base_lr, 1.0), 0.0)
    lower_bound = final_lr * (1 - 1 / (hp["gamma"] * t + 1))
    upper_bound = final_lr * (1 + 1 / (hp["gamma"] * t))
    step_size = lr * _sqrt(xp, _debias(beta2, t)) / _debias(beta1, t)
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg, exp_avg_sq = _moments(xp, state, grad, beta1, beta2)
    max_exp_avg_sq = state.max_exp_avg_sq
    if hp["ams_bound"]:
        max_exp_avg_sq = xp.maximum(max_exp_avg_sq, exp_avg_sq)
    denom = xp.sqrt((max_exp_avg_sq if hp["ams_bound"] else exp_avg_sq) + 1e-15) + hp["eps"]
    update = xp.clip(step_size / denom, lower_bound, upper_bound) * exp_avg
    return params - update, AdaBoundState(exp_avg, exp_avg_sq, max_exp_avg_sq, base_lr)


class AdEMAMixState(NamedTuple):
    """s, r: Adam's moments; s₂: the slow momentum (decay β₃)."""

    exp_avg: Any
    exp_avg_sq: Any
    exp_avg_slow: Any


ademamix_init = _zero_state(AdEMAMixState)


def ademamix_step(xp: Any, params: Any, grad: Any, state: AdEMAMixState, hp: dict, lr: Any, k: int):
    """AdEMAMix as pytorch_optimizer.AdEMAMix computes it, at step t = k + 1 (ζ its ``alpha``; our ``betas`` holds
    its first two betas and ``beta3`` the third).

    s and r as Adam's,  s₂ ← β₃s₂ + (1 − β₃)g,  θ ← θ − ρ (s/(1 − β₁ᵗ) + ζs₂) / (√r/√(1 − β₂ᵗ) + ε): Adam's fast
    momentum mixed with a slow one (β₃ = 0.9999 averages ~10⁴ steps), not bias-corrected. The reference's weight decay
    λ is g ← g + λθ by default (``weight_decouple``: θ ← θ(1 − ρλ), the paper's AdamW form; ``fixed_decay``:
    θ(1 − λ)); its warm-up of ζ and β₃ (``t_alpha_beta3``) is left out: constant ζ and β₃, its default.
    """
    beta1, beta2 = hp["beta1"], hp["beta2"]
    t = k + 1
    params, grad = _weight_decay(params, grad, hp, lr)
    exp_avg, exp_avg_sq = _moments(xp, state, grad, beta1, beta2)
    exp_avg_slow = _lerp(xp, state.exp_avg_slow, grad, 1 - hp["beta3"])
    denom = xp.sqrt(exp_avg_sq) / _sqrt(xp, _debias(beta2, t)) + hp["eps"]
    update = exp_avg / _debias(beta1, t) + hp["alpha"] * exp_avg_slow
    return params + ((-lr) * update) / denom, AdEMAMixState(exp_avg, exp_avg_sq, exp_avg_slow)


class ProdigyState(NamedTuple):
    """σ: Prodigy's sum of weighted gradients; θ₀; s, r: Adam's moments of d·g; d: the distance estimate and n: the
    numerator of d̂ ((B, 1) each, n float32 as pytorch_optimizer keeps it)."""

    s: Any
    p0: Any
    exp_avg: Any
    exp_avg_sq: Any
    d: Any
    d_numerator: Any


def prodigy_init(xp: Any, params: Any, hp: dict) -> ProdigyState:
    zeros, column = xp.zeros_like(params), xp.zeros_like(params[:, :1])
    return ProdigyState(zeros, params, zeros, zeros, column + hp["d0"], column)


def prodigy_step(xp: Any, params: Any, grad: Any, state: ProdigyState, hp: dict, lr: Any, k: int):
    """Prodigy as pytorch_optimizer.Prodigy computes it (its per-parameter path, the CPU's), at step t = k + 1, each
    row one parameter tensor (c_d: ``d_coef``).

    ρ' = dρ (÷ (1 − β₁ᵗ)/√(1 − β₂ᵗ) with ``bias_correction``),  β₃ = √β₂,
    n ← β₃n + (d/d₀)ρ' ⟨g, θ₀ − θ⟩,  s ← β₁s + d(1 − β₁)g,  r ← β₂r + d²(1 − β₂)g⊙g,
    σ ← β₃σ + (d/d₀)ρ' g (``safeguard_warmup``: d in place of ρ'),  d ← max(d, c_d·n/‖σ‖₁),
    θ ← θ − ρ' s/(√r + dε) (ρ' with the d before this step, dε with the new one): d grows towards the distance from
    θ₀ to the minimum, and the steps with it. A row whose σ is 0 takes no step and keeps its d. The reference keeps n,
    ‖σ‖₁ and d̂ in float32 (so here too) and its constructor's β₃ = None (√β₂), growth_rate = ∞ and ε ≠ None (no
    atan2 step) are fixed here. Its weight decay λ is decoupled (``weight_decouple``, the default): θ ← θ(1 − ρ'λ)
    (``fixed_decay``: θ(1 − λ)); coupled, it adds λθ to a gradient that is not used again: no decay at all (the
    reference's, kept).
    """
    beta1, beta2, d0, d = hp["beta1"], hp["beta2"], hp["d0"], state.d
    t = k + 1
    beta3 = _sqrt(xp, beta2)
    bias_correction = _debias(beta1, t) / _sqrt(xp, _debias(beta2, t)) if hp["bias_correction"] else 1.0
    d_lr = d * lr / bias_correction
    numerator = _float32(xp, state.d_numerator * _float32(xp, beta3, d), d)
    product = grad * (state.p0 - params)
    step = _float32(xp, (d / d0) * d_lr, d) * _float32(xp, product[:, :1] + product[:, 1:], d)
    numerator = _float32(xp, numerator + step, d)  # torch's add_(dot, alpha=...) in float32: one rounding
    exp_avg = state.exp_avg * beta1 + (d * (1.0 - beta1)) * grad
    exp_avg_sq = state.exp_avg_sq * beta2 + ((d * d * (1.0 - beta2)) * grad) * grad
    s = state.s * beta3 + ((d / d0) * (d if hp["safeguard_warmup"] else d_lr)) * grad
    denominator = _float32(xp, abs(s[:, :1]) + abs(s[:, 1:]), d)
    moved = denominator != 0
    d_hat = _float32(xp, _float32(xp, _float32(xp, hp["d_coef"], d) * numerator, d)
                     / xp.where(moved, denominator, 1.0), d)
    new_d = xp.where(moved & (d_hat > d), d_hat, d)  # Python's max(d, d̂), as the reference takes it
    decayed, _ = _weight_decay(params, grad, hp, d_lr)  # coupled: a gradient not used again
    stepped = decayed + ((-d_lr) * exp_avg) / (xp.sqrt(exp_avg_sq) + new_d * hp["eps"])
    return xp.where(moved, stepped, params), ProdigyState(s, state.p0, exp_avg, exp_avg_sq, new_d, numerator)


# --- several gradients per step, and wrappers: SAM, Lookahead (pytorch_optimizer's) ----------------------------------
# A rule with ``closure`` takes one more argument, the step's closure (``engine.Closure``): f and ∇f at other points,
# from the same minibatch and noise draw as the step's own gradient, as one ``optimizer.step(closure)`` sees one batch.
# A rule that ``wraps`` steps its base optimizer (the keyword ``base_optimizer``) with the base's own kernels and
# keywords. Where a wrapper's keyword has a base's name, SAM's ``rho`` is Adadelta's too (the reference builds the
# base from SAM's parameter groups, which hold it), while Lookahead's ``alpha`` is not RMSprop's (the reference wraps
# a base built apart, which keeps its default): ``Rule.wraps`` and ``hyperparams.resolve``.


BASE_PREFIX = "base."  # a base optimizer's keyword whose name the wrapper's own keyword takes


def _base(hp: dict) -> Rule:
    return RULES[hp["base_optimizer"]]


def _base_hp(hp: dict) -> dict:
    """The hyper-parameters the base kernel reads: the wrapper's, with the base's own values where names clash
    (``hyperparams.resolve`` keeps those as ``base.<name>``)."""
    clashing = {key[len(BASE_PREFIX):]: value for key, value in hp.items() if key.startswith(BASE_PREFIX)}
    return {**hp, **clashing} if clashing else hp


def sam_init(xp: Any, params: Any, hp: dict) -> Any:
    return _base(hp).init(xp, params, _base_hp(hp))


def sam_step(xp: Any, params: Any, grad: Any, state: Any, hp: dict, lr: Any, k: int, closure: Any):
    """SAM as pytorch_optimizer.SAM computes it: the base optimizer's step with the gradient taken at the worst point
    of a ball of radius r (SAM's ``rho``; ρ stays the base's learning rate), to first order:

    e = r·g / (‖g‖ + ε_r),  g̃ = ∇f(θ + e),  θ ← base step(θ, g̃).

    ``adaptive`` (ASAM) scales the ball by the parameters: e = r·θ⊙θ⊙g / (‖θ⊙g‖ + ε_r). The norm is float32, as the
    reference's ``get_global_gradient_norm`` computes it (whatever θ's dtype); r/(‖g‖ + ε_r) is torch's
    ``reciprocal() * r``. Two gradient evaluations per step; both see the step's minibatch and noise draw (an SAM
    step trains on one batch). The state is the base's.
    """
    like = grad[:, :1]
    weighted = grad * abs(params) if hp["adaptive"] else grad
    norm = _float32(xp, _norm(xp, weighted), like)
    norm = _float32(xp, xp.sqrt(_float32(xp, norm * norm, like)), like)
    norm = _float32(xp, norm + _float32(xp, hp["perturb_eps"], like), like)
    scale = _float32(xp, _float32(xp, 1 / norm, like) * _float32(xp, hp["rho"], like), like)
    perturbation = (params * params * grad if hp["adaptive"] else grad) * scale
    _, perturbed_grad = closure(params + perturbation)
    return _base(hp).step(xp, params, perturbed_grad, state, _base_hp(hp), lr, k)


class LookaheadState(NamedTuple):
    """The base optimizer's state; θ_slow, the slow weights; and the slow copy of the base's momentum buffer
    (``pullback_momentum='pullback'``, else None)."""

    base: Any
    slow_params: Any
    slow_momentum: Any


def lookahead_init(xp: Any, params: Any, hp: dict) -> LookaheadState:
    pullback = hp["pullback_momentum"] == "pullback"
    return LookaheadState(_base(hp).init(xp, params, _base_hp(hp)), params, xp.zeros_like(params) if pullback else None)


def lookahead_step(xp: Any, params: Any, grad: Any, state: LookaheadState, hp: dict, lr: Any, k: int):
    """Lookahead as pytorch_optimizer.Lookahead computes it: the base optimizer steps the fast weights θ, and every κ
    steps (its ``k``) they are pulled back towards the slow weights, which then follow:

    θ ← θ_slow + φ(θ − θ_slow) (torch's ``lerp(θ, θ_slow, 1 − φ)``; φ is its ``alpha``),  θ_slow ← θ.

    At a sync, ``pullback_momentum`` treats the base's momentum buffer (SGD's and RMSprop's; other bases have none,
    and the reference's buffer would go unread): 'none' keeps it, 'reset' zeroes it, 'pullback' moves it like θ
    towards a slow copy of it. The paper's outer step is the same: θ_slow + φ(θ − θ_slow).
    """
    base = _base(hp)
    params, base_state = base.step(xp, params, grad, state.base, _base_hp(hp), lr, k)
    sync = ((k + 1) % hp["k"]) == 0
    if isinstance(sync, bool) and not sync:
        return params, LookaheadState(base_state, state.slow_params, state.slow_momentum)
    synced = _lerp(xp, params, state.slow_params, 1 - hp["alpha"])
    params = _select(xp, sync, synced, params)
    slow_params = _select(xp, sync, synced, state.slow_params)
    slow_momentum = state.slow_momentum
    buffer = getattr(base_state, "momentum_buffer", None)
    if buffer is not None and hp["pullback_momentum"] != "none":
        if hp["pullback_momentum"] == "reset":
            moved = xp.zeros_like(buffer)
        else:
            moved = _lerp(xp, buffer, state.slow_momentum, 1 - hp["alpha"])
            slow_momentum = _select(xp, sync, moved, state.slow_momentum)
        base_state = base_state._replace(momentum_buffer=_select(xp, sync, moved, buffer))
    return params, LookaheadState(base_state, slow_params, slow_momentum)


# --- schedule-free SGD and AdamW (pytorch_optimizer's) ----------------------------------------------------------------


class ScheduleFreeState(NamedTuple):
    """z, the base sequence; r and r_max: AdamW's second moment (None for SGD); Σw, the weights summed so far, and
    ρ_max, the largest (warmed-up) learning rate so far, both (B, 1)."""

    z: Any
    exp_avg_sq: Any
    max_exp_avg_sq: Any
    weight_sum: Any
    lr_max: Any


def schedulefree_init(xp: Any, params: Any, hp: dict) -> ScheduleFreeState:
    adam = "beta2" in hp
    zeros = xp.zeros_like(params)
    column = xp.zeros_like(params[:, :1])
    return ScheduleFreeState(params, zeros if adam else None, zeros if adam and hp["ams_bound"] else None, column,
                             column - 1.0)


def _schedulefree_beta(hp: dict) -> Any:
    """β, the interpolation of y between z and x: SGD's ``momentum``, AdamW's β₁."""
    return hp["beta1"] if "beta1" in hp else hp["momentum"]


def schedulefree_step(xp: Any, params: Any, grad: Any, state: ScheduleFreeState, hp: dict, lr: Any, k: int):
    """Schedule-free SGD and AdamW (Defazio et al. 2024) as pytorch_optimizer computes them, at step t = k + 1.

    Three sequences: z takes plain (or Adam-scaled) gradient steps, x is the weighted average of the z's, and the
    gradient is taken at y = (1 − β)z + βx, which is θ here (the reference's parameter in train mode; x is what its
    ``eval()`` gives, :func:`schedulefree_averaged`). With ρₜ = ρ·min(1, t/T_w), ρ_max = max ρₜ so far, the weight
    wₜ = t^q·ρ_max^p and cₜ = wₜ/Σw:

    y ← lerp(y, z, cₜ) + ρₜ(β(1 − cₜ) − 1)·g,  z ← z − ρₜ g.

    AdamW first divides g by √(r/(1 − β₂ᵗ) + 10⁻¹⁵) + ε with r ← β₂r + (1 − β₂)g⊙g (``ams_bound``: its running
    maximum), and with c_w > 0 uses cₜ ← min(1, cₜ(1 − β₁)c_w). Weight decay λ is L2, g ← g + λy, added after that
    scaling. The reference keeps y and z, not x; the paper's updates of x and y give the same y.
    """
    t = k + 1
    warmup = hp["warmup_steps"]
    lr = lr * _select(xp, t < warmup, t / _nonzero(warmup), 1.0)
    lr_max = xp.maximum(state.lr_max, _filled(xp, lr, state.lr_max))
    weight = (t ** hp["r"]) * (lr_max ** hp["weight_lr_power"])
    weight_sum = state.weight_sum + weight
    checkpoint = xp.where(weight_sum != 0, weight / xp.where(weight_sum != 0, weight_sum, 1.0), 0.0)
    beta = _schedulefree_beta(hp)
    exp_avg_sq, max_exp_avg_sq = state.exp_avg_sq, state.max_exp_avg_sq
    if exp_avg_sq is not None:
        beta2 = hp["beta2"]
        checkpoint = _select(xp, hp["decoupling_c"] > 0,
                             xp.clip(checkpoint * (1 - beta) * hp["decoupling_c"], None, 1.0), checkpoint)
        exp_avg_sq = exp_avg_sq * beta2 + ((1 - beta2) * grad) * grad
        corrected = exp_avg_sq / _debias(beta2, t)
        if hp["ams_bound"]:
            max_exp_avg_sq = xp.maximum(max_exp_avg_sq, corrected)
            corrected = max_exp_avg_sq
        grad = grad / (xp.sqrt(corrected + 1e-15) + hp["eps"])
    grad = _decay_gradient(grad, params, hp["weight_decay"])
    params = _lerp(xp, params, state.z, checkpoint) + grad * (lr * (beta * (1 - checkpoint) - 1))
    z = state.z + grad * (-lr)
    return params, ScheduleFreeState(z, exp_avg_sq, max_exp_avg_sq, weight_sum, lr_max)


def _nonzero(value: Any) -> Any:
    """``value`` with 0 read as 1 (a divisor in a branch that 0 never takes)."""
    if isinstance(value, float):
        return value or 1.0
    return value + (value == 0)


def schedulefree_averaged(xp: Any, params: Any, state: ScheduleFreeState, hp: dict) -> Any:
    """x, the schedule-free average, from y and z: the reference's ``eval()``, y ← lerp(y, z, 1 − 1/β)."""
    return _lerp(xp, params, state.z, 1 - 1 / _schedulefree_beta(hp))


class Rule(NamedTuple):
    """An optimizer: its reference's class name ("" for ours), keyword defaults, kernel pair and its math."""

    name: str
    torch_name: str  # the class in ``reference``: torch.optim's, or pytorch_optimizer's for the modern optimizers
    defaults: dict[str, Any]
    init: Callable
    step: Callable
    equations: tuple[str, ...]  # the update in the lecture's notation, LaTeX
    summary: str
    fixed: dict[str, Any] = {}  # settings implied by the name, not keywords (AdamW's decoupling)
    reference: str = "torch.optim"  # the library the kernels reproduce: "torch.optim" or "pytorch_optimizer"
    closure: bool = False  # ``step`` takes the step's closure too (f and ∇f elsewhere: SAM, LBFGS)
    evaluations: int = 1  # gradient evaluations per step (0: counted by the state's ``func_evals``, LBFGS)
    exact: bool = False  # refuses gradient noise and minibatches (LBFGS: its line search compares values of one f)
    wraps: str = ""  # steps a base optimizer (keyword ``base_optimizer``) and takes the base's keywords too: "class"
    # (SAM builds the base from its own parameter groups, so a keyword both take is one value for both) or
    # "instance" (Lookahead wraps a base built apart: where names clash the base keeps its default)
    averaged: Callable | None = None  # (xp, θ, state, hp) → the averaged iterate drawn beside θ (schedule-free's x)


_SGD_DEFAULTS = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
_ADAM_DEFAULTS = {
    "lr": 1e-3,
    "betas": (0.9, 0.999),
    "eps": 1e-8,
    "weight_decay": 0.0,
    "amsgrad": False,
}
_ADAMAX_DEFAULTS = {"lr": 2e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}
_DECOUPLED_DEFAULTS = {"weight_decay": 0.0, "weight_decouple": True, "fixed_decay": False}  # pytorch_optimizer's
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
    "adadelta": Rule(
        "adadelta", "Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6, "weight_decay": 0.0}, adadelta_init,
        adadelta_step,
        (r"r \leftarrow \rho_d r + (1 - \rho_d)\, g \odot g",
         r"\Delta = \frac{\sqrt{u + \epsilon}}{\sqrt{r + \epsilon}} \odot g,\quad"
         r" u \leftarrow \rho_d u + (1 - \rho_d)\, \Delta \odot \Delta",
         r"\theta \leftarrow \theta - \rho \Delta"),
        "Adadelta: RMSProp whose step is rescaled by the RMS of its own past updates, so ρ = 1 needs no tuning",
    ),
    "rprop": Rule(
        "rprop", "Rprop", {"lr": 1e-2, "etas": (0.5, 1.2), "step_sizes": (1e-6, 50.0)}, rprop_init, rprop_step,
        (r"\Delta \leftarrow \operatorname{clip}\left(\begin{cases} \eta^+ \Delta & g \odot g_{\text{prev}} > 0"
         r" \\ \eta^- \Delta & g \odot g_{\text{prev}} < 0 \\ \Delta & \text{else} \end{cases},"
         r"\ \Delta_{\min}, \Delta_{\max}\right),\quad \Delta_0 = \rho",
         r"g \leftarrow 0 \text{ where } g \odot g_{\text{prev}} < 0,\quad g_{\text{prev}} \leftarrow g",
         r"\theta \leftarrow \theta - \operatorname{sign}(g) \odot \Delta"),
        "Rprop: only the sign of each gradient coordinate counts; its step grows while the sign holds and shrinks "
        "when it flips",
    ),
    "asgd": Rule(
        "asgd", "ASGD", {"lr": 1e-2, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "weight_decay": 0.0}, asgd_init,
        asgd_step,
        (r"\theta \leftarrow \theta (1 - \lambda_a \eta_t) - \eta_t g,\quad"
         r" \eta_{t+1} = \frac{\rho}{(1 + \lambda_a \rho t)^\omega},\ \eta_1 = \rho",
         r"\bar\theta \leftarrow \bar\theta + \mu_t (\theta - \bar\theta),\quad"
         r" \mu_{t+1} = \frac{1}{\max(1, t - t_0)}"),
        "ASGD: SGD with a decaying ρ that also keeps the running average θ̄ of its iterates from step t₀ on (the race "
        "follows θ)",
    ),
    "adafactor": Rule(
        "adafactor", "Adafactor", {"lr": 1e-2, "beta2_decay": -0.8, "eps": (None, 1e-3), "d": 1.0, "weight_decay": 0.0},
        adafactor_init, adafactor_step,
        (r"\rho_t = \min\left(\rho, \tfrac{1}{\sqrt{t}}\right),\quad"
         r" \hat\rho_t = \max(\epsilon_2, \operatorname{RMS}(\theta))\, \rho_t",
         r"r \leftarrow (1 - t^c)\, r + t^c\, g \odot g",
         r"u = \frac{g}{\sqrt{\max(r, \epsilon_1^2)}},\quad"
         r" \theta \leftarrow \theta - \frac{\hat\rho_t}{\max(1, \operatorname{RMS}(u) / d)}\, u"),
        "Adafactor: steps relative to θ's own size (RMS(θ)·min(ρ, 1/√t)), a second moment whose decay 1 − t^c "
        "forgets fast at first, and update clipping at RMS d",
    ),
    "lion": Rule(
        "lion", "Lion", {"lr": 1e-4, "betas": (0.9, 0.99), **_DECOUPLED_DEFAULTS}, lion_init, lion_step,
        (r"u = \operatorname{sign}\left(\beta_1 s + (1 - \beta_1) g\right),\quad"
         r" s \leftarrow \beta_2 s + (1 - \beta_2) g",
         r"\theta \leftarrow \theta - \rho u"),
        "Lion: the sign of an interpolated momentum, so every coordinate steps by exactly ρ",
        reference="pytorch_optimizer",
    ),
    "adabelief": Rule(
        "adabelief", "AdaBelief",
        {"lr": 1e-3, "betas": (0.9, 0.999), **_DECOUPLED_DEFAULTS, "rectify": False, "degenerated_to_sgd": True,
         "ams_bound": False, "eps": 1e-16},
        adabelief_init, adabelief_step,
        (r"s \leftarrow \beta_1 s + (1 - \beta_1) g,\quad"
         r" r \leftarrow \beta_2 r + (1 - \beta_2) (g - s) \odot (g - s) + \epsilon",
         r"\theta \leftarrow \theta - \frac{\rho}{1 - \beta_1^t} \frac{s}{\sqrt{r / (1 - \beta_2^t)} + \epsilon}"),
        "AdaBelief: Adam dividing by the spread of g around its running mean s, not by the size of g",
        reference="pytorch_optimizer",
    ),
    "yogi": Rule(
        "yogi", "Yogi",
        {"lr": 1e-2, "betas": (0.9, 0.999), "initial_accumulator": 1e-6, **_DECOUPLED_DEFAULTS, "eps": 1e-3},
        yogi_init, yogi_step,
        (r"s \leftarrow \beta_1 s + (1 - \beta_1) g,\quad"
         r" r \leftarrow r - (1 - \beta_2) \operatorname{sign}(r - g \odot g) \odot g \odot g",
         r"\theta \leftarrow \theta - \frac{\rho}{1 - \beta_1^t} \frac{s}{\sqrt{r / (1 - \beta_2^t)} + \epsilon}"),
        "Yogi: Adam whose r moves additively towards g⊙g, so one large gradient does not take r over",
        reference="pytorch_optimizer",
    ),
    "adan": Rule(
        "adan", "Adan",
        {"lr": 1e-3, "betas": (0.98, 0.92), "beta3": 0.99, "weight_decay": 0.0, "weight_decouple": False,
         "max_grad_norm": 0.0, "eps": 1e-8},
        adan_init, adan_step,
        (r"\Delta = g - g_{\text{prev}},\quad s \leftarrow \beta_1 s + (1 - \beta_1) g,\quad"
         r" d \leftarrow \beta_2 d + (1 - \beta_2) \Delta",
         r"r \leftarrow \beta_3 r + (1 - \beta_3) (g + \beta_2 \Delta) \odot (g + \beta_2 \Delta)",
         r"\theta \leftarrow \theta - \left(\frac{\rho}{1 - \beta_1^t} s + \frac{\rho \beta_2}{1 - \beta_2^t} d\right)"
         r" \Big/ \left(\sqrt{r / (1 - \beta_3^t)} + \epsilon\right)"),
        "Adan: Nesterov-like momentum estimated from gradient differences, with Adam's scaling",
        reference="pytorch_optimizer",
    ),
    "madgrad": Rule(
        "madgrad", "MADGRAD",
        {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.0, "weight_decouple": False, "eps": 1e-6},
        madgrad_init, madgrad_step,
        (r"w_k = \rho \sqrt{k + 1},\quad S \leftarrow S + w_k\, g \odot g,\quad s \leftarrow s + w_k g",
         r"z = \theta_0 - \frac{s}{\sqrt[3]{S} + \epsilon},\quad \theta \leftarrow \alpha \theta + (1 - \alpha) z"),
        "MADGRAD: dual averaging from θ₀ with AdaGrad-like cube-root scaling and momentum by averaging",
        reference="pytorch_optimizer",
    ),
    "lamb": Rule(
        "lamb", "Lamb",
        {"lr": 1e-3, "betas": (0.9, 0.999), **_DECOUPLED_DEFAULTS, "rectify": False, "degenerated_to_sgd": False,
         "grad_averaging": True, "max_grad_norm": 1.0, "adam": False, "pre_norm": False, "eps": 1e-6},
        lamb_init, lamb_step,
        (_MOMENTS_EQUATION,
         r"u = \frac{s}{\sqrt{r} + \epsilon},\quad \tau = \frac{\min(\lVert \theta \rVert, 10)}{\lVert u \rVert"
         r" + \epsilon}",
         r"\theta \leftarrow \theta - \frac{\rho}{1 - \beta_1^t} \tau u"),
        "LAMB: Adam's step rescaled per parameter tensor by the trust ratio ‖θ‖/‖u‖",
        reference="pytorch_optimizer",
    ),
    "adabound": Rule(
        "adabound", "AdaBound",
        {"lr": 1e-3, "final_lr": 0.1, "betas": (0.9, 0.999), "gamma": 1e-3, **_DECOUPLED_DEFAULTS,
         "ams_bound": False, "eps": 1e-8},
        adabound_init, adabound_step,
        (_MOMENTS_EQUATION,
         r"\eta = \operatorname{clip}\left(\frac{\rho \sqrt{1 - \beta_2^t}}{(1 - \beta_1^t)(\sqrt{r} + \epsilon)},\ "
         r"\rho^* \left(1 - \frac{1}{\gamma t + 1}\right),\ \rho^* \left(1 + \frac{1}{\gamma t}\right)\right)",
         r"\theta \leftarrow \theta - \eta \odot s"),
        "AdaBound: Adam whose per-coordinate step size is clipped into bounds that tighten to SGD's ρ*",
        reference="pytorch_optimizer",
    ),
    "ademamix": Rule(
        "ademamix", "AdEMAMix",
        {"lr": 1e-3, "betas": (0.9, 0.999), "beta3": 0.9999, "weight_decay": 0.0, "weight_decouple": False,
         "fixed_decay": False, "alpha": 5.0, "eps": 1e-8},
        ademamix_init, ademamix_step,
        (_MOMENTS_EQUATION + r",\quad s_2 \leftarrow \beta_3 s_2 + (1 - \beta_3) g",
         r"\theta \leftarrow \theta - \rho \frac{s / (1 - \beta_1^t) + \zeta s_2}"
         r"{\sqrt{r / (1 - \beta_2^t)} + \epsilon}"),
        "AdEMAMix: Adam's momentum plus ζ times a much slower one, which remembers old gradients",
        reference="pytorch_optimizer",
    ),
    "prodigy": Rule(
        "prodigy", "Prodigy",
        {"lr": 1.0, "betas": (0.9, 0.999), "d0": 1e-6, "d_coef": 1.0, **_DECOUPLED_DEFAULTS,
         "bias_correction": False, "safeguard_warmup": False, "eps": 1e-8},
        prodigy_init, prodigy_step,
        (r"n \leftarrow \sqrt{\beta_2}\, n + \frac{d}{d_0} d \rho \langle g, \theta_0 - \theta \rangle,\quad"
         r" \sigma \leftarrow \sqrt{\beta_2}\, \sigma + \frac{d}{d_0} d \rho\, g",
         r"d \leftarrow \max\left(d, \frac{c_d\, n}{\lVert \sigma \rVert_1}\right),\quad"
         r" s \leftarrow \beta_1 s + (1 - \beta_1) d g,\quad r \leftarrow \beta_2 r + (1 - \beta_2) d^2 g \odot g",
         r"\theta \leftarrow \theta - d \rho \frac{s}{\sqrt{r} + d \epsilon}"),
        "Prodigy: Adam whose step size d·ρ is learned, d estimating the distance from θ₀ to the minimum",
        reference="pytorch_optimizer",
    ),
    "schedulefree_sgd": Rule(
        "schedulefree_sgd", "ScheduleFreeSGD",
        {"lr": 1.0, "momentum": 0.9, "weight_decay": 0.0, "r": 0.0, "weight_lr_power": 2.0, "warmup_steps": 0},
        schedulefree_init, schedulefree_step,
        (r"c_t = \frac{t^q \rho_{\max}^p}{\sum_{i \le t} i^q \rho_{\max,i}^p}",
         r"\theta \leftarrow (1 - c_t)\, \theta + c_t z + \rho \left(\beta (1 - c_t) - 1\right) g,\quad"
         r" z \leftarrow z - \rho g",
         r"x = \theta + \left(1 - \tfrac{1}{\beta}\right)(z - \theta)"),
        "schedule-free SGD: gradients at θ, between the SGD sequence z and its running average x (drawn "
        "dash-dotted), so no decaying schedule is needed",
        reference="pytorch_optimizer", averaged=schedulefree_averaged,
    ),
    "schedulefree_adamw": Rule(
        "schedulefree_adamw", "ScheduleFreeAdamW",
        {"lr": 2.5e-3, "betas": (0.9, 0.999), "weight_decay": 0.0, "r": 0.0, "weight_lr_power": 2.0,
         "warmup_steps": 0, "decoupling_c": 0.0, "ams_bound": False, "eps": 1e-8},
        schedulefree_init, schedulefree_step,
        (r"r \leftarrow \beta_2 r + (1 - \beta_2)\, g \odot g,\quad"
         r" u = \frac{g}{\sqrt{r / (1 - \beta_2^t)} + \epsilon}",
         r"\theta \leftarrow (1 - c_t)\, \theta + c_t z + \rho \left(\beta_1 (1 - c_t) - 1\right) u,\quad"
         r" z \leftarrow z - \rho u,\quad c_t = \frac{t^q \rho_{\max}^p}{\sum_{i \le t} i^q \rho_{\max,i}^p}",
         r"x = \theta + \left(1 - \tfrac{1}{\beta_1}\right)(z - \theta)"),
        "schedule-free AdamW: schedule-free SGD on Adam's scaled gradient; x, the average, is drawn dash-dotted",
        reference="pytorch_optimizer", averaged=schedulefree_averaged,
    ),
    "sam": Rule(
        "sam", "SAM", {"base_optimizer": "sgd", "rho": 0.05, "adaptive": False, "perturb_eps": 1e-12},
        sam_init, sam_step,
        (r"e = r \frac{g}{\lVert g \rVert + \epsilon_r},\quad \tilde g = \nabla f(\theta + e)",
         r"\theta \leftarrow \operatorname{base}(\theta, \tilde g)"),
        "SAM: the base optimizer's step with the gradient at the worst nearby point, θ + r·g/‖g‖, which steers "
        "towards flat minima",
        reference="pytorch_optimizer", closure=True, evaluations=2, wraps="class",
    ),
    "lookahead": Rule(
        "lookahead", "Lookahead", {"base_optimizer": "adam", "k": 5, "alpha": 0.5, "pullback_momentum": "none"},
        lookahead_init, lookahead_step,
        (r"\theta \leftarrow \operatorname{base}(\theta, g)",
         r"\text{every } \kappa \text{ steps: } \theta \leftarrow \theta_{\text{slow}} + \phi\,"
         r"(\theta - \theta_{\text{slow}}),\quad \theta_{\text{slow}} \leftarrow \theta"),
        "Lookahead: κ steps of the base optimizer, then a step of φ back towards the slow weights",
        reference="pytorch_optimizer", wraps="instance",
    ),
    "lbfgs": Rule(
        "lbfgs", "LBFGS",
        {"lr": 1, "max_iter": 20, "max_eval": None, "tolerance_grad": 1e-7, "tolerance_change": 1e-9,
         "history_size": 100, "line_search_fn": None},
        lbfgs_init, lbfgs_step,
        (r"s_i = \theta_{i+1} - \theta_i,\quad y_i = g_{i+1} - g_i\ \text{(the last } m \text{ pairs with }"
         r" s_i^\top y_i > 10^{-10})",
         r"d = -H g,\quad H \text{ from } H_0 = \frac{s^\top y}{y^\top y} I \text{ by the two-loop recursion}",
         r"\theta \leftarrow \theta + t d,\quad t = \rho\ \text{(or a strong-Wolfe line search from } \rho)",
         r"\text{up to } I \text{ iterations per step, until } \max |g| \le \epsilon_g"
         r" \text{ or a change} \le \epsilon_\Delta"),
        "L-BFGS: quasi-Newton steps d = −Hg, H built from the last m moves and gradient changes; up to I iterations "
        "(optionally line-searched) per step",
        closure=True, evaluations=0, exact=True,
    ),
}
