"""The Explore page in a real browser, as a user meets it: drawn, animated, steered by keyboard and mouse,
shared by URL, and robust to a hostile URL."""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np

from losslab import race
from optimizers import catalogue
from plots.race import CLICK_GRID

from .conftest import RACE_STATE, open_expander, path_names, paths, query, race_frame, race_state

DEFAULT_NAMES = list(race.DEFAULT_OPTIMIZERS)


def test_default_view_draws_the_race(page, app_url, artifacts):
    page.goto(app_url)
    state = race_state(page)
    assert path_names(state) == DEFAULT_NAMES
    names = [t["name"] for t in state["traces"]]
    assert "minimum θ*" in names and "positions θₖ" in names and any(n.startswith("start θ₀") for n in names)
    assert state["images"] == 1 and state["isolines"] == 1  # landscape image + isolines path, not a contour trace
    assert all(len(t["x"]) == 501 for t in paths(state))  # 500 steps from the start
    assert state["frames"] > 10
    page.get_by_text("The update rules").wait_for()
    page.screenshot(path=str(artifacts / "explore-default.png"), full_page=True)


def test_lr_slider_by_keyboard_changes_the_trajectories_and_the_url(page, app_url):
    page.goto(app_url)
    before = race_state(page)
    open_expander(page, "sgd: SGD")
    slider = page.get_by_role("slider", name="ρ  learning rate").first
    slider.focus()
    page.keyboard.press("ArrowLeft")
    after = race_state(page, changed_from=before)
    sgd_before, sgd_after = paths(before)[0], paths(after)[0]
    assert sgd_before["x"] != sgd_after["x"]
    assert paths(before)[1:] == paths(after)[1:]  # the other optimizers did not move
    page.wait_for_function("() => new URLSearchParams(location.search).has('sgd.lr')")
    assert float(query(page)["sgd.lr"]) < catalogue.DEFAULT_LR["sgd"]


def test_play_advances_the_frames_and_keeps_the_landscape(page, app_url):
    page.goto(app_url)
    state = race_state(page)
    assert state["frame"] in (None, 0) or state["frame"] == state["frames"] - 1
    frame = race_frame(page)
    frame.locator(".updatemenu-button").filter(has_text="Play").first.click()
    frame.wait_for_function(f"() => {{ const s = ({RACE_STATE})(); return s && s.frame > 3; }}", timeout=20_000)
    page.wait_for_timeout(600)
    state = frame.evaluate(RACE_STATE)
    assert state["frame"] > 3
    assert state["images"] == 1 and state["isolines"] == 1  # the plotly.js bug would have erased a contour trace


def test_click_on_the_contour_sets_the_start_and_the_url_reproduces_the_view(page, app_url, context):
    page.goto(app_url)
    before = race_state(page)
    frame = race_frame(page)
    box = frame.locator(".js-plotly-plot .nsewdrag").first.bounding_box()
    (xmin, xmax), (ymin, ymax) = frame.evaluate(
        "() => { const l = document.querySelector('.js-plotly-plot')._fullLayout;"
        " return [l.xaxis.range, l.yaxis.range]; }")
    page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + 0.7 * box["height"])
    after = race_state(page, changed_from=before)
    start = [float(v) for v in query(page)["start"].split(",")]
    first = paths(after)[0]
    assert [first["x"][0], first["y"][0]] == start
    spacing = np.array([xmax - xmin, ymax - ymin]) / (CLICK_GRID - 1)  # the nearest click-grid point is taken
    clicked = np.array([xmin + 0.3 * (xmax - xmin), ymax - 0.7 * (ymax - ymin)])
    assert np.all(np.abs(np.array(start) - clicked) <= 0.5 * spacing + 1e-3)
    assert start != [paths(before)[0]["x"][0], paths(before)[0]["y"][0]]

    shared = context.new_page()
    shared.goto(page.url)
    reproduced = race_state(shared)
    assert paths(reproduced) == paths(after)


def test_a_markdown_link_in_the_url_is_text_not_a_link(page, app_url):
    """The issue's phishing URL: the warning quotes the value as the characters it is; no link, no image, no
    styled text reaches the page."""
    link = "[Session expired - log in again](https://evil.example/login)"
    image = "![t](https://evil.example/i.png)"
    styled = ":red[alert] $x^2$ :material/lock: :smile: www.evil.example me@evil.example"
    page.goto(app_url + "?" + urlencode({"opt": link, "steps": image, "seed": styled}))
    race_state(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="not valid").first
    warning.wait_for()
    text = warning.inner_text().replace("\u2060", "")  # the invisible joiners that break autolinks
    assert link in text and image in text and styled in text
    assert page.locator('a[href*="evil.example"]').count() == 0
    assert page.locator('img[src*="evil.example"]').count() == 0
    assert warning.locator("a, img, .katex, [style*='color'], [data-testid='stIconMaterial']").count() == 0


def test_hostile_url_shows_a_message_and_the_defaults(page, app_url):
    hostile = ("?sgd.lr=-1&opt=sgd,bogus&steps=99999999&condition=abc&seed=" + "x" * 10_000
               + "&start=1,2,3&adam.betas=2,3")
    page.goto(app_url + hostile)
    state = race_state(page)
    assert path_names(state) == DEFAULT_NAMES
    assert all(len(t["x"]) == 501 for t in paths(state))
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="not valid").first
    warning.wait_for()
    text = warning.inner_text().replace("\u2060", "")  # the invisible joiners of escaped user text
    for key in ("sgd.lr", "opt", "steps", "condition", "seed", "start", "adam.betas"):
        assert key in text
    assert "Traceback" not in page.content()
    # the page keeps working: a slider still reruns it
    open_expander(page, "adam: Adam")
    page.get_by_role("slider", name="ρ  learning rate").last.focus()
    page.keyboard.press("ArrowRight")
    race_state(page, changed_from=state)

