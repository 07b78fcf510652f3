"""Live sliders: for each optimizer of a race, its ρ (and its main second hyper-parameter) over the slider's whole
range, computed at once so that the browser can redraw the path while the slider is dragged.

A *family* is one batched ``optimizers.run`` call: every value of one hyper-parameter's slider grid, every other
setting as the race has it (start, steps, schedule, noise seed, minibatch seed), and ``stream_row=0`` so that every
row draws the noise and minibatches of stream 0, which is the stream a one-row race uses. Row j of a family is
therefore the race that a fresh run at value j computes (``tests/test_live.py`` checks it per row), not an
interpolation. Which hyper-parameters are live: ρ for every optimizer, and the first setting its legend names
(``optimizers.catalogue.LEGEND``): α for momentum and nesterov, β₁ for the Adam family, ρ_r for RMSprop.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

import optimizers
import plots.live
from optimizers import catalogue, hyperparams

from . import budget, race
from .grids import LOG_GRIDS

SECOND_STEP = 0.005  # a linear hyper-parameter's live grid: every 0.005 of its slider range
MAX_LIVE_ROWS = 512  # rows of one family (a slider's positions): what one tab may ask per slider
FAMILY_SECONDS = 1.0  # a family's estimated cost (``budget``) above which its grid is thinned (network slices)
MIN_POSITIONS = 9  # ... down to at most this many positions


class LiveSlider(NamedTuple):
    """One live slider: optimizer ``optimizer``'s hyper-parameter ``key`` over ``values``, now at ``values[index]``."""

    optimizer: str
    key: str  # the engine keyword's part: "lr", "momentum", "alpha", "beta1"
    values: np.ndarray
    index: int

    @property
    def symbol(self) -> str:
        return catalogue.spec(self.key).symbol

    @property
    def label(self) -> str:
        """What a screen reader reads: the hyper-parameter, in words, and its optimizer."""
        return f"{self.symbol} ({catalogue.spec(self.key).doc.split(':')[0]}) of {self.optimizer}"


def live_keys(optimizer: str) -> tuple[str, ...]:
    """The live hyper-parameters of ``optimizer``: ρ, then the first setting its legend names if a slider holds it."""
    keys = ["lr"]
    for key in catalogue.LEGEND.get(optimizer, ())[:1]:
        spec = catalogue.spec(key)
        key = spec.parts[0] if spec.kind == "pair" else key
        if catalogue.spec(key).ui is not None:
            keys.append(key)
    return tuple(keys)


def grid(key: str, current: float) -> np.ndarray:
    """A live slider's positions: a log-scaled keyword's select-slider options (``losslab.grids``: ρ's), else every
    ``SECOND_STEP`` of its slider range; the current value is always one of them."""
    spec = catalogue.spec(key)
    if spec.log:
        values = np.asarray(LOG_GRIDS[key], dtype=float)
    else:
        low, high = spec.ui
        values = np.round(np.arange(low, high + SECOND_STEP / 2, SECOND_STEP), 6)
        values = values[values <= high]
    return np.unique(np.append(values, float(current)))


