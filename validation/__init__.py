"""One set of value checks for surface parameters, optimizer hyper-parameters and schedules.

The floor below ``landscapes`` and ``optimizers`` (numpy and the standard library only), so that both
declare their parameters with the same three checks and say what is wrong in the same words:

- :func:`check_number` against a :class:`Range`: a finite number, or a per-row (B,) array of them, within
  open or closed ends, optionally an integer;
- :func:`check_choice`: one of a few options;
- :func:`check_integers`: a list of integers (strictly increasing if asked), such as milestones.

Every refusal is a ``ValueError`` that names the parameter, the value and the rule:
``Invalid lr value: -1.0 (must be >= 0)``, ``Invalid gamma value: -1.0 at row 1 (must be > 0)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

__all__ = ["Range", "check_choice", "check_integers", "check_number", "choice_rule", "integers_rule", "invalid"]

MAX_SHOWN = 120  # characters of a refused value quoted in a message


def invalid(name: str, value: Any, rule: str, row: int | None = None) -> ValueError:
    """``Invalid {name} value: {value!r}[ at row {row}] (must be {rule})``, the value cut to MAX_SHOWN characters."""
    try:
        shown = repr(value)
    except ValueError:  # an int beyond Python's limit on digits written out
        shown = f"<an integer of {value.bit_length()} bits>"
    shown = shown if len(shown) <= MAX_SHOWN else shown[:MAX_SHOWN] + "…"
    where = "" if row is None else f" at row {row}"
    return ValueError(f"Invalid {name} value: {shown}{where} (must be {rule})")


class Range(NamedTuple):
    """The values a number may take: ``low``..``high``, each end closed unless ``low_open``/``high_open``, finite,
    and whole if ``integer`` (an int64). An infinite end is no bound (the value must still be finite)."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    @property
    def rule(self) -> str:
        """The range in words: ``>= 0``, ``> 0``, ``in [0, 1)``, ``an integer >= 1``, ``an integer in [0, 9999]``."""
        kind = "an integer " if self.integer else ""
        low, high = self._shown(self.low), self._shown(self.high)
        if math.isinf(self.high) and math.isinf(self.low):
            return "an integer" if self.integer else "finite"
        if math.isinf(self.high):
            return f"{kind}{'>' if self.low_open else '>='} {low}"
        if math.isinf(self.low):
            return f"{kind}{'<' if self.high_open else '<='} {high}"
        left, right = "(["[not self.low_open], ")]"[not self.high_open]
        return f"{kind}in {left}{low}, {high}{right}"

    def _shown(self, end: float) -> str:
        """An end as written in a rule: every digit of an integer range's end (2147483647, not 2.14748e+09)."""
        return str(int(end)) if self.integer and math.isfinite(end) and float(end).is_integer() else f"{end:g}"

    def __str__(self) -> str:
        return f"must be {self.rule}"

    def contains(self, values: Any) -> np.ndarray:
        """Elementwise: finite, within the ends (and whole if ``integer``)."""
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            above = x > self.low if self.low_open else x >= self.low
            below = x < self.high if self.high_open else x <= self.high
            whole = (np.floor(x) == x) & (abs(x) < 2.0**63) if self.integer else True  # an int64
        return np.isfinite(x) & above & below & whole

    def unbounded(self) -> bool:
        """Whether an end is open to infinity (a non-finite value then needs saying: "must be finite and ...")."""
        return math.isinf(self.low) or math.isinf(self.high)


def _numeric_array(value: Any, text: bool) -> np.ndarray | None:
    """``value`` as a numeric numpy array (torch tensors copied to the CPU), or None if it is not numbers."""
    if isinstance(value, (bool, np.bool_, bytes)) or value is None:
        return None
    if isinstance(value, str):
        if not text:
            return None
        try:
            return np.asarray(float(value))
        except ValueError:
            return None
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if array.dtype.kind == "O" and array.ndim == 0 and isinstance(value, int):
        try:
            array = np.asarray(float(value))  # a Python int beyond int64
        except OverflowError:  # beyond float64 too (10**400): as infinite, refused as not finite
            array = np.asarray(math.inf if value > 0 else -math.inf)
    return array if array.dtype.kind in "iuf" else None


def check_number(name: str, value: Any, valid: Range, *, per_row: bool = False, text: bool = False,
                 floats: bool = False) -> Any:
    """``value`` checked against ``valid``: a float (an int if ``valid.integer``), or with ``per_row`` a scalar or a
    non-empty 1-D per-row array (returned read-only, float64 or int64).

    ``text``: a string is read as a number (a URL value). ``floats``: the value is taken as float64 first, so an
    integer is reported as one (``-1.0``). Booleans are not numbers. Raises ``ValueError`` (see :func:`invalid`).
    """
    array = _numeric_array(value, text)
    noun = valid.rule if valid.integer else "a finite number" if valid.rule == "finite" else f"a number {valid.rule}"
    if array is None or (array.ndim and not per_row):
        raise invalid(name, value, noun)
    if array.ndim > 1 or array.size == 0:
        raise ValueError(f"Invalid {name} shape: {array.shape} (must be a scalar or a non-empty 1-D per-row array)")
    if floats:
        array = array.astype(np.float64)
    ok = valid.contains(array)
    if not ok.all():
        row = int(np.argmin(ok.reshape(-1)))
        bad = array.reshape(-1)[row].item()
        rule = valid.rule
        if valid.unbounded() and not math.isfinite(bad) and rule != "finite":
            rule = f"finite and {rule}"
        huge = isinstance(value, int) and not math.isfinite(bad)  # a Python int beyond float64: as given, not inf
        shown = value if isinstance(value, str) or huge else bad
        raise invalid(name, shown, rule, row=row if array.ndim else None)
    if array.ndim == 0:
        return int(array) if valid.integer else float(array)
    out = np.array(array, dtype=np.int64 if valid.integer else np.float64)
    out.setflags(write=False)
    return out


def choice_rule(options: Sequence[Any]) -> str:
    """The rule :func:`check_choice` states: ``one of cos, linear``."""
    return "one of " + ", ".join(option if isinstance(option, str) else repr(option) for option in options)


def check_choice(name: str, value: Any, options: Sequence[Any]) -> Any:
    """``value`` if it is one of ``options`` (of the same type: 1 is not True), else a ``ValueError`` listing them."""
    if not any(value is option or (type(value) is type(option) and value == option) for option in options):
        raise invalid(name, value, choice_rule(options))
    return value


def integers_rule(low: int, max_length: int, increasing: bool = False, high: int | None = None) -> str:
    """The rule :func:`check_integers` states."""
    order = "strictly increasing " if increasing else ""
    top = "" if high is None else f" and <= {high}"
    return f"a list of at most {max_length} {order}integers >= {low}{top}"


def check_integers(name: str, value: Any, *, low: int, max_length: int, increasing: bool = False,
                   high: int | None = None) -> tuple[int, ...]:
    """A list (or tuple, or 1-D array) of at most ``max_length`` integers >= ``low`` (and <= ``high`` if given),
    strictly increasing if ``increasing``, as a tuple of ints. Floats and booleans are refused."""
    rule = integers_rule(low, max_length, increasing, high)
    sequence = isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, (str, bytes))
    items = list(value) if sequence else []
    if not sequence or len(items) > max_length or not all(
        isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)) for item in items
    ):
        raise invalid(name, value, rule)
    out = tuple(int(item) for item in items)
    beyond = high is not None and any(item > high for item in out)
    if beyond or any(item < low for item in out) or (increasing and any(b <= a for a, b in zip(out, out[1:]))):
        raise invalid(name, list(out), rule)
    return out
