"""Figures served from a cache to every rerun: their plain dict computed once."""

from __future__ import annotations

import plotly.graph_objects as go


def freeze(figure: go.Figure) -> go.Figure:
    """Compute the figure's plain dict once: ``st.plotly_chart`` calls ``to_dict()`` (a deep copy plus a
    base64 pass, ~0.1 s for a race) on every rerun, even when the cached figure did not change. The figure is
    shared read-only from the cache afterwards, so its dict is too."""
    plain_dict = figure.to_dict()
    figure.to_dict = lambda: plain_dict
    return figure
