"""facekit.crossdub.cross_dub: held-out GRID sentences put on each other's face videos, then scored (GRID + dlib)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from facekit.config import apply_overrides
from facekit.crossdub import cross_dub, cross_dub_pairs, held_out_clips
from facekit.data import face
from facekit.report import write_outputs
from tests.test_generate import save_generator, tiny_model

SENTENCES = ["bbaf2n", "bbal8p", "lrae3s", "sgib8n"]


def test_each_speech_goes_on_another_clips_face_and_every_face_is_used_once(corpus, runs):
    clips = held_out_clips(corpus, runs / "gen" / "last.pt", 10)
    pairs = cross_dub_pairs(clips)
    assert [s for s, _ in pairs] == clips
    assert all(s.id != f.id for s, f in pairs), "each sentence on another clip's face"
    assert sorted(f.id for _, f in pairs) == sorted(c.id for c in clips), "every face used once"


def test_a_kept_video_is_of_the_same_checkpoint_and_face_and_still_a_pair(tmp_path):
    import json

    from facekit.crossdub import _keep_only_videos_of

    ckpt, other = tmp_path / "a.pt", tmp_path / "b.pt"
    ckpt.write_bytes(b"one model")
    other.write_bytes(b"another model")
    out = tmp_path / "out"
    (out / "generated").mkdir(parents=True)
    (out / "ground_truth").mkdir()

    def make(faces):  # what cross_dub leaves: a video and a real video per pair
        _keep_only_videos_of(ckpt, faces, out, log=lambda line: None)
        for stem in faces:
            for video in (out / "generated" / f"{stem}.mp4", out / "ground_truth" / f"{stem}.mpg"):
                if not video.exists():
                    video.write_text(faces[stem])

    make({"s1": "f2.mpg", "s2": "f3.mpg", "s3": "f1.mpg"})  # three pairs; the last wraps to the first face
    make({"s1": "f2.mpg", "s2": "f1.mpg"})  # two pairs: s2 now goes on f1, s3 is no longer a pair
    assert sorted(p.name for p in (out / "generated").glob("*.mp4")) == ["s1.mp4", "s2.mp4"]
    assert (out / "generated" / "s2.mp4").read_text() == "f1.mpg", "a video on another face must be made again"
    assert sorted(p.name for p in (out / "ground_truth").iterdir()) == ["s1.mpg", "s2.mpg"]
    assert json.loads((out / "generated" / "made_by.json").read_text())["faces"] == {"s1": "f2.mpg", "s2": "f1.mpg"}
    _keep_only_videos_of(other, {"s1": "f2.mpg", "s2": "f1.mpg"}, out, log=lambda line: None)
    assert not list((out / "generated").glob("*.mp4")), "another checkpoint's videos are never kept"


@pytest.mark.grid
def test_cross_dub_generates_scores_and_reuses_the_videos(grid, runs, tmp_path):
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
    args = (ckpt, tmp_path / "data", runs / "expert" / "last.pt", tmp_path / "out")
    result = cross_dub(*args, log=lambda line: None)
    pairs = result["pairs"]
    assert len(pairs) >= 2 and result["clips"] == len(pairs)
    assert all(p["speech"] != p["face"] for p in pairs)
    assert {"lse_c", "lse_d", "offset_zero_share"} <= set(result["summary"]["generated"])
    # the real video of a dub shows another face: no image figure or LMD may be reported against it
    assert not {"mouth_l1", "mouth_ssim", "face_psnr", "mouth_lpips", "lmd", "jaw_lmd"} & set(
        result["summary"]["generated"]
    )
    assert all("another face" in c["skipped_metrics"]["image figures and LMD"] for c in result["per_clip"])
    write_outputs(result, tmp_path / "report")
    assert "mouth_l1" not in (tmp_path / "report" / "report.md").read_text()
    made = sorted(p.name for p in (tmp_path / "out" / "generated").glob("*.mp4"))
    assert made == sorted(f"{Path(p['speech']).stem}.mp4" for p in pairs)
    # a second run (another expert, say) scores the same videos without making them again
    videos = lambda: {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "generated").glob("*.mp4")}  # noqa: E731
    before = videos()
    assert cross_dub(*args, log=lambda line: None)["pairs"] == pairs
    assert before == videos()
    # another checkpoint in the same folder never scores the first one's videos: they are made again
    with torch.no_grad():
        next(model.parameters()).add_(0.01)
    other = save_generator(tmp_path / "gen2.pt", model, cfg)
    said = []
    cross_dub(other, *args[1:], log=said.append)
    assert set(videos()) == set(before) and all(videos()[p] != t for p, t in before.items())
    assert any("made again" in line for line in said)
