"""The Gallery page in a real browser: reached from the sidebar link, it draws one panel per optimizer (each the
landscape's image with a path, titled with its best ρ), and its URL holds its settings: a link opens them, a
changed widget is written back."""

from __future__ import annotations

from urllib.parse import urlencode

import optimizers

from .conftest import nav_link, query, race_state, wait_for_path, wait_idle

# The last gallery figure on the page: its title, the panels' titles, how many landscape images and paths it draws.
GALLERY_STATE = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g._fullLayout && String((g.layout.title || {}).text || '').includes('best ρ'));
  if (!charts.length || !charts[charts.length - 1]._fullData) return null;
  const chart = charts[charts.length - 1];
  return {
    title: String(chart.layout.title.text),
    panels: (chart.layout.annotations || []).map(a => String(a.text)),
    images: chart.querySelectorAll('.imagelayer image').length,
    paths: chart._fullData.filter(t => t.mode === 'lines').length,
  };
}"""


def gallery_state(page, title: str = "", timeout: float = 120_000) -> dict:
    """Wait for a gallery whose title contains ``title`` to be drawn, then read it."""
    page.wait_for_function(f"(title) => {{ const s = ({GALLERY_STATE})(); return s && s.title.includes(title); }}",
                           arg=title, timeout=timeout)
    return page.evaluate(GALLERY_STATE)


def assert_no_error(page) -> None:
    page.get_by_role("heading", name="Loss Landscape Lab").wait_for()  # run by the router
    assert page.locator('[data-testid="stException"]').count() == 0
    assert "Traceback" not in page.content()


def test_the_gallery_opens_from_the_sidebar_and_draws_every_optimizer(page, app_url, artifacts):
    page.goto(app_url)
    race_state(page)  # Explore first, as a reader arrives
    nav_link(page, "Gallery").click()
    wait_for_path(page, "/gallery")
    drawn = gallery_state(page, "rosenbrock")
    names = optimizers.names()
    assert [panel.split(" · ")[0].removeprefix("<b>") for panel in drawn["panels"]] == names
    assert all(" · ρ=" in panel or "diverged at every ρ" in panel for panel in drawn["panels"])
    assert drawn["images"] == len(names) and drawn["paths"] == len(names)
    wait_idle(page)
    assert query(page) == {}  # every setting at its default
    page.locator('[data-testid="stDataFrame"]').first.wait_for()  # the table of best ρ per optimizer
    assert_no_error(page)
    page.screenshot(path=str(artifacts / "gallery.png"), full_page=True)


def test_a_gallery_url_opens_its_settings_and_a_changed_widget_is_written_back(page, app_url):
    settings = {"surface": "rastrigin", "steps": "300", "points": "16", "opt": "sgd,adam,lion"}
    page.goto(app_url + "/gallery?" + urlencode(settings))
    drawn = gallery_state(page, "rastrigin")
    assert "300 steps" in drawn["title"] and "best ρ of 16" in drawn["title"]
    assert [panel.split(" · ")[0].removeprefix("<b>") for panel in drawn["panels"]] == ["sgd", "adam", "lion"]
    wait_idle(page)
    assert query(page) == settings  # the URL round-trips exactly
    assert page.locator('[data-testid="stAlert"]').count() == 0
    assert_no_error(page)

    page.get_by_role("slider", name="steps").first.focus()
    page.keyboard.press("ArrowRight")  # one step of the slider: 310
    changed = gallery_state(page, "310 steps")
    assert len(changed["panels"]) == 3
    wait_idle(page)
    assert query(page) == {**settings, "steps": "310"}

    page.reload()  # the URL alone brings the settings back
    assert "310 steps" in gallery_state(page, "rastrigin")["title"]
    assert_no_error(page)
