"""The run/sweep engine: batched optimizer rows over any surface, with divergence tracking.

``run`` keeps every iterate (for figures and exports); ``sweep`` keeps O(B) summaries (for
hyper-parameter maps of thousands of rows). Both validate everything first
(:func:`optimizers.batch.prepare`), then step all rows at once through the kernels of
:mod:`optimizers.rules` (:class:`Stepper`), or, for large numpy sweeps, the fused kernel of
:mod:`optimizers.fast`. The engine never imports ``landscapes``: a surface is any
:class:`~optimizers.surface.Surface`.

Divergence (docs/ARCHITECTURE.md's contract): row i is marked at the first step k where an iterate coordinate or
the loss is non-finite ("non-finite", the row then repeats its iterate of step k − 1) or
the loss exceeds 1e10·max(1, |f(θ₀)|) ("blow-up", the row keeps θₖ). From there the row is
frozen; no returned array holds NaN or inf, and nothing warns or raises.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from . import hyperparams, noise
from .batch import BLOW_UP_FACTOR, REASONS, Batch, Summary, Trajectory, prepare
from .surface import Surface

FAST_PATH_MIN_ROWS = 256  # smaller sweeps skip numba's import (~0.5 s) and first compile (~2 s per kernel), unless
# both are paid already (_fused_ready)
FUSED_STEPS = (  # the kernels of rules.py with a fused numba family (optimizers.fast.FAMILIES and PER_BATCH, which
    # import numba; tests/test_fast.py checks that they agree)
    "sgd_step", "rmsprop_step", "adam_step", "adagrad_step", "adamax_step", "nadam_step", "radam_step", "adadelta_step",
    "rprop_step", "asgd_step", "adafactor_step", "lion_step", "adabelief_step", "yogi_step", "adan_step",
    "madgrad_step", "lamb_step", "adabound_step", "ademamix_step", "prodigy_step", "schedulefree_step",
    "lookahead_step",
)
LOOKAHEAD_BASE_STEPS = (  # the bases Lookahead's fused family composes over (a coordinate family with room for κ, φ
    # and θ_slow: fast._lookahead_family); over SGD's and RMSprop's, not with pullback_momentum 'pullback'
    "sgd_step", "rmsprop_step", "adam_step", "adagrad_step", "adamax_step", "nadam_step", "radam_step", "adadelta_step",
    "rprop_step", "asgd_step", "lion_step", "adabelief_step", "yogi_step",
)


def fused(optimizer: str, hyper: dict[str, Any] | None = None) -> bool:
    """Whether a large numpy sweep of ``optimizer`` can run the fused kernel of :mod:`optimizers.fast`; a wrapper's
    depends on its base and options in ``hyper`` (keywords; absent ones: the defaults)."""
    rule = hyperparams.rule(optimizer)
    if rule.wraps != "instance":
        return rule.step.__name__ in FUSED_STEPS
    hyper = hyper or {}
    base = hyperparams.rule(hyper.get("base_optimizer") or rule.defaults["base_optimizer"]).step.__name__
    pullback = hyper.get("pullback_momentum", rule.defaults["pullback_momentum"]) == "pullback"
    return base in LOOKAHEAD_BASE_STEPS and not (pullback and base in ("sgd_step", "rmsprop_step"))


def _fused_ready(batch: Batch) -> bool:
    """Whether a sweep below FAST_PATH_MIN_ROWS takes the fused kernel anyway: where this process has imported numba
    (:mod:`optimizers.fast`) and the kernel needs no compiling (``fast.ready``: compiled, or in numba's disk cache),
    it costs nothing more (a 64-row, 1000-step sweep: ~0.001 s against ~0.04 s in the numpy kernel)."""
    fast = sys.modules.get(f"{__package__}.fast")
    return fast is not None and fast.ready(batch)


class Step(NamedTuple):
    """Iterate k of every row, and the step θₖ₋₁ → θₖ that reached it (``grad`` and ``lr`` None at k = 0).

    Arrays are in the batch's backend (numpy, or torch on its device), B rows each.
    """

    k: int
    theta: Any  # θₖ (B, 2); a diverged row repeats its last finite iterate
    loss: Any  # f(θₖ) (B,)
    grad: Any  # gₖ₋₁ as the rule was fed it, noise and minibatch included (B, 2)
    lr: np.ndarray | None  # ρₖ₋₁ per row (B,), float64
    state: Any  # the rule's state after the step, a NamedTuple of torch's names (at k = 0 its initial state)
    diverged_at: Any  # (B,) int: the step where each row diverged, so far; -1 where none
    reason: Any  # (B,) int: each row's index into REASONS ("", "non-finite", "blow-up")


class Closure:
    """f and ∇f of step k at any points (B, 2): what ``optimizer.step(closure)`` re-evaluates within one step (SAM's
    perturbed gradient, LBFGS's iterations and line search). Each evaluation sees the step's minibatch and gradient
    noise draw, as one closure sees one batch. ``loss`` is f(θₖ), where the step starts."""

    def __init__(self, stepper: Stepper, step: int, loss: Any):
        self.stepper, self.step, self.loss = stepper, step, loss

    def __call__(self, points: Any) -> tuple[Any, Any]:
        loss, grad = self.stepper.value_and_grad(points)
        return loss, self.stepper.fed_gradient(points, grad, self.step)


class Stepper:
    """Steps every row of a batch with the reference kernels, applying the divergence rule.

    Iterating yields one :class:`Step` per iterate, k = 0 … steps: θₖ₊₁ = rule(θₖ, gₖ, state, ρₖ) with
    gₖ = ∇f(θₖ) (or a minibatch gradient) + σ·ξₖ.
    """

    def __init__(self, batch: Batch):
        self.batch = batch
        be = batch.backend
        self.hp = {name: be.kernel_value(value, batch.rows) for name, value in batch.hp.items()}
        self.base_lr = batch.base_lr()
        self.keys = batch.keys() if np.any(batch.sigma > 0) or batch.batch_size is not None else None
        self.sigma = be.kernel_value(batch.sigma, batch.rows)
        self.noisy = bool(np.any(batch.sigma > 0))

    def value_and_grad(self, theta: Any) -> tuple[Any, Any]:
        """f(θ) (B,) and the full-batch ∇f(θ) (B, 2)."""
        surface = self.batch.surface
        if hasattr(surface, "value_and_grad"):
            return surface.value_and_grad(theta)
        return surface.value(theta), surface.grad(theta)

    def fed_gradient(self, theta: Any, grad: Any, step: int) -> Any:
        """What a rule is fed at θ in step ``step``: ``grad`` (∇f(θ)), or a minibatch gradient, plus σξ."""
        batch = self.batch
        if batch.batch_size is not None:
            grad = batch.surface.minibatch_grad(theta, batch.batch_size, noise.MinibatchDraw(self.keys, step))
        if self.noisy:
            grad = grad + self.sigma * batch.backend.array(noise.gaussian(self.keys, step))
        return grad

    def closure(self, step: int, loss: Any) -> Closure:
        """Step ``step``'s closure at f(θₖ) = ``loss``, for the rules that evaluate elsewhere too (``Rule.closure``)."""
        return Closure(self, step, loss)

    def _lr(self, step: int) -> tuple[np.ndarray, Any]:
        """ρₖ per row (B,), and as the kernels take it."""
        batch = self.batch
        if batch.schedule is None:
            return self.base_lr, self.hp["lr"]
        scheduled = batch.lr_at(step)
        return scheduled, batch.backend.kernel_value(scheduled, batch.rows)

    def __iter__(self) -> Iterator[Step]:
        batch, be = self.batch, self.batch.backend
        xp = be.xp
        theta = be.array(batch.start)
        state = batch.rule.init(xp, theta, self.hp)
        loss, grad = self.value_and_grad(theta)
        if not bool(xp.isfinite(loss).all()):
            bad = int(np.flatnonzero(~np.isfinite(be.to_numpy(loss)))[0])
            raise ValueError(f"Invalid start value: {batch.start[bad].tolist()} (the loss there is not finite)")
        limit = BLOW_UP_FACTOR * xp.clip(abs(loss), min=1.0)
        alive = xp.isfinite(loss)  # all True here
        diverged_at = xp.full_like(loss, -1, dtype=be.int64)
        reason = xp.zeros_like(diverged_at)
        yield Step(0, theta, loss, None, None, state, diverged_at, reason)
        for k in range(batch.steps):
            lr, kernel_lr = self._lr(k)
            previous, previous_loss = theta, loss
            fed = self.fed_gradient(theta, grad, k)
            more = (self.closure(k, loss),) if batch.rule.closure else ()
            theta, state = batch.rule.step(xp, theta, fed, state, self.hp, kernel_lr, k, *more)
            loss, grad = self.value_and_grad(theta)
            finite = xp.isfinite(theta).all(-1) & xp.isfinite(loss)
            blown = finite & (loss > limit) & alive
            fresh = alive & ~finite
            diverged_at = xp.where(fresh | blown, k + 1, diverged_at)
            reason = xp.where(fresh, 1, xp.where(blown, 2, reason))
            keep_previous = ~alive | ~finite
            alive = alive & finite & ~blown
            theta = xp.where(keep_previous[:, None], previous, theta)
            loss = xp.where(keep_previous, previous_loss, loss)
            yield Step(k + 1, theta, loss, fed, lr, state, diverged_at, reason)


def _divergence(last: Step, be: Any) -> tuple[np.ndarray, np.ndarray]:
    """(diverged_at, diverged_reason) as numpy (B,) from the last step."""
    return be.to_numpy(last.diverged_at).astype(np.int64), REASONS[be.to_numpy(last.reason).astype(np.int8)]


def run(
    surface: Surface,
    optimizer: str,
    start: Any = None,
    steps: int = 100,
    *,
    lr: Any = None,
    schedule: Any = None,
    noise: Any = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = "float64",
    stream_row: int | None = None,
    **hyperparameters: Any,
) -> Trajectory:
    """Run ``optimizer`` on ``surface`` for ``steps`` steps and keep every iterate.

    Hyper-parameters use torch.optim's names (``lr``, ``momentum``, ``betas``, ``eps``, ...);
    each, and ``start``, is a scalar or a per-row array, broadcast elementwise into B rows.
    ``schedule(k, base_lr)`` gives ρₖ; ``noise=σ`` adds N(0, σ²) to each gradient (row i's
    stream fixed by (seed, i)); ``batch_size`` samples real minibatches on surfaces with data (row i's from
    (seed, i, step)). ``stream_row=s`` gives every row stream s's noise and minibatches, so that row j equals a
    one-row run of its hyper-parameters with ``stream_row=s`` (a one-row run's default stream is 0): the live
    sliders' families.
    """
    batch = prepare(surface, optimizer, start, steps, lr=lr, schedule=schedule, noise=noise, seed=seed,
                    batch_size=batch_size, backend=backend, device=device, dtype=dtype,
                    hyperparameters=hyperparameters, keep_trajectories=True, stream_row=stream_row)
    be = batch.backend
    xp = be.xp
    shape = (batch.rows, batch.steps + 1)
    if xp is np:
        points, losses = np.empty((*shape, 2), be.dtype), np.empty(shape, be.dtype)
    else:
        points = xp.empty((*shape, 2), dtype=be.dtype, device=be.device)
        losses = xp.empty(shape, dtype=be.dtype, device=be.device)
    lrs = []
    rule, stepper = batch.rule, Stepper(batch)
    averaged = np.empty((*shape, 2), np.float64) if rule.averaged else None
    evaluations = np.zeros(shape, np.int64) if rule.closure else None
    with np.errstate(all="ignore"):
        for step in stepper:
            points[:, step.k] = step.theta
            losses[:, step.k] = step.loss
            if step.k:
                lrs.append(step.lr)
            if averaged is not None:
                x = be.to_numpy(rule.averaged(xp, step.theta, step.state, stepper.hp)).astype(np.float64)
                averaged[:, step.k] = x if step.k == 0 else _frozen(step, be, x, averaged[:, step.k - 1])
            if evaluations is not None and step.k:
                done = _evaluations(rule, step, be)
                evaluations[:, step.k] = _frozen(step, be, done, evaluations[:, step.k - 1])
    diverged_at, reason = _divergence(step, be)
    return Trajectory(
        optimizer=optimizer,
        hyperparameters=batch.hyperparameters(),
        points=be.to_numpy(points),
        losses=be.to_numpy(losses),
        lrs=np.stack(lrs, axis=1) if lrs else np.empty((batch.rows, 0)),
        diverged_at=diverged_at,
        diverged_reason=reason,
        averaged=averaged,
        evaluations=evaluations,
    )


def _frozen(step: Step, be: Any, value: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """``value`` at step k per row, but ``previous`` where the row diverged before k or the value is not finite (a
    diverged row's state is not): what ``run`` keeps of the averaged iterate and the evaluation count."""
    diverged_at = be.to_numpy(step.diverged_at)
    frozen = ((diverged_at >= 0) & (diverged_at < step.k)).reshape((-1,) + (1,) * (value.ndim - 1))
    return np.where(frozen | ~np.isfinite(value), previous, value)


def _evaluations(rule: Any, step: Step, be: Any) -> np.ndarray:
    """Gradient evaluations (B,) up to iterate k: the state's count (LBFGS's ``func_evals``), else
    k × ``rule.evaluations``."""
    if rule.evaluations:
        return np.full(len(be.to_numpy(step.loss)), step.k * rule.evaluations, np.int64)
    return be.to_numpy(step.state.func_evals).reshape(-1).astype(np.int64)


def sweep(
    surface: Surface,
    optimizer: str,
    start: Any = None,
    steps: int = 100,
    *,
    lr: Any = None,
    tol: float = 1e-6,
    schedule: Any = None,
    noise: Any = 0.0,
    seed: int = 0,
    batch_size: int | None = None,
    backend: str = "numpy",
    device: Any = None,
    dtype: Any = "float64",
    stream_row: int | None = None,
    **hyperparameters: Any,
) -> Summary:
    """Run B rows like :func:`run` but keep only O(B) summaries (final/best loss, steps to tol).

    For grids pass raveled meshgrids: ``sweep(s, "momentum", lr=R.ravel(), momentum=A.ravel())``.
    ``steps_to_tol`` counts to the first k with f(θₖ) − f* ≤ tol (f* = ``surface.minimum_value``,
    or f(θₖ) ≤ tol where f* is unknown).
    """
    tol_value = float(hyperparams.check_numeric("tol", tol, hyperparams.NONNEGATIVE))
    batch = prepare(surface, optimizer, start, steps, lr=lr, schedule=schedule, noise=noise, seed=seed,
                    batch_size=batch_size, backend=backend, device=device, dtype=dtype,
                    hyperparameters=hyperparameters, keep_trajectories=False, stream_row=stream_row)
    be = batch.backend
    xp = be.xp
    target = (getattr(surface, "minimum_value", None) or 0.0) + tol_value
    if be.name == "numpy" and batch.batch_size is None and (batch.rows >= FAST_PATH_MIN_ROWS or _fused_ready(batch)):
        from . import fast  # imports numba: only for sweeps large enough to use it, or where it is imported already

        summary = fast.sweep(batch, target, tol_value)  # None where the fused kernel does not apply
        if summary is not None:
            return summary
    with np.errstate(all="ignore"):
        for step in Stepper(batch):
            if step.k == 0:
                best = step.loss
                steps_to_tol = xp.where(step.loss <= target, 0, -1)
            else:
                best = xp.minimum(best, step.loss)
                steps_to_tol = xp.where((steps_to_tol < 0) & (step.loss <= target), step.k, steps_to_tol)
    diverged_at, reason = _divergence(step, be)  # the last step: θ and f(θ) final
    return Summary(
        optimizer=optimizer,
        hyperparameters=batch.hyperparameters(),
        final_loss=be.to_numpy(step.loss).astype(np.float64),
        best_loss=be.to_numpy(best).astype(np.float64),
        steps_to_tol=be.to_numpy(steps_to_tol).astype(np.int64),
        diverged_at=diverged_at,
        diverged_reason=reason,
        final_point=be.to_numpy(step.theta).astype(np.float64),
        tol=tol_value,
    )
