"""eval/open_mouth_crops.py on tiny trained generators: models of one held-out split side by side, others refused."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from facekit.config import apply_overrides

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "open_mouth_crops.py"


@pytest.fixture(scope="module")
def crops():
    spec = importlib.util.spec_from_file_location("open_mouth_crops", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(tiny_cfg, corpus, out: Path, *overrides: str) -> str:
    from facekit.train.loop import train_generator

    cfg = apply_overrides(tiny_cfg, ["train.steps=2", "train.batch_size=2", *overrides])
    train_generator(cfg, corpus, out, progress=False)
    return str(out / "last.pt")


def test_models_with_other_validation_clips_compare_on_the_held_out_ones(crops, runs, corpus, tiny_cfg, tmp_path):
    with_val = train(tiny_cfg, corpus, tmp_path / "val", "data.val_fraction=0.2")
    out = tmp_path / "crops.png"
    args = ["--data", str(corpus), "--checkpoint", f"a={runs / 'gen' / 'last.pt'}", "--checkpoint", f"b={with_val}",
            "--frames", "2", "--zoom", "1", "--out", str(out)]  # fmt: skip
    assert crops.main(args) == 0
    record = json.loads(out.with_suffix(".json").read_text())
    from facekit.contract import load_contract

    held_out = set(load_contract(with_val, "generator").split.eval)
    assert len(record["rows"]) == 2 and {r["clip"] for r in record["rows"]} <= held_out
    from PIL import Image

    assert Image.open(out).size[0] > 4 * tiny_cfg.data.image_size  # reference | a | b | real, side by side


def test_models_that_hold_out_other_clips_are_refused(crops, runs, corpus, tiny_cfg, tmp_path, capsys):
    other = train(tiny_cfg, corpus, tmp_path / "other", "data.split_seed=1")
    args = ["--data", str(corpus), "--checkpoint", f"a={runs / 'gen' / 'last.pt'}", "--checkpoint", f"b={other}",
            "--out", str(tmp_path / "x.png")]  # fmt: skip
    assert crops.main(args) == 2
    assert "hold out different clips" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
