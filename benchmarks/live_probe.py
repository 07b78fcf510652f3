"""What ``benchmarks/explore.py`` and ``benchmarks/load.py`` share: driving the Explore page's live race in headless
chromium and observing it from inside its frame, the old app (before live sliders) served from a temporary git
worktree, and the CPU seconds of this process's own chromium and of a server, read from /proc.

Not a benchmark itself: ``python benchmarks/live_probe.py`` only checks that the old app's worktree can be made, that
its own packages are the ones it imports, and that it is removed again.

The live race is a Streamlit component (an iframe titled ``losslab.app.live_race.live_race``) running
``plots/live_race.js``: one ``<input type=range>`` per live slider; an ``input`` event restyles that optimizer's path
(``Plotly.restyle``, no server round trip) and increments ``.live-race-chart``'s ``data-repaints``; a pointer release
(a ``change``) sends the value to the server, whose rerun redraws the committed race in the same frame.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import NamedTuple

from losslab.app.live_server import SERVER_FLAGS, LiveServer, free_port, served

REPO = Path(__file__).resolve().parents[1]
OLD_COMMIT = "6b339cd"  # the app before live sliders: moving ρ reran the whole page
PACKAGES = ("losslab", "plots", "optimizers", "landscapes", "validation")

VIEWPORT = {"width": 1440, "height": 900}
RACE_FRAME = 'iframe[title="losslab.app.live_race.live_race"]'
SGD_RHO = "ρ learning rate of sgd"  # the live slider's aria-label (losslab.live.LiveSlider.label)
OLD_SGD_RHO = "ρ  learning rate"  # the old sidebar select-slider, in its "sgd: SGD" expander
STEPS = 500  # the default race: a committed path has STEPS + 1 points

# In the race frame: the race chart is drawn with an sgd path.
LIVE_DRAWN = """() => { const g = document.querySelector('.live-race-chart');
  return !!(window.liveRace && g && g._fullData
            && g._fullData.some(t => t.legendgroup === 'sgd' && t.mode === 'lines')); }"""

# In the race frame: the figure id and the sgd ρ slider's values and position.
LIVE_SGD = """() => { const s = liveRace.spec.sliders.find(s => s.optimizer === 'sgd' && s.key === 'lr');
  return {figure: liveRace.spec.figure_id, values: s.values, index: s.index}; }"""

# In the race frame, once per drag: record, for every live repaint, the time from the slider's ``input`` event (a
# capture-phase listener: before the slider's own) and from the pointer or key event that caused it (its
# ``timeStamp``) to the first animation frame after the chart's ``plotly_restyle`` (or ``plotly_animated``) event.
# Inputs and restyles pair in order: each input restyles once. Also the release (``change``) and the arrival of each
# ``streamlit:render`` message (the spec of a rerun), as epoch milliseconds.
INSTALL_PROBE = """() => {
  const chart = document.querySelector('.live-race-chart');
  if (!chart || !chart.on) return false;
  let probe = window.__liveProbe;
  if (!probe) {
    probe = window.__liveProbe = {pending: [], drawn: [], cause: null, renders: []};
    const note = (event) => { probe.cause = event.timeStamp; };
    for (const type of ['pointerdown', 'pointermove', 'keydown']) document.addEventListener(type, note, true);
    document.addEventListener('input', () => {
      const now = performance.now();
      probe.pending.push([now, probe.cause === null ? now : probe.cause]);
    }, true);
    document.addEventListener('change', () => { probe.changed = performance.timeOrigin + performance.now(); }, true);
    window.addEventListener('message', (event) => {
      if (event.data && event.data.type === 'streamlit:render')
        probe.renders.push(performance.timeOrigin + event.timeStamp);
    }, true);
    probe.restyled = () => {
      const cause = probe.pending.shift();
      requestAnimationFrame(() => {
        const now = performance.now();
        if (cause) probe.drawn.push([now - cause[0], now - cause[1]]);
      });
    };
  }
  for (const name of ['plotly_restyle', 'plotly_animated']) {
    chart.removeListener(name, probe.restyled);
    chart.on(name, probe.restyled);
  }
  Object.assign(probe, {pending: [], drawn: [], cause: null, renders: [], changed: null, committed: null});
  return true;
}"""

# In the main page, once per commit or press: the script's run state changes and the last key press, as epoch
# milliseconds (Streamlit marks its root with the script's run state).
SCRIPT_PROBE = """() => {
  let probe = window.__scriptProbe;
  if (!probe) {
    const app = document.querySelector('[data-testid="stApp"]');
    probe = window.__scriptProbe = {states: []};
    const note = () => probe.states.push([app.dataset.testScriptState, performance.timeOrigin + performance.now()]);
    new MutationObserver(note).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
    document.addEventListener('keydown', (event) => { probe.key = performance.timeOrigin + event.timeStamp; }, true);
  }
  Object.assign(probe, {states: [], key: null, drawn: null});
  return true;
}"""

READ_PROBE = """() => ({drawn: window.__liveProbe.drawn, pending: window.__liveProbe.pending.length,
  repaints: Number(document.querySelector('.live-race-chart').dataset.repaints || 0)})"""

# In the race frame: the committed race is drawn (a new figure whose sgd path has all its points) and the page's URL
# holds the committed value.
COMMITTED = """(a) => { const g = document.querySelector('.live-race-chart');
  if (!window.liveRace || liveRace.spec.figure_id === a.figure || !g || !g._fullData) return false;
  if (!g._fullData.some(t => t.legendgroup === 'sgd' && t.mode === 'lines' && t.x && t.x.length === a.points))
    return false;
  const v = Number(new URLSearchParams(window.parent.location.search).get('sgd.lr'));
  if (Math.abs(v - a.value) > 1e-9 * Math.abs(a.value)) return false;
  if (window.__liveProbe && !window.__liveProbe.committed)
    window.__liveProbe.committed = performance.timeOrigin + performance.now();
  return true; }"""

IDLE = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning'; }"""

