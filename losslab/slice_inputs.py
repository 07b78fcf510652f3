"""What ``losslab slice`` is given, loaded and checked: the model, its weights, the data and the loss.

- ``--model pkg.mod:make_model`` (or ``path/to/file.py:make_model``) names a function that returns the
  ``nn.Module``; ``--weights w.pt`` a ``state_dict`` loaded into it with ``torch.load(weights_only=True)``;
- ``--data pkg.mod:make_data`` a function that returns a ``DataLoader`` (that does not shuffle) or a pair
  (inputs, targets);
- ``--loss pkg.mod:fn`` the loss ``fn(outputs, targets)`` (an ``nn.Module`` class is instantiated); by default
  cross-entropy for integer targets, mean squared error otherwise.

A module named with dots is imported as Python would from the current folder (like ``python -m``). Every failure
is a ``ValueError`` whose message names the option and says what is wrong, on one line: the command line prints
it and exits with status 2. ``fingerprint`` and ``data_fingerprint`` are the digests a resumed slice checks, so
that it refuses a model or data that changed (an unseeded ``make_model``) instead of mixing two landscapes.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

MAX_LISTED = 4  # keys named in a weights mismatch message


class Inputs(NamedTuple):
    """The loaded model (its weights in), data, loss and the loss's name."""

    model: Any
    data: Any
    loss_fn: Callable
    loss_name: str


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}"[:240]


def load_callable(option: str, reference: str) -> Callable:
    """The function ``module:name`` (``module`` dotted, or a ``.py`` file path), or a ``ValueError`` naming
    ``option``."""
    module_name, colon, name = reference.rpartition(":")
    if not colon or not module_name or not name:
        raise ValueError(f"{option}: {reference!r} is not MODULE:FUNCTION (e.g. mypackage.models:make_model)")
    from_file = module_name.endswith(".py") or os.sep in module_name
    if from_file and not os.path.isfile(module_name):
        raise ValueError(f"{option}: no file {module_name!r}")
    try:
        if from_file:
            spec = importlib.util.spec_from_file_location(
                f"losslab_user_{hashlib.sha1(os.path.abspath(module_name).encode()).hexdigest()[:12]}", module_name)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if "" not in sys.path and os.getcwd() not in sys.path:
                sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
            module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:  # noqa: BLE001 - whatever the user's module raises on import
        raise ValueError(f"{option}: cannot import {module_name!r} ({_short(error)})") from None
    function = getattr(module, name, None)
    if function is None:
        raise ValueError(f"{option}: module {module_name!r} has no {name!r}")
    if not callable(function):
        raise ValueError(f"{option}: {reference!r} is a {type(function).__name__}, not a function")
    return function


def _call(option: str, reference: str) -> Any:
    function = load_callable(option, reference)
    try:
        return function()
    except Exception as error:  # noqa: BLE001 - the user's function's own failure
        raise ValueError(f"{option}: {reference}() failed ({_short(error)})") from None


def _shape(value: Any) -> str:
    return "×".join(str(n) for n in value.shape) or "scalar"


def load_weights(model: Any, path: str) -> None:
    """``path``'s state_dict into ``model``, or a ``ValueError`` saying which keys are missing or unexpected and
    which shapes differ."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise ValueError(f"--weights: cannot read {path!r}: {error.strerror or error}") from None
    except Exception as error:  # noqa: BLE001 - unpickling errors of every kind
        raise ValueError(f"--weights: {path!r} is not a state_dict that torch.load(weights_only=True) reads "
                         f"({_short(error)})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ValueError(f"--weights: {path!r} holds a {type(state).__name__}, not a state_dict "
                         f"(name → tensor: save model.state_dict())")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} ({_shape(state[k])} in the file, {_shape(v)} in the model)" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    problems = []
    for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if keys:
            more = f" and {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else ""
            problems.append(f"{what} {', '.join(keys[:MAX_LISTED])}{more}")
    if problems:
        raise ValueError(f"--weights: {path!r} does not fit the model: {'; '.join(problems)}")
    model.load_state_dict(state)


def _targets(data: Any) -> Any:
    import torch

    if isinstance(data, torch.utils.data.DataLoader):
        try:
            batch = next(iter(data))
        except Exception as error:  # noqa: BLE001 - the user's dataset
            raise ValueError(f"--data: the DataLoader fails ({_short(error)})") from None
        return batch[1] if isinstance(batch, (tuple, list)) and len(batch) == 2 else None
    return data[1] if isinstance(data, (tuple, list)) and len(data) == 2 else None


def as_tensors(data: Any) -> Any:
    """A pair of numpy arrays as tensors; anything else as it is (``from_module`` checks it)."""
    import numpy as np
    import torch

    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(v, np.ndarray) for v in data):
        return torch.from_numpy(np.ascontiguousarray(data[0])), torch.from_numpy(np.ascontiguousarray(data[1]))
    return data


def default_loss(targets: Any) -> tuple[Callable, str]:
    """Cross-entropy for integer class targets, mean squared error otherwise."""
    import torch
    from torch.nn import functional as F

    if isinstance(targets, torch.Tensor) and not targets.is_floating_point() and targets.dtype != torch.bool:
        return F.cross_entropy, "cross_entropy"
    return F.mse_loss, "mse_loss"


def load(model: str, data: str, weights: str | None = None, loss: str | None = None) -> Inputs:
    """The model (with its weights), the data and the loss the options name; ``ValueError`` naming the option."""
    import torch
    from torch import nn

    module = _call("--model", model)
    if not isinstance(module, nn.Module):
        raise ValueError(f"--model: {model}() returned a {type(module).__name__}, not a torch.nn.Module")
    if weights is not None:
        load_weights(module, weights)
    examples = as_tensors(_call("--data", data))
    if not isinstance(examples, (torch.utils.data.DataLoader, tuple, list)):
        raise ValueError(f"--data: {data}() returned a {type(examples).__name__} (must be a DataLoader or a pair "
                         "(inputs, targets))")
    if loss is None:
        loss_fn, loss_name = default_loss(_targets(examples))
    else:
        loss_fn, loss_name = load_callable("--loss", loss), loss
        if isinstance(loss_fn, type) and issubclass(loss_fn, nn.Module):
            try:
                loss_fn = loss_fn()
            except Exception as error:  # noqa: BLE001
                raise ValueError(f"--loss: {loss}() failed ({_short(error)})") from None
    return Inputs(module, examples, loss_fn, loss_name)


def _digest(tensors: Any) -> str:
    import torch

    hasher = hashlib.sha256()
    for name, tensor in tensors:
        hasher.update(name.encode())
        hasher.update(str(tensor.dtype).encode() + str(tuple(tensor.shape)).encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        hasher.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return hasher.hexdigest()


def fingerprint(model: Any) -> str:
    """A digest of the model's parameters and buffers (names, dtypes, shapes, bytes)."""
    return _digest(model.state_dict().items())


def data_fingerprint(data: Any) -> str:
    """A digest of (inputs, targets), or of a DataLoader's first batch and its data set's length."""
    import torch

    if isinstance(data, torch.utils.data.DataLoader):
        batch = next(iter(data))
        pairs = [(f"batch{i}", t) for i, t in enumerate(batch) if isinstance(t, torch.Tensor)]
        try:
            length = len(data.dataset)
        except TypeError:  # an iterable data set
            length = -1
        return _digest([*pairs, ("length", torch.tensor(length))])
    return _digest([(f"part{i}", t) for i, t in enumerate(data) if isinstance(t, torch.Tensor)])
