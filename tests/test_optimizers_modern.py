"""pytorch_optimizer's optimizers (Lion, AdaBelief, Yogi, Adan, MADGRAD, LAMB, AdaBound, AdEMAMix, Prodigy) on every
surface equal pytorch-optimizer 4.1.0 run once per row, with gradient noise and schedules too (the equivalence rule of
docs/ARCHITECTURE.md's contract, through tests/torch_reference.py; their random hyper-parameters are
tests/test_optimizers_torch.py's, which tests/test_fast.py shares); a keyword out of the reference's range is refused
naming it and that range, and so are the reference's options the kernels leave out."""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytorch_optimizer.base.exception import NegativeLRError

import landscapes
import optimizers
from optimizers import catalogue
from optimizers.torch_baseline import spelled
from tests.test_optimizers_torch import (
    ROWS,
    STEPS,
    chaotic_totals,
    compared_batch,
    random_hyperparameters,
    random_schedule,
    random_starts,
    torch_scheduler,
)
from tests.torch_reference import (
    TOLERANCE,
    build_reference,
    compare_rows,
    reference_class,
    relative_error,
    row_kwargs,
)

MODERN = [name for name in optimizers.names() if optimizers.RULES[name].reference == "pytorch_optimizer"]
LEFT_OUT = {"adabelief": ("n_sma_threshold",), "lamb": ("n_sma_threshold",), "ademamix": ("t_alpha_beta3",),
            "prodigy": ("beta3", "growth_rate")}  # reference keywords that change the update, kept at their defaults
