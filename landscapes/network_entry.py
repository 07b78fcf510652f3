"""The network surface's registry entry: its parameters and a factory that loads torch only when a network is
built (``import landscapes`` stays light: the app and the command line start without torch).

The implementation is :mod:`landscapes.network`; the configuration and its limits are
:mod:`landscapes.network_config`.
"""

from __future__ import annotations

from typing import Any

from . import datasets
from .base import Choice, Param, Widths
from .network_config import ACTIVATIONS, MAX_LAYERS, MAX_PARAMETERS, MAX_WIDTH, WIDTH_SUGGESTIONS, Config
from .registry import register


@register(
    "network",
    (
        Choice("dataset", "moons", tuple(datasets.names()), "training data (standardized, fixed train split)"),
        Widths("hidden", (16, 16), 1, MAX_WIDTH, MAX_LAYERS, f"hidden-layer widths (≤ {MAX_PARAMETERS} parameters)",
               suggestions=WIDTH_SUGGESTIONS),
        Choice("activation", "tanh", ACTIVATIONS, "hidden-layer activation"),
        Param("seed", 0, 0, 9999, "initialization and plane directions", integer=True),
        Param("l2", 0.0, 0.0, 0.1, "L2 penalty λ: the loss is L(θ) + λ/2 ‖θ‖²"),
    ),
    "A real MLP trained to θ*: its loss on a filter-normalized random plane θ* + a·d₁ + b·d₂.",
)
def network(dataset: str, hidden: tuple[int, ...], activation: str, seed: int, l2: float) -> Any:
    """The network surface: f(a, b) = L(θ* + a·d₁ + b·d₂) of a trained MLP (see landscapes.network)."""
    from .network import slice_plane

    return slice_plane(Config(dataset, tuple(hidden), activation, int(seed), float(l2)))
