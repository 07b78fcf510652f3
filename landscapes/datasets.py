"""Small data sets for the network surfaces: generated (seeded) or shipped by scikit-learn; no downloads.

Each set has a fixed train split and a test split. Features x are standardized with the train
split's mean and standard deviation (so each train feature has mean 0 and variance 1); regression
targets y are standardized the same way. Classification targets are class indices 0 … M − 1.

- ``moons``, ``circles``: two interleaving half-moons / concentric circles (as scikit-learn's make_moons /
  make_circles draw them, written out in numpy: no scikit-learn import), noise 0.2 / 0.1.
- ``spirals``: two interleaved spiral arms, one turn and a half each.
- ``xor``: four Gaussian blobs at (±1, ±1); the class is the sign of x₁·x₂ (not linearly separable).
- ``blobs``: three Gaussian blobs, standard deviation 1.5 (three classes).
- ``digits``: scikit-learn's bundled 8×8 handwritten digits (1797 images, 64 pixels, 10 classes).
- ``sine``: 1-D regression y = sin(2x) + x/2 + noise.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np

GENERATED_TRAIN = 512  # training points of each generated set
GENERATED_TEST = 256
DATA_SEED = 0  # the data are fixed; a network's seed varies its initialization and plane directions
DIGITS_TEST_FRACTION = 0.25


class Dataset(NamedTuple):
    """A standardized train/test split. ``classes`` is M for classification, 0 for regression."""

    name: str
    x_train: np.ndarray  # (N, n_features) float64
    y_train: np.ndarray  # (N,) int64 class indices, or float64 targets for regression
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int
    description: str

    @property
    def features(self) -> int:
        return self.x_train.shape[1]

    @property
    def outputs(self) -> int:
        """Network outputs: one score cₘ per class, or one value for regression."""
        return self.classes or 1

    @property
    def is_regression(self) -> bool:
        return self.classes == 0


def _moons(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's make_moons: two half-circles, the second shifted to interleave with the first."""
    labels = np.arange(n) % 2
    t = np.pi * rng.uniform(0.0, 1.0, n)
    points = np.where(labels[:, None] == 0, np.stack([np.cos(t), np.sin(t)], axis=1),
                      np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], axis=1))
    return points + rng.normal(0.0, 0.2, (n, 2)), labels


def _circles(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's make_circles: an outer circle (class 0) around an inner one of half its radius."""
    labels = np.arange(n) % 2
    t = 2.0 * np.pi * rng.uniform(0.0, 1.0, n)
    radius = np.where(labels == 0, 1.0, 0.5)[:, None]
    return radius * np.stack([np.cos(t), np.sin(t)], axis=1) + rng.normal(0.0, 0.1, (n, 2)), labels


def _spirals(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 3.0 * np.pi  # angle along the arm, denser toward its end
    angle = t + np.pi * labels
    points = np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1) + rng.normal(0.0, 0.3, (n, 2))
    return points, labels


def _xor(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.choice([-1.0, 1.0], size=(n, 2))
    points = centres + rng.normal(0.0, 0.35, (n, 2))
    return points, (centres[:, 0] * centres[:, 1] < 0).astype(np.int64)


def _blobs(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % 3
    centres = np.array([[-4.0, -2.0], [0.0, 4.0], [4.0, -2.0]])
    return centres[labels] + rng.normal(0.0, 1.5, (n, 2)), labels


def _sine(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-3.0, 3.0, n)
    return x[:, None], np.sin(2.0 * x) + 0.5 * x + rng.normal(0.0, 0.1, n)


GENERATORS = {"moons": _moons, "circles": _circles, "spirals": _spirals, "xor": _xor, "blobs": _blobs,
              "sine": _sine}
CLASSES = {"moons": 2, "circles": 2, "spirals": 2, "xor": 2, "blobs": 3, "sine": 0}
DESCRIPTIONS = {
    "moons": "two interleaving half-moons (2 classes)",
    "circles": "two concentric circles (2 classes)",
    "spirals": "two interleaved spirals (2 classes)",
    "xor": "XOR of four Gaussian blobs (2 classes)",
    "blobs": "three Gaussian blobs (3 classes)",
    "digits": "8×8 handwritten digits, scikit-learn's bundled set (10 classes)",
    "sine": "1-D regression y = sin 2x + x/2 + noise",
}


def names() -> list[str]:
    """Every data set name."""
    return list(DESCRIPTIONS)


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant features (digits' blank corner pixels) stay 0
    return (train - mean) / std, (test - mean) / std


def _raw(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Unstandardized (x_train, y_train, x_test, y_test)."""
    rng = np.random.default_rng(DATA_SEED)
    if name == "digits":
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
        order = rng.permutation(len(y))
        test = int(round(DIGITS_TEST_FRACTION * len(y)))
        return x[order[test:]], y[order[test:]], x[order[:test]], y[order[:test]]
    x, y = GENERATORS[name](rng, GENERATED_TRAIN + GENERATED_TEST)
    return x[:GENERATED_TRAIN], y[:GENERATED_TRAIN], x[GENERATED_TRAIN:], y[GENERATED_TRAIN:]


@cache
def load(name: str) -> Dataset:
    """Data set ``name``, standardized, with read-only arrays (built once per process)."""
    if name not in DESCRIPTIONS:
        raise ValueError(f"Invalid dataset value: {name!r} (must be one of {', '.join(names())})")
    x_train, y_train, x_test, y_test = _raw(name)
    x_train, x_test = _standardize(np.asarray(x_train, np.float64), np.asarray(x_test, np.float64))
    classes = CLASSES.get(name, 10)
    if classes:
        y_train, y_test = np.asarray(y_train, np.int64), np.asarray(y_test, np.int64)
    else:
        y_train, y_test = (v.ravel() for v in _standardize(np.asarray(y_train, np.float64)[:, None],
                                                            np.asarray(y_test, np.float64)[:, None]))
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train, x_test, y_test)]
    for array in arrays:
        array.flags.writeable = False
    return Dataset(name, *arrays, classes=classes, description=DESCRIPTIONS[name])
