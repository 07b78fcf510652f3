"""Live sliders: for each optimizer of a race, its ρ (and its main second hyper-parameter) over the slider's whole
range, computed at once so that the browser can redraw the path while the slider is dragged.

A *family* is one batched ``optimizers.run`` call: every value of one hyper-parameter's slider grid, every other
setting as the race has it (start, steps, schedule, noise seed, minibatch seed), and ``stream_row=0`` so that every
row draws the noise and minibatches of stream 0, which is the stream a one-row race uses. Row j of a family is
therefore the race that a fresh run at value j computes (``tests/test_live.py`` checks it per row), not an
interpolation. Which hyper-parameters are live: ρ for every optimizer, and the first setting its legend names
(``optimizers.catalogue.LEGEND``) where a linear slider holds it: α for momentum, Nesterov and MADGRAD, β₁ for the
Adam family, Lion and the other modern Adam variants, ρ_r for RMSprop, ρ_d for Adadelta, c for Adafactor.

A race's families are bounded twice: their estimated compute time (``LIVE_SECONDS``, or what the compute budget
leaves; grids are thinned, then second sliders dropped) and the bytes sent to the browser (``MAX_LIVE_BYTES``,
shared among the sliders; paths are thinned on coarser lattices).
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
LIVE_SECONDS = 4.0  # all of a race's families, estimated (``budget``), at most: their grids are thinned to fit it (a
# network slice's; an analytic surface's families cost a few hundredths of a second each and fit whole)
MIN_POSITIONS = 9  # ... down to at most this many positions per slider
MAX_LIVE_BYTES = 850_000  # a race's packed paths (the rest of its live data, labels and losses, is a few per cent)


class LiveSlider(NamedTuple):
    """One live slider: optimizer ``optimizer``'s hyper-parameter ``key`` over ``values``, now at ``values[index]``."""

    optimizer: str
    key: str  # the keyword, or a pair's half: "lr", "momentum", "alpha", "beta1", ...
    values: np.ndarray
    index: int

    @property
    def symbol(self) -> str:
        return catalogue.spec(self.key, self.optimizer).symbol

    @property
    def label(self) -> str:
        """What a screen reader reads: the hyper-parameter, in words, and its optimizer ("ρ learning rate of sgd")."""
        spec = catalogue.spec(self.key, self.optimizer)
        words = " ".join(spec.label.split())
        if words == spec.symbol:  # a bare symbol (β₁): the doc's words instead
            words = spec.doc.split(":")[0]
        return f"{words} of {self.optimizer}"


def live_keys(optimizer: str) -> tuple[str, ...]:
    """The live hyper-parameters of ``optimizer``: ρ, then the first setting its legend names (a pair's first half)
    if a linear slider holds it."""
    keys = ["lr"]
    for key in catalogue.LEGEND.get(optimizer, ())[:1]:
        spec = catalogue.spec(key, optimizer)
        key = spec.parts[0] if spec.kind == "pair" else key
        second = catalogue.spec(key, optimizer)
        if second.kind == "number" and second.ui is not None and not second.log:
            keys.append(key)
    return tuple(keys)


def grid(key: str, current: float, optimizer: str | None = None) -> np.ndarray:
    """A live slider's positions: a log-scaled keyword's select-slider options (``losslab.grids``: ρ's), else every
    ``SECOND_STEP`` of its slider range; the current value is always one of them."""
    spec = catalogue.spec(key, optimizer)
    if spec.log:
        values = np.asarray(LOG_GRIDS[key], dtype=float)
    else:
        low, high = spec.ui
        values = np.round(np.arange(low, high + SECOND_STEP / 2, SECOND_STEP), 6)
        values = values[values <= high]
    return np.unique(np.append(values, float(current)))


