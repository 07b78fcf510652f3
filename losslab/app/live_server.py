"""A live ``streamlit run`` on a free loopback port and the headless chromium that drives it: shared by the
browser tests (``tests/e2e/conftest.py``) and the benchmarks that press the app in a real browser. It starts a
subprocess and never imports streamlit itself."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

ROUTER = Path(__file__).resolve().parent / "router.py"  # the app, installed or in a clone
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# A JavaScript function for ``page.wait_for_function``/``evaluate``: a short signature of the last race chart's sgd
# path (its trace count, length and last x), which changes when the chart is redrawn with a new sgd path.
RACE_SIGNATURE = """() => {
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"] .js-plotly-plot')]
    .filter(g => g.layout && g.layout.title && String(g.layout.title.text || '').includes('steps'));
  if (!charts.length) return null;
  const paths = (charts[charts.length - 1]._fullData || []).filter(t => (t.name || '').startsWith('sgd'));
  if (!paths.length) return null;
  const x = paths[0].x;
  return paths.length + ':' + x.length + ':' + x[x.length - 1];
}"""


class LiveServer(NamedTuple):
    url: str
    pid: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_servers_on_sigterm() -> None:
    """Make SIGTERM end this process as Ctrl-C does (``KeyboardInterrupt``), so that ``streamlit_server`` blocks
    still stop their servers; by default SIGTERM ends a Python process at once and leaves them running."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


@contextmanager
def streamlit_server(app: str | Path = ROUTER, timeout: float = 60.0) -> Iterator[LiveServer]:
    """``streamlit run app`` (the app's router by default; a relative path is from the current folder) bound to
    127.0.0.1, yielded once it answers its health check; stopped, by its PID, on leaving."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"streamlit run {app} did not start") from None
                time.sleep(0.05)
        yield LiveServer(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
