"""The Networks and Lessons pages in a real browser: each draws its default view, the Networks race answers its
learning-rate slider and keeps its state in the URL, the sidebar moves between Explore, Networks and Sweeps with
every page still drawing, and a lesson opens on Explore with one click."""

from __future__ import annotations

from losslab import lessons

from .conftest import nav_link, open_expander, path_names, paths, query, race_state, wait_for_path, wait_idle
from .test_navigation_browser import assert_router_and_no_error, map_state

# Every Plotly chart on the page, as its title and its traces' types and names (a stale chart, mid-rerun, too).
CHARTS = """() => [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
  .filter(g => g._fullData)
  .map(g => ({title: String((g.layout.title && g.layout.title.text) || ''),
              traces: g._fullData.map(t => ({type: t.type, name: String(t.name || '')}))}))"""


def networks_race(page, changed_from: dict | None = None) -> dict:
    """The Networks page's slice race, after its page header (the network's name) is drawn."""
    page.get_by_role("heading", name="MLP on moons").wait_for(timeout=90_000)
    return race_state(page, timeout=90_000, changed_from=changed_from)


def test_networks_page_draws_the_trained_model_the_slice_and_the_race(page, app_url, artifacts):
    page.goto(app_url + "/networks")
    state = networks_race(page)
    names = path_names(state)
    assert names and set(names) <= {"sgd", "momentum", "nesterov", "rmsprop", "adam", "adagrad", "adamw"}
    assert state["images"] == 1 and state["isolines"] == 1  # the loss slice under the race
    assert all(len(t["x"]) == len(paths(state)[0]["x"]) > 10 for t in paths(state))
    wait_idle(page)
    charts = page.evaluate(CHARTS)
    types = {trace["type"] for chart in charts for trace in chart["traces"]}
    assert "heatmap" in types and "surface" in types  # decision regions and the 3-D slice
    assert any("decision regions" in chart["title"] for chart in charts)
    assert_router_and_no_error(page)
    page.screenshot(path=str(artifacts / "networks-default.png"), full_page=True)

    # the first optimizer's ρ, one notch down by keyboard: a new race in the slice, and the URL carries it
    first = names[0]
    slider = page.get_by_role("slider", name=f"{first}: learning rate ρ")
    lr_before = float(slider.get_attribute("aria-valuetext"))
    slider.focus()
    page.keyboard.press("ArrowLeft")
    after = networks_race(page, changed_from=state)
    assert path_names(after) == names
    assert paths(after)[0] != paths(state)[0] and paths(after)[1:] == paths(state)[1:]
    page.wait_for_function(f"() => new URLSearchParams(location.search).has('{first}.lr')")
    assert float(query(page)[f"{first}.lr"]) == float(slider.get_attribute("aria-valuetext")) < lr_before
    assert_router_and_no_error(page)


def test_sidebar_moves_between_explore_networks_and_sweeps_and_every_page_keeps_working(page, app_url):
    page.goto(app_url)
    default_explore = race_state(page)
    open_expander(page, "sgd: SGD")
    page.get_by_role("slider", name="ρ  learning rate").first.focus()
    page.keyboard.press("ArrowLeft")
    explore = race_state(page, changed_from=default_explore)
    nav_link(page, "Networks").click()
    wait_for_path(page, "/networks")
    default = networks_race(page)
    first = path_names(default)[0]
    page.get_by_role("slider", name=f"{first}: learning rate ρ").focus()
    page.keyboard.press("ArrowLeft")
    changed = networks_race(page, changed_from=default)
    assert_router_and_no_error(page)

    nav_link(page, "Sweeps").click()
    wait_for_path(page, "/sweeps")
    assert map_state(page)["title"].startswith("momentum on rosenbrock")
    assert_router_and_no_error(page)
    nav_link(page, "Explore").click()
    wait_for_path(page, "/")
    assert paths(race_state(page)) == paths(explore)  # the race left, not the default one
    assert "sgd.lr" in query(page)
    assert_router_and_no_error(page)

    nav_link(page, "Networks").click()  # back: the page's own last settings, not its defaults, and no error
    wait_for_path(page, "/networks")
    assert paths(networks_race(page)) == paths(changed)
    assert f"{first}.lr" in query(page)
    assert_router_and_no_error(page)


def test_lessons_page_lists_every_lesson_and_opens_one_on_explore(page, app_url, artifacts):
    page.goto(app_url + "/lessons")
    page.get_by_role("heading", name="Lessons").wait_for()
    names = lessons.names()
    buttons = page.get_by_role("button", name="Open on Explore")
    buttons.first.wait_for()
    assert buttons.count() == len(names)
    for name in names:
        page.get_by_text(lessons.get(name).title, exact=False).first.wait_for()
    assert_router_and_no_error(page)
    page.screenshot(path=str(artifacts / "lessons.png"), full_page=True)

    chosen = names[-1]
    lesson = lessons.get(chosen)
    buttons.nth(len(names) - 1).click()
    state = race_state(page)
    wait_for_path(page, "/")
    assert path_names(state) == list(lesson.config.optimizers)
    page.get_by_text(f"Lesson: {lesson.title}.").wait_for()
    assert query(page)["surface"] == lesson.config.surface
    assert_router_and_no_error(page)
