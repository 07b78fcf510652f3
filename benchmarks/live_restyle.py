"""Where a live repaint's time goes: the Explore race's live drag with parts of the figure taken away, and with the
path redrawn by ``Plotly.animate`` instead of ``Plotly.restyle``.

``plots/live_race.js`` repaints a dragged optimizer with ``Plotly.restyle`` of its path, head and ✕ traces. A restyle
of ``x``/``y`` is a "calc" edit in plotly.js: the whole figure is recomputed and redrawn (every trace, the layout
image of the landscape, the isolines shape, the animation slider and buttons, the legend), not only the changed
path. This script serves the app, and for each variant (a fresh page each, changed in the browser only) drags the sgd
ρ live slider ``--drags`` times for ``--seconds`` (thumb → left end → right end → back to the thumb, so that the
release commits nothing) and prints:

- paint JS: the time of one ``liveRace.paint`` call (synchronous; for ``Plotly.animate`` only the part before its
  frame), median over a sweep of the slider's positions;
- input → drawn: from the slider's ``input`` event to the first animation frame after the chart's restyle (or
  ``plotly_animated``) event, median and p95 over the drags' repaints (``live_probe.INSTALL_PROBE``);
- repaints per second of drag, and chromium's CPU seconds per repaint (every chromium process this script started).

Variants: as shipped; without the isolines shape; without the landscape image; without the animation slider and
buttons; without the click grid (1681 invisible markers); without all four; and as shipped but painted with
``Plotly.animate(..., {frame: {redraw: false}, transition: {duration: 0}})``, which redraws only the given scatter
traces (the path's legend name is then not updated until the commit).

Run:  python benchmarks/live_restyle.py [--drags 3] [--seconds 1] [--variants shipped animate ...]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from live_probe import VIEWPORT, Cpu, cpu_now, live_drag, quantile, race_frame, wait_idle

from losslab.app.live_server import CHROMIUM, CHROMIUM_ARGS, stop_servers_on_sigterm, streamlit_server

GRID = "document.querySelector('.live-race-chart').data.findIndex(t => t.name === 'click-grid')"
CHART = "document.querySelector('.live-race-chart')"

# What each variant changes in the race frame before the drags.
VARIANTS = {
    "shipped": "",
    "no isolines": f"Plotly.relayout({CHART}, {{shapes: []}})",
    "no image": f"Plotly.relayout({CHART}, {{images: []}})",
    "no anim. slider": f"Plotly.relayout({CHART}, {{sliders: [], updatemenus: []}})",
    "no click grid": f"Plotly.restyle({CHART}, {{visible: false}}, [{GRID}])",
    "none of the four": f"Plotly.relayout({CHART}, {{shapes: [], images: [], sliders: [], updatemenus: []}})"
                        f".then(() => Plotly.restyle({CHART}, {{visible: false}}, [{GRID}]))",
    "animate": """(() => {
  const proto = Object.getPrototypeOf(window.liveRace);
  proto.paint = function (s, j) {
    const slider = this.spec.sliders[s];
    const row = this.families[s].row(j);
    const heads = this.chart.data[slider.heads];
    const hx = Array.from(heads.x), hy = Array.from(heads.y);
    hx[slider.head] = row.x[row.x.length - 1];
    hy[slider.head] = row.y[row.y.length - 1];
    const cross = row.diverged >= 0 ? row.cross : null;
    Plotly.animate(this.chart, {
      data: [{x: row.x, y: row.y}, {x: hx, y: hy}, {x: cross ? [cross[0]] : [], y: cross ? [cross[1]] : []}],
      traces: [slider.trace, slider.heads, slider.trace_cross],
    }, {transition: {duration: 0}, frame: {duration: 0, redraw: false}, mode: 'immediate'});
    this.live[slider.optimizer] = { slider: s, position: j };
    this.repaints += 1;
    this.chart.dataset.repaints = String(this.repaints);
  };
})()""",
}

# In the race frame: the synchronous time of one paint of the sgd ρ slider at each of its positions, then back.
PAINT_SWEEP = """async () => {
  const s = liveRace.spec.sliders.findIndex(x => x.optimizer === 'sgd' && x.key === 'lr');
  const start = liveRace.spec.sliders[s].index, count = liveRace.spec.sliders[s].values.length;
  const times = [];
  for (let j = 0; j < count; j++) {
    const began = performance.now();
    liveRace.paint(s, j);
    times.push(performance.now() - began);
    await new Promise(requestAnimationFrame);
  }
  liveRace.paint(s, start);
  await new Promise(requestAnimationFrame);
  return times;
}"""


async def variant(browser, url: str, name: str, drags: int, seconds: float, server_pid: int) -> dict:
    page = await browser.new_page(viewport=VIEWPORT)
    try:
        await page.goto(url)
        frame = await race_frame(page, polling="raf")
        await wait_idle(page)
        if VARIANTS[name]:
            await frame.evaluate(f"async () => {{ await {VARIANTS[name]}; }}")
        sweep = await frame.evaluate(PAINT_SWEEP)
        inputs, rates, used, repaints, reruns = [], [], Cpu(0.0, 0.0), 0, 0
        for _ in range(drags):
            before = cpu_now(server_pid)
            drag = await live_drag(page, frame, seconds, None)
            used += cpu_now(server_pid) - before
            await page.mouse.up()
            await asyncio.sleep(0.5)
            reruns += drag.reruns + await page.evaluate(
                "() => window.__scriptProbe.states.filter(s => s[0] === 'running').length")
            inputs += drag.input_ms
            rates.append(drag.repaints / drag.seconds)
            repaints += drag.repaints
    finally:
        await page.close()
    return {"paint": statistics.median(sweep), "p50": statistics.median(inputs), "p95": quantile(inputs, 0.95),
            "rate": statistics.median(rates), "cpu": used.browser / max(repaints, 1), "reruns": reruns}


async def run(names: list[str], drags: int, seconds: float) -> None:
    from playwright.async_api import async_playwright

    print(f"{'variant':18s} {'paint JS ms':>11s} {'input→drawn p50':>15s} {'p95 ms':>6s} {'repaints/s':>10s} "
          f"{'browser CPU s/step':>18s}", flush=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        with streamlit_server() as server:
            for name in names:
                row = await variant(browser, server.url, name, drags, seconds, server.pid)
                note = f"  ({row['reruns']} script runs!)" if row["reruns"] else ""
                print(f"{name:18s} {row['paint']:11.1f} {row['p50']:15.1f} {row['p95']:6.1f} {row['rate']:10.1f} "
                      f"{row['cpu']:18.4f}{note}", flush=True)
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drags", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    stop_servers_on_sigterm()
    started = time.perf_counter()
    asyncio.run(run(args.variants, args.drags, args.seconds))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
