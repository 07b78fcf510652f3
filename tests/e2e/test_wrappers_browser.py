"""SAM's base optimizer picked in the sidebar, and schedule-free SGD's average x, in a real browser."""

from __future__ import annotations

from .conftest import open_expander, path_names, paths, query, race_state, wait_idle


def legend_of(state: dict, optimizer: str) -> str:
    return next(t["name"] for t in paths(state) if t["name"].split(" ")[0] == optimizer)


def test_sam_races_over_the_base_picked_in_the_sidebar_and_schedule_free_draws_its_average(page, app_url):
    page.goto(app_url + "?opt=sgd,sam,schedulefree_sgd&steps=150&sam.base_optimizer=momentum")
    state = race_state(page)
    assert path_names(state) == ["sgd", "sam", "schedulefree_sgd"]
    assert "base=momentum" in legend_of(state, "sam")
    average = next(t for t in state["traces"] if t["name"] == "schedulefree_sgd: average x")
    theta = next(t for t in paths(state) if t["name"].startswith("schedulefree_sgd"))
    assert len(average["x"]) == len(theta["x"]) and average["x"] != theta["x"]  # x beside θ, not θ
    wait_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    open_expander(page, "sam: SAM")
    picker = sidebar.locator('[data-testid="stSelectbox"]').filter(has_text="base optimizer").locator("input")
    picker.click()
    picker.press_sequentially("adam")  # typing filters the options (and opens them where the click did not)
    page.get_by_role("option", name="adam", exact=True).click()
    page.wait_for_function("() => new URLSearchParams(location.search).get('sam.base_optimizer') === 'adam'",
                           timeout=30_000)
    after = race_state(page, changed_from=state)
    assert "base=adam" in legend_of(after, "sam") and query(page)["sam.base_optimizer"] == "adam"
    assert "β" in legend_of(after, "sam") or "adam" in legend_of(after, "sam")
    sidebar.get_by_text("β₁", exact=True).first.wait_for()  # Adam's keywords follow the base