def fitted(config: race.RaceConfig, slider: LiveSlider, seconds: float = FAMILY_SECONDS) -> LiveSlider:
    """``slider`` with as many positions as a family within ``seconds`` (``budget.family_cost``) affords, at least
    ``MIN_POSITIONS``: a log grid keeps a window around the current value, a linear grid a coarser step; the current
    value stays a position. An analytic surface's families fit whole."""
    fit = len(slider.values)
    while fit > MIN_POSITIONS and budget.family_cost(config, fit).seconds > seconds:
        fit = max(MIN_POSITIONS, fit * 2 // 3)
    if fit == len(slider.values):
        return slider
    values, index = slider.values, slider.index
    if catalogue.spec(slider.key).log:
        low = min(max(index - fit // 2, 0), len(values) - fit)
        chosen = values[low:low + fit]
    else:
        stride = -(-len(values) // fit)
        chosen = np.unique(np.append(values[::stride], values[index]))
    return slider._replace(values=chosen, index=int(np.searchsorted(chosen, values[index])))


def current_value(hyper: dict[str, Any], key: str) -> float:
    """The race's value of live keyword ``key`` (``beta1`` is the first half of ``betas``)."""
    if key == "beta1":
        return float(hyper["betas"][0])
    return float(hyper[key])


def sliders(config: race.RaceConfig, seconds: float = FAMILY_SECONDS) -> list[LiveSlider]:
    """Every live slider of the race, in the race's optimizer order, each ``fitted`` within ``seconds``."""
    found = []
    for name, hyper in config.optimizers.items():
        for key in live_keys(name):
            value = current_value(hyper, key)
            values = _accepted(name, hyper, key, grid(key, value))
            found.append(fitted(config, LiveSlider(name, key, values, int(np.searchsorted(values, value))), seconds))
    return found


def _accepted(name: str, hyper: dict[str, Any], key: str, values: np.ndarray) -> np.ndarray:
    """``values`` without the ends that ``name`` refuses with its other settings (Nesterov takes no α = 0)."""
    def accepted(value: float) -> bool:
        try:
            hyperparams.resolve(name, with_value(hyper, key, value))
        except ValueError:
            return False
        return True

    low, high = (0 if accepted(values[0]) else 1), (len(values) if accepted(values[-1]) else len(values) - 1)
    return values[low:high]


def with_value(hyper: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``hyper`` with live keyword ``key`` at ``value`` (a number, or per-row values)."""
    if key == "beta1":
        return {**hyper, "betas": (value, hyper["betas"][1])}
    return {**hyper, key: value}


def cost(config: race.RaceConfig, seconds: float = FAMILY_SECONDS) -> budget.Cost:
    """Every live family of the race (``budget.live_cost``)."""
    return budget.live_cost(config, [len(slider.values) for slider in sliders(config, seconds)])


def family(config: race.RaceConfig, slider: LiveSlider, surface: Any = None) -> optimizers.Trajectory:
    """The race of ``slider.optimizer`` at every value of the slider: row j is the race at ``slider.values[j]``."""
    if len(slider.values) > MAX_LIVE_ROWS:
        raise ValueError(f"Invalid live slider: {len(slider.values)} positions (at most {MAX_LIVE_ROWS})")
    surface = surface if surface is not None else config.landscape()
    arguments = config.engine_arguments(slider.optimizer, surface)
    arguments.update(with_value(config.optimizers[slider.optimizer], slider.key, slider.values))
    return optimizers.run(surface, slider.optimizer, stream_row=0, **arguments)


def committed(config: race.RaceConfig, slider: LiveSlider, index: int) -> race.RaceConfig:
    """The race with ``slider`` released at position ``index`` (what the page commits)."""
    if not 0 <= int(index) < len(slider.values):
        raise ValueError(f"Invalid position value: {index!r} (must be an integer in [0, {len(slider.values) - 1}])")
    hyper = with_value(config.optimizers[slider.optimizer], slider.key, float(slider.values[int(index)]))
    return replace(config, optimizers={**config.optimizers, slider.optimizer: hyper})


class Packed(NamedTuple):
    """One slider's family as the page takes it: its legend entry per position and its paths packed
    (``plots.live.pack_family``)."""

    slider: LiveSlider
    names: list[str]
    family: dict[str, Any]


def packed(config: race.RaceConfig, name: str, surface: Any = None) -> list[Packed]:
    """Optimizer ``name``'s live sliders with their families computed and packed (what a page caches per
    optimizer: moving one optimizer's slider recomputes its families alone)."""
    surface = surface if surface is not None else config.landscape()
    hyper = config.optimizers[name]
    found = []
    for slider in sliders(config.only(name)):
        run = family(config, slider, surface)
        names = [catalogue.legend_label(name, with_value(hyper, slider.key, float(v))) for v in slider.values]
        found.append(Packed(slider, names, plots.live.pack_family(run.points, run.losses, run.diverged_at,
                                                                  run.diverged_reason, surface.bounds)))
    return found


def live_spec(config: race.RaceConfig, figure: Any, surface: Any = None,
              families: dict[str, list[Packed]] | None = None, figure_id: str = "", compact: bool = False
              ) -> dict[str, Any]:
    """The race ``figure`` (``plots.race_figure`` of ``config``) with every live slider, as the page and the
    exported HTML take it (``plots.live.spec``); ``families``: each optimizer's ``packed`` sliders, if the caller
    has them; ``compact``: drawn in a page's column (``plots.live.spec``)."""
    surface = surface if surface is not None else config.landscape()
    figure = figure if isinstance(figure, dict) else figure.to_plotly_json()
    families = families if families is not None else {name: packed(config, name, surface) for name in config.optimizers}
    specs = [plots.live.slider_spec(figure, name, one.slider.key, one.slider.symbol, one.slider.label,
                                    one.slider.values, one.slider.index, one.names, one.family)
             for name in config.optimizers for one in families[name]]
    return plots.live.spec(figure, surface.bounds, specs, figure_id or repr(config), compact)
