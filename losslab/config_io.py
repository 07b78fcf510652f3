"""A race as JSON: its full configuration and its trajectories, and the way back to a ``RaceConfig``.

The file::

    {"schema_version": 1, "losslab_version": "0.1.0",
     "config": {"surface": "quadratic", "surface_params": {...}, "optimizers": {"adam": {"lr": 0.05, ...}, ...},
                "steps": 500, "start": [-1.8, 0.8], "schedule": null | {"name": "StepLR", ...},
                "constant_lr": ["schedulefree_sgd"] (optional: optimizers that keep a constant ρ under the schedule),
                "noise": 0.0, "seed": 0, "batch_size": null | 32},
     "trajectories": {"adam": {"points": [[x, y], ...], "losses": [...], "lrs": [...], "diverged_at": -1,
                               "diverged_reason": ""}, ...}}

Floats are written as the shortest decimal that reads back as the same float, so running the race
again from ``config`` reproduces ``trajectories`` bit for bit (the start is written out, not left to the
surface's default). Reading checks every field's type and then the library's own validation
(``RaceConfig.validate``): a hostile or broken file gets a ``ValueError`` naming the field, never a
traceback from deep inside; a file written by a newer schema is refused.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import optimizers
from optimizers import catalogue, hyperparams

from . import __version__
from .race import RaceConfig

SCHEMA_VERSION = 1
MAX_JSON_BYTES = 16_000_000  # 8 optimizers × 5001 steps with every number: ≈ 4 MB
MAX_INTEGER = 2**63 - 1  # an integer field (steps, seed, batch_size, a network's widths) fits an int64
CONFIG_KEYS = ("surface", "surface_params", "optimizers", "steps", "start", "schedule", "constant_lr", "noise", "seed",
               "batch_size")


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {key: _jsonable(v) for key, v in value.items()}
    return value


def config_dict(config: RaceConfig) -> dict[str, Any]:
    """The configuration as JSON-able values, with the start point written out."""
    return {
        "surface": config.surface,
        "surface_params": {key: _jsonable(value) if isinstance(value, (str, tuple, list)) else float(value)
                           for key, value in config.surface_params.items()},
        "optimizers": {name: _jsonable(dict(hyper)) for name, hyper in config.optimizers.items()},
        "steps": int(config.steps),
        "start": [float(v) for v in config.start_point()],
        "schedule": _jsonable(dict(config.schedule)) if config.schedule else None,
        "constant_lr": list(config.constant_lr),
        "noise": float(config.noise),
        "seed": int(config.seed),
        "batch_size": None if config.batch_size is None else int(config.batch_size),
    }


def race_json(config: RaceConfig, trajectories: Mapping[str, Any]) -> str:
    """The race as JSON text: schema version, package version, configuration and trajectories."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "losslab_version": __version__,
        "config": config_dict(config),
        "trajectories": {
            name: {"points": t.points[0].tolist(), "losses": t.losses[0].tolist(), "lrs": t.lrs[0].tolist(),
                   "diverged_at": int(t.diverged_at[0]), "diverged_reason": str(t.diverged_reason[0])}
            for name, t in trajectories.items()
        },
    }
    return json.dumps(document, allow_nan=False, ensure_ascii=False)


def _fail(field: str, value: Any, rule: str) -> ValueError:
    shown = repr(value)
    return ValueError(f"Invalid {field} value: {shown[:80] + '…' if len(shown) > 80 else shown} ({rule})")


def _number(field: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(_float(value)):
        raise _fail(field, value, "must be a finite number")
    return float(value)


def _float(value: int | float) -> float:
    """The number as a float; an integer beyond float range (JSON's 10**400) as infinity, not OverflowError."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _integer(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise _fail(field, value, f"must be an integer within ±{MAX_INTEGER}")
    return value


def _mapping(field: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise _fail(field, value, "must be a JSON object")
    return value


def _hyper_value(field: str, value: Any, name: str, key: str, base: Any = None) -> Any:
    """Optimizer ``name``'s hyper-parameter ``key`` (a wrapper's over ``base``): true/false, a number, a choice's
    text (null for None), or for a pair (betas, etas, ...) two numbers, null where torch's default is None
    (Adafactor's ε₁); a race has one value per keyword. The library checks ranges and choices."""
    try:
        default = optimizers.defaults(name, base).get(key)
        choice = hyperparams.entry(name, key, base).kind == "choice"
    except ValueError:  # an unknown optimizer, base or keyword: the library names it
        default, choice = None, False
    if isinstance(value, bool) or (choice and (value is None or isinstance(value, str))):
        return value
    if value is None and default is None and key in optimizers.defaults(name, base):  # LBFGS's max_eval
        return None
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default):
            symbols = ", ".join(catalogue.spec(part).symbol for part in hyperparams.entry(name, key, base).parts)
            raise _fail(field, value, f"must be two numbers [{symbols}]")
        return tuple(None if v is None and fallback is None else _number(field, v)
                     for v, fallback in zip(value, default))
    return _number(field, value)


