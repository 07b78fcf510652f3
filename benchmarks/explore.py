"""Responsiveness of the Explore page with live sliders, next to the app before them, measured in one run.

The new app is this working tree's (``losslab.serve.ROUTER``); the old one is commit 6b339cd, where moving the
sidebar's ρ reran the whole page. The old app is served from a temporary ``git worktree`` of that commit with
``PYTHONPATH`` on it (the script checks that its own packages are the ones imported, and that its page has no live
race frame); the worktree is removed at the end, Ctrl-C and SIGTERM included. Prints one table, new and old side by
side where both apply:

- server-side rerun after a ρ change: Streamlit's AppTest runs the page script in a subprocess (one shared script
  cache, as a server has) and sets the sidebar's ``sgd.lr`` state between runs, as a live commit does (the old app's
  select-slider takes it the same way; the new one's is not drawn while sgd's expander is closed); best and
  median of ``--reruns``; and the first run (cold caches);
- payloads: the race figure (the new component's spec ``figure``; the old page's race ``plotly_chart`` spec), and the
  live data the new race adds: the component's spec minus its figure (the sliders' families), for the default race
  (4 optimizers × 500 steps);
- in headless chromium at 1440×900 on this machine (fresh browser per app):
  - cold start: from starting ``streamlit run`` to the race chart drawn (the new app: in its component frame);
  - live repaint latency while dragging the sgd ρ live slider: from the slider's ``input`` event (a capture-phase
    listener in the frame) to the first animation frame after the chart's ``plotly_restyle`` event, median and p95
    over every repaint of ``--drags`` drags; also from the pointer event's ``timeStamp`` (includes the wait before
    the page handles the move);
  - repaints per second over each one-second drag (``page.mouse.move`` in small steps, as fast as the page takes
    them: thumb → left end → right end → the release value), median over drags;
  - CPU seconds per live step: this benchmark's chromium processes (all of them, from /proc) and the server's, from
    the button press to the last repaint drawn, divided by the repaints;
  - commit: from the mouse release to the committed race drawn (a new figure whose sgd path has 501 points, and the
    value in the page's URL); releases alternate between ρ = 0.05 and 0.03, so that after the first two the server's
    caches hold both races, as the old app's presses (alternately ← and →: 0.03 and 0.035) find them;
  - the old app's slider → figure: an arrow key pressed on the sidebar's ρ select-slider to the race chart redrawn;
  - where a commit's time goes (medians): release (press) → the script starts (the page's run state), the script's
    run as the page sees it, release → the race spec posted to the frame, spec posted → race drawn;
  - bytes the page receives over its websocket per commit (per old press), and CPU seconds per commit (per old
    press): chromium's and the server's from the release (press) to the race drawn and the script idle.

Targets: live repaint median < 50 ms and p95 < 100 ms, ≥ 20 repaints/s, < 0.05 CPU s per live step, live data
< 1 MB, commit median no slower than the old slider → figure median of the same run, cold start < 6 s.

Run:  python benchmarks/explore.py [--drags 8] [--presses 12] [--reruns 12] [--no-old]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from live_probe import (
    OLD_RACE_SIGNATURE,
    RACE_FRAME,
    REPO,
    VIEWPORT,
    Cpu,
    commit,
    commit_timeline,
    cpu_now,
    live_drag,
    machine,
    old_environment,
    old_press,
    old_server,
    old_timeline,
    old_worktree,
    open_old_slider,
    quantile,
    race_frame,
    wait_idle,
)

from losslab.app.live_server import CHROMIUM, CHROMIUM_ARGS, stop_servers_on_sigterm, streamlit_server
from losslab.serve import ROUTER

TARGETS = (0.05, 0.03)  # the live drags' release values, in turn

# Run in a subprocess (``python -c APPTEST app reruns``) so that the old app's packages can be imported in place of
# this checkout's: the script's time for reruns after the sgd ρ value changes, and what the page sends.
APPTEST = r"""
import json, statistics, sys, time
from streamlit.runtime.scriptrunner.script_cache import ScriptCache
from streamlit.testing.v1 import AppTest, app_test, local_script_runner

