"""eval/speech_face_matrix.py: every held-out sentence on every held-out face, in-crop."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

from facekit.evaluation import evaluate_generator


def load_script():
    path = Path(__file__).parents[1] / "eval/speech_face_matrix.py"
    spec = importlib.util.spec_from_file_location("speech_face_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_diagonal_is_the_still_face_eval_and_means_are_the_matrix(corpus, runs, tmp_path):
    out = tmp_path / "matrix.json"
    args = ["--checkpoint", runs / "gen" / "last.pt", "--data", corpus, "--expert", runs / "expert" / "last.pt"]
    assert load_script().main([str(a) for a in [*args, "--clips", "3", "--out", out]]) == 0
    result = json.loads(out.read_text())
    lse_c, n = np.array(result["lse_c"]), len(result["clips"])
    assert 2 <= n <= 3 and lse_c.shape == (n, n) == np.array(result["lse_d"]).shape
    off = ~np.eye(n, dtype=bool)
    assert abs(result["own_face"]["lse_c"] - lse_c.diagonal().mean()) < 1e-3
    assert abs(result["other_face"]["lse_c"] - lse_c[off].mean()) < 1e-3
    # the diagonal: each sentence on its own clip's frame 0, exactly what facekit eval --still-face scores
    still = evaluate_generator(
        runs / "gen" / "last.pt", corpus, runs / "expert" / "last.pt", still_face=True, lpips=False
    )
    by_clip = {c["clip"]: c["generated"]["lse_c"] for c in still["per_clip"]}
    assert np.allclose(lse_c.diagonal(), [by_clip[c] for c in result["clips"]], atol=1e-3)
    assert not np.allclose(lse_c[off], lse_c.diagonal().mean()), "other faces give other figures"
