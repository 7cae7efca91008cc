"""Folder-of-videos benchmark (``facekit eval --generated --ground-truth``): figures against references, bad input as
named skips, the CLI's outputs; on real GRID clips (dlib + ../shared/data/grid) when they are present.

dlib finds no face in the cartoon crops written here, so the ``--aligned`` tests stand a detector in for it
(``stand_in_detector``) that sees a face in every crop with any structure and none in a flat one."""

import contextlib
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from facekit.benchmark import BenchmarkOptions, NothingScored, run_benchmark
from facekit.cli import main
from facekit.config import tiny
from facekit.data import face
from facekit.data.audio import load_audio
from facekit.data.images import to_images
from facekit.data.video import read_video, write_video
from facekit.metrics.image import psnr, ssim
from facekit.metrics.sync import SyncEvaluator, sync_problems
from facekit.models.sync_expert import SyncExpert
from facekit.train.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
GRID_EXPERT = "grid-s1-judge"  # shipped in facekit/model_zoo: found by name, trained on other sentences


def cartoon(num: int, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A square cartoon face whose mouth opens and closes, and a modulated tone: uint8 (T, S, S, 3), float (T*640,)."""
    frames = np.zeros((num, size, size, 3), np.uint8)
    frames[:] = (180, 140, 120)
    frames[:, 16:22, 16:24] = frames[:, 16:22, 40:48] = 40  # eyes
    for t in range(num):
        frames[t, 44 : 46 + int(6 * (1 + np.sin(t / 2))), 22:42] = (120, 20, 30)
    n = np.arange(num * 640)
    audio = 0.3 * np.sin(2 * np.pi * 200 * n / 16000) * (1 + np.sin(n / 1280))
    return frames, audio.astype(np.float32)


@contextlib.contextmanager
def stand_in_detector():
    """dlib's place on cartoon crops: the same landmarks on every frame that is not one flat colour, NaN elsewhere."""

    def landmarks(frames: np.ndarray, every: int = 5) -> np.ndarray:
        points = np.tile(np.linspace(8, 56, 68 * 2, dtype=np.float32).reshape(1, 68, 2), (len(frames), 1, 1))
        points[frames.reshape(len(frames), -1).std(axis=1) == 0] = np.nan
        return points

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("facekit.metrics.landmarks.detect_landmarks", landmarks)
        patch.setattr("facekit.data.face.FaceLandmarker", lambda *args, **kwargs: None)  # no dlib needed
        yield


@pytest.fixture
def cartoon_faces():
    with stand_in_detector():
        yield


@pytest.fixture(scope="module")
def expert(tmp_path_factory) -> Path:
    """A randomly initialised sync expert of the tiny preset, saved as a facekit checkpoint."""
    cfg = tiny()
    torch.manual_seed(0)
    model = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2)
    path = tmp_path_factory.mktemp("expert") / "expert.pt"
    return save_checkpoint(path, {"kind": "expert", "config": cfg.to_dict(), "model": model.state_dict()})


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("videos")
    gen, gt = root / "generated", root / "ground_truth"
    f, a = cartoon(30)
    darker = f.copy()
    darker[:, 40:] //= 2  # the lower part of the face darker: the mouth region suffers more than the whole crop
    for name, gen_frames, gen_audio, gen_fps in [
        ("same", f, a, 25),
        ("dark", darker, a, 25),
        ("silent", f, None, 25),  # generated video without an audio track
        ("fps", f, a, 30),  # generated at another frame rate
        ("long", np.concatenate([f, f[:2]]), a, 25),  # two frames longer: trimmed
        ("much_longer", np.concatenate([f, f]), a, 25),  # 30 frames longer: not the same clip
    ]:
        write_video(gt / f"{name}.mp4", f, 25, a)
        write_video(gen / f"{name}.mp4", gen_frames, gen_fps, gen_audio)
    write_video(gt / "short.mp4", f[:4], 25, a[: 4 * 640])
    write_video(gen / "short.mp4", f[:4], 25, a[: 4 * 640])
    write_video(gen / "orphan.mp4", f, 25, a)  # no ground truth
    write_video(gt / "ungenerated.mp4", f, 25, a)  # no generated video
    return gen, gt


