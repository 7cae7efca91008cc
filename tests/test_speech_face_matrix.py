"""facekit.crossdub.speech_face_matrix: every held-out sentence on every held-out still face, in-crop."""

from __future__ import annotations

import numpy as np
import pytest

from facekit.crossdub import held_out_clips, speech_face_matrix
from facekit.evaluation import evaluate_generator


def test_diagonal_is_the_still_face_eval_and_means_are_the_matrix(corpus, runs):
    gen, expert = runs / "gen" / "last.pt", runs / "expert" / "last.pt"
    result = speech_face_matrix(gen, corpus, expert, clips=3, log=lambda line: None)
    lse_c, n = np.array(result["lse_c"]), len(result["clips"])
    assert 2 <= n <= 3 and lse_c.shape == (n, n) == np.array(result["lse_d"]).shape
    off = ~np.eye(n, dtype=bool)
    assert abs(result["own_face"]["lse_c"] - lse_c.diagonal().mean()) < 1e-3
    assert abs(result["other_face"]["lse_c"] - lse_c[off].mean()) < 1e-3
    # the diagonal: each sentence on its own clip's frame 0, exactly what facekit eval --still-face scores
    still = evaluate_generator(gen, corpus, expert, still_face=True, lpips=False)
    by_clip = {c["clip"]: c["generated"]["lse_c"] for c in still["per_clip"]}
    assert np.allclose(lse_c.diagonal(), [by_clip[c] for c in result["clips"]], atol=1e-3)
    assert not np.allclose(lse_c[off], lse_c.diagonal().mean()), "other faces give other figures"


def test_held_out_clips_are_one_speakers_eval_split_by_id(corpus, runs):
    cfg = runs / "gen" / "last.pt"  # the checkpoint: its recorded split
    clips = held_out_clips(corpus, cfg, 10)
    assert len({c.identity for c in clips}) == 1 and [c.id for c in clips] == sorted(c.id for c in clips)
    assert held_out_clips(corpus, cfg, 2) == clips[:2]
    with pytest.raises(ValueError, match="no held-out clips with transcript"):
        held_out_clips(corpus, cfg, 10, need=("transcript",))  # the synthetic corpus has no transcript files
