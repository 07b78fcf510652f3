"""Text → typed values: the one parser for settings typed as strings (URL query values, ``--param``/``--set``/
``--schedule-param`` on the command line, the Networks page's URL).

Each function reads one value as the type its setting holds and raises ``ValueError`` with what the text must be;
the library's own validation (``landscapes``' parameters, ``optimizers``' hyper-parameters, ``optimizers.schedules``)
then checks its range. Callers add the setting's name to the message.
"""

from __future__ import annotations

import math
from typing import Any

FLAGS = ("true", "false", "1", "0")


def number(text: str) -> float:
    """A finite number."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def integer(text: str) -> int:
    """An integer (``3`` or ``3.0``; not ``3.5``); digits alone read exactly, at any size (a seed up to 2⁶³)."""
    try:
        return int(text)
    except ValueError:
        pass
    value = number(text)
    if not value.is_integer():
        raise ValueError("must be an integer")
    return int(value)


def flag(text: str) -> bool:
    """true/false (or 1/0), any case."""
    if text.lower() not in FLAGS:
        raise ValueError("must be true or false")
    return text.lower() in ("true", "1")


def like(text: str, default: Any) -> Any:
    """The text as the type of ``default``: a flag, a tuple of as many numbers (``None`` where the default has None:
    Adafactor's ``eps``), an integer or a number; for a choice (a text default, or None: LBFGS's ``line_search_fn``
    and ``max_eval``) ``none`` is None, a number a number, and any other text itself, which the library checks."""
    if isinstance(default, bool):
        return flag(text)
    if isinstance(default, str) or default is None:
        if text.strip().lower() == "none":
            return None
        try:
            return number(text)
        except ValueError:
            return text.strip()
    if isinstance(default, (tuple, list)):
        texts = text.split(",")
        if len(texts) != len(default):
            raise ValueError(f"must be {len(default)} comma-separated numbers")
        return tuple(None if fallback is None and part.strip().lower() == "none" else number(part)
                     for part, fallback in zip(texts, default))
    if isinstance(default, int):
        return integer(text)
    return number(text)


def surface_value(spec: Any, text: str) -> Any:
    """A surface parameter (a ``landscapes`` parameter spec): numbers read as numbers, the other kinds (choices,
    widths "16,16", a formula, a window) by the spec itself; validated by the spec."""
    import landscapes

    return spec.validate(number(text) if isinstance(spec, landscapes.Param) else text)


def schedule_value(text: str) -> Any:
    """A schedule parameter: true/false, a comma-separated list, an integer, a number or a word (the schedule's own
    validation then checks it)."""
    if text.strip().lower() in ("true", "false"):
        return text.strip().lower() == "true"
    if "," in text:
        return [_schedule_scalar(part) for part in text.split(",")]
    return _schedule_scalar(text)


def _schedule_scalar(text: str) -> Any:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = number(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and abs(value) < 2**53 else value