@pytest.fixture(scope="module")
def result(folders, expert) -> dict:
    with stand_in_detector():
        return run_benchmark(*folders, expert=expert, options=BenchmarkOptions(aligned=True))


def _clip(result: dict, name: str) -> dict:
    return next(c for c in result["per_clip"] if c["clip"] == name)


def _skip_reason(result: dict, name: str) -> str:
    return next(s["reason"] for s in result["skipped"] if s["clip"] == name)


def test_identical_videos_score_perfectly_and_share_the_sync_figures(result):
    same = _clip(result, "same")
    gen, gt = same["generated"], same["ground_truth"]
    assert gen["face_ssim"] == gen["mouth_ssim"] == 1.0
    assert gen["face_psnr"] == gen["mouth_psnr"] == 100.0  # the documented cap for identical frames
    if "lpips" in same["skipped_metrics"]:
        assert "facekit weights lpips" in same["skipped_metrics"]["lpips"] and "face_lpips" not in gen
    else:
        assert gen["face_lpips"] == pytest.approx(0, abs=1e-6) and gen["mouth_lpips"] == pytest.approx(0, abs=1e-6)
    for key in ("lse_d", "lse_c", "offset"):
        assert gen[key] == gt[key]
    assert same["frames"] == 30 and same["crop_size"] == 64
    # the untrained expert's only warning: it does not find the real video in sync (nothing was trimmed or resized)
    assert [w for w in same["warnings"] if "does not find the real video in sync" not in w] == []
    assert (
        len(result["summary"]["expert_id"]) == 12
        and result["summary"]["expert_id"] in result["settings"]["sync_expert"]
    )


def test_image_figures_equal_a_direct_computation(result, folders):
    gen_dir, gt_dir = folders
    pred, _ = read_video(gen_dir / "dark.mp4")
    target, _ = read_video(gt_dir / "dark.mp4")
    p, t = to_images(pred), to_images(target)
    dark = _clip(result, "dark")["generated"]
    assert dark["face_ssim"] == pytest.approx(float(ssim(p, t)), abs=1e-6)
    assert dark["mouth_ssim"] == pytest.approx(float(ssim(p[..., 32:, :], t[..., 32:, :])), abs=1e-6)
    mse = ((pred.astype(np.float64) - target) / 255) ** 2
    face_psnr = np.mean(np.minimum(100, 10 * np.log10(1 / mse.mean(axis=(1, 2, 3)))))
    mouth_psnr = np.mean(np.minimum(100, 10 * np.log10(1 / mse[:, 32:].mean(axis=(1, 2, 3)))))
    assert dark["face_psnr"] == pytest.approx(face_psnr, abs=1e-3)
    assert dark["mouth_psnr"] == pytest.approx(mouth_psnr, abs=1e-3)
    assert float(psnr(p, t)) == pytest.approx(face_psnr, abs=1e-3)
    assert dark["mouth_ssim"] < dark["face_ssim"] < 1  # only the lower part changed


def test_sync_figures_equal_the_evaluator_on_the_decoded_clip(result, folders, expert):
    _, gt_dir = folders
    frames, _ = read_video(gt_dir / "dark.mp4")
    wav = load_audio(gt_dir / "dark.mp4")
    wav = np.pad(wav[: 30 * 640], (0, max(0, 30 * 640 - len(wav))))  # conformed to the video's length
    reference = SyncEvaluator(expert).evaluate(frames, wav, 25)
    dark = _clip(result, "dark")
    assert dark["ground_truth"]["lse_d"] == pytest.approx(reference.lse_d, abs=1e-6)
    assert dark["ground_truth"]["lse_c"] == pytest.approx(reference.lse_c, abs=1e-6)
    assert dark["ground_truth"]["offset"] == reference.offset
    curve = next(c for c in result["sync"] if c["clip"] == "dark")
    assert curve["offsets"] == list(range(-15, 16))
    assert np.allclose(curve["mdist"]["ground_truth"], reference.mdist, atol=1e-5)
    assert len(curve["confidence"]["generated"]) == 30 - 4


