"""Batched optimizer kernels that reproduce torch.optim step for step, and the run/sweep engine.

>>> import landscapes, optimizers
>>> t = optimizers.run(landscapes.get("rosenbrock"), "adam", start=(-1.5, 2.0), steps=500, lr=1e-2)
>>> t.points.shape
(1, 501, 2)
"""

from . import schedules
from .batch import Summary, Trajectory
from .engine import run, sweep
from .rules import RULES
from .surface import Surface


def names() -> list[str]:
    """Every optimizer name, as ``run``/``sweep`` accept it."""
    return list(RULES)


def defaults(name: str, base_optimizer: str | None = None) -> dict:
    """The keyword arguments optimizer ``name`` takes, with its reference's defaults (a wrapper's, SAM's or
    Lookahead's, with those of its base: ``base_optimizer``, else its default base)."""
    from .hyperparams import defaults as keywords

    return keywords(name, base_optimizer)


__all__ = ["RULES", "Summary", "Surface", "Trajectory", "defaults", "names", "run", "schedules", "sweep"]
