"""A live ``streamlit run`` on a free loopback port and the headless chromium that drives it: shared by the
browser tests (``tests/e2e/conftest.py``) and the benchmarks that press the app in a real browser. It starts a
subprocess and never imports streamlit itself."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from losslab.serve import ROUTER, streamlit_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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


SERVER_FLAGS = ("--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false")


@contextmanager
def served(command: list[str], port: int, timeout: float = 60.0, **popen: Any) -> Iterator[LiveServer]:
    """Run ``command`` (a Streamlit server on 127.0.0.1:``port``; ``popen``: e.g. ``cwd``, ``env``), yielded once it
    answers its health check; stopped, by its PID, on leaving."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{' '.join(command[:5])} … did not start") from None
                time.sleep(0.05)
        yield LiveServer(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def streamlit_server(app: str | Path = ROUTER, timeout: float = 60.0) -> AbstractContextManager[LiveServer]:
    """``streamlit run app`` (the app's router by default; a relative path is from the current folder) with the
    app's settings, on a free loopback port (``served``)."""
    port = free_port()
    return served(streamlit_command(app, [*SERVER_FLAGS, "--server.port", str(port)]), port, timeout)
