"""Streamlit entry point (placeholder until the Explore page lands): a contour of the default surface."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

import landscapes
import optimizers

st.set_page_config(page_title="Loss Landscape Lab", layout="wide")
st.title("Loss Landscape Lab")
surface = landscapes.get("quadratic", condition=50.0)
(xmin, xmax), (ymin, ymax) = surface.bounds
x, y = np.linspace(xmin, xmax, 200), np.linspace(ymin, ymax, 200)
z = surface.value(np.stack(np.meshgrid(x, y), axis=-1))
figure = go.Figure(go.Contour(x=x, y=y, z=np.log10(z + 1e-3), colorscale="Viridis", showscale=False))
for name in ("sgd", "momentum", "rmsprop", "adam"):
    points = optimizers.run(surface, name, steps=200, lr=0.02 if name in ("sgd", "momentum") else 0.05).points[0]
    figure.add_trace(go.Scatter(x=points[:, 0], y=points[:, 1], mode="lines", name=name))
figure.update_layout(title="quadratic, κ = 50", height=600)
st.plotly_chart(figure)