UNUSED = {"schedulefree_sgd": ("eps",), "sam": ("use_gc",)}  # reference keywords that cannot change a vector's update:
# ScheduleFreeSGD never reads its eps; SAM's gradient centralization acts on tensors of two or more dimensions only
STRICTER = {"k", "warmup_steps"}  # step counts: ours are whole numbers within bounds, the reference takes any number
SCHEDULES = ["StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "OneCycleLR", "SequentialLR"]


@pytest.mark.parametrize("surface_name", landscapes.names())
@pytest.mark.parametrize("optimizer", MODERN)
@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_matches_pytorch_optimizer(optimizer, surface_name, seed):
    counts = compared_batch(optimizer, landscapes.get(surface_name), np.random.default_rng(seed))
    assert counts["compared"] >= 2, counts  # chaotic rows cluster on some surfaces; their overall share: below


@pytest.mark.parametrize("schedule_name", SCHEDULES)
@pytest.mark.parametrize("optimizer", MODERN)
@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_matches_pytorch_optimizer_with_gradient_noise_and_a_schedule(optimizer, schedule_name, seed):
    """A schedule changes ρ between steps (AdaBound's ρ* follows it, MADGRAD's weights and Prodigy's d·ρ use it)."""
    rng = np.random.default_rng(seed)
    surface = landscapes.get("quadratic", condition=float(rng.uniform(1, 100)), angle=float(rng.uniform(-90, 90)))
    starts = random_starts(surface, rng, ROWS)
    sigma = float(rng.uniform(0.01, 1.0))
    schedule = random_schedule(schedule_name, rng, STEPS)
    kwargs = random_hyperparameters(optimizer, rng, ROWS)
    if schedule_name != "OneCycleLR":  # ρ₀ = 0 under OneCycleLR only: it ignores ρ₀ (AdaBound's ρ₀ is its first ρₖ),
        kwargs["lr"] = np.where(kwargs["lr"] == 0, 1e-3, kwargs["lr"])  # others may round 0·ρ to a refused −1e-19
    trajectory = optimizers.run(surface, optimizer, start=starts, steps=STEPS, noise=sigma, seed=seed,
                                schedule=schedule, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own scheduler warnings
        counts = compare_rows(surface, trajectory, starts, STEPS, sigma=sigma, seed=seed,
                              schedule_factory=lambda opt: torch_scheduler(schedule.config(), opt))
    assert counts["compared"] >= ROWS // 2, counts


@pytest.mark.parametrize("optimizer", MODERN)
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_torch_backend_matches_pytorch_optimizer(optimizer, seed):
    """The kernels run in torch (``backend="torch"``) equal the reference too."""
    surface = landscapes.get(["rosenbrock", "beale", "rastrigin"][seed % 3])
    assert compared_batch(optimizer, surface, np.random.default_rng(seed), backend="torch")["compared"] >= 2


def test_chaotic_rows_stay_a_minority():
    """Over one seeded batch of every modern optimizer on every surface, chaotic rows (skipped by the equivalence
    rule) are fewer than a fifth of the rows compared with pytorch_optimizer."""
    totals = chaotic_totals(MODERN)
    print(f"\npytorch_optimizer equivalence: {totals}")
    assert totals["chaotic"] < 0.2 * totals["rows"], totals


def out_of_range_cases() -> list[tuple[str, str, str, float]]:
    """(optimizer, keyword, catalogue entry, value) for each end of each number keyword's range: the end itself
    where it is open, 0.5 beyond it where it is closed, and ∞ where a keyword has no end (the reference takes any
    number there)."""
    cases = []
    for name in MODERN:
        own = optimizers.RULES[name].defaults  # a wrapper's: its base's keywords are tested as the base's
        for keyword, default in own.items():
            if isinstance(default, bool) or catalogue.spec(keyword, name).kind == "choice":
                continue
            entry = catalogue.spec(keyword, name)
            for part in entry.parts or (keyword,):
                valid = catalogue.spec(part, name).valid
                ends = [(valid.low, valid.low_open, -0.5), (valid.high, valid.high_open, 0.5)]
                bad = [end if is_open else end + beyond for end, is_open, beyond in ends if math.isfinite(end)]
                cases += [(name, keyword, part, value) for value in bad or [math.inf]]
    return cases


@pytest.mark.parametrize(("optimizer", "keyword", "part", "bad"), out_of_range_cases())
def test_an_out_of_range_keyword_is_refused_with_the_references_range(optimizer, keyword, part, bad):
    defaults = optimizers.defaults(optimizer)
    value = bad if keyword == part else tuple(bad if half == part else v for half, v in
                                              zip(catalogue.spec(keyword, optimizer).parts, defaults[keyword]))
    with pytest.raises(ValueError) as error:
        optimizers.run(landscapes.get("booth"), optimizer, steps=1, **{keyword: value})
    message, valid = str(error.value), catalogue.spec(part, optimizer).valid
    assert message.startswith(f"Invalid {keyword}") and f" value: {bad!r} " in message, message
    assert message.endswith(f"must be {valid.rule})") or message.endswith(f"must be finite and {valid.rule})"), message
    if not math.isfinite(bad) or keyword in STRICTER:
        return  # no end: the reference takes any number, ours any finite one; or ours is stricter
    param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    kwargs = {**defaults, keyword: value}
    if keyword == "d0":  # the reference's constructor takes d0 = 0, its first step divides by it
        opt = build_reference(optimizer, [param], kwargs)
        param.grad = torch.ones(2, dtype=torch.float64)
        with pytest.raises(ZeroDivisionError):
            opt.step()
        return
    with pytest.raises((ValueError, NegativeLRError)):
        build_reference(optimizer, [param], kwargs)


@pytest.mark.parametrize("optimizer", MODERN)
def test_the_keywords_are_the_references_and_its_options_left_out_are_refused(optimizer):
    """The keywords and defaults are the reference constructor's (its betas triple, Adan's and AdEMAMix's, is betas
    and beta3 here; a wrapper's base is named, with a default), but for maximize, foreach, the options that change the
    update but are not kept: AdaBelief's and LAMB's n_sma_threshold (5), AdEMAMix's warm-up t_alpha_beta3 (none),
    Prodigy's beta3 (√β₂) and growth_rate (∞), and those that cannot change a vector's (``UNUSED``). Those are
    refused."""
    parameters = inspect.signature(reference_class(optimizer)).parameters
    theirs = {key: p.default for key, p in parameters.items() if key not in ("params", "kwargs")}
    left_out = {*({"maximize", "foreach"} & set(theirs)), *LEFT_OUT.get(optimizer, ()), *UNUSED.get(optimizer, ())}
    ours = spelled(optimizers.RULES[optimizer].defaults)  # a wrapper's own (the base's: the base's test)
    if optimizers.RULES[optimizer].wraps:  # the base: a class (SAM's base_optimizer) or an instance (Lookahead's
        theirs.pop("optimizer", None)  # optimizer), with no default; ours is a name, with one
        theirs["base_optimizer"] = ours["base_optimizer"]
    assert set(theirs) == set(ours) | left_out and not set(ours) & left_out
    assert ours == {key: theirs[key] for key in ours}
    for keyword in left_out:
        with pytest.raises(ValueError, match=rf"^Optimizer '{optimizer}' takes no keyword '{keyword}' \(valid: lr, "):
            optimizers.run(landscapes.get("booth"), optimizer, steps=1, **{keyword: theirs[keyword]})


@pytest.mark.parametrize("optimizer", ["schedulefree_sgd", "schedulefree_adamw"])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_schedule_free_average_is_the_references_eval_point(optimizer, seed):
    """``Trajectory.averaged`` is x, what the reference's ``eval()`` makes its parameter after each step (and
    ``train()`` undoes), per row within the equivalence rule's tolerance where the row's θ is compared."""
    rng = np.random.default_rng(seed)
    surface = landscapes.get(["quadratic", "himmelblau", "booth"][seed % 3])
    starts = random_starts(surface, rng, ROWS)
    trajectory = optimizers.run(surface, optimizer, start=starts, steps=STEPS,
                                **random_hyperparameters(optimizer, rng, ROWS))
    assert trajectory.averaged.shape == trajectory.points.shape and np.isfinite(trajectory.averaged).all()
    np.testing.assert_array_equal(trajectory.averaged[:, 0], trajectory.points[:, 0])  # x₀ = y₀ = θ₀
    compared = 0
    for row, start in enumerate(starts):
        if trajectory.diverged_at[row] >= 0:
            continue
        param = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
        opt = build_reference(optimizer, [param], row_kwargs(trajectory.hyperparameters, row))
        xs, ys = [start], [start]
        for _ in range(STEPS):
            param.grad = torch.from_numpy(surface.grad(param.detach().numpy()))
            opt.step()
            ys.append(param.detach().numpy().copy())
            opt.eval()
            xs.append(param.detach().numpy().copy())
            opt.train()
        if np.all(relative_error(trajectory.points[row], np.array(ys)) <= TOLERANCE):  # not a chaotic row
            assert np.all(relative_error(trajectory.averaged[row], np.array(xs)) <= TOLERANCE), row
            compared += 1
    assert compared >= 2, compared  # diverged and chaotic rows aside


def test_sam_evaluates_twice_per_step_and_the_engine_counts_it():
    """SAM's trajectory counts 2 gradient evaluations per step (``Trajectory.evaluations``); one-evaluation
    optimizers leave the count out (k per iterate)."""
    surface = landscapes.get("rosenbrock")
    sam = optimizers.run(surface, "sam", steps=7, lr=1e-3)
    np.testing.assert_array_equal(sam.evaluations, 2 * np.arange(8)[None, :])
    assert optimizers.run(surface, "sgd", steps=3, lr=1e-3).evaluations is None
