"""Responsiveness of the Explore page, measured the way a user meets it.

Prints one table:
- server-side rerun after a slider change (Streamlit's AppTest runs the page script in
  process: the time is the script's, without the browser round trip), best and median;
- the figure payload the browser receives for the default view (bytes of the charts' specs);
- cold start: from ``streamlit run app.py`` to the first race chart drawn in headless chromium;
- slider key press → new figure drawn, in a real browser (median and p90 of repeated presses).

Run:  python benchmarks/explore.py [--presses 12]
"""

from __future__ import annotations

import argparse
import statistics
import time

from losslab.app.live_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RACE_SIGNATURE,
    stop_servers_on_sigterm,
    streamlit_server,
)
from losslab.serve import ROUTER


def server_side(repeats: int) -> dict[str, float]:
    """AppTest: the page script's time for a rerun after the sgd lr slider moves.

    AppTest compiles app.py and the page afresh on every run (a new ScriptCache per run), which a server does
    once; one shared cache here makes the rerun what ``streamlit run`` executes."""
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    shared = ScriptCache()
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared
    started = time.perf_counter()
    at = AppTest.from_file(str(ROUTER), default_timeout=120).run()
    first = time.perf_counter() - started
    assert not at.exception, at.exception
    values = [0.02, 0.03, 0.05, 0.015, 0.01, 0.007]
    times = []
    for index in range(repeats):
        slider = at.select_slider(key="sgd.lr").set_value(values[index % len(values)])
        started = time.perf_counter()
        slider.run()
        times.append(time.perf_counter() - started)
        assert not at.exception, at.exception
    payload = sum(len(chart.proto.spec) for chart in at.get("plotly_chart"))
    race_payload = len(at.get("plotly_chart")[0].proto.spec)
    return {"first run (AppTest, cold caches)": first, "rerun best": min(times),
            "rerun median": statistics.median(times), "payload": payload, "race payload": race_payload}


def browser(presses: int) -> dict[str, float]:
    """A real server and headless chromium: cold start and slider → redraw latency."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = chromium.new_page(viewport={"width": 1400, "height": 1100})
        started = time.perf_counter()
        with streamlit_server() as server:
            page.goto(server.url)
            page.wait_for_function(RACE_SIGNATURE, timeout=60_000, polling="raf")
            cold = time.perf_counter() - started

            page.locator('[data-testid="stExpander"] summary').filter(has_text="sgd: SGD").click()
            slider = page.get_by_role("slider", name="ρ  learning rate").first
            latencies = []
            for index in range(presses):
                before = page.evaluate(RACE_SIGNATURE)
                slider.focus()
                started = time.perf_counter()
                page.keyboard.press("ArrowLeft" if index % 2 == 0 else "ArrowRight")
                page.wait_for_function(f"(old) => ({RACE_SIGNATURE})() !== old", arg=before, timeout=30_000,
                                       polling="raf")
                latencies.append(time.perf_counter() - started)
                time.sleep(0.3)
        chromium.close()
    ordered = sorted(latencies)
    return {"cold start to first chart": cold, "slider→figure median": statistics.median(latencies),
            "slider→figure p90": ordered[int(0.9 * (len(ordered) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presses", type=int, default=12, help="slider key presses in the browser")
    parser.add_argument("--reruns", type=int, default=12, help="AppTest reruns")
    args = parser.parse_args()
    stop_servers_on_sigterm()
    rows = {**server_side(args.reruns), **browser(args.presses)}
    targets = {"rerun best": ("< 0.150 s", lambda v: v < 0.150), "race payload": ("< 1.5 MB", lambda v: v < 1.5e6),
               "cold start to first chart": ("< 6 s", lambda v: v < 6.0),
               "slider→figure median": ("< 0.800 s", lambda v: v < 0.8)}
    print(f"{'measure':36s} {'value':>12s}  {'target':>10s}  met")
    for name, value in rows.items():
        shown = f"{value / 1e6:.2f} MB" if "payload" in name else f"{value:.3f} s"
        target, check = targets.get(name, ("", None))
        print(f"{name:36s} {shown:>12s}  {target:>10s}  {'' if check is None else ('yes' if check(value) else 'NO')}")


if __name__ == "__main__":
    main()