# The old app's race chart (a st.plotly_chart): a signature of its sgd path that changes when it is redrawn.
OLD_RACE_SIGNATURE = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g.layout && g.layout.title && String(g.layout.title.text || '').includes('steps'));
  if (!charts.length) return null;
  const paths = (charts[charts.length - 1]._fullData || []).filter(t => (t.name || '').startsWith('sgd'));
  if (!paths.length) return null;
  const x = paths[0].x;
  return paths.length + ':' + x.length + ':' + x[x.length - 1];
}"""

THUMB = 16  # chromium's range thumb (px): a value's pixel runs from THUMB/2 to width - THUMB/2


# --- CPU and memory, from /proc ----------------------------------------------------------------------------------


def _stat(pid: int | str) -> list[str]:
    """/proc/PID/stat's fields after the command name (state is [0], ppid [1], utime [11], stime [12])."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu(pid: int | str) -> float:
    """User + system CPU seconds of one process."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    """Every live process's children, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            children.setdefault(int(_stat(stat.parent.name)[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
    return children


def descendants(root: int, children: dict[int, list[int]] | None = None) -> list[int]:
    """The live processes below ``root`` (children, their children, …)."""
    children = _children() if children is None else children
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.append(child)
            todo.append(child)
    return found


def _sum_cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += process_cpu(pid)
        except OSError:  # ended meanwhile
            continue
    return total


