"""What a network surface is made of, without torch: its configuration, the limits on it, and their check.

A network is an MLP with hidden widths h₁ … h_L (1 ≤ hᵢ ≤ ``MAX_WIDTH``, L ≤ ``MAX_LAYERS``) and at most
``MAX_PARAMETERS`` weights and biases on its data set, a tanh or ReLU activation, a seed and an L2 penalty
λ. The registry entry (:mod:`landscapes.network_entry`) and the pages read these without importing torch;
:mod:`landscapes.network` trains and slices the network a :class:`Config` describes.
"""

from __future__ import annotations

from typing import NamedTuple

from . import datasets

MAX_PARAMETERS = 20_000
MAX_WIDTH = 256
MAX_LAYERS = 4
ACTIVATIONS = ("tanh", "relu")
WIDTH_SUGGESTIONS = ((4,), (8,), (16,), (32,), (64,), (8, 8), (16, 16), (32, 32), (64, 64), (16, 16, 16))


class Config(NamedTuple):
    """Everything that determines a trained network."""

    dataset: str = "moons"
    hidden: tuple[int, ...] = (16, 16)
    activation: str = "tanh"
    seed: int = 0
    l2: float = 0.0


def layer_sizes(data: datasets.Dataset, hidden: tuple[int, ...]) -> list[int]:
    """Widths of every layer: the data's features, h₁ … h_L, the outputs."""
    return [data.features, *hidden, data.outputs]


def parameter_count(data: datasets.Dataset, hidden: tuple[int, ...]) -> int:
    """Weights and biases of the MLP: Σ (fan_in + 1)·fan_out over its layers."""
    sizes = layer_sizes(data, hidden)
    return sum((fan_in + 1) * fan_out for fan_in, fan_out in zip(sizes[:-1], sizes[1:]))


def check_config(config: Config) -> Config:
    """Raise ``ValueError`` naming the bad setting (the registry checks each one's range; this the combination)."""
    data = datasets.load(config.dataset)
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"Invalid activation value: {config.activation!r} (must be one of {', '.join(ACTIVATIONS)})")
    count = parameter_count(data, tuple(config.hidden))
    if count > MAX_PARAMETERS:
        raise ValueError(f"Invalid hidden value: {tuple(config.hidden)!r} ({count} parameters on {config.dataset}; "
                         f"must be at most {MAX_PARAMETERS})")
    return config