app, reruns = sys.argv[1], int(sys.argv[2])
shared = ScriptCache()  # AppTest compiles the scripts afresh on every run; a server compiles them once
app_test.ScriptCache = local_script_runner.ScriptCache = lambda: shared
started = time.perf_counter()
at = AppTest.from_file(app, default_timeout=120).run()
first = time.perf_counter() - started
assert not at.exception, at.exception
values = [0.02, 0.03, 0.05, 0.015, 0.01, 0.007]
times = []
for index in range(reruns):
    at.session_state["sgd.lr"] = values[index % len(values)]
    started = time.perf_counter()
    at.run()
    times.append(time.perf_counter() - started)
    assert not at.exception, at.exception
dumps = lambda value: len(json.dumps(value, separators=(",", ":")).encode())
charts = [len(chart.proto.spec.encode()) for chart in at.get("plotly_chart")]
result = {"first": first, "reruns": times, "charts": charts, "race figure": charts[0] if charts else None,
          "live spec": None, "live figure": None, "live sliders": None, "component args": 0}
for component in at.get("component_instance"):
    result["component args"] += len(component.proto.json_args.encode())
    spec_text = json.loads(component.proto.json_args).get("spec")
    if spec_text:
        spec = json.loads(spec_text)
        result.update({"live spec": len(spec_text.encode()), "race figure": dumps(spec["figure"]),
                       "live sliders": dumps(spec["sliders"])})
import losslab
result["losslab"] = losslab.__file__
print(json.dumps(result))
"""


def apptest(app: Path, reruns: int, cwd: Path = REPO, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", APPTEST, str(app), str(reruns)], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if not Path(result["losslab"]).resolve().is_relative_to(cwd.resolve()):
        raise RuntimeError(f"AppTest of {app} imported losslab from {result['losslab']}")
    return result


def websocket_bytes(page) -> list[int]:
    """A growing list with the size of every websocket message the page receives from the server."""
    sizes: list[int] = []
    page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: sizes.append(len(payload.encode() if isinstance(payload, str) else payload))))
    return sizes


async def new_browser(drags: int, seconds: float) -> dict:
    """The new app: cold start, live drags of the sgd ρ slider, each released (a commit)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await chromium.new_page(viewport=VIEWPORT)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        received = websocket_bytes(page)
        started, epoch = time.perf_counter(), time.time()
        with streamlit_server(ROUTER) as server:
            up = time.perf_counter() - started
            await page.goto(server.url)
            frame = await race_frame(page, polling="raf")
            cold = time.perf_counter() - started
            steps = {"server answering": up, **(await loading(page, epoch, "page")),
                     **(await loading(frame, epoch, "race frame")), "race drawn": cold}
            await wait_idle(page)
            live, commits, timelines = [], [], []
            live_cpu = commit_cpu = Cpu(0.0, 0.0)
            wire = 0
            for index in range(drags):
                before = cpu_now(server.pid)
                drag = await live_drag(page, frame, seconds, TARGETS[index % len(TARGETS)])
                dragged = cpu_now(server.pid)
                got = sum(received)
                commits.append(await commit(page, frame, drag))
                await wait_idle(page)
                wire += sum(received) - got
                live_cpu += dragged - before
                commit_cpu += cpu_now(server.pid) - dragged
                timelines.append(await commit_timeline(page, frame))
                live.append(drag)
                if await page.locator('[data-testid="stException"]').count():
                    errors.append("an exception is shown on the page")
                await asyncio.sleep(0.3)
        await chromium.close()
    repaints = sum(drag.repaints for drag in live)
    inputs = [ms for drag in live for ms in drag.input_ms]
    events = [ms for drag in live for ms in drag.event_ms]
    return {"cold": cold, "loading": steps, "input ms": inputs, "event ms": events, "timelines": timelines,
            "reruns": sum(drag.reruns for drag in live),
            "rate": statistics.median(drag.repaints / drag.seconds for drag in live),
            "repaints": repaints, "undrawn": sum(drag.undrawn for drag in live), "commits": commits,
            "live cpu": Cpu(*(seconds / max(repaints, 1) for seconds in live_cpu)),
            "commit cpu": Cpu(*(seconds / len(commits) for seconds in commit_cpu)), "errors": errors,
            "wire": wire / len(commits)}


