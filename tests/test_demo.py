"""The main job end to end on a tiny setting: corpus -> train (then reuse) -> generate an unseen face -> report."""

import html
import json
import re
from pathlib import Path

import av

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.data.clips import read_manifest
from facekit.data.dataset import select_split
from facekit.demo import run_demo

TINY = [
    "synth.num_identities=4",
    "synth.clips_per_identity=2",
    "synth.seconds=2.0",
    "data.image_size=32",
    "data.mouth_size=16",
    "data.eval_fraction=0.34",
    "model.feature_dim=32",
    "model.base_channels=8",
]
STAGES = {
    "expert": ["train.steps=3", "train.batch_size=4"],
    "generator": ["data.num_frames=5", "train.steps=3", "train.batch_size=2", "train.checkpoint_every=3"],
}


def test_demo_runs_end_to_end_then_reuses_its_cache(tmp_path):
    lines: list[str] = []
    out, cache = tmp_path / "demo", tmp_path / "cache"
    summary = run_demo(out, overrides=TINY, cache=cache, workers=1, log=lines.append, stages=STAGES)
    assert [line[:5] for line in lines if line.startswith("[")] == [
        "[1/5]",
        "[2/5]",
        "[2/5]",
        "[3/5]",
        "[4/5]",
        "[5/5]",
    ]
    _, infos = read_manifest(out / "corpus")
    for stage in ("expert", "generator"):  # the identity is held out by the split each model was trained with
        cfg = checkpoint_config(load_checkpoint(summary[stage]["checkpoint"]))
        trained_on = {i.identity for i in select_split(infos, "train", cfg.data)}
        held_out = {i.identity for i in select_split(infos, "eval", cfg.data)}
        assert summary["identity"] in held_out and summary["identity"] not in trained_on, stage
    with av.open(summary["video"]) as container:  # the generated talking face, with its audio
        assert container.streams.video and container.streams.audio
        frames = sum(1 for _ in container.decode(video=0))
    assert (
        frames
        == len(json.loads((out / "summary.json").read_text())["clip_scores"]["generated"]["confidence_per_frame"]) + 4
    )
    scores = summary["clip_scores"]
    assert {"generated", "reference_pasted", "mean_mouth", "ground_truth"} <= set(scores)
    assert 0 < scores["generated"]["mouth_ssim"] <= 1 and "lse_d" in scores["ground_truth"]
    report = Path(summary["report"]).read_text()
    for ref in re.findall(r'(?:src|href|poster)="([^"]+)"', report):  # every video and figure it shows exists
        assert (out / ref).is_file(), ref
    assert "never seen" not in report or summary["identity"] in report
    # the real clip's own verdict under the expert, and the held-out split's count
    assert "Does the expert find the real clip in sync" in report and "real videos found in sync by" in report
    assert isinstance(scores["ground_truth"]["in_sync"], bool)
    verdicts = summary["verdicts"]  # per figure, whether the generator beats each baseline, in words on the page
    assert verdicts["clip_image"] and verdicts["clip_sync"] and verdicts["held_out_image"] and verdicts["held_out_sync"]
    table_rows = [re.findall(r"<td>(.*?)</td>", tr) for tr in re.findall(r"<tr>(<td>.*?)</tr>", report)]
    for rows in verdicts.values():
        for row in rows:
            words = [b["verdict"] for b in row["baselines"].values()]
            assert any(c[0] == html.escape(row["figure"]) and c[-len(words) :] == words for c in table_rows), row
    lines.clear()
    again = run_demo(out, overrides=TINY, cache=cache, workers=1, log=lines.append, stages=STAGES)
    assert sum("reusing the cached run" in line for line in lines) == 2  # no training the second time
    assert again["generator"]["checkpoint"] == summary["generator"]["checkpoint"]
