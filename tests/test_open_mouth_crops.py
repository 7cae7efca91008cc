"""eval/open_mouth_crops.py on tiny trained generators: models of one held-out split side by side, others refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

from facekit.config import apply_overrides
from facekit.contract import load_contract

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "open_mouth_crops.py"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)


def train(tiny_cfg, corpus, out: Path, *overrides: str) -> str:
    from facekit.train.loop import train_generator

    cfg = apply_overrides(tiny_cfg, ["train.steps=2", "train.batch_size=2", *overrides])
    train_generator(cfg, corpus, out, progress=False)
    return str(out / "last.pt")


def test_models_with_other_validation_clips_compare_on_the_held_out_ones(runs, corpus, tiny_cfg, tmp_path):
    with_val = train(tiny_cfg, corpus, tmp_path / "val", "data.val_fraction=0.2")
    out = tmp_path / "crops.png"
    args = ["--data", str(corpus), "--checkpoint", f"a={runs / 'gen' / 'last.pt'}", "--checkpoint", f"b={with_val}",
            "--frames", "2", "--zoom", "1", "--out", str(out)]  # fmt: skip
    done = run(*args)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.with_suffix(".json").read_text())
    held_out = set(load_contract(with_val, "generator").split.eval)
    assert len(record["rows"]) == 2 and {r["clip"] for r in record["rows"]} <= held_out
    assert Image.open(out).size[0] > 4 * tiny_cfg.data.image_size  # reference | a | b | real, side by side


def test_models_that_hold_out_other_clips_are_refused(runs, corpus, tiny_cfg, tmp_path):
    other = train(tiny_cfg, corpus, tmp_path / "other", "data.split_seed=1")
    args = ["--data", str(corpus), "--checkpoint", f"a={runs / 'gen' / 'last.pt'}", "--checkpoint", f"b={other}",
            "--out", str(tmp_path / "x.png")]  # fmt: skip
    done = run(*args)
    assert done.returncode == 2 and "hold out different clips" in done.stderr
    assert not (tmp_path / "x.png").exists()
