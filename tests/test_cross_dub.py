"""eval/cross_dub.py: held-out GRID sentences put on each other's face videos, then scored (GRID + dlib)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from facekit.config import apply_overrides
from facekit.data import face
from tests.test_generate import save_generator, tiny_model

SENTENCES = ["bbaf2n", "bbal8p", "lrae3s", "sgib8n"]


def load_script():
    spec = importlib.util.spec_from_file_location("cross_dub", Path(__file__).parents[1] / "eval/cross_dub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.grid
def test_cross_dub_swaps_faces_between_held_out_sentences(grid, runs, tmp_path):
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    from facekit.data.grid import prepare_grid

    videos = tmp_path / "videos" / "s1" / "video"
    videos.mkdir(parents=True)
    for name in SENTENCES:
        (videos / f"{name}.mpg").symlink_to(grid / "s1" / "video" / f"{name}.mpg")
    prepare_grid(tmp_path / "videos", tmp_path / "data", aligns=grid / "s1", progress=False)
    model, cfg = tiny_model("text,audio")
    cfg = apply_overrides(cfg, ["data.split_by=sentence", "data.eval_fraction=0.6"])
    ckpt = save_generator(tmp_path / "gen.pt", model, cfg)
    script = load_script()
    pairs = script.held_out_pairs(tmp_path / "data", ckpt, 10)
    assert len(pairs) >= 2
    assert all(speech["video"] != face_["video"] for speech, face_ in pairs), "each sentence on another clip's face"
    assert sorted(s["video"] for s, _ in pairs) == sorted(f["video"] for _, f in pairs), "every face used once"

    args = ["--checkpoint", ckpt, "--data", tmp_path / "data", "--expert", runs / "expert" / "last.pt"]
    assert script.main([str(a) for a in [*args, "--out-dir", tmp_path / "out"]]) == 0
    result = json.loads((tmp_path / "out" / "eval" / "results.json").read_text())
    assert result["clips"] == len(pairs) and len(result["pairs"]) == len(pairs)
    assert {"lse_c", "lse_d", "offset_zero_share"} <= set(result["summary"]["generated"])
    made = sorted(p.name for p in (tmp_path / "out" / "generated").iterdir())
    assert made == sorted(f"{Path(s['video']).stem}.mp4" for s, _ in pairs)
    # a re-run (another report name) scores the same videos without making them again
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "generated").iterdir()}
    assert script.main([str(a) for a in [*args, "--out-dir", tmp_path / "out", "--eval-name", "again"]]) == 0
    assert before == {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "generated").iterdir()}
