"""Serving a class: N users on one server, each moving a slider on Explore every 3 s.

For each N, one ``streamlit run app.py`` and one headless chromium with N browser contexts (N separate
sessions). Each session opens Explore; once every session has its race drawn, each starts at its own phase
(session i of N waits i·interval/N: a class does not press in lockstep) and every ``--interval`` seconds presses
an arrow key on the sgd ρ slider and waits until the race chart shows the new trajectories. Prints, per N:
slider → redraw latency p50/p95, the server's peak resident memory (sampled from /proc every 0.1 s), the errors
any session saw (an exception element, a page error, or a redraw that never came), and the CPU seconds per
press, from /proc, of chromium (all its processes: the pages' drawing) and of the server, while the sessions
press: on one machine the browsers and the server share its cores.

Baseline, in the same run: the same presses on ``load_baseline_app.py``, a page holding only Explore's sgd ρ
slider and its race chart. Its rows show what N browsers cost this machine before Explore's other elements.

Run:  python benchmarks/load.py [--sessions 1 4 8] [--pages explore baseline] [--duration 60] [--interval 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
from pathlib import Path

from losslab.app.live_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RACE_SIGNATURE,
    stop_servers_on_sigterm,
    streamlit_server,
)
from losslab.serve import ROUTER

BASELINE = Path(__file__).resolve().parent / "load_baseline_app.py"

TARGETS = {"p95": 3.0, "rss": 2e9}
PAGES = {"explore": ROUTER, "baseline": BASELINE}


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def process_cpu(pid: int | str) -> float:
    """User + system CPU seconds of one process (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chromium_cpu() -> float:
    """CPU seconds of every chromium process (browser, renderers, GPU and utility processes)."""
    total = 0.0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            program = cmdline.read_bytes().replace(b"\0", b" ").split(b" ", 1)[0]  # a renderer's argv is one string
            if Path(program.decode(errors="replace")).name == "chromium":
                total += process_cpu(cmdline.parent.name)
        except OSError:  # the process ended meanwhile
            continue
    return total


class CpuWindow:
    """CPU seconds of chromium and of the server from the first ``start()`` to the first ``stop()``."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.started: tuple[float, float] | None = None
        self.used: tuple[float, float] | None = None

    def sample(self) -> tuple[float, float]:
        return chromium_cpu(), process_cpu(self.server_pid)

    def start(self) -> None:
        if self.started is None:
            self.started = self.sample()

    def stop(self) -> None:
        if self.started is not None and self.used is None:
            self.used = tuple(end - begin for end, begin in zip(self.sample(), self.started))


class PeakMemory(threading.Thread):
    """The largest resident set size a process reaches while this thread samples it."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except OSError:
                return
            time.sleep(0.1)


async def user(browser, url: str, duration: float, interval: float, phase: float, ready: asyncio.Barrier,
               done: asyncio.Barrier, cpu: CpuWindow, latencies: list[float], errors: list[str]) -> None:
    context = await browser.new_context(viewport={"width": 1400, "height": 1100})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    try:
        await page.goto(url)
        await page.wait_for_function(RACE_SIGNATURE, timeout=120_000, polling=100)
        await page.locator('[data-testid="stExpander"] summary').filter(has_text="sgd: SGD").click()
        slider = page.get_by_role("slider", name="ρ  learning rate").first
        await ready.wait()
        cpu.start()
        await asyncio.sleep(phase)
        ends = time.perf_counter() + duration
        index = 0
        while time.perf_counter() < ends:
            tick = time.perf_counter()
            before = await page.evaluate(RACE_SIGNATURE)
            await slider.focus()
            started = time.perf_counter()
            await page.keyboard.press("ArrowLeft" if index % 2 == 0 else "ArrowRight")
            try:
                await page.wait_for_function(f"(old) => ({RACE_SIGNATURE})() !== old", arg=before,
                                             timeout=30_000, polling=50)
                latencies.append(time.perf_counter() - started)
            except Exception as error:  # noqa: BLE001 - any failure to redraw is an error the table reports
                errors.append(f"no redraw: {type(error).__name__}")
            if await page.locator('[data-testid="stException"]').count():
                errors.append("exception shown on the page")
            index += 1
            await asyncio.sleep(max(0.0, interval - (time.perf_counter() - tick)))
        await done.wait()  # every page still open: their processes' CPU time is still readable
        cpu.stop()
    finally:
        await context.close()


async def measure(app: str, sessions: int, duration: float, interval: float) -> dict[str, float]:
    from playwright.async_api import async_playwright

    latencies: list[float] = []
    errors: list[str] = []
    with streamlit_server(app) as server:
        memory = PeakMemory(server.pid)
        memory.start()
        cpu = CpuWindow(server.pid)
        try:
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ready, done = asyncio.Barrier(sessions), asyncio.Barrier(sessions)
                await asyncio.gather(*(user(browser, server.url, duration, interval, index * interval / sessions,
                                            ready, done, cpu, latencies, errors) for index in range(sessions)))
                await browser.close()
        finally:
            memory.running = False
    ordered = sorted(latencies) or [float("nan")]
    return {"presses": len(latencies), "p50": statistics.median(ordered),
            "p95": ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))],
            "rss": memory.peak, "errors": len(errors), "first error": errors[0] if errors else "",
            **dict(zip(("browser cpu", "server cpu"),
                       (seconds / max(len(latencies), 1) for seconds in cpu.used or (float("nan"),) * 2)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--pages", nargs="+", choices=list(PAGES), default=list(PAGES),
                        help="explore: the app; baseline: only Explore's slider and race chart")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds each session keeps moving")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between one session's presses")
    args = parser.parse_args()
    stop_servers_on_sigterm()
    print(f"{'page':>8s} {'sessions':>8s} {'presses':>8s} {'p50 s':>7s} {'p95 s':>7s} {'peak RSS':>10s} "
          f"{'errors':>6s} {'CPU s/press: browser':>21s} {'server':>6s}  "
          f"targets: p95 < {TARGETS['p95']:g} s, RSS < {TARGETS['rss'] / 1e9:g} GB, no errors")
    for sessions in args.sessions:
        for page in args.pages:
            row = asyncio.run(measure(PAGES[page], sessions, args.duration, args.interval))
            met = row["p95"] < TARGETS["p95"] and row["rss"] < TARGETS["rss"] and not row["errors"]
            print(f"{page:>8s} {sessions:8d} {row['presses']:8d} {row['p50']:7.3f} {row['p95']:7.3f} "
                  f"{row['rss'] / 1e6:8.0f} MB {row['errors']:6d} {row['browser cpu']:21.2f} "
                  f"{row['server cpu']:6.2f}  {'met' if met else 'NOT met'} {row['first error']}", flush=True)


if __name__ == "__main__":
    main()
