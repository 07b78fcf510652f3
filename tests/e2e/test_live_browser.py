"""Live sliders in a real browser: a drag redraws a path with no round trip to the server, the release commits the
value everywhere, arrow keys are live too, and the exported HTML page works from ``file://``."""

from __future__ import annotations

from pathlib import Path

from losslab import exports, race
from plots.race import clip_to_view

from .conftest import RACE_STATE, paths, query, race_frame, race_state, wait_idle

SGD_RHO = "ρ learning rate of sgd"
MOMENTUM_ALPHA = "α momentum of momentum"


def sent_frames(page) -> list[int]:
    """A growing list with one entry per websocket message the page sends to the Streamlit server."""
    frames: list[int] = []
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: frames.append(len(payload))))
    return frames


def path_of(frame, optimizer: str) -> dict:
    state = frame.evaluate(RACE_STATE)
    return next(t for t in paths(state) if t["name"].split(" ")[0] == optimizer)


def repainted(frame, count: int) -> None:
    """Wait until the chart has drawn ``count`` live repaints (a repaint is counted once it is on screen)."""
    frame.wait_for_function("(n) => Number(document.querySelector('.live-race-chart').dataset.repaints || 0) >= n",
                            arg=count, timeout=10_000)


def drag(page, frame, label: str, fractions: list[float]) -> list[dict]:
    """Press on slider ``label``'s thumb, move to each fraction of its track, and read the drawn path at each; the
    button is still down when this returns."""
    slider = frame.get_by_role("slider", name=label)
    box = slider.bounding_box()
    value = slider.evaluate("input => input.value / input.max")
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + value * box["width"], y)
    page.mouse.down()
    seen = []
    for fraction in fractions:
        page.mouse.move(box["x"] + fraction * box["width"], y, steps=2)
        repainted(frame, len(seen) + 1)
        seen.append({"text": slider.get_attribute("aria-valuetext"), "path": path_of(frame, label.split()[-1])})
    return seen


def test_a_drag_redraws_the_path_live_and_the_release_commits_it(page, app_url, artifacts):
    frames = sent_frames(page)
    page.goto(app_url)
    before = race_state(page)
    wait_idle(page)
    frame = race_frame(page)
    url = page.evaluate("location.href")
    sent = len(frames)
    seen = drag(page, frame, SGD_RHO, [0.45, 0.55, 0.62])
    running = page.evaluate("document.querySelector('[data-testid=\"stApp\"]').dataset.testScriptState")
    assert len(frames) == sent and page.evaluate("location.href") == url  # nothing sent, no rerun, same URL
    assert running == "notRunning"
    drawn = [s["path"]["x"] for s in seen]
    assert all(a != b for a, b in zip(drawn, drawn[1:]))  # each intermediate position drew a new path
    assert paths(frame.evaluate(RACE_STATE))[1:] == paths(before)[1:]  # the others stayed
    released = seen[-1]["text"].split(":")[0]  # "ρ = 0.05"
    page.mouse.up()
    page.wait_for_function("() => new URLSearchParams(location.search).has('sgd.lr')", timeout=30_000)
    committed = float(query(page)["sgd.lr"])
    assert released == f"ρ = {committed:g}"
    config, _ = race.from_query(query(page))
    frame.wait_for_function("(n) => document.querySelector('.live-race-chart')._fullData.some("
                            "t => t.legendgroup === 'sgd' && t.mode === 'lines' && t.x.length === n)",
                            arg=config.steps + 1, timeout=30_000)  # the committed race, every step drawn
    after = frame.evaluate(RACE_STATE)
    wait_idle(page)
    fresh = clip_to_view(race.run_race(config)["sgd"].points[0], config.landscape().bounds)
    drawn_after = paths(after)[0]
    assert len(drawn_after["x"]) == config.steps + 1
    assert max(abs(a - b) for a, b in zip(drawn_after["x"], fresh[:, 0])) < 1e-9  # the fresh race, drawn
    table = page.locator("table").filter(has_text="final loss").first.inner_text()
    assert f"sgd (ρ={committed:.3g})" in table
    equations = page.locator(".katex").first.inner_text()
    assert f"{committed:g}" in equations.replace("\n", "")
    page.screenshot(path=str(artifacts / "live-after-release.png"))


