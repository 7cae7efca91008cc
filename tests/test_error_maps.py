"""eval/error_maps.py on a tiny trained generator: its maps average to `facekit eval`'s mouth L1, split honestly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from facekit.evaluation import evaluate_generator

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "error_maps.py"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)


def test_maps_give_the_evaluation_mouth_l1_and_split_it(runs, corpus, tmp_path):
    checkpoint = str(runs / "gen" / "last.pt")
    out = tmp_path / "maps.png"
    done = run("--checkpoint", checkpoint, "--data", str(corpus), "--split", "eval", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
    record = json.loads(out.with_suffix(".json").read_text())
    scored = evaluate_generator(checkpoint, corpus, split="eval", lpips=False)
    assert record["clips"] == [c["clip"] for c in scored["per_clip"]]
    for name, figs in record["figures"].items():
        expected = sum(c[name]["mouth_l1"] for c in scored["per_clip"]) / len(scored["per_clip"])
        assert figs["l1"] == pytest.approx(expected, abs=2e-6), name  # one definition of the mouth L1
        assert 0 <= figs["bias_l1"] <= figs["l1"] + 1e-6
        assert 0 < figs["share_of_error_in_box"] < 1
        lo, hi = sorted((figs["box_l1"], figs["outside_box_l1"]))
        assert lo - 1e-6 <= figs["l1"] <= hi + 1e-6  # the L1 is the pixel-weighted mean of the two parts


def test_a_missing_checkpoint_is_a_clear_error(corpus, tmp_path):
    done = run("--checkpoint", str(tmp_path / "nope.pt"), "--data", str(corpus), "--out", str(tmp_path / "x.png"))
    assert done.returncode == 2 and "nope.pt" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()
