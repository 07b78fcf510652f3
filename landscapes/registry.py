"""The surface registry: ``names()`` and ``get(name, **params)``.

Each entry is a factory plus the declared parameters it takes; ``get`` validates every
keyword against them up front, so a bad name or value is a ``ValueError`` that names it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from .base import Box, Choice, Param, Text, Widths

Parameter = Param | Choice | Widths | Text | Box  # every kind of declared surface parameter


class Entry(NamedTuple):
    """A registered surface: how to build it and which parameters it accepts."""

    factory: Callable[..., Any]
    params: tuple[Parameter, ...]
    description: str


_REGISTRY: dict[str, Entry] = {}


def register(name: str, params: tuple[Parameter, ...] = (), description: str = "") -> Callable:
    """Decorator registering ``factory(**validated_params)`` under ``name``."""

    def decorate(factory: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"surface {name!r} is already registered")
        _REGISTRY[name] = Entry(factory, tuple(params), description)
        return factory

    return decorate


def names() -> list[str]:
    """Every registered surface name, in registration order."""
    return list(_REGISTRY)


def entry(name: str) -> Entry:
    """The registry entry of ``name``; an unknown name is a ``ValueError`` listing the valid ones."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown surface {name!r} (valid: {', '.join(names())})") from None


def parameters(name: str) -> tuple[Parameter, ...]:
    """The declared parameters of surface ``name`` (numeric, categorical or widths; for UIs and the command line)."""
    return entry(name).params


def get(name: str, **params: Any) -> Any:
    """Build surface ``name``; every name works with no keywords (its defaults)."""
    found = entry(name)
    declared = {p.name: p for p in found.params}
    unknown = sorted(set(params) - set(declared))
    if unknown:
        valid = ", ".join(declared) or "none"
        raise ValueError(f"Surface {name!r} takes no parameter {unknown[0]!r} (valid: {valid})")
    values = {key: spec.validate(params.get(key, spec.default)) for key, spec in declared.items()}
    return found.factory(**values)