def _chromium(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split(b" ", 1)[0]
        except OSError:
            continue
        if Path(program.decode(errors="replace")).name == "chromium":  # a renderer's argv is one string
            found.append(pid)
    return found


def tree_cpu(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds of a process and every live process below it (a server and any worker it starts)."""
    return _sum_cpu([pid, *descendants(pid, children)])


def browser_cpu(children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds of the chromium processes this benchmark started (browser, renderers, GPU and utility processes:
    every ``chromium`` below this process). Other chromium processes on the machine are not counted."""
    return _sum_cpu(_chromium(descendants(os.getpid(), children)))


def rss_bytes(pid: int, children: dict[int, list[int]] | None = None) -> int:
    """Resident memory of a process and the processes below it."""
    total = 0
    for each in [pid, *descendants(pid, children)]:
        try:
            with open(f"/proc/{each}/status") as status:
                total += next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
    return total


class Cpu(NamedTuple):
    browser: float
    server: float

    def __sub__(self, other: Cpu) -> Cpu:  # type: ignore[override]
        return Cpu(self.browser - other.browser, self.server - other.server)

    def __add__(self, other: Cpu) -> Cpu:  # type: ignore[override]
        return Cpu(self.browser + other.browser, self.server + other.server)


def cpu_now(server_pid: int, children: dict[int, list[int]] | None = None) -> Cpu:
    """CPU seconds so far of this benchmark's chromium and of the server's process tree."""
    children = _children() if children is None else children
    return Cpu(browser_cpu(children), tree_cpu(server_pid, children))


class Sampler(threading.Thread):
    """Every ``every`` seconds: (monotonic time, browser CPU, server CPU) and the server's peak resident memory."""

    def __init__(self, server_pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.server_pid, self.every = server_pid, every
        self.samples: list[tuple[float, float, float]] = []
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            children = _children()
            cpu = cpu_now(self.server_pid, children)
            self.peak = max(self.peak, rss_bytes(self.server_pid, children))
            self.samples.append((time.monotonic(), *cpu))
            time.sleep(self.every)

    def stop(self) -> None:
        self.running = False
        self.join(5)


# --- the old app, from a temporary worktree -----------------------------------------------------------------------


@contextmanager
def old_worktree(commit: str = OLD_COMMIT) -> Iterator[Path]:
    """``git worktree add --detach`` of ``commit`` in a fresh temporary folder; removed (``git worktree remove
    --force``) on leaving, Ctrl-C and SIGTERM included (``stop_servers_on_sigterm``)."""
    parent = Path(tempfile.mkdtemp(prefix="losslab-old-"))
    tree = parent / "app"
    try:
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), commit],
                       check=True, stdout=subprocess.DEVNULL)
        check_imports(tree)
        yield tree
    finally:
        if tree.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False,
                           stdout=subprocess.DEVNULL)
        shutil.rmtree(parent, ignore_errors=True)


def old_environment(tree: Path) -> dict[str, str]:
    """The environment that makes a Python process import the old tree's packages (before this checkout's editable
    install, which is found after ``PYTHONPATH``)."""
    return {**os.environ, "PYTHONPATH": str(tree)}


def check_imports(tree: Path) -> None:
    """Fail unless a Python started as the old server would import every package of the app from ``tree``."""
    code = f"import importlib; print('\\n'.join(importlib.import_module(p).__file__ for p in {PACKAGES!r}))"
    files = subprocess.run([sys.executable, "-c", code], cwd=tree, env=old_environment(tree), check=True,
                           capture_output=True, text=True).stdout.splitlines()
    outside = [file for file in files if not Path(file).resolve().is_relative_to(tree.resolve())]
    if outside or len(files) != len(PACKAGES):
        raise RuntimeError(f"the old app would import {outside or files} from outside {tree}")


def old_server(tree: Path, timeout: float = 60.0) -> AbstractContextManager[LiveServer]:
    """``streamlit run app.py`` of the old tree with its own settings, its own packages and its own folder."""
    with open(tree / "losslab" / "app" / "config.toml", "rb") as handle:
        settings = tomllib.load(handle)
    flags = [f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
             for section, values in settings.items() for key, value in values.items()]
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(tree / "app.py"), *flags, *SERVER_FLAGS,
               "--server.port", str(port)]
    return served(command, port, timeout, cwd=tree, env=old_environment(tree))


