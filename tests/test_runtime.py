"""CPU threading independent of import order: torch's OpenMP threads never spin idle through facekit's work.

Each case is a fresh interpreter (libgomp reads GOMP_SPINCOUNT once, when ``import torch`` loads it), started without
GOMP_SPINCOUNT unless the case sets it. Timings are eval/bench_import_order.py's job; here only the mechanism.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# imports in the given order, gives torch two threads (so the mechanism shows on any machine), trains one step
CHILD = """
import json, sys, tempfile, warnings
if sys.argv[1] == "torch_first":
    import torch
    import facekit
else:
    import facekit
    import torch
from facekit.config import apply_overrides, tiny
from facekit.train.loop import train_generator

torch.set_num_threads(2)
with warnings.catch_warnings(record=True) as caught, tempfile.TemporaryDirectory() as run_dir:
    warnings.simplefilter("always")
    train_generator(apply_overrides(tiny(), ["train.steps=1"]), sys.argv[2], run_dir, progress=False)
print(json.dumps({"threads": torch.get_num_threads(), "spin": __import__("os").environ.get("GOMP_SPINCOUNT"),
                  "warnings": [str(w.message) for w in caught if w.category is RuntimeWarning]}))
"""


def train_in_fresh_process(order: str, corpus, spin: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if spin is not None:
        env["GOMP_SPINCOUNT"] = spin
    out = subprocess.run([sys.executable, "-c", CHILD, order, str(corpus)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_torch_first_process_trains_without_idle_spinning_threads(corpus):
    got = train_in_fresh_process("torch_first", corpus)
    assert got["threads"] == 1, "torch loaded libgomp with its long spin: a second thread would spin while idle"
    assert len(got["warnings"]) == 1 and "import facekit before torch" in got["warnings"][0]


@pytest.mark.parametrize("order, spin", [("facekit_first", None), ("torch_first", "1000")])
def test_short_spin_in_effect_keeps_every_thread(corpus, order, spin):
    got = train_in_fresh_process(order, corpus, spin)
    assert got == {"threads": 2, "spin": "1000", "warnings": []}


def test_cpu_name_is_the_model_name_the_kernel_reports():
    from facekit.runtime import cpu_name

    info = Path("/proc/cpuinfo")
    if not info.is_file():
        pytest.skip("no /proc/cpuinfo on this system")
    names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
    if not names:
        pytest.skip("/proc/cpuinfo names no CPU model here")
    assert cpu_name() == names[0] != ""
