"""``losslab slice --workers N`` / ``--address``: the tiles as Ray tasks.

The user's model lives in a module written to a temporary folder (not on the default ``sys.path``): the workers
import it through Ray's ``runtime_env``. One head node (``ray start --head --block``, bound to 127.0.0.1, its own
temporary folder) serves the ``--address`` tests of this module and is stopped at the end (SIGTERM: it stops what
it started); ``--workers 2`` starts and stops its own local cluster once. Checked: the store equals the
one-process store bit for bit, a worker that dies has its tile retried, a partly done store resumes on Ray, and
every bad input ends with one line and exit status 2, fast. ``ray`` is imported by this module only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zarr

from losslab import slice_compute, slice_ray, slice_run
from tests.cli_run import run_cli

ROOT = Path(__file__).resolve().parent.parent
# Ray picks the machine's outward address for a node unless told it runs single-machine: keep every socket of
# the clusters these tests start (and their drivers) on 127.0.0.1. Read by ray at import, so set first (a driver
# on another address than the head's node waits for a raylet there forever).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# not imported at collection: the rest of the suite runs without ray in its process
pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (.[test])")

USER_MODULE = '''
"""A user's models for the Ray tests (written to a temporary folder)."""

import os

import torch
from sklearn.datasets import load_digits
from torch import nn


def make_cnn():
    """conv 1→4 3×3, ReLU, max-pool, linear 64→10 on the 8×8 digits."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def digits():
    data = load_digits()
    return torch.tensor(data.images[:64] / 16.0, dtype=torch.float32)[:, None], torch.tensor(data.target[:64])


class Dying(torch.utils.data.Dataset):
    """The digits; the first process other than the one that made the data set to read an example (a Ray worker
    building its surface) claims the marker file and dies on the spot, once."""

    def __init__(self):
        self.inputs, self.targets = digits()
        self.parent = os.getpid()
        self.marker = os.environ["LOSSLAB_DIE_MARKER"]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        if os.getpid() != self.parent:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os._exit(1)
        return self.inputs[index], self.targets[index]


def dying_loader():
    return torch.utils.data.DataLoader(Dying(), batch_size=32)


class Failing(Dying):
    """The digits, which no process but the one that made them can read: every task raises."""

    def __getitem__(self, index):
        if os.getpid() != self.parent:
            raise RuntimeError("not on this machine")
        return self.inputs[index], self.targets[index]


def failing_loader():
    return torch.utils.data.DataLoader(Failing(), batch_size=32)
'''


def _user_module(folder: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The user's module written as ``folder/name.py``, importable here from ``folder`` (the current folder, as
    for ``python -m``), nowhere else: its name is new to this process."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    return name


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _loss(store: Path) -> np.ndarray:
    return np.asarray(zarr.open_group(str(store), mode="r")["loss"][:])


def _slice(store: Path, module: str, *extra: str, model: str = "make_cnn", data: str = "digits",
           grid: int = 9, tile: int = 3) -> tuple[int, str, str]:
    return run_cli("slice", "--model", f"{module}:{model}", "--data", f"{module}:{data}", "--grid", str(grid),
                   "--tile", str(tile), "--out", str(store), *extra)


@pytest.fixture(scope="module")
def head() -> Iterator[dict[str, str]]:
    """A one-node Ray cluster of 2 CPUs on 127.0.0.1: its Ray client address and GCS address."""
    folder = tempfile.mkdtemp(prefix="lray")  # short: Ray's socket paths must fit 107 characters
    gcs, client = _free_port(), _free_port()
    ray_command = os.path.join(os.path.dirname(sys.executable), "ray")
    # not the RAY_* variables a driver in this process left (RAY_CLIENT_MODE=0 stops its client servers)
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("RAY_") and name != "PYTHONBREAKPOINT"}
    environment.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
    process = subprocess.Popen(
        [ray_command, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
         "--ray-client-server-port", str(client), "--num-cpus", "2", "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", folder],
        cwd=folder, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # its own process group: every process of the cluster, ours to stop
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, "ray start --head exited"
            try:
                with socket.create_connection(("127.0.0.1", client), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start in 90 s"
                time.sleep(0.2)
        yield {"client": f"ray://127.0.0.1:{client}", "gcs": f"127.0.0.1:{gcs}"}
    finally:
        process.send_signal(signal.SIGTERM)  # once: `ray start --block` stops every process it started
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the cluster's group
        except ProcessLookupError:
            pass
        process.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def test_workers_2_equal_one_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A local cluster of 2 workers (started and stopped by the command) writes the one-process store bit for bit;
    the user's module comes from a folder that is not on the default path, the data from a .py file."""
    module = _user_module(tmp_path / "mine", "ray_user_local", monkeypatch)
    data = str(tmp_path / "mine" / "ray_user_local.py")  # a file reference: pickled by value
    single, ray_store = tmp_path / "single.zarr", tmp_path / "ray.zarr"
    code, _, err = _slice(single, module)
    assert code == 0, err
    code, out, err = run_cli("slice", "--model", f"{module}:make_cnn", "--data", f"{data}:digits", "--grid", "9",
                             "--tile", "3", "--out", str(ray_store), "--workers", "2")
    assert code == 0, err
    assert "9 computed now, 0 done before" in out
    assert "9/9 tiles" in err and "left" in err  # the progress bar
    assert np.array_equal(_loss(single), _loss(ray_store))
    import ray

    assert not ray.is_initialized()  # the command stopped its cluster


