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
from .hyperparams import defaults
from .rules import RULES

Formula = Callable[[torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def reference_class(optimizer: str) -> type:
    """The class our ``optimizer`` reproduces: torch.optim's, or pytorch_optimizer's (by its class name, else
    ``load_optimizer``; imported only then); a ``ValueError`` for an optimizer without one (adam_nobc)."""
    rule = RULES[optimizer]
    if rule.reference == "pytorch_optimizer":
        import pytorch_optimizer

        return getattr(pytorch_optimizer, rule.torch_name, None) or pytorch_optimizer.load_optimizer(optimizer)
    if rule.reference == "torch.optim" and rule.torch_name:
        return getattr(torch.optim, rule.torch_name)
    raise ValueError(f"Invalid optimizer value: {optimizer!r} (no torch.optim or pytorch_optimizer class)")


def spelled(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Our keywords as the reference spells them: pytorch_optimizer's betas triple (Adan, AdEMAMix) is our betas
    pair and beta3."""
    if "beta3" not in kwargs:
        return kwargs
    kwargs = dict(kwargs)
    kwargs["betas"] = (*kwargs["betas"], kwargs.pop("beta3"))
    return kwargs


def build_reference(optimizer: str, params: list, kwargs: dict[str, Any], foreach: bool | None = None,
                    classes: Callable[[str], type] = reference_class) -> torch.optim.Optimizer:
    """The reference optimizer over ``params`` with our keywords ``kwargs`` (the ones a name implies, AdamW's
    decoupling, left out), ``foreach`` given to the class that steps the parameters where it takes it. SAM takes its
    base's class and the base's keywords beside its own; Lookahead wraps a base built with the base's keywords
    (``Rule.wraps``). ``classes``: our name → the reference class (the tests add references of their own)."""
    rule = RULES[optimizer]
    kwargs = {key: value for key, value in kwargs.items() if key not in rule.fixed}
    if not rule.wraps:
        if foreach is not None and "foreach" in inspect.signature(classes(optimizer)).parameters:
            kwargs["foreach"] = foreach
        return classes(optimizer)(params, **spelled(kwargs))
    base = kwargs.pop("base_optimizer")
    base_kwargs = {key: value for key, value in kwargs.items() if key not in RULES[base].fixed}
    if rule.wraps == "class":
        if foreach is not None and "foreach" in inspect.signature(classes(base)).parameters:
            base_kwargs["foreach"] = foreach
        return classes(optimizer)(params, classes(base), **spelled(base_kwargs))
    own = {key: kwargs.pop(key) for key in list(kwargs) if key in rule.defaults}
    return classes(optimizer)(build_reference(base, params, kwargs, foreach, classes), **own)


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
    if RULES[optimizer].closure:
        raise ValueError(f"torch_sweep steps one gradient a step; {optimizer!r} evaluates its closure")
    param = torch.nn.Parameter(start.clone())
    opt = build_reference(optimizer, [param], {**defaults(optimizer), "lr": lr}, foreach)
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
