"""The ablation runner: the grid, the seed-noise verdicts, resumability, and the recorded protocol."""

import json
from pathlib import Path

import pytest

from facekit.ablation import (
    ablation_inputs,
    cell_config,
    compare,
    default_cells,
    default_protocol,
    load_protocol,
    run_ablation,
    summarise,
)
from facekit.config import MODALITIES

ROOT = Path(__file__).resolve().parents[1]


def test_default_grid_covers_every_order_subset_variant_formula_and_the_baseline():
    cells = default_cells()
    orders = {c["overrides"][0] for n, c in cells.items() if c["group"] == "order"}
    assert len(orders) == 6  # all permutations of three modalities, distinct
    subsets = [n for n, c in cells.items() if c["group"] == "subset"]
    assert sorted(subsets) == sorted(["subset_" + m for m in MODALITIES] + ["subset_text_audio", "subset_text_mouth",
                                                                           "subset_audio_mouth"])  # fmt: skip
    assert {"variant_cascade", "formula_film", "formula_adain", "contrastive"} <= set(cells)
    assert len(cells) == 16


def test_recorded_protocol_is_the_built_in_one():
    recorded = json.loads((ROOT / "eval" / "protocols" / "ablation_synthetic.json").read_text())
    assert recorded == json.loads(json.dumps(default_protocol()))


def test_compare_uses_twice_the_standard_error_of_the_difference():
    # means 2 and 1; sds 1 and 0 over 3 seeds -> standard error sqrt(1/3) = 0.577; 2 x 0.577 > 1: within noise
    assert compare([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], True) == (1.0, "within noise")
    # sds 0.1 -> se 0.0816; a difference of 1 is far outside: better when higher is better, worse otherwise
    a, b = [1.9, 2.0, 2.1], [0.9, 1.0, 1.1]
    assert compare(a, b, True)[1] == "better" and compare(a, b, False)[1] == "worse"
    assert compare([2.0], [1.0], True)[1] == "one seed"


def test_summary_names_differences_beyond_noise_and_answers_the_method_questions():
    protocol = default_protocol()
    ref = protocol["reference"]
    table = {
        ref: {"mouth_ssim": [0.90, 0.91, 0.92], "mouth_l1": [0.010, 0.010, 0.010]},
        "contrastive": {"mouth_ssim": [0.80, 0.81, 0.82], "mouth_l1": [0.010, 0.011, 0.009]},
        "subset_audio": {"mouth_ssim": [0.90, 0.92, 0.91], "mouth_l1": [0.020, 0.021, 0.019]},
    }
    text = summarise(protocol, table, ["mouth_ssim", "mouth_l1"])
    assert "contrastive is **worse** than the reference on mouth SSIM" in text
    assert "subset_audio is **worse** than the reference on mouth L1" in text
    assert "Cascade vs the contrastive baseline: The reference is mouth SSIM: better than contrastive" in text
    assert "within noise than subset_audio" in text  # SSIM of the audio-only cell: same within noise


def test_tiny_ablation_runs_resumes_and_refuses_a_changed_protocol(corpus, tmp_path):
    protocol = {
        **default_protocol("tiny"),
        "overrides": ["data.num_frames=5", "train.batch_size=4"],
        "steps": 3,
        "seeds": [0, 1],
        "eval_clips": 1,
    }
    cells = [protocol["reference"], "subset_audio"]
    lines: list[str] = []
    result = run_ablation(protocol, corpus, tmp_path / "abl", cells=cells, log=lines.append)
    assert len(lines) == 4 and not any("skipped" in line for line in lines)
    assert set(result["table"]) == set(cells) and len(result["table"]["subset_audio"]["mouth_ssim"]) == 2
    for name in ("table.md", "table.csv", "summary.md", "plots/mouth_ssim.png", "protocol.json", "runs.json"):
        assert (tmp_path / "abl" / name).is_file(), name
    first = (tmp_path / "abl" / "table.csv").read_text()
    lines.clear()
    run_ablation(protocol, corpus, tmp_path / "abl", cells=cells, log=lines.append)
    assert all("skipped" in line for line in lines) and (tmp_path / "abl" / "table.csv").read_text() == first
    with pytest.raises(ValueError, match="another config"):
        run_ablation({**protocol, "steps": 4}, corpus, tmp_path / "abl", cells=cells, log=lines.append)


def test_bad_protocols_are_clear_errors(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="p.json: not a readable ablation protocol"):
        load_protocol(bad)
    bad.write_text(json.dumps({**default_protocol(), "reference": "nope"}))
    with pytest.raises(ValueError, match="reference cell 'nope'"):
        load_protocol(bad)


def test_grid_protocol_loads_and_builds_every_cell():
    protocol = load_protocol(ROOT / "eval" / "protocols" / "ablation_grid.json")
    for cell in protocol["cells"]:
        cfg = cell_config(protocol, cell, 0)
        assert cfg.data.image_size == 96 and cfg.data.split_by == "sentence" and cfg.train.steps == protocol["steps"]


def test_cli_names_a_bad_protocol_without_a_traceback(tmp_path, capsys):
    from facekit.cli import main

    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    assert main(["ablate", "--protocol", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "p.json: not a readable ablation protocol" in capsys.readouterr().err


def test_load_protocol_applies_seed_and_step_overrides():
    protocol = load_protocol(None, seeds=2, steps=7)
    assert protocol["seeds"] == [0, 1] and protocol["steps"] == 7
    assert load_protocol(None)["seeds"] == default_protocol()["seeds"]


def test_ablation_inputs_train_the_expert_once_and_reuse_it(corpus, tmp_path):
    protocol = {**default_protocol("tiny"), "expert_overrides": ["train.steps=2", "train.batch_size=4"]}
    lines: list[str] = []
    data, expert = ablation_inputs(protocol, tmp_path / "abl", corpus, log=lines.append)
    assert data == corpus and expert == tmp_path / "abl" / "expert" / "last.pt" and expert.is_file()
    made = expert.stat().st_mtime_ns
    assert ablation_inputs(protocol, tmp_path / "abl", corpus, log=lines.append) == (corpus, expert)
    assert expert.stat().st_mtime_ns == made, "a second call reuses the evaluated expert"
    given = tmp_path / "mine.pt"
    assert ablation_inputs(protocol, tmp_path / "abl", corpus, given, log=lines.append) == (corpus, given)
    no_expert = {k: v for k, v in protocol.items() if k != "expert_overrides"}
    assert ablation_inputs(no_expert, tmp_path / "other", corpus, log=lines.append) == (corpus, None)
    assert "no sync loss, no sync metrics" in lines[-1]