def test_a_release_commits_without_the_resting_redraw_and_the_committed_legend_follows(page, app_url):
    """The resting redraw (legend entry and ✕ label, SETTLE_MS after a move) is dropped by a release in the app: the
    committed race brings its own legend, and the redraw would only compete with it for the browser's thread."""
    page.goto(app_url)
    race_state(page)
    wait_idle(page)
    frame = race_frame(page)
    frame.evaluate("""() => { window.__restyled = []; const restyle = Plotly.restyle;
        Plotly.restyle = function () {
          window.__restyled.push(performance.now());
          return restyle.apply(this, arguments);
        }; }""")
    slider = frame.get_by_role("slider", name=SGD_RHO)
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + slider.evaluate("input => input.value / input.max") * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.3 * box["width"], y, steps=2)
    repainted(frame, 1)
    page.mouse.up()  # at once: the resting redraw is still pending
    released = frame.evaluate("() => performance.now()")
    page.wait_for_function("() => new URLSearchParams(location.search).has('sgd.lr')", timeout=30_000)
    committed = float(query(page)["sgd.lr"])
    frame.wait_for_function("(n) => document.querySelector('.live-race-chart')._fullData.some("
                            "t => t.legendgroup === 'sgd' && t.mode === 'lines' && t.x.length === n)",
                            arg=race.RaceConfig().steps + 1, timeout=30_000, polling="raf")
    arrived = frame.evaluate("() => performance.now()")
    page.wait_for_timeout(300)  # past SETTLE_MS
    # no redraw between the release and the committed race (or RELEASE_SETTLE_MS, should the commit take longer)
    window = (released, min(arrived, released + 1400))
    assert [t for t in frame.evaluate("() => window.__restyled") if window[0] <= t <= window[1]] == []
    assert path_of(frame, "sgd")["name"].startswith(f"sgd (ρ={committed:g}")


def test_a_release_that_brings_no_new_race_still_redraws_the_legend(page, app_url):
    """A release defers the resting redraw (the committed race brings the legend); where no new race comes (the release
    undid an earlier move, or the commit changed nothing), the legend is redrawn all the same, RELEASE_SETTLE_MS
    later."""
    page.goto(app_url)
    race_state(page)
    wait_idle(page)
    frame = race_frame(page)
    s, j0, names = frame.evaluate("""() => { const s = liveRace.spec.sliders.findIndex(
        t => t.optimizer === 'sgd' && t.key === 'lr'); const slider = liveRace.spec.sliders[s];
        return [s, slider.index, slider.names]; }""")
    legend = "(i) => document.querySelector('.live-race-chart').data[liveRace.spec.sliders[i].trace].name"
    frame.evaluate("([s, j]) => liveRace.paint(s, j)", [s, j0 - 5])
    frame.wait_for_function(f"([s, name]) => ({legend})(s) === name", arg=[s, names[j0 - 5]])  # at rest: redrawn
    frame.evaluate("""([s, j]) => { liveRace.handlers.commit = () => {};  // (this release sends nothing)
        liveRace.paint(s, j); liveRace.release(s, j); }""", [s, j0])
    page.wait_for_timeout(300)  # past SETTLE_MS: the release deferred the resting redraw
    assert frame.evaluate(legend, s) == names[j0 - 5]
    frame.wait_for_function(f"([s, name]) => ({legend})(s) === name", arg=[s, names[j0]], timeout=5_000)


def test_arrow_keys_are_live_and_commit_when_they_stop(page, app_url):
    frames = sent_frames(page)
    page.goto(app_url)
    race_state(page)
    wait_idle(page)
    frame = race_frame(page)
    slider = frame.get_by_role("slider", name=MOMENTUM_ALPHA)
    start = slider.get_attribute("aria-valuetext")
    slider.focus()
    sent = len(frames)
    repaints = frame.evaluate(RACE_STATE)["repaints"]
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
        repainted(frame, repaints + 1)  # each press redraws the path
        repaints = frame.evaluate(RACE_STATE)["repaints"]
    assert len(frames) == sent  # nothing sent while the keys move
    assert slider.get_attribute("aria-valuetext").startswith("α = 0.88")
    assert slider.get_attribute("aria-valuetext") != start
    page.wait_for_function("() => new URLSearchParams(location.search).get('momentum.momentum') === '0.88'",
                           timeout=30_000)
    assert len(frames) > sent  # the commit went to the server


