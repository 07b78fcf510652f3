"""``losslab slice --workers N`` / ``--address ADDR``: the slice's tiles as Ray tasks.

``--workers N`` starts a local Ray cluster of N worker processes (bound to 127.0.0.1, no dashboard) for this run
and stops it at the end; ``--address ray://HOST:PORT``, ``HOST:PORT`` (a cluster's GCS) or ``auto`` joins an
existing one. The user's model, weights, data and loss, already loaded and checked by ``slice_run.prepare``, go to
the object store once (``ray.put``), with the ``SliceSpec``; each task gets their references and the tile, builds
the surface once per worker process (``slice_compute.ensure``) and returns the tile's values: the driver writes
each tile to the store as it comes back, so Ctrl-C, a crash or ``kill -9`` of the driver loses only the tiles in
flight and the same command resumes (with or without Ray). A tile's values are a pure function of (spec, tile):
the same bits in a worker as in one process.

The modules that ``--model``/``--data``/``--loss`` name (a dotted module of your own, not an installed package)
reach the workers through Ray's ``runtime_env`` ``py_modules``; with ``--address`` the code of ``losslab``,
``landscapes`` and ``validation`` too, so a cluster needs only Ray, torch and numpy (the same versions for the same
bits). A worker that dies has its tiles retried (``max_retries``). ``ray`` is imported only here, and only when
asked: ``pip install 'losslab[distributed]'``.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import socket
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from validation import Range, check_number

from . import slice_compute

MAX_WORKERS = 64
WORKERS = Range(1, MAX_WORKERS, integer=True)
MAX_RETRIES = 3  # a tile whose worker dies is run again, up to this many times
CONNECT_TIMEOUT_S = 5.0  # the socket check of --address, and each Ray client connection attempt
IN_FLIGHT_PER_CPU = 4  # tiles submitted ahead per CPU of the cluster: workers never wait, Ctrl-C cancels few
INSTALL = "pip install 'losslab[distributed]' (or pip install 'ray>=2.52,<3')"
OWN_PACKAGES = ("validation", "landscapes", "losslab")  # what a tile imports, shipped to a joined cluster
QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",  # no usage report (and no network) from a CLI run
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",  # Ray 2.52's FutureWarning about GPU variables
    "RAY_CLIENT_INITIAL_CONNECTION_TIMEOUT_S": str(int(CONNECT_TIMEOUT_S)),  # ray:// gives up in ~15 s, not 30
    "RAY_CLIENT_MAX_CONNECTION_TIMEOUT_S": str(int(CONNECT_TIMEOUT_S)),
    "RAY_IGNORE_UNHANDLED_ERRORS": "1",  # a failed tile is reported once, by us, not again for each pending one
}
JOIN_ATTEMPTS = 3  # a Ray client's server sometimes fails to start its session (ConnectionAbortedError): retried


def check(workers: int | None, address: str | None) -> None:
    """``ValueError`` naming the option: both given, --workers out of range, an --address of no known form, or Ray
    not installed. Cheap: nothing is started."""
    if workers is not None and address is not None:
        raise ValueError("--workers and --address: give one (--workers N starts a local cluster, --address joins "
                         "one)")
    if workers is not None:
        check_number("workers", workers, WORKERS)
    if address is not None:
        _endpoint(address)
    if workers is not None or address is not None:
        ray_module()


def ray_module() -> Any:
    """``ray``, imported with this module's quiet settings; ``ValueError`` saying how to install it."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError:
        raise ValueError(f"--workers/--address: Ray is not installed: {INSTALL}") from None
    return ray


def _endpoint(address: str) -> tuple[str, int] | None:
    """(host, port) of ``ray://HOST:PORT`` or ``HOST:PORT``; None for ``auto``; ``ValueError`` otherwise."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, colon, port = rest.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--address: {address!r} is not ray://HOST:PORT, HOST:PORT (a cluster's GCS) or auto")
    return host.strip("[]"), int(port)


def reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """``ValueError`` unless something listens at the address (fails in milliseconds on a closed port, at most
    ``timeout`` seconds on an address that does not answer)."""
    endpoint = _endpoint(address)
    if endpoint is None:
        return
    try:
        with socket.create_connection(endpoint, timeout=timeout):
            pass
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or type(error).__name__)
        raise ValueError(f"--address: cannot reach the Ray cluster at {address} ({reason}; is it started? "
                         "`ray start --head` prints its address)") from None


def _one_line(error: BaseException, limit: int = 240) -> str:
    """An error's message on one line, without terminal colours, cut to ``limit`` characters."""
    text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(error)).split())
    return text if len(text) <= limit else text[:limit] + "…"


def _installed(path: str) -> bool:
    """Whether ``path`` is in the standard library or an installed package (the workers have those)."""
    roots = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + os.sep) for root in roots)


def _shipped(module_name: str) -> str | None:
    """The local folder (a package) or file (a module) that makes ``module_name`` importable on a worker; None
    for an installed or built-in module."""
    top = module_name.partition(".")[0]
    module = sys.modules.get(top)
    if module is None:
        try:
            module = importlib.import_module(top)
        except Exception:  # noqa: BLE001 - slice_inputs reported it already
            return None
    paths = list(getattr(module, "__path__", []) or [])
    if len(paths) == 1:
        path = paths[0]
    elif getattr(module, "__file__", None) and not paths:
        path = module.__file__
    else:
        return None  # a namespace package over several folders, or a built-in
    return None if _installed(path) else os.path.abspath(path)


