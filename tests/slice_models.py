"""Models and data for ``losslab slice``'s tests, named on its command line as ``tests.slice_models:NAME``.

A tiny MLP and a tiny CNN on a subset of scikit-learn's digits (shipped with the package, no download), a
ResNet-style block with batch norm (eval mode, running statistics away from 0 and 1; ``test_from_module``'s
``Block`` and ``seeded``) on generated data, a
regression MLP (float targets: the default loss is MSE), a slow data set (``kill -9`` mid-run) and broken
functions for the bad-input cases. Every model is seeded, so a resumed slice sees the same θ*.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import nn

from tests.test_from_module import Block, seeded

EXAMPLES = 64


def make_mlp() -> nn.Module:
    """64 → 16 → 10 on the flattened 8×8 digits."""
    torch.manual_seed(0)
    return seeded(nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)))


def make_other_mlp() -> nn.Module:
    """The MLP's architecture with other weights (for the resume check)."""
    return seeded(nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10)), seed=1)


def make_wide_mlp() -> nn.Module:
    """64 → 32 → 10: the MLP's keys with other shapes."""
    return seeded(nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)))


def make_cnn() -> nn.Module:
    """conv 1→4 3×3, ReLU, max-pool, linear 64→10 on the 8×8 digits."""
    return seeded(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                 nn.Linear(64, 10)))


class ResNetBlock(nn.Module):
    """The block on 3×8×8 inputs, pooled, then a linear head to 4 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.block = Block(3)
        self.head = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(F.adaptive_avg_pool2d(self.block(x), 1), 1))


def make_resnet() -> nn.Module:
    return seeded(ResNetBlock())


def digits_flat() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    return (torch.tensor(data.data[:EXAMPLES] / 16.0, dtype=torch.float32), torch.tensor(data.target[:EXAMPLES]))


def digits_images() -> tuple[torch.Tensor, torch.Tensor]:
    inputs, targets = digits_flat()
    return inputs.reshape(-1, 1, 8, 8), targets


def digits_loader() -> torch.utils.data.DataLoader:
    """The flat digits as a DataLoader of 16 examples per batch (in order)."""
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(*digits_flat()), batch_size=16)


def generated_images() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return torch.randn(32, 3, 8, 8, generator=generator), torch.randint(0, 4, (32,), generator=generator)


def regression() -> tuple[torch.Tensor, torch.Tensor]:
    """64-feature inputs with 10 float targets: the default loss is mean squared error."""
    inputs, targets = digits_flat()
    return inputs, F.one_hot(targets, 10).float()


class Slow(torch.utils.data.Dataset):
    """The flat digits, each example read after a pause: every pass over the data (a tile) takes a while."""

    def __init__(self) -> None:
        self.inputs, self.targets = digits_flat()

    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        time.sleep(0.004)
        return self.inputs[index], self.targets[index]


def slow_loader() -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(Slow(), batch_size=16)


def fails() -> nn.Module:
    raise RuntimeError("no model here")


def not_a_model() -> str:
    return "a string"


NOT_CALLABLE = 3
