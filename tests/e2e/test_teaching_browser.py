"""Issue #9 in a real browser: lessons open with their caption, the expression field is typed and shared, and a
hostile expression in the URL is refused with a message."""

from __future__ import annotations

from urllib.parse import quote

from losslab import lessons

from .conftest import paths, query, race_state


def test_a_lesson_url_opens_the_race_with_its_caption_and_the_picker_switches_lessons(page, app_url):
    page.goto(app_url + "/?lesson=overshoot")
    state = race_state(page)
    overshoot = lessons.get("overshoot")
    assert [t["name"].split(" ")[0] for t in paths(state)] == list(overshoot.config.optimizers)
    page.get_by_text(f"Lesson: {overshoot.title}.").wait_for()
    page.wait_for_function("() => new URLSearchParams(location.search).get('surface') === 'quadratic'")
    plateau = lessons.get("plateau")
    page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Lesson").click()
    page.get_by_role("option", name=plateau.title).click()
    after = race_state(page, changed_from=state)
    assert [t["name"].split(" ")[0] for t in paths(after)] == list(plateau.config.optimizers)
    page.get_by_text(f"Lesson: {plateau.title}.").wait_for()
    assert query(page)["surface"] == "plateau"


def test_typing_a_formula_races_on_it_and_the_url_carries_it(page, app_url, context):
    page.goto(app_url + "/?surface=expression&steps=80")
    before = race_state(page)
    field = page.get_by_label("f: your f(x, y)", exact=False)
    field.fill("sin(x)*cos(y) + 0.1*(x**2 + y**2)")
    field.press("Enter")
    after = race_state(page, changed_from=before)
    page.wait_for_function("() => (new URLSearchParams(location.search).get('f') || '').startsWith('sin(x)')")
    assert query(page)["f"] == "sin(x)*cos(y) + 0.1*(x**2 + y**2)"
    shared = context.new_page()
    shared.goto(page.url)
    assert paths(race_state(shared)) == paths(after)


def test_a_hostile_expression_in_the_url_is_refused_with_a_message(page, app_url):
    hostile = quote("__import__('os').system('id')")
    page.goto(app_url + f"/?surface=expression&f={hostile}&bounds=0,0,1,1")
    state = race_state(page)
    assert len(paths(state)) == 4  # the default race on the default formula
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="not valid").first
    warning.wait_for()
    text = warning.inner_text().replace("\u2060", "")  # the invisible joiners of escaped user text
    assert "Invalid f value" in text and "bounds" in text
    assert "Traceback" not in page.content()
    assert query(page)["f"] == "x**2 + 10*y**2"
