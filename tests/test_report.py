"""The evaluation report (facekit.report): markdown tables, figures with titles and labelled axes, JSON and CSV; and
the checkpoint mode of ``facekit eval`` writing the same report."""

import csv
import json

import matplotlib
import numpy as np
import pytest
import torch

from facekit.cli import main
from facekit.report import flat_rows, jsonable, write_outputs, write_report

matplotlib.use("Agg")


def _result() -> dict:
    """A result in the documented shape: two methods, one baseline, two clips, one skipped, two networks."""
    offsets = list(range(-15, 16))
    curve = lambda centre: [1 + abs(k - centre) / 15 for k in offsets]  # noqa: E731
    rng = np.random.default_rng(0)
    return {
        "title": "a test report",
        "settings": {"crop": "96 px", "psnr": "capped at 100 dB"},
        "summary": {
            "generated": {"face_ssim": 0.91234567, "lse_d": 7.5, "offset": 1.0},
            "reference_pasted": {"face_ssim": 0.8},
            "ground_truth": {"lse_d": 6.5, "offset": 0.0},
            "expert_id": "0123456789ab",
        },
        "per_clip": [
            {
                "clip": "a",
                "frames": 75,
                "generated": {"face_ssim": 0.9, "lse_d": 7.0, "offset": 2},
                "reference_pasted": {"face_ssim": 0.8},
                "ground_truth": {"lse_d": 6.0, "offset": 0},
                "warnings": ["trimmed to 74 frames"],
                "skipped_metrics": {"face_lpips": "weights missing"},
            },
            {
                "clip": "b",
                "frames": 75,
                "generated": {"face_ssim": 0.92, "lse_d": 8.0, "offset": 0},
                "reference_pasted": {"face_ssim": 0.8},
                "ground_truth": {"lse_d": 7.0, "offset": 0},
            },
        ],  # fmt: skip
        "skipped": [{"clip": "c", "reason": "different frame rates: 30 fps vs 25 fps"}],
        "notes": ["ground truth without a generated video: d.mp4"],
        "sync": [
            {
                "clip": clip,
                "network": network,
                "offsets": offsets,
                "mdist": {"generated": curve(2), "ground_truth": curve(0)},
                "confidence": {"generated": list(rng.random(20)), "ground_truth": list(rng.random(20))},
            }
            for network in ("facekit expert 0123456789ab", "official SyncNet 0000")
            for clip in ("a", "b")
        ],  # fmt: skip
        "samples": [
            {
                "clip": "a",
                "frames": [0, 10],
                "generated": rng.integers(0, 255, (2, 32, 32, 3), dtype=np.uint8),
                "reference_pasted": torch.rand(2, 3, 32, 32),
                "ground_truth": np.zeros((2, 32, 32, 3), np.uint8),
            },
        ],  # fmt: skip
    }


