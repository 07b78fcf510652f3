"""Real-browser fixtures: one ``streamlit run`` of the app per test session on a free loopback port, driven by
Debian's chromium through Playwright (never ``playwright install``: no downloads here)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from losslab.app.live_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

# The last race chart on the page (during a rerun a stale and a new chart can both be in the DOM) as plain data:
# every trace's name and x/y values, the layout image count, the isolines shape and the animation slider.
RACE_STATE = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g._fullLayout && g.layout.title && String(g.layout.title.text || '').includes('steps'));
  if (!charts.length || !charts[charts.length - 1]._fullData) return null;
  const chart = charts[charts.length - 1];
  return {
    title: String(chart.layout.title.text),
    traces: chart._fullData.map(t => ({name: String(t.name || ''), x: Array.from(t.x || []),
                                       y: Array.from(t.y || [])})),
    images: chart.querySelectorAll('.layer-below .imagelayer image, .imagelayer image').length,
    isolines: [...chart.querySelectorAll('.shapelayer path')].filter(p => (p.getAttribute('d') || '').length > 1000)
      .length,
    frame: chart._fullLayout.sliders && chart._fullLayout.sliders.length ? chart._fullLayout.sliders[0].active : null,
    frames: (chart._transitionData && chart._transitionData._frames || []).length,
  };
}"""


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1400, "height": 1100}, "accept_downloads": True}


@pytest.fixture(scope="session")
def context(browser, browser_context_args):
    """One browser context for the session (pytest-playwright makes one per test): its HTTP and code caches make
    each later page load of the app ≈ 3 s faster here. Each test still gets its own page, so its own session."""
    shared = browser.new_context(**browser_context_args)
    yield shared
    shared.close()


@pytest.fixture
def page(context):
    """A fresh page for the test; it and any page the test opened are closed afterwards."""
    before = set(context.pages)
    yield context.new_page()
    for opened in context.pages:
        if opened not in before:
            opened.close()


@pytest.fixture(scope="session")
def app_url():
    """A live server for the whole session; stopped (by its PID) when the session ends."""
    with streamlit_server() as server:
        yield server.url


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def race_state(page, timeout: float = 60_000, changed_from: dict | None = None) -> dict:
    """Wait for the race chart to be drawn (and differ from ``changed_from``'s paths), then read it. Polled every
    100 ms, not every animation frame: each check copies every path, on the thread that draws the page."""
    page.wait_for_function(
        f"(old) => {{ const s = ({RACE_STATE})(); if (!s) return false;"
        " const paths = s.traces.filter(t => /^(sgd|momentum|nesterov|rmsprop|adam|adagrad|adamw)\\b/.test(t.name));"
        " if (!paths.length) return false;"
        " return old === null || JSON.stringify(paths) !== JSON.stringify(old); }",
        arg=None if changed_from is None else paths(changed_from), timeout=timeout, polling=100)
    return page.evaluate(RACE_STATE)


def paths(state: dict) -> list[dict]:
    """The optimizers' path traces of a race state, in legend order."""
    names = ("sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad", "adamw")
    return [t for t in state["traces"] if t["name"].split(" ")[0] in names]


def path_names(state: dict) -> list[str]:
    """The optimizers racing in a race state, in legend order (a path's legend name starts with its optimizer)."""
    return [t["name"].split(" ")[0] for t in paths(state)]


def query(page) -> dict[str, str]:
    """The page URL's query parameters (the last value of each), read from the page: Playwright's ``page.url``
    can lag one history entry behind Streamlit's page switches."""
    return {key: values[-1] for key, values in parse_qs(urlsplit(page.evaluate("location.href")).query).items()}


def wait_idle(page, timeout: float = 60_000) -> None:
    """Wait until the app's script is not running (Streamlit marks its root with the script's run state)."""
    page.wait_for_function(
        "() => { const app = document.querySelector('[data-testid=\"stApp\"]');"
        " return app && app.dataset.testScriptState === 'notRunning'; }", timeout=timeout)


def wait_for_path(page, path: str) -> None:
    """Wait until the page's own location (not Playwright's ``page.url``, which can lag) has this path."""
    page.wait_for_function("(path) => location.pathname.replace(/\\/$/, '') === path", arg=path.rstrip("/"))


def nav_link(page, title: str):
    """The sidebar navigation link of the page called ``title``."""
    return page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title)
