"""CPU threading that gives the same speed whether torch or facekit is imported first.

PyTorch's CPU kernels run on OpenMP threads (GNU libgomp). Between parallel regions an idle libgomp thread spins
for ``GOMP_SPINCOUNT`` iterations (default 300,000, a few milliseconds) before it sleeps. When another process uses a
core, those spinning threads take the CPU the working threads need: on the project's 2-core machine a training step
was 35x slower. A spin count of 1000 removes that cost and changes nothing on a quiet machine, but libgomp reads the
variable once, when it is loaded -- by ``import torch``. So:

- importing facekit sets ``GOMP_SPINCOUNT=1000`` (unless already set) and records whether libgomp was already loaded
  (:func:`note_import`); if it was and nobody had set the variable, the long spin is in effect for this process;
- :func:`configure_cpu`, called where work starts (training, checkpoint evaluation, the folder benchmark,
  ``generate``), then runs torch on one CPU thread: no idle thread is left to spin. The tiny preset then trains as
  fast as in a process that imported facekit first (``eval/bench_import_order.py``; without this, 10x slower or
  worse on a shared 2-core machine). A model large enough to use two cores well gives up the second one on a quiet
  machine; a warning says so and how to keep it (import facekit before torch, or set ``GOMP_SPINCOUNT=1000`` before
  Python starts).
"""

from __future__ import annotations

import os
import platform
import warnings
from pathlib import Path

SPIN_COUNT = "1000"

_state = {"spin_in_effect": True, "warned": False}


def openmp_loaded() -> bool:
    """Whether a GNU OpenMP runtime (libgomp) is mapped into this process (Linux; False where /proc is absent)."""
    maps = Path("/proc/self/maps")
    return maps.is_file() and "libgomp" in maps.read_text()


def note_import() -> None:
    """Called once by ``import facekit``: set the short spin for a libgomp not yet loaded, and remember whether the
    one already loaded (torch imported first) was loaded without it."""
    if "GOMP_SPINCOUNT" not in os.environ:
        _state["spin_in_effect"] = not openmp_loaded()
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT


def spin_in_effect() -> bool:
    """Whether torch's OpenMP threads use a spin count set before libgomp loaded (facekit's or the user's)."""
    return _state["spin_in_effect"]


def configure_cpu() -> int:
    """Make CPU work as fast as the import order allows; returns torch's intra-op thread count.

    With the short spin in effect torch keeps its threads. Without it (torch was imported before facekit, with no
    ``GOMP_SPINCOUNT`` in the environment) torch is set to one thread, once, with a warning naming the fix.
    """
    import torch

    if not spin_in_effect() and torch.get_num_threads() > 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        if not _state["warned"]:
            _state["warned"] = True
            warnings.warn(
                f"torch was imported before facekit, so its OpenMP threads spin while idle (GOMP_SPINCOUNT is read "
                f"when torch loads); facekit runs torch on 1 thread instead of {threads}, which keeps it from "
                "stalling when another process uses the CPU. To use every core, import facekit before torch, or "
                f"start Python with GOMP_SPINCOUNT={SPIN_COUNT} set.",
                RuntimeWarning,
                stacklevel=2,
            )
    return torch.get_num_threads()


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else what ``platform`` knows): benchmark figures depend on it."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
