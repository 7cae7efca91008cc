"""Figures that use an oracle mouth say so, from the data's own record: facekit eval, its report and tables, and the
ablation table."""

import csv
import json
import shutil

from facekit.ablation import default_protocol, write_outputs
from facekit.evaluation import evaluate_generator
from facekit.report import write_outputs as write_report_outputs


def _as_oracle(corpus, root):
    """A copy of ``corpus`` whose clips record oracle mouth images (as a prepared video's sketch does)."""
    shutil.copytree(corpus, root)
    manifest = json.loads((root / "manifest.json").read_text())
    for clip in manifest["clips"]:
        clip["extra"]["mouth_driver"] = "oracle"
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_evaluation_report_and_tables_label_an_oracle_mouth(corpus, runs, tmp_path):
    checkpoint = runs / "gen" / "last.pt"
    plain = evaluate_generator(checkpoint, corpus, max_clips=1, lpips=False, details=True)
    assert plain["mouth_modality"] == plain["summary"]["mouth_modality"] == "rendition mouth"
    assert "oracle" not in plain["title"]
    oracle = evaluate_generator(checkpoint, _as_oracle(corpus, tmp_path / "oracle"), max_clips=1, lpips=False,
                                details=True)  # fmt: skip
    assert oracle["mouth_modality"] == oracle["summary"]["mouth_modality"] == "oracle mouth"
    assert oracle["title"].endswith("(oracle mouth)")
    paths = write_report_outputs(oracle, tmp_path / "report")
    report = paths["report"].read_text()
    assert "## Summary (mean over clips) -- oracle mouth" in report and "mouth_modality: `oracle mouth`" in report
    with open(paths["summary_csv"]) as f:
        assert {row["mouth_modality"] for row in csv.DictReader(f)} == {"oracle mouth"}


def test_ablation_table_labels_cells_run_on_an_oracle_mouth(tmp_path):
    protocol = default_protocol()
    protocol["seeds"] = [0]
    rows = {"generated": {"mouth_l1": 0.01}, "reference_pasted": {"mouth_l1": 0.02}, "mean_mouth": {"mouth_l1": 0.03}}
    costs = {"train_cpu_s": 1.0, "eval_cpu_s": 1.0, "train_wall_s": 1.0, "eval_wall_s": 1.0, "machine": {}}
    for cell, mouth in (("order_text_audio_mouth", "oracle mouth"), ("subset_text_audio", "no mouth modality")):
        run = tmp_path / "runs" / cell / "seed0"
        run.mkdir(parents=True)
        record = {"config": {}, "mouth_modality": mouth, "generated": rows["generated"], **costs}
        record["per_clip"] = [{"clip": "a", **rows}, {"clip": "b", **rows}]
        (run / "result.json").write_text(json.dumps(record))
    write_outputs(protocol, tmp_path)
    table = (tmp_path / "table.md").read_text()
    assert "| **order_text_audio_mouth (oracle mouth)** |" in table
    assert "| subset_text_audio |" in table
    rows = list(csv.reader((tmp_path / "table.csv").open()))
    assert [r[0] for r in rows[1:]] == ["reference_pasted", "mean_mouth", "order_text_audio_mouth (oracle mouth)",
                                        "subset_text_audio"]  # fmt: skip
