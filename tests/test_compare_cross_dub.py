"""eval/compare_cross_dub.py, run as a user runs it, on made-up cross-dub reports with a known answer."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "compare_cross_dub.py"
COLUMNS = ("clip", "status", "generated.lse_c", "generated.lse_d", "generated.offset", "ground_truth.lse_c",
           "ground_truth.lse_d")  # fmt: skip


def report(path: Path, lse_c: np.ndarray, real: np.ndarray) -> str:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(COLUMNS)
        for k, (c, r) in enumerate(zip(lse_c, real, strict=True)):
            out.writerow([f"s{k}", "scored", c, 1.0 - c, 0, r, 1.0 - r])
    return str(path)


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=120)


def test_a_real_gain_is_found_and_no_gain_is_not(tmp_path):
    rng = np.random.default_rng(0)
    real = 0.30 + rng.normal(0, 0.02, 30)
    base = 0.25 + rng.normal(0, 0.02, 30)
    a = report(tmp_path / "a.csv", base, real)
    same = report(tmp_path / "same.csv", base + rng.normal(0, 0.001, 30), real)  # no difference that matters
    gain = report(tmp_path / "gain.csv", base + 0.05 + rng.normal(0, 0.002, 30), real)  # +0.05 on every pair
    done = run(f"before={a}", f"same={same}", f"after={gain}")
    assert done.returncode == 0, done.stderr
    rows = {line.split(" | ")[0].strip("| "): line for line in done.stdout.splitlines() if " - " in line}
    assert "| better |" in rows["after - before"] and "| better |" in rows["after - same"]
    assert rows["same - before"].count("not distinguishable") == 2
    assert "| worse |" in rows["before - real videos"]  # 0.05 below the real videos on every pair
    assert "30 pairs" in done.stdout and "| before | 0.25" in done.stdout


def test_bad_arguments_are_clear_errors(tmp_path):
    assert run().returncode == 2
    bad = run(f"x={tmp_path / 'missing.csv'}")
    assert bad.returncode == 2 and "missing.csv: not a cross-dub per_clip.csv" in bad.stderr
    assert "give NAME=PER_CLIP_CSV" in run("no-equals-sign").stderr