# --- driving the page -------------------------------------------------------------------------------------------


async def wait_idle(page, timeout: float = 60_000) -> None:
    """Until the app's script is not running."""
    await page.wait_for_function(IDLE, timeout=timeout, polling=50)


async def race_frame(page, timeout: float = 120_000, polling: str | int = "raf"):
    """The live race's frame, once its chart is drawn."""
    handle = await page.wait_for_selector(RACE_FRAME, state="attached", timeout=timeout)
    frame = await handle.content_frame()
    await frame.wait_for_function(LIVE_DRAWN, timeout=timeout, polling=polling)
    return frame


class Drag(NamedTuple):
    seconds: float  # from the button press to the last repaint drawn
    moves: int  # page.mouse.move calls
    repaints: int  # data-repaints counted during the drag
    input_ms: list[float]  # per repaint: input event → first animation frame after the restyle
    event_ms: list[float]  # per repaint: the pointer event's timeStamp → the same frame
    undrawn: int  # input events never followed by a restyle
    reruns: int  # script runs the page started during the drag (a live drag should start none)
    index: int  # the slider's position when the drag ends
    figure: str  # the figure id before the drag (the commit changes it)
    value: float  # the value at ``index``


def _pixel(box: dict, index: float, top: int) -> float:
    return box["x"] + THUMB / 2 + index / top * (box["width"] - 2 * (THUMB / 2))


def _along(path: list[int], fraction: float) -> float:
    """The slider position a fraction of the way along a path of positions (straight between them)."""
    lengths = [abs(b - a) for a, b in zip(path, path[1:])]
    left = fraction * sum(lengths)
    for (a, b), length in zip(zip(path, path[1:]), lengths):
        if left <= length and length:
            return a + (b - a) * left / length
        left -= length
    return path[-1]


async def live_drag(page, frame, seconds: float, target: float | None, label: str = SGD_RHO) -> Drag:
    """Press the live slider ``label``'s thumb and move the mouse in small steps for ``seconds``: from the thumb to the
    track's left end, to its right end and back to ``target``'s position (the nearest value; None: where the thumb
    started, so that the release commits nothing), as fast as the page takes each move. The button is still down when
    this returns: ``commit`` releases it."""
    slider = frame.get_by_role("slider", name=label)
    await slider.scroll_into_view_if_needed()
    if not await frame.evaluate(INSTALL_PROBE):
        raise RuntimeError("no live race chart to observe")
    await page.evaluate(SCRIPT_PROBE)
    sgd = await frame.evaluate(LIVE_SGD)
    values = sgd["values"]
    start, top = (int(v) for v in await slider.evaluate("input => [input.value, input.max]"))
    goal = start if target is None else min(range(len(values)), key=lambda j: abs(values[j] - target))
    if goal == start and target is not None:
        raise ValueError(f"the slider is already at {target}: a release there would commit nothing")
    box = await slider.bounding_box()
    y = box["y"] + box["height"] / 2
    path = [start, 0, top, goal]
    before = (await frame.evaluate(READ_PROBE))["repaints"]
    await page.mouse.move(_pixel(box, start, top), y)
    await page.mouse.down()
    began = time.perf_counter()
    moves = 0
    while (elapsed := time.perf_counter() - began) < seconds:
        await page.mouse.move(_pixel(box, _along(path, elapsed / seconds), top), y)
        moves += 1
    await page.mouse.move(_pixel(box, goal, top), y)
    moves += 1
    try:
        await frame.wait_for_function("() => window.__liveProbe.pending.length === 0", timeout=5_000, polling="raf")
    except Exception:  # noqa: BLE001 - an input that never restyled: counted below as undrawn
        pass
    took = time.perf_counter() - began
    await asyncio.sleep(0.05)  # the last restyle's animation frame
    probe = await frame.evaluate(READ_PROBE)
    index = int(await slider.evaluate("input => input.value"))
    drawn = probe["drawn"]
    reruns = await page.evaluate("() => window.__scriptProbe.states.filter(s => s[0] === 'running').length")
    return Drag(took, moves, probe["repaints"] - before, [d[0] for d in drawn], [d[1] for d in drawn],
                probe["pending"], reruns, index, sgd["figure"], values[index])


