"""Real-browser fixtures: one ``streamlit run`` of the app per test session on a free loopback port, driven by
Debian's chromium through Playwright (never ``playwright install``: no downloads here)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError

import optimizers
from losslab.app.live_server import CHROMIUM, CHROMIUM_ARGS, streamlit_server

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

RACE_FRAME = 'iframe[title="losslab.app.live_race.live_race"]'  # the race with its live sliders (a component)

# The race chart in its component's frame as plain data: every trace's name and x/y values, the layout image count,
# the isolines shape, the animation slider and the count of live repaints.
RACE_STATE = """() => {
  const charts = [...document.querySelectorAll('.live-race-chart.js-plotly-plot')]
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
    repaints: Number(chart.dataset.repaints || 0),
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


def race_frame(page, timeout: float = 60_000):
    """The frame of the race component (the live sliders and the chart), once it is attached."""
    return page.wait_for_selector(RACE_FRAME, state="attached", timeout=timeout).content_frame()


def race_state(page, timeout: float = 60_000, changed_from: dict | None = None) -> dict:
    """Wait for the race chart to be drawn (and differ from ``changed_from``'s paths), then read it. Polled every
    100 ms, not every animation frame: each check copies every path, on the thread that draws the page. The
    component's frame is looked up on every poll: a page switch replaces it."""
    deadline = time.monotonic() + timeout / 1000
    old = None if changed_from is None else paths(changed_from)
    while True:
        try:
            handle = page.query_selector(RACE_FRAME)
            frame = handle.content_frame() if handle else None
            state = frame.evaluate(RACE_STATE) if frame else None
        except PlaywrightError:  # the frame was replaced while it was read
            state = None
        if state and paths(state) and (old is None or paths(state) != old):
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"no race drawn{'' if old is None else ' that differs'} within {timeout / 1000:.0f} s")
        page.wait_for_timeout(100)


def paths(state: dict) -> list[dict]:
    """The optimizers' path traces of a race state, in legend order."""
    names = optimizers.names()
    return [t for t in state["traces"] if t["name"].split(" ")[0] in names and not t["name"].endswith(" diverged")]


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


def open_expander(page, label: str) -> None:
    """Open the expander whose summary shows ``label`` (an optimizer's in the sidebar, the export settings: their
    widgets are drawn by the rerun the opening starts) and wait until that run has drawn them and finished."""
    expander = page.locator('[data-testid="stExpander"]').filter(has_text=label).first
    expander.locator("summary").click()
    expander.locator('[data-testid="stElementContainer"]').first.wait_for()
    wait_idle(page)
    box = None
    for _ in range(50):  # the expander grows (animated) as its widgets arrive: a click on one must wait for it
        if (now := expander.bounding_box()) == box:
            return
        box = now
        page.wait_for_timeout(100)


def wait_for_path(page, path: str) -> None:
    """Wait until the page's own location (not Playwright's ``page.url``, which can lag) has this path."""
    page.wait_for_function("(path) => location.pathname.replace(/\\/$/, '') === path", arg=path.rstrip("/"))


def nav_link(page, title: str):
    """The sidebar navigation link of the page called ``title``."""
    return page.locator('[data-testid="stSidebarNav"] a').filter(has_text=title)