def test_bad_input_is_a_named_skip_and_other_clips_are_scored(result):
    assert sorted(c["clip"] for c in result["per_clip"]) == ["dark", "long", "same", "silent"]
    fps = _skip_reason(result, "fps")
    assert "30 fps" in fps and "25 fps" in fps and "generated/fps.mp4" in fps and "ground_truth/fps.mp4" in fps
    assert "no ground-truth video named orphan" in _skip_reason(result, "orphan")
    assert "4 frames" in _skip_reason(result, "short") and "5-frame" in _skip_reason(result, "short")
    longer = _skip_reason(result, "much_longer")
    assert "different lengths" in longer and "60 frames" in longer and "30" in longer
    assert any("ungenerated.mp4" in n for n in result["notes"])
    long = _clip(result, "long")
    assert long["frames"] == 30 and any("trimmed to the first 30" in w for w in long["warnings"])
    silent = _clip(result, "silent")
    assert "no audio track" in silent["skipped_metrics"]["generated sync"]
    assert "silent.mp4" in silent["skipped_metrics"]["generated sync"]
    assert "lse_d" not in silent["generated"] and "lse_d" in silent["ground_truth"]
    assert silent["generated"]["face_ssim"] == 1.0  # image figures do not need audio


def test_summary_is_the_mean_over_clips(result):
    clips = result["per_clip"]
    summary = result["summary"]["generated"]
    assert summary["face_ssim"] == pytest.approx(np.mean([c["generated"]["face_ssim"] for c in clips]))
    with_sync = [c["generated"]["lse_d"] for c in clips if "lse_d" in c["generated"]]
    assert len(with_sync) == 3 and summary["lse_d"] == pytest.approx(np.mean(with_sync))
    assert result["summary"]["ground_truth"]["lse_d"] == pytest.approx(
        np.mean([c["ground_truth"]["lse_d"] for c in clips])
    )


def test_official_syncnet_is_scored_beside_the_expert(tmp_path, expert, cartoon_faces):
    from facekit.metrics.syncnet_official import SyncNetOfficial

    torch.manual_seed(0)
    syncnet = tmp_path / "syncnet_v2.model"
    torch.save(SyncNetOfficial().state_dict(), syncnet)
    f, a = cartoon(8)
    for folder in ("gen", "gt"):
        write_video(tmp_path / folder / "eight.mp4", f, 25, a)
        write_video(tmp_path / folder / "five.mp4", f[:5], 25, a[: 5 * 640])
    out = run_benchmark(tmp_path / "gen", tmp_path / "gt", expert, syncnet, BenchmarkOptions(aligned=True))
    eight, five = _clip(out, "eight"), _clip(out, "five")
    for key in ("lse_d", "lse_c", "offset", "official_lse_d", "official_lse_c", "official_offset"):
        assert eight["generated"][key] == eight["ground_truth"][key]
    assert {c["network"].split()[0] for c in out["sync"] if c["clip"] == "eight"} == {"facekit", "official"}
    # five frames: one window for facekit's expert, too short for syncnet_python's 6-frame minimum
    assert "lse_d" in five["generated"] and "official_lse_d" not in five["generated"]
    assert "6 frames" in five["skipped_metrics"]["generated official_sync"]


def test_cli_writes_report_json_and_csv(folders, expert, tmp_path, capsys, cartoon_faces):
    gen, gt = folders
    sub = tmp_path / "gen"
    sub.mkdir()
    for name in ("dark", "silent", "fps"):
        shutil.copy(gen / f"{name}.mp4", sub)
    out_dir, out_json = tmp_path / "report", tmp_path / "eval.json"
    argv = ["eval", "--generated", str(sub), "--ground-truth", str(gt), "--expert", str(expert), "--aligned"]
    assert main([*argv, "--out-dir", str(out_dir), "--out", str(out_json)]) == 0
    assert "skipped fps: different frame rates" in capsys.readouterr().err
    report = (out_dir / "report.md").read_text()
    assert "## Summary" in report and "| generated |" in report and "## Skipped clips" in report
    assert "different frame rates" in report and "no audio track" in report
    for figure in ("sync_curves_0.png", "confidence_0.png", "samples_dark.png"):
        assert (out_dir / "figures" / figure).read_bytes()[:4] == b"\x89PNG" and f"figures/{figure}" in report
    saved = json.loads((out_dir / "results.json").read_text())
    assert saved["clips"] == 2 and saved["samples"][0]["png"] == "figures/samples_dark.png"
    assert json.loads(out_json.read_text())["summary"] == saved["summary"]
    rows = list(csv.DictReader(open(out_dir / "per_clip.csv")))
    assert [(r["clip"], r["status"]) for r in rows] == [("dark", "scored"), ("silent", "scored"), ("fps", "skipped")]
    assert float(rows[0]["generated.face_ssim"]) == pytest.approx(saved["per_clip"][0]["generated"]["face_ssim"])
    summary = list(csv.DictReader(open(out_dir / "summary.csv")))
    assert [r["method"] for r in summary] == ["generated", "ground_truth"]


