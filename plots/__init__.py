"""Plotly figure builders for races and landscapes (never imports streamlit).

>>> import landscapes, optimizers, plots
>>> s = landscapes.get("rosenbrock")
>>> race = {name: optimizers.run(s, name, steps=200, lr=1e-3) for name in ("sgd", "adam")}
>>> figure = plots.race_figure(s, race)
"""

from .curves import curves_figure, summary_rows, surface_figure
from .race import frame_steps, race_figure

__all__ = ["curves_figure", "frame_steps", "race_figure", "summary_rows", "surface_figure"]