def test_joined_cluster_retries_a_dead_worker(head: dict[str, str], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the Ray client (no shared folder: the module reaches the workers by py_modules), a worker that
    dies while building its surface has its tile run again; the result is still the one-process one."""
    marker = tmp_path / "died"
    monkeypatch.setenv("LOSSLAB_DIE_MARKER", str(marker))
    module = _user_module(tmp_path / "mine", "ray_user_dying", monkeypatch)
    single, ray_store = tmp_path / "single.zarr", tmp_path / "ray.zarr"
    code, _, err = _slice(single, module, data="dying_loader")
    assert code == 0, err
    assert not marker.exists()  # one process: nothing died
    code, out, err = _slice(ray_store, module, "--address", head["client"], data="dying_loader")
    assert code == 0, err
    assert marker.exists()  # a worker died
    assert "9 computed now" in out
    assert np.array_equal(_loss(single), _loss(ray_store))


def test_a_failing_tile_ends_the_run_with_one_line(head: dict[str, str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A tile whose task raises (the user's code, not a dead worker: not retried) ends the run with exit status 1
    and one line that names the tile and the error; the tiles saved so far stay."""
    monkeypatch.setenv("LOSSLAB_DIE_MARKER", str(tmp_path / "unused"))
    module = _user_module(tmp_path / "mine", "ray_user_failing", monkeypatch)
    code, out, err = _slice(tmp_path / "s.zarr", module, "--address", head["client"], data="failing_loader")
    assert code == 1, err
    lines = [line for line in err.strip().splitlines() if not line.startswith("slice [")]
    assert len(lines) == 1 and lines[0].startswith("losslab slice: tile ("), err
    assert "failed on the Ray cluster (RuntimeError: not on this machine)" in lines[0]
    assert "run the same command to continue" in lines[0]


def test_resume_on_a_joined_cluster(head: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store interrupted after 2 tiles (in one process) is finished on the cluster (by its GCS address): only
    the missing tiles, the same bits as an uninterrupted run."""
    module = _user_module(tmp_path / "mine", "ray_user_resume", monkeypatch)
    store, whole = tmp_path / "s.zarr", tmp_path / "whole.zarr"
    request = slice_run.Request(model=f"{module}:make_cnn", data=f"{module}:digits", store=str(store), grid=9,
                                tile=3)
    job = slice_run.prepare(request)

    def interrupted(function, spec, todo):  # two tiles, then Ctrl-C
        for tile in todo[:2]:
            yield tile, function(spec, tile)
        raise KeyboardInterrupt

    with open(os.devnull, "w") as errors:
        assert slice_run.compute(job, executor=interrupted, stream=errors) == 130
    code, out, err = _slice(store, module, "--address", head["gcs"])
    assert code == 0, err
    assert "7 computed now, 2 done before" in out
    assert _slice(whole, module)[0] == 0
    assert np.array_equal(_loss(store), _loss(whole))


def test_interrupted_executor_cancels_what_is_pending(head: dict[str, str], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The executor yields tiles as they finish; closed early (Ctrl-C in the loop), it cancels the rest."""
    module = _user_module(tmp_path / "mine", "ray_user_cancel", monkeypatch)
    job = slice_run.prepare(slice_run.Request(model=f"{module}:make_cnn", data=f"{module}:digits",
                                              store=str(tmp_path / "s.zarr"), grid=9, tile=3))
    with slice_ray.Cluster(address=head["client"], references=(job.request.model, job.request.data)) as cluster:
        assert cluster.cpus() == 2
        executor = cluster.executor(job.inputs)
        running = executor(slice_compute.compute_tile, job.spec, job.todo)
        tile, values = next(running)
        assert values.shape == (3, 3)
        assert np.array_equal(values, slice_compute.compute_tile(job.spec, tile))  # the driver's own surface
        running.close()


def test_bad_input_exits_2_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _user_module(tmp_path / "mine", "ray_user_bad", monkeypatch)
    store = tmp_path / "s.zarr"
    cases = [
        (["--workers", "0"], "Invalid workers value: 0 (must be an integer in [1, 64])"),
        (["--workers", "65"], "Invalid workers value: 65 (must be an integer in [1, 64])"),
        (["--workers", "2", "--address", "auto"], "--workers and --address: give one"),
        (["--address", "nowhere"], "--address: 'nowhere' is not ray://HOST:PORT"),
        (["--address", "ray://127.0.0.1:1"], "--address: cannot reach the Ray cluster at ray://127.0.0.1:1"),
        (["--address", "127.0.0.1:1"], "--address: cannot reach the Ray cluster at 127.0.0.1:1"),
    ]
    for extra, expected in cases:
        started = time.monotonic()
        code, _, err = _slice(store, module, *extra)
        lines = err.strip().splitlines()
        assert code == 2, (extra, err)
        assert len(lines) == 1 and lines[0].startswith("losslab slice: error: "), (extra, err)
        assert expected in lines[0], (extra, lines[0])
        assert time.monotonic() - started < 20, extra  # fails fast
        assert not store.exists()
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails: say how to install it
    code, _, err = _slice(store, module, "--workers", "2")
    assert code == 2 and err.count("\n") == 1 and "Ray is not installed: pip install 'losslab[distributed]'" in err


def test_the_rest_does_not_import_ray() -> None:
    """The command line and the slice modules import ray only when --workers or --address asks for it."""
    code = ("import sys, losslab.cli, losslab.slice_run, losslab.slice_ray; losslab.cli.build_parser(); "
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