def user_modules(references: list[str | None]) -> list[str]:
    """The local packages or files of the dotted modules the ``MODULE:FUNCTION`` references name (a ``.py`` path
    is pickled by value: cloudpickle sends its functions and classes with the model)."""
    shipped: list[str] = []
    for reference in references:
        if not reference:
            continue
        module_name = reference.rpartition(":")[0]
        if not module_name or module_name.endswith(".py") or os.sep in module_name:
            continue
        path = _shipped(module_name)
        if path is not None and path not in shipped:
            shipped.append(path)
    return shipped


def _package_folders(names: tuple[str, ...]) -> list[str]:
    return [os.path.dirname(importlib.import_module(name).__file__) for name in names]


def runtime_env(references: list[str | None], joined: bool) -> dict[str, Any]:
    """The tasks' runtime_env: the user's modules (and losslab's own packages on a joined cluster), one thread."""
    modules = user_modules(references) + (_package_folders(OWN_PACKAGES) if joined else [])
    threads = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")}
    environment: dict[str, Any] = {"env_vars": threads}
    if modules:
        environment["py_modules"] = modules
        environment["excludes"] = ["__pycache__", "*.pyc", ".pytest_cache"]
    return environment


@dataclass
class Cluster:
    """A Ray connection for one run: ``with Cluster(workers=2, references=[...]) as cluster: cluster.executor(
    inputs)``. Starts (``workers``) or joins (``address``) on enter, shuts down on exit."""

    workers: int | None = None
    address: str | None = None
    references: tuple[str | None, ...] = ()

    def __enter__(self) -> Cluster:
        self.ray = ray_module()
        environment = runtime_env(list(self.references), joined=self.address is not None)
        common = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                  "runtime_env": environment}
        if self.address is not None:
            reachable(self.address)
            for attempt in range(JOIN_ATTEMPTS):
                try:
                    self.ray.init(address=self.address, **common)
                    break
                except Exception as error:  # noqa: BLE001 - ConnectionError, RuntimeError, grpc errors...
                    self.ray.shutdown()
                    if isinstance(error, ConnectionAbortedError) and attempt + 1 < JOIN_ATTEMPTS:
                        time.sleep(1.0)
                        continue
                    raise ValueError(f"--address: cannot join the Ray cluster at {self.address} "
                                     f"({type(error).__name__}: {_one_line(error)})") from None
        else:
            self.ray.init(num_cpus=int(self.workers or 1), _node_ip_address="127.0.0.1", **common)
        return self

    def __exit__(self, *_: object) -> None:
        self.ray.shutdown()

    def cpus(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def executor(self, inputs: Any) -> slice_compute.Executor:
        """The tile executor over this cluster; ``inputs`` (``slice_inputs.Inputs``) go to the object store once."""
        return RayExecutor(self.ray, inputs, IN_FLIGHT_PER_CPU * self.cpus())


def _task(key: str, shared: list[Any], tile: slice_compute.Tile) -> Any:
    """One tile on a worker: the surface built once per process from the stored spec and inputs (fetched only when
    this process has not built it: ``shared`` is a list, so Ray does not resolve its references for every task)."""
    from . import threads

    threads.one_thread_per_computation()
    if not slice_compute.has_surface(key):
        import ray

        spec, inputs = ray.get(shared)
        slice_compute.ensure(spec, inputs)
    return slice_compute.compute_tile(slice_compute.current_spec(key), tile)


class RayExecutor:
    """``slice_compute.Executor`` over Ray: at most ``in_flight`` tiles submitted ahead, yielded as they finish;
    what is still pending when the loop stops (Ctrl-C, an error) is cancelled."""

    def __init__(self, ray: Any, inputs: Any, in_flight: int) -> None:
        self.ray, self.inputs, self.in_flight = ray, inputs, max(1, in_flight)

    def __call__(self, function: Any, spec: slice_compute.SliceSpec,
                 todo: list[slice_compute.Tile]) -> Iterator[tuple[slice_compute.Tile, Any]]:
        ray = self.ray
        if function is not slice_compute.compute_tile:
            raise ValueError("the Ray executor runs slice_compute.compute_tile only")
        remote = ray.remote(num_cpus=1, max_retries=MAX_RETRIES)(_task)
        shared = [ray.put(spec), ray.put(self.inputs)]
        waiting = iter(todo)
        pending: dict[Any, slice_compute.Tile] = {}

        def submit() -> None:
            for tile in waiting:
                pending[remote.remote(spec.key, shared, tile)] = tile
                if len(pending) >= self.in_flight:
                    return

        submit()
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                tile = pending.pop(ready[0])
                try:
                    values = ray.get(ready[0])
                except ray.exceptions.RayError as error:
                    cause = getattr(error, "cause", None) or error  # a task's own exception, else Ray's
                    raise slice_compute.TileFailed(f"tile ({tile.row}, {tile.column}) failed on the Ray cluster "
                                                   f"({type(cause).__name__}: {_one_line(cause)})") from None
                submit()
                yield tile, values
        finally:
            for reference in pending:
                ray.cancel(reference, force=True)