@pytest.fixture
def saved_figures(monkeypatch):
    """Every figure the report saves, captured before it is closed."""
    from matplotlib.figure import Figure

    figures = []
    original = Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def test_every_figure_has_a_title_and_labelled_axes(tmp_path, saved_figures):
    write_report(_result(), tmp_path)
    assert len(saved_figures) == 5  # 2 networks x (curves, confidence) + 1 sample sheet
    for fig in saved_figures:
        title = fig._suptitle.get_text() if fig._suptitle else ""
        assert title or all(ax.get_title() for ax in fig.axes)
        for ax in fig.axes:
            if ax.get_lines():  # plots: both axes labelled on every panel
                assert ax.get_xlabel() and ax.get_ylabel(), (title, ax.get_title())
        images = [ax for ax in fig.axes if ax.get_images()]
        if images:  # sample sheets: frames labelled on the left, methods along the bottom
            assert all(ax.get_ylabel().startswith("frame") for ax in images[:: len(images) // 2])
            assert {ax.get_xlabel() for ax in images[-3:]} == {"generated", "reference pasted", "ground truth"}


def test_markdown_has_the_tables_figures_skips_and_notes(tmp_path):
    path = write_report(_result(), tmp_path)
    text = path.read_text()
    assert text.startswith("# a test report")
    assert "| generated | 0.9123 | 7.5000 | 1.0000 |" in text  # 4 decimals; baselines and ground truth beside
    assert "| ground_truth | -- | 6.5000 | 0.0000 |" in text and "| reference_pasted | 0.8000 | -- | -- |" in text
    assert "expert_id: `0123456789ab`" in text and "| crop | 96 px |" in text
    assert "## Per clip: generated" in text and "| a | 0.9000 | 7.0000 | 2 |" in text
    assert "| c | different frame rates: 30 fps vs 25 fps |" in text
    assert "- a: trimmed to 74 frames" in text and "- a: face_lpips not computed: weights missing" in text
    assert "ground truth without a generated video: d.mp4" in text
    for name in ("sync_curves_0", "sync_curves_1", "confidence_0", "confidence_1", "samples_a"):
        assert f"(figures/{name}.png)" in text and (tmp_path / "figures" / f"{name}.png").is_file()


def test_json_and_csv(tmp_path):
    result = _result()
    paths = write_outputs(result, tmp_path)
    saved = json.loads(paths["json"].read_text())
    assert saved["samples"] == [{"clip": "a", "frames": [0, 10], "png": "figures/samples_a.png"}]
    assert saved["summary"] == result["summary"] and saved["per_clip"] == result["per_clip"]
    rows = list(csv.DictReader(open(paths["per_clip_csv"])))
    assert [(r["clip"], r["status"]) for r in rows] == [("a", "scored"), ("b", "scored"), ("c", "skipped")]
    assert rows[0]["generated.lse_d"] == "7.0" and rows[0]["ground_truth.offset"] == "0"
    assert rows[0]["skipped_metrics"] == "face_lpips: weights missing" and rows[2]["reason"].startswith("different")
    summary = list(csv.DictReader(open(paths["summary_csv"])))
    assert [r["method"] for r in summary] == ["generated", "reference_pasted", "ground_truth"]
    assert summary[0]["face_ssim"] == "0.91234567" and summary[1]["lse_d"] == ""
    assert flat_rows(result)[1]["generated.face_ssim"] == 0.92
    assert "samples" not in jsonable({"summary": {}, "per_clip": [], "samples": []})


def test_checkpoint_mode_writes_the_same_report(runs, corpus, tmp_path, capsys):
    out_dir, out_json = tmp_path / "report", tmp_path / "eval.json"
    argv = ["eval", "--checkpoint", str(runs / "gen" / "last.pt"), "--data", str(corpus), "--max-clips", "2"]
    argv += ["--expert", str(runs / "expert" / "last.pt"), "--out", str(out_json), "--out-dir", str(out_dir)]
    assert main(argv) == 0
    old = json.loads(out_json.read_text())  # the --out JSON keeps its keys
    assert old["clips"] == 2 == len(old["per_clip"]) and {"generated", "ground_truth", "expert_id"} <= set(
        old["summary"]
    )
    text = (out_dir / "report.md").read_text()
    for row in ("generated", "reference_pasted", "mean_mouth", "ground_truth"):
        assert f"| {row} |" in text
    assert f"facekit expert {old['summary']['expert_id']}" in text
    clip = old["per_clip"][0]["clip"]
    for name in ("sync_curves_0.png", "confidence_0.png", f"samples_{clip}.png"):
        assert (out_dir / "figures" / name).is_file()
    curves = json.loads((out_dir / "results.json").read_text())["sync"]
    assert len(curves) == 2 and len(curves[0]["mdist"]["ground_truth"]) == 31
    assert (out_dir / "per_clip.csv").is_file() and (out_dir / "summary.csv").is_file()


def test_warnings_come_first_and_the_real_videos_sync_verdict_is_in_the_tables(tmp_path):
    result = _result()
    result["warnings"] = ["facekit expert 0123456789ab does not find the real videos in sync in 2 of 2 clips"]
    result["summary"]["ground_truth_in_sync"] = "0 of 2 real videos found in sync by facekit expert 0123456789ab"
    for clip in result["per_clip"]:
        clip["ground_truth"]["in_sync"] = False
    text = write_report(result, tmp_path).read_text()
    first = text.index("## Read this first")
    assert first < text.index("## Summary") and f"- **{result['warnings'][0]}**" in text[first:]
    assert "ground_truth_in_sync: `0 of 2 real videos found in sync" in text
    assert "| clip | lse_d | offset | in_sync |" in text and "| a | 6.0000 | 0 | False |" in text
    assert json.loads(write_outputs(result, tmp_path)["json"].read_text())["warnings"] == result["warnings"]


def test_summarise_is_the_mean_over_the_clips_that_have_each_figure():
    from facekit.report import summarise

    clips = [
        {"generated": {"face_ssim": 0.5, "offset": 0}, "ground_truth": {"offset": 2, "in_sync": False}},
        {"generated": {"face_ssim": 0.7, "offset": 1, "lmd": None}, "ground_truth": {"offset": 0, "in_sync": True}},
        {"generated": {"face_ssim": 0.9, "offset": 0}, "ground_truth": {"offset": 0, "in_sync": True}},
    ]
    summary = summarise(clips, ["generated", "ground_truth"])
    assert summary["generated"] == pytest.approx({"face_ssim": 0.7, "offset": 1 / 3, "offset_zero_share": 2 / 3})
    assert summary["ground_truth"] == pytest.approx({"offset": 2 / 3, "offset_zero_share": 2 / 3, "in_sync": 2 / 3})