def _surface_value(field: str, value: Any) -> Any:
    """A surface parameter: a number, a choice (text) or widths (a list of integers); the registry checks ranges."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):  # a window [[x0, x1], ...]
        return tuple(tuple(_number(field, v) for v in pair) for pair in value)
    if isinstance(value, list):
        return tuple(_integer(field, v) for v in value)
    return _number(field, value)


def _schedule_value(field: str, value: Any) -> Any:
    """A schedule parameter: true/false, a word, a number, or a flat list of numbers (milestones); the schedule's
    own validation then checks it (SequentialLR's nested schedules are not read from a file)."""
    if isinstance(value, list):
        if any(isinstance(v, (list, dict)) for v in value):
            raise _fail(field, value, "must be a number, true/false, a name or a flat list of numbers")
        return [_schedule_scalar(field, v) for v in value]
    return _schedule_scalar(field, value)


def _schedule_scalar(field: str, value: Any) -> Any:
    if isinstance(value, (bool, str)) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return _number(field, value)


def config_from_dict(data: Any) -> RaceConfig:
    """A validated ``RaceConfig`` from the ``config`` object of a race JSON (``ValueError`` naming the field)."""
    data = _mapping("config", data)
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise _fail("config", unknown[0], f"unknown key; valid: {', '.join(CONFIG_KEYS)}")
    surface = data.get("surface", RaceConfig.surface)
    if not isinstance(surface, str):
        raise _fail("surface", surface, "must be a surface name")
    params = {key: _surface_value(f"surface_params.{key}", value)
              for key, value in _mapping("surface_params", data.get("surface_params", {})).items()}
    chosen = {}
    for name, hyper in _mapping("optimizers", data.get("optimizers", {})).items():
        base = hyper.get("base_optimizer") if isinstance(hyper, dict) else None
        chosen[name] = {key: _hyper_value(f"optimizers.{name}.{key}", value, name, key, base)
                        for key, value in _mapping(f"optimizers.{name}", hyper).items()}
    start = data.get("start")
    if start is not None:
        if not isinstance(start, list) or len(start) != 2:
            raise _fail("start", start, "must be two numbers [x, y] or null")
        start = (_number("start", start[0]), _number("start", start[1]))
    schedule = data.get("schedule")
    if schedule is not None:
        schedule = {key: _schedule_value(f"schedule.{key}", value)
                    for key, value in _mapping("schedule", schedule).items()}
    batch_size = data.get("batch_size")
    constant_lr = data.get("constant_lr", [])
    if not isinstance(constant_lr, list) or not all(isinstance(name, str) for name in constant_lr):
        raise _fail("constant_lr", constant_lr, "must be a list of optimizer names")
    config = RaceConfig(surface=surface, surface_params=params, optimizers=chosen,
                        steps=_integer("steps", data.get("steps", RaceConfig.steps)), start=start, schedule=schedule,
                        constant_lr=tuple(constant_lr),
                        noise=_number("noise", data.get("noise", 0.0)), seed=_integer("seed", data.get("seed", 0)),
                        batch_size=None if batch_size is None else _integer("batch_size", batch_size) or None)
    if config.seed < 0:
        raise _fail("seed", config.seed, "must be >= 0")
    try:
        return config.validate()
    except (TypeError, KeyError, AttributeError) as error:  # the library's checks expect the types above
        raise ValueError(f"Invalid configuration: {error}") from None


def read_race_json(text: str | bytes) -> tuple[RaceConfig, dict[str, Any]]:
    """The validated configuration of a race JSON and its stored trajectories (as written, unchecked)."""
    if len(text) > MAX_JSON_BYTES:
        raise ValueError(f"Invalid JSON size: {len(text)} bytes (must be at most {MAX_JSON_BYTES})")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:  # also an integer beyond Python's limit on digits
        raise ValueError(f"Invalid JSON: {str(error)[:200]}") from None
    document = _mapping("document", document)
    version = document.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise _fail("schema_version", version, "must be a positive integer: is this a losslab race JSON?")
    if version > SCHEMA_VERSION:
        raise ValueError(f"Unsupported schema_version {version}: this file was written by a newer losslab "
                         f"({document.get('losslab_version', 'unknown version')!s:.40}); this losslab "
                         f"({__version__}) reads schema_version {SCHEMA_VERSION}. Upgrade losslab to read it.")
    config = config_from_dict(document.get("config"))
    trajectories = document.get("trajectories") or {}
    return config, trajectories if isinstance(trajectories, dict) else {}
