"""torch.optim (and pytorch_optimizer for the modern optimizers) as the reference: one optimizer per row, gradients
assigned from the surface.

Used by the equivalence tests (the benchmarks time torch.optim through optimizers.torch_baseline).
Implements the equivalence rule of docs/ARCHITECTURE.md's contract: relative error
|ours − torch| / max(1, |torch|) ≤ 1e-9 per coordinate over the first 50 steps of every row that is not diverged
and not chaotic; a row is chaotic when torch's own trajectory from a start moved by one ulp differs from the
unmoved one by more than 1e-9.

That start nudge alone can be absorbed by the first step's rounding while later steps still
amplify ulp differences many-fold (seen: SGD on Rastrigin, lr 0.021), so a row also counts as
chaotic when torch's trajectory with every iterate moved by one ulp differs by more than 1e-9, or with
every tensor of its state moved by one ulp: torch's fused multiply-adds round the state differently, and
where the state cancels (centered RMSprop's r − ḡ² with a nearly constant gradient, seen on the cliff at
ρ 0.047, ρ_r 0.58) a one-ulp difference there grows past the tolerance while one in θ does not.
A one-ulp perturbation is the smallest possible difference, while numpy cannot reproduce torch's fused
multiply-adds and differs by a few ulps per step: so the nudged trajectories are held to a tenth of the tolerance
(``CHAOS_MARGIN``; seen: Nesterov with weight decay on Himmelblau, where one ulp per step grows to 0.98e-9 in 50
steps and ours to 1.17e-9). Each nudge is tried up and down: an unstable row may grow from one sign only (seen:
pytorch_optimizer's rectified LAMB in Adam mode on six_hump_camel, 1e-11 up, 2e-9 down). Every row, chaotic or
not, must agree over its first ``ALWAYS_COMPARED`` steps, before a one-ulp difference can grow past the tolerance.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from optimizers import noise, torch_baseline
from optimizers.rules import RULES

TOLERANCE = 1e-9
CHAOS_MARGIN = 10  # ours and torch's fused kernels differ by a few ulps per step, not by one
ALWAYS_COMPARED = 3


def row_kwargs(hyperparameters: dict[str, Any], row: int) -> dict[str, Any]:
    """Row ``row``'s torch.optim keyword arguments from a Trajectory's hyperparameters."""

    def pick(value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):  # None: Adafactor's default ε₁; a choice
            return value
        array = np.asarray(value)
        return float(array if array.ndim == 0 else array[row])

    return {name: tuple(pick(v) for v in value) if isinstance(value, tuple) else pick(value)
            for name, value in hyperparameters.items()}


class AdamWithoutBiasCorrection(torch.optim.Optimizer):
    """The reference for our "adam_nobc": torch.optim.Adam's single-tensor kernel, in torch's ops and order, with
    the bias corrections 1 − β₁ᵗ and √(1 − β₂ᵗ) left out."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for param in group["params"]:
                grad = param.grad
                if group["weight_decay"] != 0:
                    grad = grad.add(param, alpha=group["weight_decay"])
                state = self.state[param]
                if not state:
                    state.update(exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param),
                                 max_exp_avg_sq=torch.zeros_like(param))
                state["exp_avg"].lerp_(grad, 1 - beta1)
                state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad.conj(), value=1 - beta2)
                second = state["exp_avg_sq"]
                if group["amsgrad"]:
                    torch.maximum(state["max_exp_avg_sq"], second, out=state["max_exp_avg_sq"])
                    second = state["max_exp_avg_sq"]
                param.addcdiv_(state["exp_avg"], second.sqrt().add_(group["eps"]), value=-group["lr"])


OURS = {"adam_nobc": AdamWithoutBiasCorrection}  # optimizers torch.optim lacks: a reference written in torch ops


def reference_class(optimizer: str) -> type:
    """The class our ``optimizer`` reproduces: ``OURS``, else torch.optim's or pytorch_optimizer's."""
    return OURS[optimizer] if optimizer in OURS else torch_baseline.reference_class(optimizer)


def build_reference(optimizer: str, params: list, kwargs: dict[str, Any]) -> torch.optim.Optimizer:
    """The reference optimizer over ``params`` with our keywords ``kwargs`` (``torch_baseline.build_reference``, with
    ``OURS`` among the classes)."""
    return torch_baseline.build_reference(optimizer, params, kwargs, classes=reference_class)


