"""Moving between the pages in a real browser: the sidebar links, a click on a Sweeps map cell that opens the
cell on Explore, the browser's Back button, and a page URL opened directly (through the router) with a hostile
query: every page keeps drawing its charts and never shows a traceback."""

from __future__ import annotations

import random
from urllib.parse import urlencode

from losslab import config_io, maps, race

from .conftest import nav_link, path_names, paths, query, race_state, wait_for_path, wait_idle

DEFAULT_MAP = maps.MapConfig(surface_params={"a": 1.0, "b": 100.0}, lr_range=(1e-5, 1.0))  # the page's defaults

# The last Sweeps map on the page (a stale and a new chart can both be in the DOM): its title, traces, and the
# invisible click grid's cells with their (ρ, y) and hover text.
MAP_STATE = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g._fullData && g._fullData.some(t => t.name === 'cells'));
  if (!charts.length) return null;
  const chart = charts[charts.length - 1];
  const grid = chart._fullData.find(t => t.name === 'cells');
  return {
    title: String(chart.layout.title.text),
    traces: chart._fullData.map(t => ({type: t.type, name: String(t.name || '')})),
    cells: Array.from(grid.x, (x, i) => ({x: x, y: grid.y[i], data: grid.customdata[i], text: grid.text[i]})),
  };
}"""

# Client coordinates of point (x, y) in the last map's data coordinates, after scrolling the map into view.
POINT_PIXEL = """([x, y]) => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g._fullData && g._fullData.some(t => t.name === 'cells'));
  const chart = charts[charts.length - 1];
  chart.scrollIntoView({block: 'center', behavior: 'instant'});
  const box = chart.getBoundingClientRect(), xaxis = chart._fullLayout.xaxis, yaxis = chart._fullLayout.yaxis;
  return [box.left + xaxis._offset + xaxis.l2p(x), box.top + yaxis._offset + yaxis.l2p(y)];
}"""


def map_state(page, timeout: float = 60_000) -> dict:
    """Wait for a Sweeps map to be drawn, then read it."""
    page.wait_for_function(f"() => ({MAP_STATE})() !== null", timeout=timeout)
    return page.evaluate(MAP_STATE)


def assert_router_and_no_error(page) -> None:
    """The page was run by losslab/app/router.py (title and both nav links) and shows no exception."""
    page.get_by_role("heading", name="Loss Landscape Lab").wait_for()
    assert nav_link(page, "Explore").count() == 1 and nav_link(page, "Sweeps").count() == 1
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.content()


def test_sweeps_map_click_opens_the_cell_on_explore_and_back_returns(page, app_url, artifacts):
    page.goto(app_url)
    race_state(page)
    nav_link(page, "Sweeps").click()
    page.wait_for_url("**/sweeps*")
    drawn = map_state(page)
    assert drawn["title"].startswith("momentum on rosenbrock")
    assert f"{DEFAULT_MAP.steps} steps · {DEFAULT_MAP.cells} × {DEFAULT_MAP.cells} cells" in drawn["title"]
    types = {trace["name"].split(" (")[0]: trace["type"] for trace in drawn["traces"]}
    assert types["diverged"] == "scatter" and types["divergence boundary"] == "scatter"
    assert "heatmap" in types.values() and types["cells"] == "scatter"
    assert len(drawn["cells"]) == 32 * 32  # plots.sweeps.CLICK_CELLS per axis
    assert_router_and_no_error(page)
    page.screenshot(path=str(artifacts / "sweeps-map.png"), full_page=True)

    converged = [cell for cell in drawn["cells"] if "diverged" not in cell["text"]]
    cell = random.Random(8).choice(converged)
    lr, momentum = cell["data"]
    x, y = page.evaluate(POINT_PIXEL, [cell["x"], cell["y"]])
    page.mouse.click(x, y)

    opened = race_state(page)  # Explore, with the cell's configuration
    wait_for_path(page, "/")
    assert path_names(opened) == ["momentum"]
    expected = maps.race_config(DEFAULT_MAP, lr, momentum)
    trajectory = paths(opened)[0]
    assert len(trajectory["x"]) == expected.steps + 1
    assert [trajectory["x"][0], trajectory["y"][0]] == list(expected.start_point())
    url_config, messages = race.from_query(query(page))
    assert messages == [] and config_io.config_dict(url_config) == config_io.config_dict(expected)
    assert_router_and_no_error(page)

    page.go_back()
    page.wait_for_url("**/sweeps*")
    assert map_state(page)["title"] == drawn["title"]
    assert_router_and_no_error(page)


def test_sweeps_url_opened_directly_with_a_hostile_query_goes_through_the_router(page, app_url):
    hostile = "?cells=abc&sweeps.steps=-5&surface=%3Cscript%3E&lr=nan&junk=" + "x" * 10_000
    page.goto(app_url + "/sweeps" + hostile)
    drawn = map_state(page)
    assert drawn["title"].startswith("momentum on rosenbrock")  # every bad value fell back to its default
    page.locator('[data-testid="stAlert"]').filter(has_text="cells").first.wait_for()  # ... with a message
    assert_router_and_no_error(page)

    # a reversed learning-rate range (from the end of the scale) is reported on the page, not raised
    page.get_by_role("slider", name="learning rate ρ: from").first.focus()
    page.keyboard.press("End")
    page.locator('[data-testid="stAlert"]').filter(has_text="lr_range").first.wait_for()
    wait_idle(page)
    assert page.evaluate(MAP_STATE) is None  # no map for an invalid range
    assert_router_and_no_error(page)
    page.get_by_role("slider", name="learning rate ρ: from").first.focus()
    page.keyboard.press("Home")
    page.wait_for_function(f"() => ({MAP_STATE})() !== null")
    assert_router_and_no_error(page)

    nav_link(page, "Explore").click()
    state = race_state(page)
    assert path_names(state) == list(race.DEFAULT_OPTIMIZERS)
    assert_router_and_no_error(page)


def test_a_sweeps_url_opens_its_map_and_the_page_writes_it_back(page, app_url):
    settings = {"surface": "beale", "steps": "300", "noise": "0.5", "cells": "16", "lr_range": "0.0001,0.1",
                "y_range": "0.0,0.9"}
    page.goto(app_url + "/sweeps?" + urlencode(settings))
    drawn = map_state(page)
    assert drawn["title"].startswith("momentum on beale") and "300 steps · 16 × 16 cells" in drawn["title"]
    wait_idle(page)
    assert query(page) == settings  # a Sweeps URL round-trips exactly
    assert page.locator('[data-testid="stAlert"]').count() == 0
    assert_router_and_no_error(page)