async def commit(page, frame, drag: Drag, timeout: float = 60_000) -> float:
    """Release the mouse and wait (every animation frame) for the committed race: a new figure whose sgd path has
    all STEPS + 1 points, and the released value in the page's URL. Returns the seconds from the release."""
    started = time.perf_counter()
    await page.mouse.up()
    await frame.wait_for_function(COMMITTED, arg={"figure": drag.figure, "value": drag.value, "points": STEPS + 1},
                                  timeout=timeout, polling="raf")
    return time.perf_counter() - started


def _timeline(start: float | None, states: list, spec: float | None, drawn: float | None) -> dict[str, float]:
    """Seconds from ``start`` (epoch ms) to the script's first run after it, that run's length (to the last idle
    state), and from ``start`` to the spec's arrival in the frame (new app) and from there to the race drawn."""
    nan = float("nan")
    if start is None:
        return {"to script": nan, "script": nan, "to spec": nan, "spec to drawn": nan, "to drawn": nan}
    running = next((t for state, t in states if state == "running" and t >= start), None)
    idle = [t for state, t in states if state == "notRunning" and running is not None and t >= running]
    seconds = lambda a, b: nan if a is None or b is None else (b - a) / 1000
    return {"to script": seconds(start, running), "script": seconds(running, idle[-1] if idle else None),
            "to spec": seconds(start, spec), "spec to drawn": seconds(spec, drawn), "to drawn": seconds(start, drawn)}


async def commit_timeline(page, frame) -> dict[str, float]:
    """Where a commit's time went (call once the page is idle again): ``_timeline`` from the release."""
    live = await frame.evaluate("() => window.__liveProbe")
    script = await page.evaluate("() => window.__scriptProbe")
    start = live.get("changed")
    spec = next((t for t in live.get("renders", []) if start is not None and t >= start), None)
    return _timeline(start, script.get("states", []), spec, live.get("committed"))


async def old_timeline(page) -> dict[str, float]:
    """Where an old press's time went (call once the page is idle again): ``_timeline`` from the key press."""
    script = await page.evaluate("() => window.__scriptProbe")
    return _timeline(script.get("key"), script.get("states", []), None, script.get("drawn"))


async def open_old_slider(page):
    """The old page's sgd ρ select-slider, its expander opened."""
    await page.locator('[data-testid="stExpander"] summary').filter(has_text="sgd: SGD").click()
    return page.get_by_role("slider", name=OLD_SGD_RHO).first


async def old_press(page, slider, key: str, timeout: float = 30_000) -> float:
    """Press ``key`` on the old select-slider and wait (every animation frame) for the race to be redrawn."""
    before = await page.evaluate(OLD_RACE_SIGNATURE)
    await page.evaluate(SCRIPT_PROBE)
    await slider.focus()
    started = time.perf_counter()
    await page.keyboard.press(key)
    await page.wait_for_function(
        f"(old) => {{ if (({OLD_RACE_SIGNATURE})() === old) return false; const probe = window.__scriptProbe;"
        " if (!probe.drawn) probe.drawn = performance.timeOrigin + performance.now(); return true; }",
        arg=before, timeout=timeout, polling="raf")
    return time.perf_counter() - started


def machine() -> str:
    """The machine's CPUs and its load (other people's processes share it): printed with each table."""
    return f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min)"


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of values by the nearest rank (nan for none)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


if __name__ == "__main__":
    with old_worktree() as made:
        print(f"{made}: the old app's packages import from it")
    print("removed" if not made.exists() else f"{made} still exists")