def test_the_exported_page_has_working_live_sliders_offline(page, tmp_path: Path):
    config = race.RaceConfig(steps=200)
    target = tmp_path / "race.html"
    exports.write_atomic(target, exports.export_race(config, "html"))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(target.as_uri())
    page.wait_for_function("() => window.liveRace && document.querySelector('.js-plotly-plot .scatterlayer')")
    slider = page.get_by_role("slider", name=SGD_RHO)
    assert slider.get_attribute("aria-valuetext").startswith("ρ = 0.035")
    before = path_of(page.main_frame, "sgd")
    slider.focus()
    page.keyboard.press("ArrowRight")
    repainted(page.main_frame, 1)
    after = path_of(page.main_frame, "sgd")
    assert after["x"] != before["x"] and slider.get_attribute("aria-valuetext").startswith("ρ = 0.05")
    assert all(url.startswith("file://") for url in requests)  # nothing fetched from a network


def test_the_network_slice_has_live_sliders_too(page, app_url):
    page.goto(app_url + "/networks")
    before = race_state(page, timeout=120_000)
    wait_idle(page, timeout=120_000)
    frame = race_frame(page)
    slider = frame.get_by_role("slider", name=MOMENTUM_ALPHA)
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    page.mouse.click(box["x"] + 0.6 * box["width"], box["y"] + box["height"] / 2)  # a click is a drag of no length
    repainted(frame, 1)
    after = frame.evaluate(RACE_STATE)
    momentum = [t for t in paths(after) if t["name"].startswith("momentum")][0]
    assert momentum["x"] != [t for t in paths(before) if t["name"].startswith("momentum")][0]["x"]
    value = slider.get_attribute("aria-valuetext").split(":")[0].split("= ")[1]
    page.wait_for_function("(v) => new URLSearchParams(location.search).get('momentum.momentum') === v",
                           arg=value, timeout=60_000)


def test_at_1440_by_900_the_race_its_sliders_and_the_curves_are_above_the_fold(browser, app_url):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(app_url)
        race_state(page)
        wait_idle(page)
        frame = race_frame(page)
        iframe = page.locator('iframe[title="losslab.app.live_race.live_race"]').bounding_box()
        chart = frame.locator(".live-race-chart .main-svg").first.bounding_box()
        sliders = frame.locator(".live-race-sliders").bounding_box()
        curves = page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()
        for box in (iframe, curves):
            assert box["y"] >= 0 and box["y"] + box["height"] <= 900, box
        assert sliders["y"] + sliders["height"] <= 900  # every live slider without scrolling (page coordinates)
        assert chart["height"] >= 400
        assert curves["x"] >= iframe["x"] + iframe["width"] - 1  # side by side
    finally:
        context.close()


def test_a_modern_optimizer_races_on_explore_with_its_live_sliders(page, app_url):
    page.goto(app_url + "?opt=adam,lion,prodigy&steps=200")
    state = race_state(page)
    names = [t["name"].split(" ")[0] for t in paths(state)]
    assert names == ["adam", "lion", "prodigy"]
    wait_idle(page)
    frame = race_frame(page)
    slider = frame.get_by_role("slider", name="Adam's first-moment decay β₁ of lion")
    slider.focus()
    before = path_of(frame, "lion")
    page.keyboard.press("ArrowLeft")
    repainted(frame, 1)
    assert path_of(frame, "lion")["x"] != before["x"]
    page.wait_for_function("() => new URLSearchParams(location.search).get('lion.betas') === '0.895,0.99'",
                           timeout=30_000)
    page.wait_for_function("() => document.querySelectorAll('.katex')[1].innerText.includes('0.895')",
                           timeout=30_000)  # lion's update rule shows the committed β₁
