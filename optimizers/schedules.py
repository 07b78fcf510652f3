"""Learning-rate schedules that reproduce ``torch.optim.lr_scheduler`` step for step.

Each schedule is a frozen dataclass named and parameterized like its torch scheduler, minus the optimizer:
``StepLR(step_size=7, gamma=0.5)`` here is ``torch.optim.lr_scheduler.StepLR(opt, step_size=7, gamma=0.5)``.

Protocol: ``schedule(step, base_lr) -> lr``. ``step`` is the 0-based optimizer step k, and the result
is ρ_k, the learning rate of the update from iterate k to k + 1, given the base rate ρ₀ = ``base_lr``.
It equals torch's ``opt.param_groups[0]["lr"]`` read before the (k + 1)-th ``opt.step()`` of the loop
``lr = group["lr"]; opt.step(); scheduler.step()`` (relative error <= 1e-12, tested with hypothesis).

Batching: ``base_lr`` is a float or an array whose first axis runs over rows (the engine passes (B,)).
Every numeric parameter is a scalar or a per-row array of shape (B,); per-row parameters follow the
first axis of ``base_lr`` and everything broadcasts elementwise, like numpy (a base_lr of one row
broadcasts against B-row parameters). The result is a float when everything is scalar, otherwise a
float64 array of the broadcast shape. No warnings are emitted.

How torch is reproduced: torch updates most schedulers recursively (``lr ← lr · factor``). Where a
closed form agrees with that recursion to ~1e-13 (measured, see the tests) we use it. Two do not:

- ``LinearLR``: torch's product of ratios ``1 + (e − s)/(τs + (j − 1)(e − s))`` loses precision when
  end_factor ≪ start_factor (up to ~1e-8 relative at end_factor/start_factor = 1e-8; with end_factor = 0
  it ends at ±1e-18·ρ₀, possibly negative, not at 0), so torch's recursion is replayed.
- ``CosineAnnealingLR`` beyond T_max: torch keeps going (the lr climbs back to ρ₀ at 2·T_max, down
  again at 3·T_max, ...), and with eta_min > 0 its recursion drifts from the cosine by up to ~1e-11
  (T_max = 1000). It is replayed from the last trough, where torch's lr is exactly eta_min; rows with
  eta_min > base_lr are replayed from step 0.

A replay keeps O(1) state, the last (step, base_lr, lr) it produced, so the usual sequence of calls
k = 0, 1, 2, ... costs O(1) per call; random access costs up to O(total_iters) or O(2·T_max). Cosines
of torch's arguments are evaluated with ``math.cos`` (once per distinct per-row timing parameter), as
torch does, so a one-ulp difference of a vectorized cosine is never amplified by cancellation.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, NamedTuple

import numpy as np

from validation import Range, check_choice, check_integers, check_number, choice_rule, integers_rule, invalid

__all__ = [
    "PARAMETERS",
    "ConstantLR",
    "CosineAnnealingLR",
    "ExponentialLR",
    "LinearLR",
    "MultiStepLR",
    "OneCycleLR",
    "PolynomialLR",
    "SequentialLR",
    "StepLR",
    "from_config",
    "names",
]


# ----------------------------------------------------------------------------------------- parameter checks

MAX_MILESTONES = 1_000  # MultiStepLR's milestones: a list a user types (and the engine bisects every step)
MAX_STEP_PARAMETER = 2**31 - 1  # step_size, T_max, total_iters, total_steps, milestones: a count of steps. Any
# value beyond a run's steps (the engine's MAX_STEPS = 100 000) already means "never", so the cap refuses nothing
# useful; it keeps every count an exact float64 (per-row combinations go through floats) and far from np.int64's
# overflow


class _Check(NamedTuple):
    """A parameter's validator (from :mod:`validation`) and the rule it states, quoted in the parameter's doc."""

    rule: str
    check: Callable[[str, Any], Any]

    def __call__(self, name: str, value: Any) -> Any:
        return self.check(name, value)


def _number(valid: Range) -> _Check:
    """A real (or, with ``valid.integer``, integer) scalar or per-row (B,) array in a range."""
    return _Check(valid.rule, lambda name, value: check_number(name, value, valid, per_row=True))


def _choice(*options: Any) -> _Check:
    return _Check(choice_rule(options), lambda name, value: check_choice(name, value, options))


def _milestones(low: int) -> _Check:
    """Strictly increasing integers in [low, MAX_STEP_PARAMETER], at most MAX_MILESTONES of them, as a tuple (shared by
    all rows)."""
    def check(name: str, value: Any) -> tuple[int, ...]:
        return check_integers(name, value, low=low, max_length=MAX_MILESTONES, increasing=True,
                              high=MAX_STEP_PARAMETER)

    return _Check(integers_rule(low, MAX_MILESTONES, increasing=True, high=MAX_STEP_PARAMETER), check)


class _Schedules:
    rule = "a non-empty list of schedules other than OneCycleLR and SequentialLR"

    def __call__(self, name: str, value: Any) -> tuple[_Schedule, ...]:
        items = tuple(value) if isinstance(value, (list, tuple)) else ()
        if not items or not all(isinstance(s, _Schedule) and not isinstance(s, _Unchainable) for s in items):
            raise invalid(name, value, self.rule)
        return items


def _param(default: Any = MISSING, *, doc: str, check: Callable[[str, Any], Any]) -> Any:
    """A dataclass field carrying its UI/CLI description and its validator."""
    return field(default=default, metadata={"doc": f"{doc} ({check.rule})", "check": check})


def _as_step(step: Any) -> int:
    if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)) or step < 0:
        raise invalid("step", step, "an integer >= 0")
    return int(step)


def _as_base(base_lr: Any) -> np.ndarray:
    try:
        base = np.asarray(base_lr, dtype=np.float64)
    except (TypeError, ValueError):
        raise invalid("base_lr", base_lr, "a float or a float array") from None
    return base


# ------------------------------------------------------------------------------------------- the base class
class _Schedule:
    """Shared machinery: validation, per-row broadcasting, config, equality, torch-recursion replay."""

    def __post_init__(self) -> None:
        rows: dict[str, int] = {}
        for f in fields(self):
            value = f.metadata["check"](f.name, getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            if isinstance(value, np.ndarray):
                rows[f.name] = len(value)
            for sub in value if f.name == "schedulers" else ():
                if sub._rows is not None:
                    rows[f"{f.name}[{sub.__class__.__name__}]"] = sub._rows
        if len(set(rows.values())) > 1:
            raise ValueError(f"Per-row parameters of {self.__class__.__name__} differ in length: {rows}")
        self.__dict__["_rows"] = next(iter(rows.values()), None)
        self.__dict__["_names"] = tuple(f.name for f in fields(self))
        self._validate()

    def _validate(self) -> None:
        """Checks that involve several parameters."""

    # ---- protocol
    def __call__(self, step: int, base_lr: float | np.ndarray) -> float | np.ndarray:
        """ρ_k for k = ``step`` and ρ₀ = ``base_lr`` (per-row parameters follow base_lr's first axis)."""
        return self._evaluate(step, base_lr, restarted=False)

    def _evaluate(self, step: int, base_lr: Any, restarted: bool) -> float | np.ndarray:
        """``restarted``: started by SequentialLR at a milestone, where torch begins from the scheduler's
        closed form at epoch 0 instead of its initial step (they differ only for CosineAnnealingLR)."""
        k, base = _as_step(step), _as_base(base_lr)
        if self._rows not in (None, 1) and base.ndim and base.shape[0] not in (1, self._rows):
            raise ValueError(
                f"base_lr has {base.shape[0]} rows but the per-row parameters of "
                f"{self.__class__.__name__} have {self._rows}"
            )
        self._check_step(k)
        ndim = max(base.ndim, 1)
        p = {name: self._shaped(getattr(self, name), ndim) for name in self._names}
        p["_restarted"] = restarted
        with np.errstate(all="ignore"):
            lr = np.asarray(self._lr(k, base, p), dtype=np.float64)
        shape = lr.shape if lr.shape == base.shape else np.broadcast_shapes(lr.shape, base.shape)
        return float(lr) if shape == () else np.array(np.broadcast_to(lr, shape))

    def _check_step(self, k: int) -> None:
        """Raise for steps torch cannot compute."""

    def _lr(self, k: int, base: np.ndarray, p: dict[str, Any]) -> Any:
        raise NotImplementedError

    @staticmethod
    def _shaped(value: Any, ndim: int) -> Any:
        """A per-row (B,) array as (B, 1, ...) to run along the first axis of an ndim-dimensional base_lr;
        a number as a numpy scalar (so that overflow gives inf, silently, rather than OverflowError)."""
        if isinstance(value, np.ndarray):
            return value.reshape(value.shape + (1,) * (ndim - 1))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return np.float64(value) if isinstance(value, float) else np.int64(value)
        return value

    def _per_row(self, names: tuple[str, ...], fn: Callable[..., tuple], ndim: int) -> tuple:
        """fn(*scalar params) -> tuple of floats, evaluated in plain Python once per distinct per-row
        combination of the named (timing) parameters and gathered to rows, so that trigonometry is torch's
        math.cos exactly."""
        values = [getattr(self, n) for n in names]
        if all(not isinstance(v, np.ndarray) for v in values):
            return fn(*values)
        cache = self.__dict__.setdefault("_combos", {})
        if names not in cache:
            cols = [np.broadcast_to(v, (self._rows,)) for v in values]
            uniq, inverse = np.unique(np.stack(cols, axis=1).astype(float), axis=0, return_inverse=True)
            kinds = [np.asarray(v).dtype.kind for v in values]
            combos = [
                tuple(int(x) if c in "iu" else float(x) for x, c in zip(row, kinds, strict=True))
                for row in uniq
            ]
            cache[names] = combos, inverse.reshape(-1)
        combos, inverse = cache[names]
        table = np.array([fn(*c) for c in combos], dtype=np.float64)[inverse]
        return tuple(self._shaped(table[:, i], ndim) for i in range(table.shape[1]))

    def _replay(self, k: int, base: np.ndarray, p: dict[str, Any]) -> np.ndarray:
        """ρ_k by torch's own recursion: ``self._start`` gives per-row anchors a <= k where a closed form
        equals torch, ``self._torch_step(j, ρ_{j-1})`` is torch's ``get_lr`` at epoch j, applied for
        a < j <= stop. The last result is remembered, so consecutive steps cost one update each."""
        anchor, lr_anchor, stop = self._start(k, base, p)
        memo = self.__dict__.get("_memo")
        key = (p["_restarted"], base.shape)
        if memo and memo[0] <= k and memo[1] == key and np.array_equal(memo[2], base):
            start = np.maximum(anchor, memo[0])
            lr = np.where(anchor > memo[0], lr_anchor, memo[3])
        else:
            start, lr = anchor, lr_anchor
        lr = np.asarray(lr, dtype=np.float64)
        lo = int(start.min()) if isinstance(start, np.ndarray) else int(start)
        hi = int(stop.max()) if isinstance(stop, np.ndarray) else int(stop)
        for j in range(lo + 1, hi + 1):
            new = self._torch_step(j, lr, base, p)
            lr = np.where((start < j) & (j <= stop), new, lr)
        self.__dict__["_memo"] = (k, key, base.copy(), lr)
        return lr

    # ---- description
    def config(self) -> dict[str, Any]:
        """A JSON-able dict: {"name": class name, parameter: value, ...} (arrays as lists)."""
        out: dict[str, Any] = {"name": self.__class__.__name__}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "schedulers":
                v = [s.config() for s in v]
            elif isinstance(v, (np.ndarray, tuple)):
                v = np.asarray(v).tolist()
            out[f.name] = v
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.config() == self.config()

    def __hash__(self) -> int:
        return hash(json.dumps(self.config(), sort_keys=True))


class _Unchainable(_Schedule):
    """Marks schedules torch's SequentialLR cannot restart at a milestone."""


# -------------------------------------------------------------------------------------------- the schedules
_POS_INT = _number(Range(1, MAX_STEP_PARAMETER, integer=True))
_POSITIVE = _number(Range(0, low_open=True))
_NONNEG = _number(Range(0))
_UNIT = _number(Range(0, 1))


@dataclass(frozen=True, eq=False)
class StepLR(_Schedule):
    """Step decay: ρ_k = ρ₀ · γ^⌊k / step_size⌋.

    torch multiplies by γ every step_size steps; the closed form agrees to a few ulp.
    """

    step_size: int = _param(doc="steps between decays", check=_POS_INT)
    gamma: float = _param(0.1, doc="multiplicative decay γ", check=_POSITIVE)

    def _lr(self, k, base, p):
        return base * p["gamma"] ** (k // p["step_size"])


@dataclass(frozen=True, eq=False)
class MultiStepLR(_Schedule):
    """Decay at milestones: ρ_k = ρ₀ · γ^{#{m ∈ milestones : m <= k}}.

    Milestones are shared by all rows; γ may be per row.
    """

    milestones: tuple[int, ...] = _param(doc="steps at which the lr is multiplied by γ", check=_milestones(0))
    gamma: float = _param(0.1, doc="multiplicative decay γ", check=_POSITIVE)

    def _lr(self, k, base, p):
        return base * p["gamma"] ** bisect.bisect_right(self.milestones, k)


@dataclass(frozen=True, eq=False)
class ExponentialLR(_Schedule):
    """Exponential decay: ρ_k = ρ₀ · γ^k (torch multiplies by γ each step; agrees to a few ulp)."""

    gamma: float = _param(doc="multiplicative decay γ per step", check=_POSITIVE)

    def _lr(self, k, base, p):
        return base * p["gamma"] ** k


@dataclass(frozen=True, eq=False)
class CosineAnnealingLR(_Schedule):
    """Cosine annealing: ρ_k = η + (ρ₀ − η)(1 + cos(πk / T)) / 2 for k <= T (T = T_max, η = eta_min).

    Beyond T, torch's recursion carries on without restart: the lr climbs back to ρ₀ at 2T, is η again at
    3T, ... (period 2T). There torch's recursion drifts from the formula (~1e-11 at T = 1000 with η > 0),
    so it is replayed from the last trough T + 2T·j <= k, where torch's lr is exactly η. Rows with
    η > ρ₀ (the lr rises) are replayed from step 0: both forms then carry absolute errors of ~ulp(η),
    too much relative to ρ_k ≈ ρ₀ ≪ η for a closed form to match torch to 1e-12.
    """

    T_max: int = _param(doc="steps T from ρ₀ down to eta_min", check=_POS_INT)
    eta_min: float = _param(0.0, doc="minimum lr η", check=_NONNEG)

    def _lr(self, k, base, p):
        return self._replay(k, base, p)

    def _start(self, k, base, p):
        def at(t):  # anchor: k itself on the first descent, else the last trough; closed-form factor there
            a = k if k <= t else t + 2 * t * ((k - t) // (2 * t))
            return a, 1 + math.cos(math.pi * a / t)

        anchor, c = self._per_row(("T_max",), at, base.ndim)
        eta = p["eta_min"]
        anchor = np.where((eta > base) & (k <= p["T_max"]), 0, anchor)
        initial = eta + (base - eta) * 2.0 / 2 if p["_restarted"] else base  # torch's epoch 0
        return anchor, np.where(anchor == 0, initial, eta + (base - eta) * c / 2), k

    def _torch_step(self, j, lr, base, p):
        def factors(t):  # torch's get_lr at epoch j: flag for the "restart" branch, its increment, the ratio
            if (j - 1 - t) % (2 * t) == 0:
                return 1.0, 1 - math.cos(math.pi / t), 0.0
            return 0.0, 0.0, (1 + math.cos(math.pi * j / t)) / (1 + math.cos(math.pi * (j - 1) / t))

        rise, w, ratio = self._per_row(("T_max",), factors, base.ndim)
        eta = p["eta_min"]
        return np.where(rise == 1.0, lr + (base - eta) * w / 2, ratio * (lr - eta) + eta)


@dataclass(frozen=True, eq=False)
class LinearLR(_Schedule):
    """Linear ramp of the factor: ρ_k = ρ₀ (s + (e − s) min(k, τ) / τ) with s = start_factor, e = end_factor,
    τ = total_iters; constant after τ.

    The lecture's linear decay ρ_k = (1 − k/τ)ρ₀ + (k/τ)ρ_τ is LinearLR(start_factor=1, end_factor=ρ_τ/ρ₀,
    total_iters=τ). torch's recursion ρ_j = ρ_{j−1}(1 + (e − s)/(τs + (j − 1)(e − s))) is replayed exactly: it
    departs from the formula when e ≪ s (and ends near ±1e-18·ρ₀ rather than 0 when e = 0).
    """

    start_factor: float = _param(1.0 / 3, doc="factor s at step 0", check=_number(Range(0, 1, low_open=True)))
    end_factor: float = _param(1.0, doc="factor e from step τ on", check=_UNIT)
    total_iters: int = _param(5, doc="steps τ of the ramp", check=_POS_INT)

    def _lr(self, k, base, p):
        return self._replay(k, base, p)

    def _start(self, k, base, p):
        return 0, base * p["start_factor"], np.minimum(k, p["total_iters"])

    def _torch_step(self, j, lr, base, p):
        s, e, t = p["start_factor"], p["end_factor"], p["total_iters"]
        return lr * (1.0 + (e - s) / (t * s + (j - 1) * (e - s)))


@dataclass(frozen=True, eq=False)
class ConstantLR(_Schedule):
    """Constant factor for a while: ρ_k = f·ρ₀ for k < τ, ρ₀ for k >= τ (f = factor, τ = total_iters).

    torch computes ρ_τ as (f·ρ₀)·(1/f), reproduced here; with f = 0 torch raises ZeroDivisionError at step τ,
    we return ρ₀.
    """

    factor: float = _param(1.0 / 3, doc="factor f before step τ", check=_UNIT)
    total_iters: int = _param(5, doc="steps τ at the reduced lr", check=_POS_INT)

    def _lr(self, k, base, p):
        f = p["factor"]
        return np.where(k < p["total_iters"], base * f, np.where(f == 0, base, base * f * np.divide(1.0, f)))


@dataclass(frozen=True, eq=False)
class PolynomialLR(_Schedule):
    """Polynomial decay: ρ_k = ρ₀ (1 − min(k, τ)/τ)^p (τ = total_iters, p = power); 0 from τ on when p > 0.

    torch multiplies by ((1 − k/τ)/(1 − (k−1)/τ))^p each step; the closed form agrees to ~p·1e-15
    relative (measured: 1e-14 at p = 10, 1e-13 at p = 100, 1e-12 at p = 1000).
    """

    total_iters: int = _param(5, doc="steps τ until the lr reaches 0", check=_POS_INT)
    power: float = _param(1.0, doc="power p of the polynomial", check=_NONNEG)

    def _lr(self, k, base, p):
        t = p["total_iters"]
        return base * (1.0 - np.minimum(t, k) / t) ** p["power"]


def _one_cycle_phases(pct_start: float, total_steps: int, three_phase: bool) -> list[tuple[float, int, int]]:
    """torch's phases: (end_step, index of start lr, index of end lr) into (initial_lr, max_lr, min_lr)."""
    if three_phase:
        return [
            (float(pct_start * total_steps) - 1, 0, 1),
            (float(2 * pct_start * total_steps) - 2, 1, 0),
            (total_steps - 1, 0, 2),
        ]
    return [(float(pct_start * total_steps) - 1, 0, 1), (total_steps - 1, 1, 2)]


@dataclass(frozen=True, eq=False)
class OneCycleLR(_Unchainable):
    """1cycle policy; ρ_k does not depend on ρ₀ (as in torch, which overwrites the optimizer's lr).

    With ρ_max = max_lr, ρ_init = ρ_max / div_factor, ρ_min = ρ_init / final_div_factor, N = total_steps and
    q = pct_start: ρ rises from ρ_init to ρ_max over steps 0..qN − 1, then anneals to ρ_min at step N − 1
    (three_phase: back to ρ_init at 2qN − 2, then to ρ_min). Annealing from a to b over a phase with
    progress u ∈ [0, 1]: cos: b + (a − b)(1 + cos πu)/2; linear: a + (b − a)u. Defined for steps 0..N
    (torch raises past N; at step N the last phase overshoots, u > 1). Momentum cycling (torch's
    cycle_momentum) is not applied: this equals torch's OneCycleLR(..., cycle_momentum=False).
    Configurations where torch divides by zero (a zero-length phase that is reached, e.g. q·N = 1, or
    q = 1 without three_phase) are rejected.
    """

    max_lr: float = _param(doc="peak lr ρ_max", check=_NONNEG)
    total_steps: int = _param(doc="steps N in the cycle", check=_POS_INT)
    pct_start: float = _param(0.3, doc="fraction q of the cycle spent increasing the lr", check=_UNIT)
    anneal_strategy: str = _param("cos", doc="annealing shape", check=_choice("cos", "linear"))
    div_factor: float = _param(25.0, doc="ρ_init = max_lr / div_factor", check=_POSITIVE)
    final_div_factor: float = _param(1e4, doc="ρ_min = ρ_init / final_div_factor", check=_POSITIVE)
    three_phase: bool = _param(False, doc="use torch's three-phase variant", check=_choice(False, True))

    def _validate(self):
        def zero_phase(q, n):  # does some step 0..n reach a zero-length phase (torch: ZeroDivisionError)?
            start, previous = 0.0, -math.inf
            for i, (end, _, _) in enumerate(phases := _one_cycle_phases(q, n, self.three_phase)):
                lo = 0 if previous < 0 else math.floor(previous) + 1
                hi = n if i == len(phases) - 1 else min(n, math.floor(end))
                if lo <= hi and end == start:
                    return (1.0,)
                start, previous = end, max(previous, end)
            return (0.0,)

        (bad,) = self._per_row(("pct_start", "total_steps"), zero_phase, 1)
        if np.any(bad):
            i = int(np.argmax(np.reshape(bad, -1)))
            q, n = (v[i] if isinstance(v, np.ndarray) else v for v in (self.pct_start, self.total_steps))
            rule = (
                f"in [0, 1] with no zero-length phase in the cycle (total_steps={n}, "
                f"three_phase={self.three_phase}; torch divides by zero there)"
            )
            raise invalid("pct_start", float(q), rule, row=i if isinstance(bad, np.ndarray) else None)

    def _check_step(self, k):
        n = np.min(self.total_steps)
        if k > n:
            raise invalid("step", k, f"<= total_steps = {n}; torch's OneCycleLR raises past the cycle")

    def _lr(self, k, base, p):
        def locate(q, n):  # torch's phase search for step k: start/end lr indices and progress u
            start = 0.0
            phases = _one_cycle_phases(q, n, self.three_phase)
            for i, (end, a, b) in enumerate(phases):
                if k <= end or i == len(phases) - 1:
                    u = (k - start) / (end - start)
                    return a, b, u, math.cos(math.pi * u) + 1
                start = end
            raise AssertionError  # the last phase always matches

        a, b, u, cos_out = self._per_row(("pct_start", "total_steps"), locate, base.ndim)
        initial = p["max_lr"] / p["div_factor"]
        lrs = (initial, p["max_lr"], initial / p["final_div_factor"])
        lo, hi = np.choose(np.asarray(a, dtype=int), lrs), np.choose(np.asarray(b, dtype=int), lrs)
        if self.anneal_strategy == "cos":
            return hi + (lo - hi) / 2.0 * cos_out
        return (hi - lo) * u + lo


@dataclass(frozen=True, eq=False)
class SequentialLR(_Unchainable):
    """Schedules one after another: ρ_k = S_i(k − m_i, ρ₀) for m_i <= k < m_{i+1} (m_0 = 0, then the
    milestones).

    As in torch, each schedule restarts from the base lr ρ₀ at its milestone (torch applies the next
    scheduler's closed form at epoch 0 there, then its own recursion): a warm-up's last lr is not carried
    over. Milestones are shared by all rows.
    """

    schedulers: tuple[_Schedule, ...] = _param(doc="the schedules, in order", check=_Schedules())
    milestones: tuple[int, ...] = _param(doc="steps at which the next schedule starts", check=_milestones(1))

    def _validate(self):
        if len(self.milestones) != len(self.schedulers) - 1:
            rule = f"{len(self.schedulers) - 1} entries, one fewer than schedulers"
            raise invalid("milestones", list(self.milestones), rule)

    def _lr(self, k, base, p):
        i = bisect.bisect_right(self.milestones, k)
        return self.schedulers[i]._evaluate(k - (self.milestones[i - 1] if i else 0), base, restarted=i > 0)


# ------------------------------------------------------------------------------------------------- registry
_CLASSES: dict[str, type[_Schedule]] = {
    c.__name__: c
    for c in (
        StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR,
        ConstantLR, PolynomialLR, OneCycleLR, SequentialLR,
    )
}  # fmt: skip

PARAMETERS: dict[str, tuple[tuple[str, Any, str], ...]] = {
    name: tuple((f.name, None if f.default is MISSING else f.default, f.metadata["doc"]) for f in fields(cls))
    for name, cls in _CLASSES.items()
}
"""For a UI or CLI: schedule name -> ((parameter, default or None if required, doc with range), ...)."""


def names() -> list[str]:
    """The schedule class names, e.g. "StepLR"."""
    return list(_CLASSES)


def from_config(config: Mapping[str, Any]) -> _Schedule:
    """Rebuild a schedule from ``schedule.config()`` (``from_config(s.config()) == s``)."""
    d = dict(config)
    name = d.pop("name", None)
    cls = _CLASSES[check_choice("name", name, tuple(_CLASSES))]
    valid = [f.name for f in fields(cls)]
    unknown = [key for key in d if key not in valid]
    if unknown:
        raise ValueError(f"Unknown parameter {unknown[0]!r} for {name} (valid: {', '.join(valid)})")
    missing = [f.name for f in fields(cls) if f.default is MISSING and f.name not in d]
    if missing:
        raise ValueError(f"Missing parameter {missing[0]!r} for {name}")
    if isinstance(d.get("schedulers"), (list, tuple)):
        d["schedulers"] = [s if isinstance(s, _Schedule) else from_config(s) for s in d["schedulers"]]
    return cls(**d)
