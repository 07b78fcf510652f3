"""Serving a class: N users on one server, each dragging a live slider on Explore and releasing it every 6 s.

For each N (``--sessions``, default 1 4 8), one ``streamlit run`` of the app (this working tree's
``losslab.serve.ROUTER``) and one headless chromium with N browser contexts (N separate sessions, 1440×900). Each
session opens Explore; once every session has its race drawn, each starts at its own phase (session i of N waits
i·interval/N: a class does not move in lockstep) and every ``--interval`` seconds drags the race's sgd ρ live slider
for one second (``page.mouse.move`` in small steps, thumb → left end → right end → the release value: each step
restyles the path in the browser, nothing goes to the server) and releases it (a commit: the server reruns the page
and the frame draws the committed race). Releases alternate between ρ = 0.05 and 0.03.

Prints, per N:
- live repaint latency, p50 and p95 over every repaint of every session: from the slider's ``input`` event to the
  first animation frame after the chart's ``plotly_restyle`` (measured in the page, ``live_probe.INSTALL_PROBE``);
- commit latency, p50 and p95: from the mouse release to the committed race drawn (a new figure whose sgd path has
  501 points, and the value in the page's URL);
- the server's peak resident memory (its process tree, sampled from /proc every 0.25 s);
- errors: a page error, an exception element, a commit that never came, a live input never drawn, a script run
  started by a live drag;
- CPU seconds per live step and per commit, of chromium (every chromium process this benchmark started) and of the
  server (its process tree), from /proc. The sessions overlap, so the CPU is split by a fit: over 0.5 s bins of the
  sessions' time together, CPU − c·(seconds) = a·(repaints in the bin) + b·(commits in the bin, each spread evenly
  over its release → idle window), a, b ≥ 0 (non-negative least squares), where c, the CPU per second of the open
  pages and the server with nobody moving, is measured over the first 3 s after every session is ready (printed as
  ``idle/s``); a is the CPU per live step, b per commit; ``total/cycle`` is all CPU while the sessions move divided
  by the cycles (drag + release), as the old load.py reported per press.

Baseline, in the same run (``--pages``, default ``live old``): ``old`` is the app before live sliders (commit
6b339cd, served from a temporary ``git worktree`` with its own packages, removed at the end): the same N sessions
each press an arrow key on the sidebar's sgd ρ select-slider every ``--interval`` s and wait for the race chart to be
redrawn (its whole page reruns), as the old load.py did; its "commit" columns are those presses (its CPU fit has no
live term). ``baseline`` (optional) is ``load_baseline_app.py``: only Explore's old slider and race chart.

Targets: at 8 sessions, live repaint p95 < 150 ms; commit p95 < 3 s, peak RSS < 2 GB and no errors at every N.

Run:  python benchmarks/load.py [--sessions 1 4 8] [--pages live old baseline] [--duration 60] [--interval 6]
      [--drag 1.0]          (fewer sessions or a shorter --duration for a quick look)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from live_probe import (
    OLD_RACE_SIGNATURE,
    VIEWPORT,
    Sampler,
    commit,
    live_drag,
    machine,
    old_press,
    old_server,
    old_worktree,
    open_old_slider,
    quantile,
    race_frame,
    wait_idle,
)

from losslab.app.live_server import CHROMIUM, CHROMIUM_ARGS, stop_servers_on_sigterm, streamlit_server
from losslab.serve import ROUTER

BASELINE = Path(__file__).resolve().parent / "load_baseline_app.py"
TARGETS = {"live p95": 0.150, "live p95 at": 8, "commit p95": 3.0, "rss": 2e9}
RELEASES = (0.05, 0.03)  # the live drags' release values, in turn
BIN = 0.5  # seconds: the CPU fit's bins
IDLE = 3.0  # seconds with every session open and nobody moving, before the phases start: the idle CPU rates


@dataclass
class Log:
    """What the sessions of one measurement did, in ``time.monotonic`` seconds."""

    drags: list[tuple[float, float, int]] = field(default_factory=list)  # (start, end, repaints)
    commits: list[tuple[float, float]] = field(default_factory=list)  # (release or press, page idle again)
    live_ms: list[float] = field(default_factory=list)
    commit_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    window: list[float] = field(default_factory=list)  # [all ready, all done]: the first IDLE seconds are idle


async def live_setup(page) -> dict:
    frame = await race_frame(page, timeout=180_000, polling=100)
    await wait_idle(page, timeout=180_000)
    return {"frame": frame}


async def live_cycle(page, state: dict, index: int, seconds: float, log: Log) -> None:
    """A live drag of ``seconds`` and its release (a commit)."""
    frame = state["frame"]
    started = time.monotonic()
    drag = await live_drag(page, frame, seconds, RELEASES[index % len(RELEASES)])
    released = time.monotonic()
    log.drags.append((started, released, drag.repaints))
    log.live_ms.extend(drag.input_ms)
    if drag.undrawn:
        log.errors.append(f"{drag.undrawn} live inputs never drawn")
    if drag.reruns:
        log.errors.append(f"a live drag started {drag.reruns} script runs")
    log.commit_s.append(await commit(page, frame, drag))
    await wait_idle(page)
    log.commits.append((released, time.monotonic()))


async def press_setup(page) -> dict:
    await page.wait_for_function(OLD_RACE_SIGNATURE, timeout=180_000, polling=100)
    await wait_idle(page, timeout=180_000)
    return {"slider": await open_old_slider(page)}


async def press_cycle(page, state: dict, index: int, seconds: float, log: Log) -> None:
    """An arrow key on the old sgd ρ select-slider, waited for until the race is redrawn and the page idle."""
    started = time.monotonic()
    log.commit_s.append(await old_press(page, state["slider"], "ArrowLeft" if index % 2 == 0 else "ArrowRight"))
    await wait_idle(page)
    log.commits.append((started, time.monotonic()))


async def user(browser, url: str, live: bool, args: argparse.Namespace, phase: float, ready: asyncio.Barrier,
               done: asyncio.Barrier, log: Log) -> None:
    """One session: open the page, wait for every session, then one cycle every ``args.interval`` seconds from
    ``phase`` on, for ``args.duration`` seconds. A session that fails to open still meets the others."""
    setup, cycle = (live_setup, live_cycle) if live else (press_setup, press_cycle)
    context = await browser.new_context(viewport=VIEWPORT)
    page = await context.new_page()
    page.on("pageerror", lambda error: log.errors.append(f"page error: {error}"))
    try:
        try:
            await page.goto(url)
            state = await setup(page)
        except Exception as error:  # noqa: BLE001 - reported in the table
            log.errors.append(f"page did not open: {type(error).__name__}: {str(error)[:120]}")
            state = None
        await mark(ready, log, 0)
        await asyncio.sleep(IDLE + phase)
        ends = time.monotonic() + args.duration
        index = 0
        while state is not None and time.monotonic() < ends:
            tick = time.monotonic()
            try:
                await cycle(page, state, index, args.drag, log)
            except Exception as error:  # noqa: BLE001 - any failure is an error the table reports
                log.errors.append(f"cycle failed: {type(error).__name__}: {str(error)[:120]}")
                with contextlib.suppress(Exception):
                    await page.mouse.up()
            if await page.locator('[data-testid="stException"]').count():
                log.errors.append("exception shown on the page")
            index += 1
            await asyncio.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
        await mark(done, log, 1)  # every page still open: their processes' CPU time is still readable
    finally:
        await context.close()


async def mark(barrier: asyncio.Barrier, log: Log, which: int) -> None:
    """Wait for every session; the first one through records the time (0: all ready, 1: all done)."""
    await barrier.wait()
    if len(log.window) == which:
        log.window.append(time.monotonic())


def spread(windows: list[tuple[float, float, float]], edges: np.ndarray) -> np.ndarray:
    """Per bin: each (start, end, amount) spread evenly over its window, summed."""
    counts = np.zeros(len(edges) - 1)
    for start, end, amount in windows:
        span = max(end - start, 1e-9)
        overlap = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None)
        counts += amount * overlap / span
    return counts


def cpu_fit(samples: list[tuple[float, float, float]], log: Log) -> dict[str, float]:
    """CPU per live step and per commit, browser and server: the non-negative fit the docstring describes, its
    c (the CPU per second of open, unmoved pages) measured over the IDLE seconds before the sessions start."""
    from scipy.optimize import nnls

    names = [f"{name} {what}" for name in ("browser", "server") for what in ("step", "commit", "cycle", "idle")]
    if len(log.window) < 2:
        return dict.fromkeys(names, float("nan"))
    ready, done = log.window
    idle = np.array([sample for sample in samples if ready <= sample[0] <= ready + IDLE])
    busy = [sample for sample in samples if ready + IDLE <= sample[0] <= done]
    if len(idle) < 2 or len(busy) < 3:
        return dict.fromkeys(names, float("nan"))
    times = np.array([sample[0] for sample in busy])
    every = max(1, round(BIN / np.median(np.diff(times))))
    chosen = np.arange(0, len(busy), every)
    edges = times[chosen]
    regressors = [spread([(a, b, 1.0) for a, b in log.commits], edges)]
    if log.drags:
        regressors.insert(0, spread([(a, b, n) for a, b, n in log.drags], edges))
    matrix = np.column_stack(regressors)
    fit = {}
    cycles = max(len(log.commits), 1)
    for column, name in ((1, "browser"), (2, "server")):
        rate = (idle[-1, column] - idle[0, column]) / (idle[-1, 0] - idle[0, 0])
        used = np.diff(np.array([busy[i][column] for i in chosen]))
        coefficients, _ = nnls(matrix, used - rate * np.diff(edges))
        fit[f"{name} step"] = coefficients[0] if log.drags else float("nan")
        fit[f"{name} commit"] = coefficients[-1]
        fit[f"{name} cycle"] = used.sum() / cycles
        fit[f"{name} idle"] = rate
    return fit


async def measure(app: Path, live: bool, sessions: int, args: argparse.Namespace, tree: Path | None = None) -> dict:
    """N sessions on one server (``tree``: the old app's worktree) and one chromium."""
    from playwright.async_api import async_playwright

    log = Log()
    with old_server(tree) if tree is not None else streamlit_server(app) as running:
        sampler = Sampler(running.pid)
        sampler.start()
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ready, done = asyncio.Barrier(sessions), asyncio.Barrier(sessions)
                await asyncio.gather(*(user(browser, running.url, live, args, index * args.interval / sessions,
                                            ready, done, log) for index in range(sessions)))
                await browser.close()
        finally:
            sampler.stop()
    return {"cycles": len(log.commits), "repaints": sum(n for _, _, n in log.drags),
            "live p50": quantile(log.live_ms, 0.5) / 1000, "live p95": quantile(log.live_ms, 0.95) / 1000,
            "commit p50": quantile(log.commit_s, 0.5), "commit p95": quantile(log.commit_s, 0.95),
            "rss": sampler.peak, "errors": len(log.errors), "first error": log.errors[0] if log.errors else "",
            **cpu_fit(sampler.samples, log)}


def met(row: dict, sessions: int, live: bool) -> bool:
    good = row["commit p95"] < TARGETS["commit p95"] and row["rss"] < TARGETS["rss"] and not row["errors"]
    if live and sessions >= TARGETS["live p95 at"]:
        good = good and row["live p95"] < TARGETS["live p95"]
    return good


def line(page: str, sessions: int, row: dict) -> str:
    """One row of the table (the live columns show — for a page without live sliders)."""
    live = page == "live"

    def shown(value: float, form: str, scale: float = 1.0) -> str:
        return form.format(value * scale) if live else "—"

    return (f"{page:>8s} {sessions:2d} {row['cycles']:6d} {row['repaints']:8d} "
            f"{shown(row['live p50'], '{:.0f}', 1000):>8s} {shown(row['live p95'], '{:.0f}', 1000):>6s} "
            f"{row['commit p50']:10.3f} {row['commit p95']:6.3f} {row['rss'] / 1e6:6.0f} MB {row['errors']:6d} "
            f"{shown(row['browser step'], '{:.3f}'):>14s} {shown(row['server step'], '{:.3f}'):>6s} "
            f"{row['browser commit']:11.3f} {row['server commit']:5.3f} {row['browser cycle']:15.3f} "
            f"{row['server cycle']:5.3f} {row['browser idle']:10.3f} {row['server idle']:5.3f}  "
            f"{'met' if met(row, sessions, live) else 'NOT met'} {row['first error']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--pages", nargs="+", choices=("live", "old", "baseline"), default=["live", "old"],
                        help="live: this app's live sliders; old: the app at 6b339cd; baseline: load_baseline_app")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each session keeps moving")
    parser.add_argument("--interval", type=float, default=6.0, help="seconds between one session's releases")
    parser.add_argument("--drag", type=float, default=1.0, help="seconds of one live drag")
    args = parser.parse_args()
    stop_servers_on_sigterm()
    print(f"machine at the start: {machine()}")
    print(f"{'page':>8s} {'N':>2s} {'cycles':>6s} {'repaints':>8s} {'live p50':>8s} {'p95 ms':>6s} "
          f"{'commit p50':>10s} {'p95 s':>6s} {'peak RSS':>9s} {'errors':>6s} "
          f"{'CPU s/step: br':>14s} {'srv':>6s} {'/commit: br':>11s} {'srv':>5s} {'total/cycle: br':>15s} {'srv':>5s} "
          f"{'idle/s: br':>10s} {'srv':>5s}  "
          f"targets: live p95 < {TARGETS['live p95'] * 1000:g} ms at {TARGETS['live p95 at']}, "
          f"commit p95 < {TARGETS['commit p95']:g} s, RSS < {TARGETS['rss'] / 1e9:g} GB, no errors", flush=True)
    with old_worktree() if "old" in args.pages else contextlib.nullcontext() as tree:
        for sessions in args.sessions:
            for page in args.pages:
                if page == "live":
                    row = asyncio.run(measure(ROUTER, True, sessions, args))
                elif page == "old":
                    row = asyncio.run(measure(tree / "app.py", False, sessions, args, tree))
                else:
                    row = asyncio.run(measure(BASELINE, False, sessions, args))
                print(f"{line(page, sessions, row)}  (load average {os.getloadavg()[0]:.1f})", flush=True)
    print(f"machine at the end: {machine()}")


if __name__ == "__main__":
    main()