async def old_browser(tree: Path, presses: int) -> dict:
    """The old app: cold start, then arrow keys on the sidebar's sgd ρ select-slider, each waited for."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await chromium.new_page(viewport=VIEWPORT)
        received = websocket_bytes(page)
        started, epoch = time.perf_counter(), time.time()
        with old_server(tree) as server:
            up = time.perf_counter() - started
            await page.goto(server.url)
            await page.wait_for_function(OLD_RACE_SIGNATURE, timeout=120_000, polling="raf")
            cold = time.perf_counter() - started
            steps = {"server answering": up, **(await loading(page, epoch, "page")), "race drawn": cold}
            await wait_idle(page)
            if await page.locator(RACE_FRAME).count():
                raise RuntimeError("the old app's page has a live race frame: it is not the old app")
            slider = await open_old_slider(page)
            latencies, used, timelines, wire = [], Cpu(0.0, 0.0), [], 0
            for index in range(presses):
                before, got = cpu_now(server.pid), sum(received)
                latencies.append(await old_press(page, slider, "ArrowLeft" if index % 2 == 0 else "ArrowRight"))
                await wait_idle(page)
                wire += sum(received) - got
                used += cpu_now(server.pid) - before
                timelines.append(await old_timeline(page))
                await asyncio.sleep(0.3)
        await chromium.close()
    return {"cold": cold, "loading": steps, "presses": latencies, "timelines": timelines,
            "cpu": Cpu(*(seconds / presses for seconds in used)), "wire": wire / presses}


async def loading(frame, epoch: float, what: str) -> dict[str, float]:
    """When a page or frame was created and loaded (its load event), in seconds from ``epoch``."""
    origin, load = await frame.evaluate(
        "() => [performance.timeOrigin, performance.getEntriesByType('navigation')[0].loadEventEnd]")
    return {f"{what} created": origin / 1000 - epoch, f"{what} loaded": (origin + load) / 1000 - epoch}


def middle(timelines: list[dict], name: str) -> float:
    """The median of one step over timelines (nan where none has it)."""
    values = [timeline[name] for timeline in timelines if timeline[name] == timeline[name]]
    return statistics.median(values) if values else float("nan")


def table(new: dict, old: dict | None, new_test: dict, old_test: dict | None) -> list[tuple]:
    """Rows: (measure, new value, old value, unit, target text, met or None)."""
    ms, s, mb, cpu, rate = "ms", "s", "MB", "CPU s", "/s"
    old = old or {}
    old_test = old_test or {}
    old_median = statistics.median(old["presses"]) if old else None
    commit_median = statistics.median(new["commits"])
    rows = [
        ("server rerun after ρ change (AppTest), best", min(new_test["reruns"]),
         min(old_test["reruns"]) if old_test else None, s, "", None),
        ("server rerun after ρ change (AppTest), median", statistics.median(new_test["reruns"]),
         statistics.median(old_test["reruns"]) if old_test else None, s, "", None),
        ("first run (AppTest, cold caches)", new_test["first"], old_test.get("first"), s, "", None),
        ("race figure payload", new_test["race figure"] / 1e6,
         old_test["race figure"] / 1e6 if old_test else None, mb, "", None),
        ("live data payload (spec − figure)", (new_test["live spec"] - new_test["race figure"]) / 1e6, None, mb,
         "< 1 MB", (new_test["live spec"] - new_test["race figure"]) < 1e6),
        ("  of which the sliders' families", new_test["live sliders"] / 1e6, None, mb, "", None),
        ("race component's args on the wire", new_test["component args"] / 1e6, None, mb, "", None),
        *((f"cold start: {name}", value, old["loading"].get(name) if old else None, s, "", None)
          for name, value in new["loading"].items() if name != "race drawn"),
        ("cold start to first race chart", new["cold"], old.get("cold"), s, "< 6 s", new["cold"] < 6),
        ("live repaint, input → drawn, median", statistics.median(new["input ms"]), None, ms, "< 50 ms",
         statistics.median(new["input ms"]) < 50),
        ("live repaint, input → drawn, p95", quantile(new["input ms"], 0.95), None, ms, "< 100 ms",
         quantile(new["input ms"], 0.95) < 100),
        ("live repaint, pointer event → drawn, median", statistics.median(new["event ms"]), None, ms, "", None),
        ("live repaint, pointer event → drawn, p95", quantile(new["event ms"], 0.95), None, ms, "", None),
        ("repaints per second (1 s drag), median", new["rate"], None, rate, "≥ 20", new["rate"] >= 20),
        ("browser CPU per live step", new["live cpu"].browser, None, cpu, "< 0.05", new["live cpu"].browser < 0.05),
        ("server CPU per live step", new["live cpu"].server, None, cpu, "", None),
        ("commit: release → committed race drawn, median (old: slider → figure)", commit_median, old_median, s,
         "≤ old", None if old_median is None else commit_median <= old_median),
        ("commit p90 (old: slider → figure p90)", quantile(new["commits"], 0.9),
         quantile(old["presses"], 0.9) if old else None, s, "", None),
        ("first commit (old: first press), cold server caches", new["commits"][0],
         old["presses"][0] if old else None, s, "", None),
        ("  commit median: release (press) → script starts", middle(new["timelines"], "to script"),
         middle(old["timelines"], "to script") if old else None, s, "", None),
        ("  commit median: the script's run (page's view)", middle(new["timelines"], "script"),
         middle(old["timelines"], "script") if old else None, s, "", None),
        ("  commit median: release → race spec posted to the frame", middle(new["timelines"], "to spec"), None, s, "",
         None),
        ("  commit median: spec posted → race drawn", middle(new["timelines"], "spec to drawn"), None, s, "",
         None),
        ("bytes the page receives per commit (old: per press)", new["wire"] / 1e6, old["wire"] / 1e6 if old else None,
         mb, "", None),
        ("browser CPU per commit (old: per press)", new["commit cpu"].browser, old["cpu"].browser if old else None,
         cpu, "", None),
        ("server CPU per commit (old: per press)", new["commit cpu"].server, old["cpu"].server if old else None,
         cpu, "", None),
    ]
    return rows


def shown(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.3f} MB"
    if unit == "/s":
        return f"{value:.1f} /s"
    return f"{value:.3f} s" if unit == "s" else f"{value:.4f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drags", type=int, default=8, help="live drags (each released: a commit) in the browser")
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one live drag")
    parser.add_argument("--presses", type=int, default=12, help="old app: slider key presses in the browser")
    parser.add_argument("--reruns", type=int, default=12, help="AppTest reruns per app")
    parser.add_argument("--no-old", dest="old", action="store_false", help="skip the old app (6b339cd)")
    args = parser.parse_args()
    stop_servers_on_sigterm()
    load_before = machine()
    old = old_test = None
    new_test = apptest(ROUTER, args.reruns)
    new = asyncio.run(new_browser(args.drags, args.seconds))
    if args.old:
        with old_worktree() as tree:
            old_test = apptest(tree / "app.py", args.reruns, cwd=tree, env=old_environment(tree))
            old = asyncio.run(old_browser(tree, args.presses))
    rows = table(new, old, new_test, old_test)
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':{width}s} {'new':>12s} {'old 6b339cd':>12s}  {'target':>9s}  met")
    for name, value, before, unit, target, met in rows:
        print(f"{name:{width}s} {shown(value, unit):>12s} {shown(before, unit):>12s}  {target:>9s}  "
              f"{'' if met is None else ('yes' if met else 'NO')}")
    print(f"live repaints: {new['repaints']} over {args.drags} drags ({new['undrawn']} inputs never drawn, "
          f"{new['reruns']} script runs during drags); "
          f"commits: {len(new['commits'])}; old presses: {len(old['presses']) if old else 0}; "
          f"page errors: {len(new['errors'])} {new['errors'][:1]}")
    print(f"headless chromium at {VIEWPORT['width']}×{VIEWPORT['height']}; machine: {load_before} at the start, "
          f"{machine()} at the end")


if __name__ == "__main__":
    main()
