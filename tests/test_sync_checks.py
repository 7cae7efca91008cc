"""facekit.sync_checks: the expert's offset recovery on held-out clips, and sync at each stage of generate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facekit.sync_checks import offset_check, sync_by_stage
from tests.test_generate import save_generator, save_png, tiny_model


def test_offset_check_shares_are_the_per_clip_findings(corpus, runs):
    result = offset_check(runs / "expert" / "last.pt", corpus, shifts=2, max_clips=2)
    assert result["clips"] == 2 and result["shifts"] == [-2, -1, 0, 1, 2]
    errors = np.array([[c["found"][str(k)] - k for k in result["shifts"]] for c in result["per_clip"]])
    assert result["exact_share"] == pytest.approx(np.mean(errors == 0))
    assert result["within_one_share"] == pytest.approx(np.mean(np.abs(errors) <= 1))
    assert result["ground_truth_offset_zero_share"] == pytest.approx(
        np.mean([c["found"]["0"] == 0 for c in result["per_clip"]])
    )
    assert result["per_shift_exact"]["2"] == pytest.approx(np.mean(errors[:, 4] == 0))
    with pytest.raises(ValueError, match="no clips in the 'eval' split"):
        offset_check(runs / "expert" / "last.pt", corpus, max_clips=0)


@pytest.mark.grid
def test_sync_by_stage_scores_each_step_from_crops_to_mp4(grid, runs, tmp_path):
    """On a GRID still face: every stage scored, the generate summary kept."""
    from facekit.data.video import read_video

    save_png(tmp_path / "face.png", read_video(grid / "s1/video/bbaf2n.mpg")[0][0])
    ckpt = save_generator(tmp_path / "gen.pt", *tiny_model("text,audio"))
    audio, align = grid / "s1/video/bbal8p.mpg", grid / "s1/align/bbal8p.align"
    result = sync_by_stage(ckpt, tmp_path / "face.png", audio, runs / "expert" / "last.pt", align=align)
    stages = ["crops", "pasted", "mp4_same_transform", "mp4_own_landmarks", "real_video_of_the_speech"]
    assert list(result["stages"]) == stages and result["generate"]["pasted_back"]
    for figures in result["stages"].values():
        assert math.isfinite(figures["lse_d"]) and math.isfinite(figures["lse_c"]) and abs(figures["offset"]) <= 15
