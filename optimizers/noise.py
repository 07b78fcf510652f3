"""Counter-based randomness: row i's gradient noise and minibatches depend on (seed, stream i, step k) alone.

The noise added at step k to row i is a pure function of (seed, i, k): two 64-bit
SplitMix64 hashes give two uniforms, the Box–Muller transform turns them into the two
coordinates' N(0, 1) draws. No generator state is carried, so a row gets the same noise
whatever the batch it runs in, and a 4096-row sweep draws its noise in O(B) per step
with no Python loop over rows. Used to mimic minibatch sampling (Algorithm 8.1): the
engine adds σ·ξₖ to each gradient.

Real minibatches (:class:`MinibatchDraw`) are keyed the same way: row i's uniforms at step k, one per training
example, are a pure function of (seed, i, k, example), so the examples a row samples do not depend on the other
rows of its batch. A row's stream index is its row index, or one shared ``stream_row`` for a family of rows that
must each reproduce a one-row run (the live sliders: row j of a ρ family equals the race run at ρⱼ alone).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_STEP = np.uint64(0xD6E8FEB86659FD93)
_MINIBATCH = np.uint64(0x8CB92BA72F3D8DD7)  # separates the minibatch uniforms from the noise of the same key


def _splitmix64(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finalizer (Steele, Lea & Flood 2014), wrapping uint64 arithmetic."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def row_keys(seed: int, rows: np.ndarray) -> np.ndarray:
    """One 64-bit key per row from (seed, stream index): ``rows`` holds each row's stream (its index, by default)."""
    seed_key = _splitmix64(np.array([seed], dtype=np.uint64) + _GOLDEN)
    return _splitmix64(seed_key + rows.astype(np.uint64) * _GOLDEN)


def _unit_interval(bits: np.ndarray) -> np.ndarray:
    """Uniforms in (0, 1] from the top 53 bits."""
    return ((bits >> np.uint64(11)).astype(np.float64) + 1.0) * 2.0**-53


def gaussian(keys: np.ndarray, step: int) -> np.ndarray:
    """N(0, 1) draws of shape (len(keys), 2) for step ``step``: row i's from keys[i] alone."""
    first = _splitmix64(keys ^ (np.array([step], dtype=np.uint64) * _STEP + _GOLDEN))
    second = _splitmix64(first ^ _MIX2)
    radius = np.sqrt(-2.0 * np.log(_unit_interval(first)))
    angle = (2.0 * np.pi) * _unit_interval(second)
    return np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)


class MinibatchDraw:
    """Step k's minibatch uniforms for B rows, handed out like ``numpy.random.Generator.random((rows, n))``.

    Row i's uniform for training example j is SplitMix64(kᵢ + j·γ) with kᵢ a hash of (row key i, step k): a pure
    function of (seed, stream, k, j). Surfaces draw their rows in chunks of consecutive rows
    (``minibatch_grad(xy, batch_size, draw)`` calls ``draw.random((rows, examples))`` chunk after chunk), so each
    call continues where the last one stopped, exactly as a generator's stream would.
    """

    def __init__(self, keys: np.ndarray, step: int):
        self.keys = _splitmix64(keys ^ (np.array([step], dtype=np.uint64) * _STEP + _MINIBATCH))
        self.next_row = 0

    def random(self, shape: tuple[int, int]) -> np.ndarray:
        """Uniforms in (0, 1] of shape (rows, examples) for the next ``rows`` rows."""
        rows, examples = shape
        keys = self.keys[self.next_row:self.next_row + rows]
        if keys.shape[0] != rows:
            raise ValueError(f"Invalid draw: {rows} rows asked, {keys.shape[0]} left of {self.keys.shape[0]}")
        self.next_row += rows
        counters = np.arange(examples, dtype=np.uint64) * _GOLDEN
        return _unit_interval(_splitmix64(keys[:, None] + counters[None, :]))