def test_cli_usage_errors_are_clear(folders, tmp_path, capsys, cartoon_faces):
    gen, gt = folders
    assert main(["eval", "--generated", str(gen)]) == 2
    assert "--ground-truth" in capsys.readouterr().err
    assert main(["eval", "--generated", str(gen), "--ground-truth", str(gt), "--checkpoint", "x.pt"]) == 2
    assert "either" in capsys.readouterr().err
    assert main(["eval", "--generated", str(tmp_path / "nowhere"), "--ground-truth", str(gt), "--aligned"]) == 2
    assert "nowhere" in capsys.readouterr().err
    twice = tmp_path / "twice"
    (twice / "a").mkdir(parents=True)
    shutil.copy(gen / "same.mp4", twice / "a" / "same.mp4")
    shutil.copy(gen / "same.mp4", twice / "same.mp4")
    assert main(["eval", "--generated", str(twice), "--ground-truth", str(gt), "--aligned"]) == 2
    err = capsys.readouterr().err
    assert "two videos named 'same'" in err and "rename" in err


def test_nothing_scored_exits_2_with_every_reason_on_stderr(folders, tmp_path, capsys, cartoon_faces):
    gen, gt = folders
    bad, truth = tmp_path / "gen", tmp_path / "gt"
    bad.mkdir()
    truth.mkdir()
    shutil.copy(gen / "fps.mp4", bad)  # another frame rate
    shutil.copy(gt / "fps.mp4", truth)
    shutil.copy(gen / "orphan.mp4", bad)  # no ground truth of that name
    (bad / "broken.mp4").write_bytes(b"not a video")  # unreadable
    shutil.copy(gt / "same.mp4", truth / "broken.mp4")
    report = tmp_path / "report"
    argv = ["eval", "--generated", str(bad), "--ground-truth", str(truth), "--aligned", "--out-dir", str(report)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "nothing scored" in err and "none of the 3 generated videos" in err
    assert "fps: different frame rates" in err and "orphan: no ground-truth video named orphan" in err
    assert "broken: " in err and "broken.mp4" in err
    assert not report.exists()  # no report of nothing


def test_a_faceless_generated_video_is_skipped_never_scored(folders, expert, tmp_path, cartoon_faces):
    """A flat grey video has no face: a named skip, without the sync figures that once called it 'in sync'."""
    gen, gt = folders
    f, a = cartoon(30)
    write_video(tmp_path / "gen" / "grey.mp4", np.full_like(f, 128), 25, a)
    (tmp_path / "gt").mkdir()
    shutil.copy(gt / "same.mp4", tmp_path / "gt" / "grey.mp4")
    shutil.copy(gen / "same.mp4", tmp_path / "gen")
    shutil.copy(gt / "same.mp4", tmp_path / "gt")
    out = run_benchmark(tmp_path / "gen", tmp_path / "gt", expert, options=BenchmarkOptions(aligned=True))
    assert [c["clip"] for c in out["per_clip"]] == ["same"] and not any(c["clip"] == "grey" for c in out["sync"])
    reason = _skip_reason(out, "grey")
    assert reason.startswith("generated ") and "grey.mp4" in reason and "no face" in reason


def test_no_face_check_scores_rendered_faces_under_a_warning(folders, tmp_path, capsys):
    """Rendered faces dlib cannot find: --aligned --no-face-check scores them (no LMD), and says a faceless video would
    be scored too; the flag means nothing elsewhere."""
    gen, gt = folders
    (tmp_path / "gen").mkdir()
    shutil.copy(gen / "dark.mp4", tmp_path / "gen")
    out_json = tmp_path / "eval.json"
    argv = ["eval", "--generated", str(tmp_path / "gen"), "--ground-truth", str(gt), "--aligned", "--no-face-check"]
    assert main([*argv, "--out", str(out_json)]) == 0
    assert "face check off" in capsys.readouterr().err
    result = json.loads(out_json.read_text())
    assert result["clips"] == 1 and "face check off" in result["warnings"][0]
    assert "lmd" not in result["per_clip"][0]["generated"] and "face check off" in result["settings"]["face_check"]
    assert main(argv[:5] + ["--no-face-check"]) == 2
    assert "--no-face-check applies to --aligned crops" in capsys.readouterr().err


def test_every_clip_says_whether_the_expert_finds_the_real_video_in_sync(result, folders, expert):
    _, gt_dir = folders
    frames, _ = read_video(gt_dir / "dark.mp4")
    wav = load_audio(gt_dir / "dark.mp4")
    wav = np.pad(wav[: 30 * 640], (0, max(0, 30 * 640 - len(wav))))  # conformed to the video's length
    problems = sync_problems(SyncEvaluator(expert).evaluate(frames, wav, 25))
    dark = _clip(result, "dark")
    assert dark["ground_truth"]["in_sync"] is not problems
    assert all(any(p in w for w in dark["warnings"]) for p in problems.values())
    judged = [c for c in result["per_clip"] if "in_sync" in c["ground_truth"]]
    missed = sum(not c["ground_truth"]["in_sync"] for c in judged)
    line = result["summary"]["ground_truth_in_sync"]
    assert line.startswith(f"{len(judged) - missed} of {len(judged)} real videos found in sync by facekit expert")
    assert any("say nothing about lip sync" in w for w in result["warnings"]) == (missed > len(judged) / 2)


# ---- face detection + alignment (dlib), real GRID clips ----


@pytest.fixture(scope="module")
def dlib_present():
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")


def test_without_aligned_a_faceless_ground_truth_is_a_named_skip(dlib_present, tmp_path):
    f, a = cartoon(12)
    write_video(tmp_path / "gen" / "toon.mp4", f, 25, a)
    write_video(tmp_path / "gt" / "toon.mp4", f, 25, a)
    with pytest.raises(NothingScored, match="toon: ground truth .*no face"):
        run_benchmark(tmp_path / "gen", tmp_path / "gt")


@pytest.fixture(scope="module")
def grid_pair(grid, dlib_present, tmp_path_factory) -> tuple[Path, Path]:
    """The first 30 frames of a GRID clip as ground truth; generated = the same file, and a re-encoded copy."""
    frames, fps = read_video(grid / "s1" / "video" / "bbaf2n.mpg")
    audio = load_audio(grid / "s1" / "video" / "bbaf2n.mpg")
    root = tmp_path_factory.mktemp("grid_bench")
    gt = write_video(root / "gt" / "same.mp4", frames[:30], fps, audio[: 30 * 640])
    (root / "gen").mkdir()
    shutil.copy(gt, root / "gen" / "same.mp4")
    shutil.copy(gt, root / "gt" / "recoded.mp4")
    again, _ = read_video(gt)
    write_video(root / "gen" / "recoded.mp4", again, fps, load_audio(gt))
    return root / "gen", root / "gt"


def test_real_grid_clips_are_detected_aligned_and_scored(grid_pair):
    out = run_benchmark(*grid_pair, options=BenchmarkOptions(num_samples=1))
    assert out["skipped"] == []
    same, recoded = _clip(out, "same"), _clip(out, "recoded")
    assert same["crop_size"] == 96 and "ground truth's alignment" in same["alignment"]
    assert same["generated"]["lmd"] == 0.0 and same["generated"]["face_ssim"] == 1.0
    assert same["generated"]["jaw_lmd"] == 0.0
    # one more H.264 generation: nearly the same pixels, mouth and jaw line (well under a crop pixel)
    assert 0.95 < recoded["generated"]["face_ssim"] < 1 and 0 < recoded["generated"]["lmd"] < 1.0
    assert 0 < recoded["generated"]["jaw_lmd"] < 1.0
    assert "lmd" not in recoded["skipped_metrics"]
    sample = out["samples"][0]
    assert sample["generated"].shape == (4, 96, 96, 3) and sample["generated"].dtype == np.uint8


def test_a_grey_generated_video_of_a_real_clip_is_skipped(grid_pair, tmp_path):
    frames, fps = read_video(grid_pair[1] / "same.mp4")
    write_video(tmp_path / "gen" / "same.mp4", np.full_like(frames, 128), fps, load_audio(grid_pair[1] / "same.mp4"))
    with pytest.raises(NothingScored, match=r"same: generated .*same\.mp4: .*no face"):
        run_benchmark(tmp_path / "gen", grid_pair[1])


def test_trim_edges_cuts_frames_and_their_audio_from_both_videos():
    from facekit.benchmark import Video, trim_edges

    frames = np.arange(10, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    audio = np.arange(10 * 640, dtype=np.float32)
    gen, gt = Video(Path("g"), frames.copy(), 25.0, audio.copy()), Video(Path("t"), frames.copy(), 25.0, None)
    trim_edges(gen, gt, lead=2, trail=1)
    assert gen.frames[:, 0, 0, 0].tolist() == gt.frames[:, 0, 0, 0].tolist() == list(range(2, 9))
    # 640 samples (16 kHz) per 25 fps frame: the audio left starts with frame 2's first sample, ends with frame 8's
    assert gen.audio[0] == 2 * 640 and len(gen.audio) == 7 * 640 and gt.audio is None


def test_a_faceless_start_of_the_ground_truth_is_left_out_of_both_videos(grid, dlib_present, tmp_path):
    """GRID's brwa4p & co. decode a dozen garbage frames first: those frames are cut, the rest is scored."""
    frames, fps = read_video(grid / "s1" / "video" / "bbaf2n.mpg")
    audio = load_audio(grid / "s1" / "video" / "bbaf2n.mpg")
    frames = np.concatenate([np.zeros((8, *frames.shape[1:]), np.uint8), frames[:30]])
    write_video(tmp_path / "gt" / "late.mp4", frames, fps, audio[: 38 * 640])
    (tmp_path / "gen").mkdir()
    shutil.copy(tmp_path / "gt" / "late.mp4", tmp_path / "gen" / "late.mp4")
    out = run_benchmark(tmp_path / "gen", tmp_path / "gt", options=BenchmarkOptions(num_samples=1))
    clip = _clip(out, "late")
    assert out["skipped"] == [] and clip["frames"] == 30
    assert any("first 8 / last 0 frames" in w for w in clip["warnings"]), clip["warnings"]
    assert clip["generated"]["face_ssim"] == 1.0 and clip["generated"]["lmd"] == 0.0
    # more black frames than max_edge: still a named skip
    with pytest.raises(NothingScored, match="late: .*no face in frames 0-"):
        run_benchmark(tmp_path / "gen", tmp_path / "gt", options=BenchmarkOptions(num_samples=1, max_edge=5))


@pytest.mark.slow
def test_trained_grid_expert_finds_zero_for_truth_and_the_delay_of_the_generated(grid, dlib_present, tmp_path):
    from facekit.metrics.sync import shift_audio

    video = grid / "s1" / "video" / "bbbmzn.mpg"  # a sentence the shipped expert held out
    frames, fps = read_video(video)
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "bbbmzn.mpg").symlink_to(video)
    write_video(tmp_path / "gen" / "bbbmzn.mp4", frames, fps, shift_audio(load_audio(video), 3))
    out = run_benchmark(tmp_path / "gen", tmp_path / "gt", GRID_EXPERT)
    clip = _clip(out, "bbbmzn")
    assert clip["ground_truth"]["offset"] == 0 and clip["generated"]["offset"] == 3
