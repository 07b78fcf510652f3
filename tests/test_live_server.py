"""The live-server helper the browser tests and benchmarks share: its server stops with it, even on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BASELINE = Path(__file__).resolve().parents[1] / "benchmarks" / "load_baseline_app.py"
SCRIPT = f"""
import time
from losslab.app.live_server import stop_servers_on_sigterm, streamlit_server
stop_servers_on_sigterm()
with streamlit_server({str(BASELINE)!r}) as server:
    print(server.pid, server.url, flush=True)
    time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except FileNotFoundError:  # reaped
        return False


def test_sigterm_stops_the_server_it_started():
    runner = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    pid = None
    try:
        pid, url = runner.stdout.readline().split()
        pid = int(pid)
        assert urllib.request.urlopen(url + "/_stcore/health", timeout=10).read() == b"ok"
        runner.send_signal(signal.SIGTERM)
        runner.wait(30)
        deadline = time.monotonic() + 15
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pid), "the streamlit server outlived its runner"
    finally:
        runner.kill()
        if pid is not None and alive(pid):  # this test's own server, left behind: end it
            os.kill(pid, signal.SIGTERM)
