"""Heavy computations of every session through one small pool: at most ``SLOTS`` run at once in the server.

Network training, slices, full-space runs, big maps and races on a network take seconds of a core each; a class
opening the same link at once would otherwise start them all together and every page would wait for all of them.
:func:`run` takes one of the server's ``SLOTS`` (a FIFO queue shared by all sessions, ``st.cache_resource``) for a
computation estimated at ``HEAVY_S`` or more; while it waits, the page shows "queued: n ahead" and a progress bar
that moves as the queue does, never a frozen page. A computation nested in another one (a figure that needs the
trained network) runs in its caller's slot. Lighter work runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import streamlit as st

SLOTS = 2  # heavy computations running at once in the server
HEAVY_S = 0.5  # estimated seconds of one core from which a computation takes a slot (losslab.budget's estimates)
POLL_S = 0.25  # how often a waiting page updates its queue position

T = TypeVar("T")


class Pool:
    """``slots`` places taken in arrival order (FIFO), re-entrant per thread."""

    def __init__(self, slots: int = SLOTS) -> None:
        self.slots = slots
        self._condition = threading.Condition()
        self._queue: list[object] = []  # waiting tickets, first come first
        self._running = 0
        self._depth: dict[int, int] = {}  # thread -> nesting depth of the slot it holds

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._queue)

    @contextmanager
    def slot(self, waiting: Callable[[int, int], None] | None = None) -> Iterator[None]:
        """Hold a slot inside the block; ``waiting(ahead, running)`` is called every POLL_S while queued (``ahead``:
        computations queued before this one; it starts when none is and fewer than ``slots`` run)."""
        me = threading.get_ident()
        with self._condition:
            nested = me in self._depth
            if nested:
                self._depth[me] += 1
            else:
                ticket = object()
                self._queue.append(ticket)
        if not nested:
            self._acquire(ticket, me, waiting)
        try:
            yield
        finally:
            with self._condition:
                self._depth[me] -= 1
                if not self._depth[me]:
                    del self._depth[me]
                    self._running -= 1
                    self._condition.notify_all()

    def _acquire(self, ticket: object, me: int, waiting: Callable[[int, int], None] | None) -> None:
        try:
            while True:
                with self._condition:
                    ahead = self._queue.index(ticket)
                    if ahead == 0 and self._running < self.slots:
                        self._queue.pop(0)
                        self._running += 1
                        self._depth[me] = 1
                        self._condition.notify_all()  # the next ticket may start too
                        return
                    running = self._running
                    if waiting is None:
                        self._condition.wait(POLL_S)
                        continue
                waiting(ahead, running)
                with self._condition:
                    self._condition.wait(POLL_S)
        except BaseException:  # a rerun or a closed tab stops the script while it waits: leave the queue
            with self._condition:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._condition.notify_all()
            raise


@st.cache_resource(show_spinner=False)
def pool() -> Pool:
    """The server's pool, shared by every session."""
    return Pool(SLOTS)


def run(compute: Callable[[], T], what: str, seconds: float = float("inf")) -> T:
    """``compute()``, in one of the server's slots when its estimate ``seconds`` is HEAVY_S or more; while queued,
    "``what``: queued: n ahead" and a progress bar."""
    if seconds < HEAVY_S:
        return compute()
    shown: dict[str, object] = {}

    def waiting(ahead: int, running: int) -> None:
        if "bar" not in shown:
            shown["bar"], shown["first"] = st.progress(0.0), ahead + 1
        done = 1.0 - (ahead + 1) / (int(shown["first"]) + 1)  # moves as the queue ahead empties
        shown["bar"].progress(min(max(done, 0.0), 1.0), text=(
            f"{what}: queued: {ahead} ahead ({running} running; the server runs at most {SLOTS} heavy computations "
            "at once)…"))

    try:
        with pool().slot(waiting):
            if "bar" in shown:
                shown.pop("bar").empty()
            return compute()
    finally:
        if "bar" in shown:
            shown["bar"].empty()
