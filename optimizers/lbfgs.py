"""L-BFGS as torch.optim.LBFGS computes it, for B independent rows at once.

One step of a row is one ``optimizer.step(closure)`` of torch's: up to I inner iterations (``max_iter``) and
E evaluations of f and ∇f (``max_eval``). Iteration j of a step, at θ with gradient g:

- the history: where j is not the row's very first, the last move s = t·d and the gradient change y = g − g_prev
  enter the last m pairs (``history_size``) if sᵀy > 10⁻¹⁰, and the initial inverse Hessian is H₀ = sᵀy / yᵀy;
- the direction d = −H g by the two-loop recursion over the pairs (the very first: d = −g);
- the step length t = ρ (ρ, the learning rate, is torch's ``lr``; the very first: t = ρ·min(1, 1/‖g‖₁)), or the
  strong-Wolfe line search from that t (``line_search_fn='strong_wolfe'``: cubic interpolation, c₁ = 10⁻⁴,
  c₂ = 0.9); θ ← θ + t·d;
- the exits: d's slope gᵀd > −ε_Δ before the move; after it, I iterations, E evaluations, max |g| ≤ ε_g,
  max |t·d| ≤ ε_Δ or |Δf| < ε_Δ (and max |g| ≤ ε_g at the step's start: no move at all).

Each row runs its own control flow (iterations, line-search branches, exits) as a masked state machine: in every
round the rows still searching propose a point, one batched closure call evaluates every row there (the rows that
asked for nothing are evaluated too and ignored), and each row moves on from its result until it needs the next
point or has finished its step. The arithmetic follows torch's order of operations; its ``add(x, alpha=a)`` is a
fused multiply-add, a·x + y rounded once, which :func:`_fma` reproduces with error-free transforms, and a Python float
divided by a tensor is two roundings (:func:`_cubic`), so that float64 results agree with torch's to the last bit;
only torch's square root (MKL's on the CPU, not always correctly rounded) may differ from numpy's in the last bit,
in the line search's cubic interpolation. ``xp`` is numpy or torch, as for the kernels of
:mod:`optimizers.rules`, which lists this one as "lbfgs". Within a step the rows are the last axis (vectors (2, B),
the history (m, 2, B)), so that every operation runs over contiguous rows; the state is (B, …), as the engine's.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

C1, C2 = 1e-4, 0.9  # the strong Wolfe conditions' constants (torch's _strong_wolfe defaults)
CURVATURE_MIN = 1e-10  # a pair (s, y) enters the history only where sᵀy exceeds this (torch's ``ys > 1e-10``)
COMPILED = True  # numpy float64 rows take the two-loop recursion of optimizers.lbfgs_loop (numba); tests compare
FIRST_SLOTS = 8  # history slots allocated at first; they double as rows fill them, up to the largest m
DONE, FIXED, BRACKET, ZOOM = 0, 1, 2, 3  # a row's phase: finished, or awaiting f and ∇f at its trial point


class LBFGSState(NamedTuple):
    """What torch's LBFGS keeps between steps, per row: the last direction d and step length t, the history of
    moves s = ``old_stps`` and gradient changes y = ``old_dirs`` (B, m, 2), oldest first, with ρᵢ = 1/(sᵢᵀyᵢ) in
    ``ro`` (B, m) and ``count`` (B,) slots in use; H₀'s scale ``H_diag``; g and f where the last iteration began;
    the iterations and the evaluations of f and ∇f so far (``func_evals``: the engine's evaluation count)."""

    d: Any
    t: Any
    old_dirs: Any
    old_stps: Any
    ro: Any
    count: Any
    H_diag: Any
    prev_flat_grad: Any
    prev_loss: Any
    n_iter: Any
    func_evals: Any


class _Settings(NamedTuple):
    """The hyper-parameters as (B,) arrays: ρ, I, E, ε_g, ε_Δ, m; the line search for all rows; Python bounds."""

    lr: Any
    max_iter: Any
    max_eval: Any
    tolerance_grad: Any
    tolerance_change: Any
    history_size: Any
    strong_wolfe: bool
    slots: int  # the largest m
    rounds: int  # a hard cap on one step's closure calls (each row makes at most max(E + 1, I))


def lbfgs_init(xp: Any, params: Any, hp: dict) -> LBFGSState:
    zeros, column = xp.zeros_like(params), xp.zeros_like(params[:, 0])
    history = _empty_history(xp, zeros, min(FIRST_SLOTS, _largest(_row(xp, hp["history_size"], params))))
    count = xp.zeros_like(column, dtype=xp.int64)
    return LBFGSState(zeros, column, history, history, history[:, :, 0], count, column + 1.0, zeros, column,
                      count, count)


def lbfgs_step(xp: Any, params: Any, grad: Any, state: LBFGSState, hp: dict, lr: Any, k: int, closure: Any):
    """One ``optimizer.step(closure)`` of torch.optim.LBFGS for every row: ``grad`` and ``closure.loss`` are ∇f and
    f at θ (torch's first closure call), ``closure(points)`` evaluates every row at its point."""
    with np.errstate(all="ignore"):  # rows that take no part in a computation may divide by 0 there
        rows = _Rows(xp, params, grad, closure.loss, state, _settings(xp, hp, lr, params))
        rows.run(closure)
    return _by_row(xp, rows.x), rows.state()


# --- helpers on (B,) and (2, B) arrays: the same in numpy and torch ---------------------------------------------------


def _row(xp: Any, value: Any, like: Any) -> Any:
    """A number or (B, 1) array as a (B,) array of ``like``'s dtype."""
    return (value + xp.zeros_like(like[:, :1]))[:, 0]


def _empty_history(xp: Any, zeros: Any, slots: int) -> Any:
    """(B, slots, 2) zeros like ``zeros`` (B, 2)."""
    return xp.concatenate([zeros[:, None, :]] * slots, 1)


def _copy(xp: Any, array: Any) -> Any:
    """A contiguous copy."""
    return array.clone(memory_format=xp.contiguous_format) if hasattr(array, "clone") else np.array(array, order="C")


def _by_lane(xp: Any, array: Any) -> Any:
    """(B, …) as (…, B), a contiguous copy: (B, 2) vectors as (2, B), the history (B, m, 2) as (m, 2, B)."""
    return _copy(xp, xp.moveaxis(array, 0, -1))


def _by_row(xp: Any, array: Any) -> Any:
    """(…, B) back as (B, …), a contiguous copy."""
    return _copy(xp, xp.moveaxis(array, -1, 0))


def _largest(values: Any) -> int:
    return int(values.max())


def _settings(xp: Any, hp: dict, lr: Any, like: Any) -> _Settings:
    max_iter = _row(xp, hp["max_iter"], like)
    max_eval = max_iter * 5 // 4 if hp["max_eval"] is None else _row(xp, hp["max_eval"], like)
    history_size = _row(xp, hp["history_size"], like)
    return _Settings(_row(xp, lr, like), max_iter, max_eval, _row(xp, hp["tolerance_grad"], like),
                     _row(xp, hp["tolerance_change"], like), history_size, hp["line_search_fn"] == "strong_wolfe",
                     _largest(history_size), _largest(max_eval) + _largest(max_iter) + 2)


def _where(xp: Any, mask: Any, yes: Any, no: Any) -> Any:
    """``yes`` in the rows of ``mask`` (B,), else ``no`` (an array (…, B); ``yes`` may be a number)."""
    return xp.where(mask, yes if hasattr(yes, "shape") else xp.full_like(no, yes), no)


def _dot(a: Any, b: Any) -> Any:
    """Each row's aᵀb (torch's ``dot`` of two 2-vectors: a₀b₀ + a₁b₁)."""
    return a[0] * b[0] + a[1] * b[1]


def _max_abs(xp: Any, v: Any) -> Any:
    """Each row's max |vᵢ| (torch's ``abs().max()``: NaN where a coordinate is NaN)."""
    return xp.maximum(abs(v[0]), abs(v[1]))


def _min(xp: Any, a: Any, b: Any) -> Any:
    """Python's ``min(a, b)``: b only where b < a."""
    return xp.where(b < a, b, a)


def _max(xp: Any, a: Any, b: Any) -> Any:
    """Python's ``max(a, b)``: b only where b > a."""
    return xp.where(b > a, b, a)


def _split(xp: Any, value: Any) -> tuple[Any, Any]:
    """Veltkamp's split: value = high + low, each with half the significand's bits."""
    scaled = (134217729.0 if value.dtype == xp.float64 else 4097.0) * value  # 2^⌈p/2⌉ + 1 for p-bit significands
    high = scaled - (scaled - value)
    return high, value - high


def _fma(xp: Any, a: Any, b: Any, c: Any, b_parts: tuple[Any, Any] | None = None) -> Any:
    """a·b + c rounded once: torch's ``c.add(b, alpha=a)``, a fused multiply-add on the CPU. The product's rounding
    error (Dekker's, from the splits of a and b; ``b_parts``: b's, computed beforehand) and the sum's (Knuth's
    TwoSum) are exact; adding them to the rounded sum last rounds once more (off by an ulp only where the sum sits
    at a rounding boundary within 2⁻⁵³ ulp). Where a·b overflows the result is NaN (torch's: ±inf or NaN), in a row
    that diverges either way."""
    product = a * b
    a_high, a_low = _split(xp, a)
    b_high, b_low = b_parts or _split(xp, b)
    product_error = a_low * b_low - (((product - a_high * b_high) - a_low * b_high) - a_high * b_low)
    total = product + c
    virtual = total - product
    sum_error = (product - (total - virtual)) + (c - virtual)
    return total + (sum_error + product_error)


def _cubic(xp: Any, x1: Any, f1: Any, g1: Any, x2: Any, f2: Any, g2: Any, bounds: tuple | None = None):
    """torch's ``_cubic_interpolate``: the minimizer of the cubic through (x₁, f₁, f′₁) and (x₂, f₂, f′₂), clipped
    to ``bounds`` (default: [min(x₁, x₂), max(x₁, x₂)]); their midpoint where the cubic has no minimum.

    Each x, and each bound, is a pair (value, held): whether torch holds that step length as a tensor or as a Python
    number. It matters once: 3(f₁ − f₂) is a Python float, and a Python float divided by a tensor is the tensor's
    reciprocal times it (``Tensor.__rtruediv__``), two roundings. Returns the pair (value, held) of the result.
    """
    (x1, held1), (x2, held2) = x1, x2
    ordered = x1 <= x2
    if bounds is None:
        bounds = ((xp.where(ordered, x1, x2), xp.where(ordered, held1, held2)),
                  (xp.where(ordered, x2, x1), xp.where(ordered, held2, held1)))
    (low, low_held), (high, high_held) = bounds
    numerator, denominator = 3 * (f1 - f2), x1 - x2
    quotient = xp.where(held1 | held2, (1.0 / denominator) * numerator, numerator / denominator)
    d1 = (g1 + g2) - quotient
    d2_square = d1 * d1 - g1 * g2
    real = d2_square >= 0
    d2 = xp.sqrt(xp.where(real, d2_square, xp.zeros_like(d2_square)))
    minimum = xp.where(ordered, x2 - (x2 - x1) * (((g2 + d2) - d1) / ((g2 - g1) + 2 * d2)),
                       x1 - (x1 - x2) * (((g1 + d2) - d1) / ((g1 - g2) + 2 * d2)))
    raised = low > minimum  # Python's min(max(minimum, low), high), which returns one of the three
    inner = xp.where(raised, low, minimum)
    lowered = high < inner
    clipped, clipped_held = xp.where(lowered, high, inner), xp.where(lowered, high_held, low_held | ~raised)
    return xp.where(real, clipped, (low + high) / 2.0), xp.where(real, clipped_held, low_held | high_held)


# --- the state machine: one step of every row -------------------------------------------------------------------------


class _Rows:
    """Every row's step in progress, rows last: its iterate θ (``x``, where the iteration began), f and g there, the
    state torch keeps, the step's own counters (torch's ``n_iter`` and ``current_evals``) and its line search: the trial
    step length t, the previous trial (t_prev, f_prev, g_prev, gᵀd_prev), the bracket's two ends (t, f, g, gᵀd
    in ``b0``/``b1``…, ``low1`` where the lower f is at end 1), whether the search is done and whether its last
    interpolation made insufficient progress; ``…_held`` where torch holds that step length as a tensor
    (:func:`_cubic`)."""

    def __init__(self, xp: Any, params: Any, grad: Any, loss: Any, state: LBFGSState, settings: _Settings):
        self.xp, self.hp = xp, settings
        self.x, self.g, self.loss = _by_lane(xp, params), _by_lane(xp, grad), loss
        self.d, self.t, self.H_diag = _by_lane(xp, state.d), state.t, state.H_diag
        self.old_dirs, self.old_stps, self.ro = (_by_lane(xp, h) for h in (state.old_dirs, state.old_stps, state.ro))
        self.count = state.count  # the history (m, 2, B) is a copy: update_history writes into it
        self.prev_flat_grad, self.prev_loss = _by_lane(xp, state.prev_flat_grad), state.prev_loss
        self.n_iter, self.func_evals = state.n_iter, state.func_evals + 1  # the step's first evaluation: f and g
        ones = xp.ones_like(state.count)
        self.current_evals, self.inner = ones, ones - 1
        self.phase = ones - 1  # DONE
        self.opt_cond = self._optimal(self.g)
        zero, false = xp.zeros_like(loss), self.phase > 0
        self.gtd = self.t_prev = self.f_prev = self.gtd_prev = self.max_ls = self.d_norm = zero
        self.b0 = self.b1 = self.f0 = self.f1 = self.gtd0 = self.gtd1 = zero
        self.g_prev = self.g0 = self.g1 = self.points = self.x
        self.ls_iter = self.inner
        self.done = self.insuf = self.low1 = false
        self.t_held = self.t_prev_held = self.b0_held = self.b1_held = false

    def set(self, mask: Any, **values: Any) -> None:
        """Assign ``values`` in the rows of ``mask`` only."""
        for name, value in values.items():
            setattr(self, name, _where(self.xp, mask, value, getattr(self, name)))

    def state(self) -> LBFGSState:
        history = (_by_row(self.xp, h) for h in (self.old_dirs, self.old_stps, self.ro))
        return LBFGSState(_by_row(self.xp, self.d), self.t, *history, self.count, self.H_diag,
                          _by_row(self.xp, self.prev_flat_grad), self.prev_loss, self.n_iter, self.func_evals)

    def _optimal(self, grad: Any) -> Any:
        return _max_abs(self.xp, grad) <= self.hp.tolerance_grad

    def run(self, closure: Any) -> None:
        """The step: rows not already optimal iterate; each round, one closure call for every row still going."""
        self.begin_iteration(~self.opt_cond)
        for _ in range(self.hp.rounds):
            waiting = self.phase != DONE
            if not bool(waiting.any()):
                return
            trial = _fma(self.xp, self.t, self.d, self.x)  # θ + t·d, torch's _add_grad
            self.points = _where(self.xp, waiting, trial, self.x)
            loss, grad = closure(_by_row(self.xp, self.points))
            self.receive(waiting, loss, _by_lane(self.xp, grad))
        self.phase = self.phase * 0  # not reached: every row's evaluations are bounded by E and I

    def receive(self, waiting: Any, loss: Any, grad: Any) -> None:
        """f and g at every row's trial point: each waiting row moves on until it needs its next one or is done."""
        self.current_evals = self.current_evals + waiting
        self.func_evals = self.func_evals + waiting
        slope = _dot(grad, self.d)
        fixed, bracket, zoom = self.phase == FIXED, self.phase == BRACKET, self.phase == ZOOM
        self.set(fixed, x=self.points, loss=loss, g=grad, opt_cond=self._optimal(grad))
        bracketed = self.bracket_result(bracket, loss, grad, slope)
        self.zoom_result(zoom, loss, grad, slope)
        searched = self.zoom(bracketed | zoom)
        self.finish_search(searched)
        self.begin_iteration(self.end_iteration(fixed | searched))

    # --- an iteration: direction, step length, exits ---

    def begin_iteration(self, mask: Any) -> None:
        """torch's loop body up to the move: history, direction d, step length t, slope gᵀd; then the move (no
        line search) or the line search's first trial."""
        xp, hp = self.xp, self.hp
        self.set(mask, inner=self.inner + 1, n_iter=self.n_iter + 1)
        first = mask & (self.n_iter == 1)
        later = mask & ~first
        self.update_history(later)  # the very first iteration finds the history empty and H₀ = I, as torch resets them
        self.set(mask, d=_where(xp, first, -self.g, self.direction(later)), prev_flat_grad=self.g,
                 prev_loss=self.loss)
        inverse_l1 = 1.0 / (abs(self.g[0]) + abs(self.g[1]))
        reciprocal = inverse_l1 < 1.0  # torch's min(1.0, 1.0 / |g|₁): a tensor, or the Python float 1.0
        first_t = xp.where(reciprocal, inverse_l1, xp.ones_like(inverse_l1)) * hp.lr
        self.set(mask, t=_where(xp, first, first_t, hp.lr), t_held=first & reciprocal, gtd=_dot(self.g, self.d))
        going = mask & ~(self.gtd > -hp.tolerance_change)
        self.set(mask & ~going, phase=DONE)
        if hp.strong_wolfe:
            self.set(going, t_prev=0.0, t_prev_held=False, f_prev=self.loss, g_prev=self.g, gtd_prev=self.gtd,
                     ls_iter=0, max_ls=hp.max_eval - self.current_evals, d_norm=_max_abs(xp, self.d), done=False,
                     insuf=False, phase=BRACKET)
            return
        last = going & (self.inner == hp.max_iter)  # moves without evaluating f, and ends the step
        self.set(last, x=_fma(xp, self.t, self.d, self.x), phase=DONE)
        self.set(going & ~last, phase=FIXED)

    def end_iteration(self, mask: Any) -> Any:
        """torch's exit checks after a move; returns the rows that go on to another iteration."""
        hp = self.hp
        stop = ((self.inner == hp.max_iter) | (self.current_evals >= hp.max_eval) | self.opt_cond
                | (_max_abs(self.xp, self.d * self.t) <= hp.tolerance_change)
                | (abs(self.loss - self.prev_loss) < hp.tolerance_change))
        self.set(mask & stop, phase=DONE)
        return mask & ~stop

    def update_history(self, mask: Any) -> None:
        """s = t·d, y = g − g_prev; where sᵀy > 10⁻¹⁰ the pair enters the history (the oldest leaves a full one),
        ρ = 1/(sᵀy) and H₀ = sᵀy / yᵀy. Slots past a row's count hold zeros (:meth:`direction`)."""
        xp = self.xp
        y = self.g - self.prev_flat_grad
        s = self.d * self.t
        ys = _dot(y, s)
        push = mask & (ys > CURVATURE_MIN)
        if not bool(push.any()):
            return
        full = push & (self.count >= self.hp.history_size)
        if bool(full.any()):  # the oldest pair leaves: every slot moves down by one
            for history in (self.old_dirs, self.old_stps, self.ro):
                history[..., full] = xp.concatenate([history[1:, ..., full], xp.zeros_like(history[:1, ..., full])], 0)
        slot = xp.where(push, self.count - full * 1, xp.zeros_like(self.count))  # the first free slot, or the last
        self.grow(_largest(slot) + 1)
        rows = xp.cumsum(xp.ones_like(slot), 0) - 1
        for history, value in ((self.old_dirs[:, 0], y[0]), (self.old_dirs[:, 1], y[1]), (self.old_stps[:, 0], s[0]),
                               (self.old_stps[:, 1], s[1]), (self.ro, 1.0 / ys)):  # (m, B) views, written in place
            history[slot, rows] = _where(xp, push, value, history[slot, rows])
        self.set(push, count=self.count + (push & ~full), H_diag=ys / _dot(y, y))

    def grow(self, needed: int) -> None:
        """At least ``needed`` history slots (doubling, up to the largest m)."""
        xp, slots = self.xp, len(self.ro)
        if needed <= slots:
            return
        more = xp.concatenate([xp.zeros_like(self.g)[None]] * (min(max(2 * slots, needed), self.hp.slots) - slots), 0)
        self.old_dirs = xp.concatenate([self.old_dirs, more], 0)
        self.old_stps = xp.concatenate([self.old_stps, more], 0)
        self.ro = xp.concatenate([self.ro, more[:, 0]], 0)

    def direction(self, mask: Any) -> Any:
        """d = −H g by the two-loop recursion over the history, newest pair first, then oldest first:
        αᵢ = ρᵢ sᵢᵀq, q ← q − αᵢyᵢ;  r = H₀ q;  βᵢ = ρᵢ yᵢᵀr, r ← r + (αᵢ − βᵢ) sᵢ.

        Only the rows in ``mask`` are computed (the others' d is 0), each over the largest count among them: a slot
        past a row's own count holds s = y = 0 and ρ = 0, so α = β = 0 leaves its q and r as they are."""
        xp = self.xp
        d = xp.zeros_like(self.g)
        if not bool(mask.any()):
            return d
        used = _largest(self.count[mask])
        dirs, stps, ro = self.old_dirs[:used, :, mask], self.old_stps[:used, :, mask], self.ro[:used, mask]
        if xp is np and self.g.dtype == np.float64 and COMPILED:  # the same operations, compiled
            from .lbfgs_loop import two_loop

            d[:, mask] = two_loop(np.ascontiguousarray(dirs), np.ascontiguousarray(stps), np.ascontiguousarray(ro),
                                  np.ascontiguousarray(self.g[:, mask]), np.ascontiguousarray(self.H_diag[mask]))
            return d
        (dirs_high, dirs_low), (stps_high, stps_low) = _split(xp, dirs), _split(xp, stps)
        q = -self.g[:, mask]
        alphas = [None] * used
        for i in reversed(range(used)):
            alphas[i] = _dot(stps[i], q) * ro[i]
            q = _fma(xp, -alphas[i], dirs[i], q, (dirs_high[i], dirs_low[i]))
        r = q * self.H_diag[mask]
        for i in range(used):
            beta = _dot(dirs[i], r) * ro[i]
            r = _fma(xp, alphas[i] - beta, stps[i], r, (stps_high[i], stps_low[i]))
        d[:, mask] = r
        return d

    # --- the strong-Wolfe line search (torch's _strong_wolfe), one evaluation per round ---

    def bracket_result(self, mask: Any, loss: Any, grad: Any, slope: Any) -> Any:
        """f, g at trial t while bracketing: an interval known to hold a point satisfying the strong Wolfe
        conditions (f rose above the Armijo line, or above the last trial, or the slope turned up), or t itself
        (|gᵀd| ≤ c₂|g₀ᵀd|: done), or a longer trial by cubic extrapolation. Returns the rows that go on to zoom
        (with E exhausted, the bracket is [0, t])."""
        xp = self.xp
        exhausted = mask & (self.ls_iter >= self.max_ls)
        live = mask & ~exhausted
        armijo = (loss > self.loss + (C1 * self.t) * self.gtd) | ((self.ls_iter > 1) & (loss >= self.f_prev))
        wolfe = ~armijo & (abs(slope) <= (-C2) * self.gtd)
        rising = ~armijo & ~wolfe & (slope >= 0)
        pair, single = live & (armijo | rising), live & wolfe
        self.set(exhausted, b0=0.0, b0_held=False, f0=self.loss, g0=self.g, b1=self.t, b1_held=self.t_held, f1=loss,
                 g1=grad, gtd1=slope)
        self.set(pair, b0=self.t_prev, b0_held=self.t_prev_held, f0=self.f_prev, g0=self.g_prev, gtd0=self.gtd_prev,
                 b1=self.t, b1_held=self.t_held, f1=loss, g1=grad, gtd1=slope)
        self.set(single, b0=self.t, b0_held=self.t_held, f0=loss, g0=grad, gtd0=slope, done=True)
        self.set(exhausted | pair, low1=~(self.f0 <= self.f1))
        self.set(single, low1=False)
        extend = live & ~armijo & ~wolfe & ~rising
        bounds = ((self.t + 0.01 * (self.t - self.t_prev), self.t_held | self.t_prev_held), (self.t * 10, self.t_held))
        trial, held = _cubic(xp, (self.t_prev, self.t_prev_held), self.f_prev, self.gtd_prev, (self.t, self.t_held),
                             loss, slope, bounds)
        self.set(extend, t_prev=self.t, t_prev_held=self.t_held, f_prev=loss, g_prev=grad, gtd_prev=slope, t=trial,
                 t_held=held, ls_iter=self.ls_iter + 1)
        return exhausted | pair | single

    def zoom_result(self, mask: Any, loss: Any, grad: Any, slope: Any) -> None:
        """f, g at trial t while zooming: t replaces the bracket's high end where f is above the Armijo line or not
        below the low end's; else it becomes the low end (done where it satisfies the strong Wolfe conditions;
        the old low end replaces the high one where the slope points past it)."""
        xp = self.xp
        low_t, high_t = xp.where(self.low1, self.b1, self.b0), xp.where(self.low1, self.b0, self.b1)
        low_f = xp.where(self.low1, self.f1, self.f0)
        worse = (loss > self.loss + (C1 * self.t) * self.gtd) | (loss >= low_f)
        better = mask & ~worse
        wolfe = better & (abs(slope) <= (-C2) * self.gtd)
        flip = better & ~wolfe & (slope * (high_t - low_t) >= 0)
        for field, value in (("b{}", self.t), ("b{}_held", self.t_held), ("f{}", loss), ("g{}", grad),
                             ("gtd{}", slope)):
            end0, end1 = getattr(self, field.format(0)), getattr(self, field.format(1))
            for end, mine, theirs, is_high in ((0, end0, end1, self.low1), (1, end1, end0, ~self.low1)):
                mine = _where(xp, flip & is_high, theirs, mine)  # the old low end becomes the high one
                takes = (mask & worse & is_high) | (better & ~is_high)
                setattr(self, field.format(end), _where(xp, takes, value, mine))
        self.set(mask & worse, low1=~(self.f0 <= self.f1))
        self.set(wolfe, done=True)

    def zoom(self, mask: Any) -> Any:
        """The zoom loop's head: done, E exhausted, or a bracket shorter than ε_Δ/max|d| ends the search (returns
        those rows); the others get their next trial, the cubic's minimizer in the bracket, moved 0.1·width in
        from an end it comes too close to twice in a row (or reaches)."""
        xp, hp = self.xp, self.hp
        ends = self.done | (self.ls_iter >= self.max_ls) | (abs(self.b1 - self.b0) * self.d_norm < hp.tolerance_change)
        going = mask & ~ends
        trial, held = _cubic(xp, (self.b0, self.b0_held), self.f0, self.gtd0, (self.b1, self.b1_held), self.f1,
                             self.gtd1)
        high, low = _max(xp, self.b0, self.b1), _min(xp, self.b0, self.b1)
        eps = 0.1 * (high - low)
        near = _min(xp, high - trial, trial - low) < eps
        moved = near & (self.insuf | (trial >= high) | (trial <= low))
        trial = xp.where(moved, xp.where(abs(trial - high) < abs(trial - low), high - eps, low + eps), trial)
        held = xp.where(moved, self.b0_held | self.b1_held, held)  # max(bracket) − ε: a tensor if either end is
        self.set(going, t=trial, t_held=held, insuf=near & ~moved, ls_iter=self.ls_iter + 1, phase=ZOOM)
        return mask & ends

    def finish_search(self, mask: Any) -> None:
        """The search's result, the bracket's low end: t, f and g there; θ ← θ + t·d."""
        xp = self.xp
        self.set(mask, t=xp.where(self.low1, self.b1, self.b0), loss=xp.where(self.low1, self.f1, self.f0),
                 g=_where(xp, self.low1, self.g1, self.g0))
        self.set(mask, x=_fma(xp, self.t, self.d, self.x), opt_cond=self._optimal(self.g))