def torch_trajectory(
    surface: Any,
    optimizer: str,
    start: np.ndarray,
    steps: int,
    kwargs: dict[str, Any],
    schedule_factory: Any = None,
    sigma: float = 0.0,
    noise_key: np.ndarray | None = None,
    nudge_every_step: bool = False,
    nudge_state_every_step: bool = False,
    towards: float = np.inf,
) -> np.ndarray:
    """(steps + 1, 2) iterates of the reference from ``start`` (float64); optionally each iterate, or each tensor of
    the optimizer's state (its moments, buffers), moved by one ulp ``towards`` ±∞ after every step."""
    rule = RULES[optimizer]
    param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    opt = build_reference(optimizer, [param], kwargs)
    scheduler = schedule_factory(opt) if schedule_factory is not None else None
    points = np.empty((steps + 1, 2))
    points[0] = start
    for k in range(steps):

        def closure(step: int = k) -> torch.Tensor:
            """f at θ, with ∇f (and step k's noise, as ours: one draw per step) assigned to θ's grad."""
            theta = param.detach().numpy()
            grad = torch.from_numpy(surface.grad(theta))  # the same gradient values as ours
            if sigma:
                grad = grad + sigma * torch.from_numpy(noise.gaussian(noise_key, step)[0])
            param.grad = grad
            return torch.as_tensor(float(surface.value(theta)))

        closure()
        if rule.closure:
            opt.step(closure)
        else:
            opt.step()
        if scheduler is not None:
            scheduler.step()
        if nudge_every_step:
            with torch.no_grad():
                param.copy_(torch.nextafter(param, torch.full_like(param, towards)))
        if nudge_state_every_step:
            for value in opt.state[param].values():
                if torch.is_tensor(value) and value.is_floating_point() and value.numel() == param.numel():
                    value.copy_(torch.nextafter(value, torch.full_like(value, towards)))
        points[k + 1] = param.detach().numpy()
    return points


def relative_error(ours: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.abs(ours - reference) / np.maximum(1.0, np.abs(reference))


def compare_rows(surface, trajectory, starts, steps, schedule_factory=None, sigma=0.0, seed=0) -> dict:
    """Compare every row of ``trajectory`` with its reference; returns counts, raises on a real mismatch."""
    counts = {"rows": 0, "diverged": 0, "chaotic": 0, "compared": 0}
    keys = noise.row_keys(seed, np.arange(len(starts)))
    for row, start in enumerate(starts):
        counts["rows"] += 1
        limit = steps if trajectory.diverged_at[row] < 0 else min(steps, trajectory.diverged_at[row] - 1)
        if trajectory.diverged_at[row] >= 0:
            counts["diverged"] += 1
        kwargs = row_kwargs(trajectory.hyperparameters, row)
        run = functools.partial(
            torch_trajectory, surface, trajectory.optimizer, steps=limit, kwargs=kwargs,
            schedule_factory=schedule_factory, sigma=sigma, noise_key=keys[row : row + 1],
        )
        with np.errstate(all="ignore"):
            reference = run(start)
            if not np.isfinite(reference).all():
                raise AssertionError(f"{trajectory.optimizer} row {row}: the reference went non-finite, ours did not")
            error = relative_error(trajectory.points[row, : limit + 1], reference)
            if not np.all(error <= TOLERANCE):
                nudged = [path for towards in (np.inf, -np.inf) for path in (
                    run(np.nextafter(start, towards)), run(start, nudge_every_step=True, towards=towards),
                    run(start, nudge_state_every_step=True, towards=towards))]
                chaotic = any(not np.all(relative_error(n, reference) <= TOLERANCE / CHAOS_MARGIN) for n in nudged)
                if chaotic and np.all(error[: ALWAYS_COMPARED + 1] <= TOLERANCE):
                    counts["chaotic"] += 1
                    continue
                worst = int(np.argmax(error.max(axis=1)))
                raise AssertionError(
                    f"{trajectory.optimizer} row {row} ({kwargs}, start {start.tolist()}) differs from the reference "
                    f"at step {worst}: ours {trajectory.points[row, worst].tolist()} vs {reference[worst].tolist()}"
                )
        counts["compared"] += 1
    return counts
