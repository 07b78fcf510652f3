"""Plotly figure builders for races and landscapes (never imports streamlit).

>>> import landscapes, optimizers, plots
>>> s = landscapes.get("rosenbrock")
>>> race = {name: optimizers.run(s, name, steps=200, lr=1e-3) for name in ("sgd", "adam")}
>>> figure = plots.race_figure(s, race)
"""

from .curves import distance_figure, loss_figure, summary_rows, surface_figure
from .landscape import Grid, evaluate_grid
from .race import frame_steps, race_figure

__all__ = ["Grid", "distance_figure", "evaluate_grid", "frame_steps", "loss_figure", "race_figure",
           "summary_rows", "surface_figure"]