def fitted(config: race.RaceConfig, slider: LiveSlider, seconds: float) -> LiveSlider:
    """``slider`` with as many positions as a family within ``seconds`` (``budget.family_cost``) affords, at least
    ``MIN_POSITIONS``: a log grid keeps a window around the current value, a linear grid a coarser step; the current
    value stays a position."""
    fit = len(slider.values)
    while fit > MIN_POSITIONS and budget.family_cost(config, slider.optimizer, fit).seconds > seconds:
        fit = max(MIN_POSITIONS, fit * 2 // 3)
    if fit == len(slider.values):
        return slider
    values, index = slider.values, slider.index
    if catalogue.spec(slider.key, slider.optimizer).log:
        low = min(max(index - fit // 2, 0), len(values) - fit)
        chosen = values[low:low + fit]
    else:  # both ends and the current value stay
        stride = -(-len(values) // fit)
        chosen = np.unique(np.concatenate([values[::stride], values[[index, -1]]]))
    return slider._replace(values=chosen, index=int(np.searchsorted(chosen, values[index])))


def _pair_of(optimizer: str, hyper: dict[str, Any], key: str) -> tuple[str, int] | None:
    """(the pair keyword, the half) that holds ``key`` in ``hyper`` (``beta1``: ("betas", 0)), None for a keyword."""
    for name in hyper:
        spec = catalogue.spec(name, optimizer)
        if spec.kind == "pair" and key in spec.parts:
            return name, spec.parts.index(key)
    return None


def current_value(hyper: dict[str, Any], key: str, optimizer: str | None = None) -> float:
    """The race's value of live keyword ``key`` (``beta1`` is the first half of ``betas``)."""
    pair = _pair_of(optimizer, hyper, key)
    return float(hyper[key] if pair is None else hyper[pair[0]][pair[1]])


def with_value(hyper: dict[str, Any], key: str, value: Any, optimizer: str | None = None) -> dict[str, Any]:
    """``hyper`` with live keyword ``key`` at ``value`` (a number, or per-row values)."""
    pair = _pair_of(optimizer, hyper, key)
    if pair is None:
        return {**hyper, key: value}
    name, half = pair
    return {**hyper, name: tuple(value if i == half else v for i, v in enumerate(hyper[name]))}


def _candidates(config: race.RaceConfig, keys: int, seconds: float) -> list[LiveSlider]:
    """Each optimizer's first ``keys`` live sliders, fitted to an equal share of ``seconds``."""
    share = seconds / max(1, sum(len(live_keys(name)[:keys]) for name in config.optimizers))
    found = []
    for name, hyper in config.optimizers.items():
        for key in live_keys(name)[:keys]:
            value = current_value(hyper, key, name)
            values = _accepted(name, hyper, key, grid(key, value, name))
            found.append(fitted(config, LiveSlider(name, key, values, int(np.searchsorted(values, value))), share))
    return found


def sliders(config: race.RaceConfig, seconds: float = LIVE_SECONDS) -> list[LiveSlider]:
    """Every live slider of the race, in the race's optimizer order, their families fitted to cost ``seconds``
    together (``budget``'s estimate). A race whose families cost more even thinned (a network slice with many
    optimizers and steps: a grid is not thinned below ``MIN_POSITIONS``) gets ρ's sliders alone, then ρ's of as
    many of its first optimizers as fit, or none."""
    def fits(found: list[LiveSlider]) -> bool:
        return budget.live_cost(config, [(slider.optimizer, len(slider.values)) for slider in found]).seconds <= seconds

    for keys in (2, 1):
        found = _candidates(config, keys, seconds)
        if fits(found):
            return found
    while found and not fits(found):  # ρ's sliders of the first optimizers that fit
        found = found[:-1]
    return found


def seconds_left(spent: float, budget_s: float | None = None) -> float:
    """What a request's live sliders may cost: ``LIVE_SECONDS``, or what the compute budget (``budget.limit``) leaves
    after ``spent`` seconds of the rest, whichever is less. Live sliders never make a race exceed the budget."""
    return max(0.0, min(LIVE_SECONDS, budget.limit(budget_s) - spent))


def limited(config: race.RaceConfig, seconds: float = LIVE_SECONDS) -> str:
    """Why some of the race's live sliders are off ("" when none is), ``seconds`` as ``sliders`` takes it."""
    chosen = sliders(config, seconds)
    if len(chosen) == sum(len(live_keys(name)) for name in config.optimizers):
        return ""
    live_optimizers = {slider.optimizer for slider in chosen}
    what = ("No slider is live" if not chosen else "Only ρ is live" if len(live_optimizers) == len(config.optimizers)
            else f"Only ρ of {', '.join(name for name in config.optimizers if name in live_optimizers)} is live")
    why = ("the race itself takes the whole compute budget" if seconds < 0.05 else
           f"its live families would take over {seconds:.1f} s of one core to compute, what the compute budget leaves")
    return f"{what} in this race: {why}. Fewer steps or optimizers (or a smaller network) bring them back."


def commit(message: Any, offered: dict[str, tuple[str, ...]]) -> tuple[str, str, float] | None:
    """(optimizer, keyword, value) of a released live slider's message from the browser, if it names a slider the
    page ``offered`` (optimizer → its live keywords) and a finite value within that slider's range; else None. The
    one check of what the race component sends (a page never trusts it further)."""
    if not isinstance(message, dict) or message.get("kind") != "commit":
        return None
    name, key, value = message.get("optimizer"), message.get("key"), message.get("value")
    if not isinstance(name, str) or not isinstance(key, str) or key not in offered.get(name, ()) or \
            isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    low, high = catalogue.spec(key, name).ui
    return (name, key, float(value)) if low <= value <= high else None


def _accepted(name: str, hyper: dict[str, Any], key: str, values: np.ndarray) -> np.ndarray:
    """``values`` without the ends that ``name`` refuses with its other settings (Nesterov takes no α = 0)."""
    def accepted(value: float) -> bool:
        try:
            hyperparams.resolve(name, with_value(hyper, key, value, name))
        except ValueError:
            return False
        return True

    low, high = (0 if accepted(values[0]) else 1), (len(values) if accepted(values[-1]) else len(values) - 1)
    return values[low:high]


def family(config: race.RaceConfig, slider: LiveSlider, surface: Any = None) -> optimizers.Trajectory:
    """The race of ``slider.optimizer`` at every value of the slider: row j is the race at ``slider.values[j]``."""
    if len(slider.values) > MAX_LIVE_ROWS:
        raise ValueError(f"Invalid live slider: {len(slider.values)} positions (at most {MAX_LIVE_ROWS})")
    surface = surface if surface is not None else config.landscape()
    arguments = config.engine_arguments(slider.optimizer, surface)
    arguments.update(with_value(config.optimizers[slider.optimizer], slider.key, slider.values, slider.optimizer))
    return optimizers.run(surface, slider.optimizer, stream_row=0, **arguments)


def committed(config: race.RaceConfig, slider: LiveSlider, index: int) -> race.RaceConfig:
    """The race with ``slider`` released at position ``index`` (what the page commits)."""
    if not 0 <= int(index) < len(slider.values):
        raise ValueError(f"Invalid position value: {index!r} (must be an integer in [0, {len(slider.values) - 1}])")
    hyper = with_value(config.optimizers[slider.optimizer], slider.key, float(slider.values[int(index)]),
                       slider.optimizer)
    return replace(config, optimizers={**config.optimizers, slider.optimizer: hyper})


class Packed(NamedTuple):
    """One slider's family as the page takes it: its legend entry per position and its paths packed
    (``plots.live.pack_family``)."""

    slider: LiveSlider
    names: list[str]
    family: dict[str, Any]


def bytes_each(chosen: list[LiveSlider] | tuple[LiveSlider, ...]) -> int:
    """Each family's share of ``MAX_LIVE_BYTES`` in a race with the sliders ``chosen``."""
    return MAX_LIVE_BYTES // max(1, len(chosen))


def packed(config: race.RaceConfig, name: str, surface: Any = None,
           chosen: list[LiveSlider] | tuple[LiveSlider, ...] | None = None, max_bytes: int | None = None
           ) -> list[Packed]:
    """Optimizer ``name``'s live sliders (``chosen``: default, its part of the race's ``sliders``) with their
    families computed and packed, each within ``max_bytes`` (default ``bytes_each`` of the race's sliders): what a
    page caches per optimizer, so that moving one optimizer's slider recomputes its families alone."""
    surface = surface if surface is not None else config.landscape()
    if chosen is None or max_bytes is None:
        every = sliders(config)
        chosen = [slider for slider in every if slider.optimizer == name] if chosen is None else chosen
        max_bytes = bytes_each(every) if max_bytes is None else max_bytes
    hyper = config.optimizers[name]
    found = []
    for slider in chosen:
        run = family(config, slider, surface)
        names = [catalogue.legend_label(name, with_value(hyper, slider.key, float(v), name)) for v in slider.values]
        found.append(Packed(slider, names, plots.live.pack_family(run.points, run.losses, run.diverged_at,
                                                                  run.diverged_reason, surface.bounds, max_bytes)))
    return found


def live_spec(config: race.RaceConfig, figure: Any, surface: Any = None,
              families: dict[str, list[Packed]] | None = None, figure_id: str = "", compact: bool = False,
              seconds: float = LIVE_SECONDS, linked_lr: bool = False) -> dict[str, Any]:
    """The race ``figure`` (``plots.race_figure`` of ``config``) with every live slider, as the page and the
    exported HTML take it (``plots.live.spec``); ``families``: each optimizer's ``packed`` sliders, if the caller
    has them (else computed, ``seconds`` as ``sliders`` takes it); ``compact``: drawn in a page's column;
    ``linked_lr``: one ρ for all, its sliders moving together (``plots.live.spec``)."""
    surface = surface if surface is not None else config.landscape()
    figure = figure if isinstance(figure, dict) else figure.to_plotly_json()
    if families is None:
        chosen = sliders(config, seconds)
        families = {name: packed(config, name, surface, [s for s in chosen if s.optimizer == name], bytes_each(chosen))
                    for name in config.optimizers}
    specs = [plots.live.slider_spec(figure, name, one.slider.key, one.slider.symbol, one.slider.label,
                                    one.slider.values, one.slider.index, one.names, one.family)
             for name in config.optimizers for one in families[name]]
    return plots.live.spec(figure, surface.bounds, specs, figure_id or repr(config), compact, linked_lr)
