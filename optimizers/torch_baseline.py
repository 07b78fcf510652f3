"""torch.optim itself as the baseline our sweeps are timed against (``benchmarks/engine.py``, ``benchmarks/maps.py``).

:func:`torch_sweep` steps one ``torch.optim`` optimizer (for the modern optimizers the ``pytorch_optimizer`` class
our rule reproduces: :func:`reference_class`) over a single parameter of B rows (one lr for all of
them: the cheapest torch.optim can do), or of one row (once per configuration), with the gradient assigned
from the surface's formula evaluated in torch without the public API's checks, and optionally the sweep's
bookkeeping in torch: best loss, first step with f(θₖ) ≤ target, first divergence (non-finite, or
f(θₖ) > 1e10·max(1, |f(θ₀)|)). Imports torch: nothing in the package imports this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch

from .batch import BLOW_UP_FACTOR
from .rules import RULES

Formula = Callable[[torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def reference_class(optimizer: str) -> type:
    """The class our ``optimizer`` reproduces: torch.optim's, or pytorch_optimizer's (``load_optimizer``, imported
    only then); a ``ValueError`` for an optimizer without one (adam_nobc)."""
    rule = RULES[optimizer]
    if rule.reference == "pytorch_optimizer":
        import pytorch_optimizer

        return pytorch_optimizer.load_optimizer(optimizer)
    if rule.reference == "torch.optim" and rule.torch_name:
        return getattr(torch.optim, rule.torch_name)
    raise ValueError(f"Invalid optimizer value: {optimizer!r} (no torch.optim or pytorch_optimizer class)")


def reference_kwargs(optimizer: str, foreach: bool | None = None) -> dict[str, Any]:
    """The reference's keyword arguments for our defaults, without lr: our keywords less those the class implies
    (``rule.fixed``), pytorch_optimizer's betas triple (Adan, AdEMAMix) from our betas pair and beta3, and
    ``foreach`` where the class takes it."""
    rule = RULES[optimizer]
    kwargs = {key: value for key, value in rule.defaults.items() if key != "lr" and key not in rule.fixed}
    if "beta3" in kwargs:
        kwargs["betas"] = (*kwargs["betas"], kwargs.pop("beta3"))
    if "foreach" in inspect.signature(reference_class(optimizer)).parameters:
        kwargs["foreach"] = foreach
    return kwargs


def _value_and_grad(formula: Formula, p: Any, params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f and ∇f of points (..., 2) from ``formula(x, y, p) -> (f, ∂f/∂x, ∂f/∂y)``."""
    f, f_x, f_y = formula(params[..., 0], params[..., 1], p)
    return f, torch.stack((f_x, f_y), dim=-1)


def _track(f: torch.Tensor, params: torch.Tensor, k: int, target: float, state: dict[str, torch.Tensor]) -> None:
    """The sweep bookkeeping in torch, in place: best loss, steps to tolerance, first divergence."""
    bad = ~torch.isfinite(f + params[..., 0] + params[..., 1]) | (f > state["limit"])  # any non-finite, or blown
    state["diverged_at"].masked_fill_((state["diverged_at"] < 0) & bad, k)
    torch.fmin(state["best"], f, out=state["best"])
    state["to_tol"].masked_fill_((state["to_tol"] < 0) & (f <= target), k)


def torch_sweep(optimizer: str, formula: Formula, p: Any, start: torch.Tensor, lr: float, steps: int, target: float,
                *, foreach: bool | None, track: bool = True) -> dict[str, torch.Tensor]:
    """``steps`` steps of the reference of ``optimizer`` (our name; its defaults, e.g. "momentum" = SGD(momentum=0.9))
    from ``start`` (B, 2) or (2,) at learning rate ρ = ``lr``; ``formula`` is the surface's formula bound to torch
    (``landscapes.base.bind_namespace(s.formula, torch)``) and ``p`` its parameters. Returns the bookkeeping
    (``best``, ``to_tol``, ``diverged_at``; not updated after step 0 without ``track``)."""
    param = torch.nn.Parameter(start.clone())
    opt = reference_class(optimizer)([param], lr=lr, **reference_kwargs(optimizer, foreach))
    with torch.no_grad():
        f, g = _value_and_grad(formula, p, param.detach())
        state = {
            "limit": BLOW_UP_FACTOR * f.abs().clamp(min=1.0),
            "best": f.clone(),
            "to_tol": torch.where(f <= target, 0, -1),
            "diverged_at": torch.full_like(f, -1, dtype=torch.int64),
        }
    for k in range(steps):
        param.grad = g
        opt.step()
        with torch.no_grad():
            f, g = _value_and_grad(formula, p, param.detach())
            if track:
                _track(f, param, k + 1, target, state)
    return state
