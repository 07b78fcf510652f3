"""The network surfaces' data: shapes, standardization, classes, determinism, bad names."""

from __future__ import annotations

import numpy as np
import pytest

from landscapes import datasets

NAMES = datasets.names()


def test_every_set_the_issue_names_is_there():
    assert {"moons", "circles", "spirals", "xor", "blobs", "digits", "sine"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_targets(name):
    data = datasets.load(name)
    n_train, n_test = len(data.y_train), len(data.y_test)
    assert data.x_train.shape == (n_train, data.features) and data.x_test.shape == (n_test, data.features)
    assert n_train > n_test > 0
    if data.is_regression:
        assert data.outputs == 1 and data.y_train.dtype == np.float64
    else:
        assert data.y_train.dtype == np.int64 and data.outputs == data.classes >= 2
        assert set(np.unique(data.y_train)) == set(range(data.classes))  # every class in the train split
        assert set(np.unique(data.y_test)) <= set(range(data.classes))
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        assert np.all(np.isfinite(array))
        assert not array.flags.writeable


def test_sizes():
    assert datasets.load("moons").x_train.shape == (datasets.GENERATED_TRAIN, 2)
    digits = datasets.load("digits")
    assert digits.features == 64 and digits.classes == 10
    assert len(digits.y_train) + len(digits.y_test) == 1797


@pytest.mark.parametrize("name", NAMES)
def test_train_features_are_standardized(name):
    data = datasets.load(name)
    spread = data.x_train.std(axis=0)
    varying = spread > 0  # digits has pixels that are blank in every image: they stay 0
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(spread[varying], 1.0, rtol=1e-12)
    assert np.all(data.x_train[:, ~varying] == 0)
    if data.is_regression:
        assert abs(data.y_train.mean()) < 1e-12 and data.y_train.std() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_test_split_uses_the_train_statistics(name):
    """Standardization is one affine map for both splits, fitted on train: the raw test data map onto x_test."""
    raw_train, _, raw_test, _ = datasets._raw(name)
    data = datasets.load(name)
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    np.testing.assert_allclose(data.x_test, (raw_test - mean) / std, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name):
    first = datasets._raw(name)
    second = datasets._raw(name)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert datasets.load(name) is datasets.load(name)  # cached


def test_classification_sets_are_not_trivially_separable_by_one_feature():
    """XOR and circles need a hidden layer: no threshold on one feature gets far past chance."""
    for name in ("xor", "circles"):
        data = datasets.load(name)
        for feature in range(data.features):
            values = data.x_train[:, feature]
            best = max(np.mean((values > t) == data.y_train) for t in np.quantile(values, np.linspace(0, 1, 41)))
            assert max(best, 1 - best) < 0.75, (name, feature, best)


@pytest.mark.parametrize("bad", ["mnist", "", None, 3])
def test_unknown_name_is_a_value_error(bad):
    with pytest.raises(ValueError, match=r"Invalid dataset value: .* \(must be one of moons, circles"):
        datasets.load(bad)
