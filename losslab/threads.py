"""One thread per computation in a server that a class shares."""

from __future__ import annotations

import os
import sys


def one_thread_per_computation() -> None:
    """Cap torch and numba at one thread each: sessions share the server's cores, and 2-thread OpenMP kernels slow
    down many-fold when another session keeps the other core busy. Call it before torch or numba load (both are
    imported lazily); in a process that loaded them already (a test runner) their thread counts are set instead:
    numba refuses a changed NUMBA_NUM_THREADS once its threads run."""
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)  # this thread's share
    else:
        os.environ["NUMBA_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    else:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
