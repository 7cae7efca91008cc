"""The ablation runner: the grid, the recorded protocols, two experts, resumability, the table of facekit.stats."""

import csv
import json
from pathlib import Path

import pytest

from facekit.ablation import ablation_inputs, cell_config, default_cells, default_protocol, load_protocol
from facekit.config import MODALITIES

ROOT = Path(__file__).resolve().parents[1]


def test_default_grid_covers_every_question_of_the_issue():
    cells = default_cells()
    orders = {c["overrides"][0] for n, c in cells.items() if c["group"] == "order"}
    assert len(orders) == 6  # all permutations of three modalities, distinct
    subsets = [n for n, c in cells.items() if c["group"] == "subset"]
    assert sorted(subsets) == sorted(["subset_" + m for m in MODALITIES] + ["subset_text_audio", "subset_text_mouth",
                                                                           "subset_audio_mouth"])  # fmt: skip
    assert {"fusion_cascade", "modulation_film", "modulation_adain", "contrastive", "wav2lip"} <= set(cells)
    assert len(cells) == 17
    assert {c["group"] for c in cells.values()} == set(default_protocol()["questions"])


def test_recorded_protocol_is_the_built_in_one():
    recorded = json.loads((ROOT / "eval" / "protocols" / "ablation_synthetic.json").read_text())
    assert recorded == json.loads(json.dumps(default_protocol()))


def test_grid_protocol_has_no_mouth_cell_and_builds_every_cell():
    protocol = load_protocol(ROOT / "eval" / "protocols" / "ablation_grid.json")
    assert set(protocol["questions"]) == {c["group"] for c in protocol["cells"].values()}
    for cell in protocol["cells"]:
        cfg = cell_config(protocol, cell, 0)
        assert cfg.data.image_size == 96 and cfg.data.split_by == "sentence" and cfg.train.steps == protocol["steps"]
        assert "mouth" not in cfg.model.cascade.order, cell  # GRID's mouth modality is an oracle: no cell
        assert cfg.train.device == "auto"  # the same protocol trains on a GPU when one is present


def test_bad_protocols_are_clear_errors(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="p.json: not a readable ablation protocol"):
        load_protocol(bad)
    bad.write_text(json.dumps({**default_protocol(), "reference": "nope"}))
    with pytest.raises(ValueError, match="reference cell 'nope'"):
        load_protocol(bad)


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


def tiny_protocol() -> dict:
    return {
        **default_protocol("tiny"),
        "overrides": ["data.num_frames=5", "train.batch_size=4"],
        "steps": 3,
        "seeds": [0, 1],
        "eval_clips": 2,
        "expert_overrides": ["train.steps=2", "train.batch_size=4"],
        "eval_expert_overrides": ["model.expert_loss=infonce", "train.seed=1", "train.steps=2", "train.batch_size=4"],
    }


def test_ablation_inputs_train_two_experts_once_and_refuse_one_in_both_roles(corpus, tmp_path):
    protocol = tiny_protocol()
    lines: list[str] = []
    data, expert, judge = ablation_inputs(protocol, tmp_path / "abl", corpus, log=lines.append)
    assert (data, expert, judge) == (corpus, tmp_path / "abl" / "expert" / "last.pt", tmp_path / "abl" /
                                     "eval_expert" / "last.pt")  # fmt: skip
    assert expert.is_file() and judge.is_file() and expert.read_bytes() != judge.read_bytes()
    assert {"wall_s", "cpu_s", "machine"} <= set(json.loads((expert.parent / "cost.json").read_text()))
    made = judge.stat().st_mtime_ns
    assert ablation_inputs(protocol, tmp_path / "abl", corpus, log=lines.append) == (corpus, expert, judge)
    assert judge.stat().st_mtime_ns == made, "a second call reuses the evaluated experts"
    with pytest.raises(ValueError, match="both the training and the judging sync expert"):
        ablation_inputs(protocol, tmp_path / "abl", corpus, expert, expert, log=lines.append)
    none = {k: v for k, v in protocol.items() if k not in ("expert_overrides", "eval_expert_overrides")}
    assert ablation_inputs(none, tmp_path / "other", corpus, log=lines.append) == (corpus, None, None)
    assert "no sync figures" in lines[-1]


def test_cli_runs_a_tiny_study_end_to_end_skips_finished_runs_and_resumes_a_killed_one(corpus, tmp_path, capsys):
    from facekit.cli import main
    from facekit.metrics.sync import SyncEvaluator
    from facekit.train.loop import train_generator

    protocol = tiny_protocol()
    ref = protocol["reference"]
    protocol["cells"] = {c: protocol["cells"][c] for c in (ref, "subset_audio", "wav2lip")}
    path, out = tmp_path / "tmp.json", tmp_path / "tmp"
    path.write_text(json.dumps(protocol))
    args = ["ablate", "--protocol", str(path), "--out", str(out), "--data", str(corpus)]
    # a run killed at step 2 of 3: its last.pt is there, its result.json is not
    _, expert, _ = ablation_inputs(protocol, out, corpus, log=lambda _: None)
    killed = out / "runs" / "wav2lip" / "seed1"
    train_generator(cell_config({**protocol, "steps": 2}, "wav2lip", 1), corpus, killed, expert, progress=False)

    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("skipped") == 0 and "steps 2-3" in printed  # the killed run resumed from its checkpoint
    steps = [json.loads(line)["step"] for line in (killed / "log.jsonl").read_text().splitlines()]
    assert steps[-1] == 3 and len(steps) == len(set(steps))
    runs = json.loads((out / "runs.json").read_text())
    assert len(runs) == 6 and {r["resumed_from_step"] for r in runs} == {0, 2}
    judge_id = SyncEvaluator(out / "eval_expert" / "last.pt").expert_id
    for r in runs:  # sync judged by the independent expert; machine and time per run
        assert r["eval_expert_id"] == judge_id != SyncEvaluator(out / "expert" / "last.pt").expert_id
        assert {"cpu", "cores", "torch", "device"} <= set(r["machine"]) and r["train_cpu_s"] > 0
        assert len(r["per_clip"]) == 2 and "lse_d" in r["per_clip"][0]["generated"]
    budget = json.loads((out / "budget.json").read_text())
    assert budget["runs"] == 6 and set(budget["experts"]) == {"expert", "eval_expert"} and budget["total_cpu_h"] > 0

    with (out / "table.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["row"] for r in rows} == {*protocol["cells"], "reference_pasted", "mean_mouth", "ground_truth"}
    real = {r["metric"] for r in rows if r["row"] == "ground_truth"}
    assert real == {"lse_d", "lse_c", "offset_zero_share"}  # the real videos' sync under the judge, to read sync by
    cells = [r for r in rows if r["row"] in protocol["cells"]]
    assert {r["beats_baselines"] for r in cells} <= {"True", "False"}  # every cell above both baselines, or flagged
    verdicts = {r["verdict"] for r in cells if r["row"] != ref}
    assert verdicts and verdicts <= {"better", "worse", "not distinguishable"}
    assert all(float(r["mean_low"]) <= float(r["mean"]) <= float(r["mean_high"]) for r in rows)
    table = (out / "table.md").read_text()
    assert "| reference_pasted | trivial baseline |" in table and "### wav2lip" in table and "within noise" not in table
    for name in ("plots/mouth_l1.png", "plots/mouth_l1_vs_reference.png", "plots/lse_d.png", "protocol.json"):
        assert (out / name).is_file(), name

    # a cell with a seed still to run is left out of the statistics (its CI would miss that seed's spread), and listed
    from facekit.ablation import write_outputs

    moved = killed / "result.json"
    moved.rename(killed / "result.json.away")
    partial = write_outputs(protocol, out)
    assert partial["unfinished"] == {"wav2lip": 1}
    assert "wav2lip" not in {r["row"] for r in csv.DictReader((out / "table.csv").open())}
    assert "- wav2lip: 1 of 2 seeds finished" in (out / "table.md").read_text()
    (killed / "result.json.away").rename(moved)
    write_outputs(protocol, out)

    first = (out / "table.csv").read_text()
    assert main(args) == 0
    assert capsys.readouterr().out.count("done earlier, skipped") == 6
    assert (out / "table.csv").read_text() == first
    path.write_text(json.dumps({**protocol, "steps": 4}))
    assert main(args) == 2 and "another config" in capsys.readouterr().err


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_claim_keeps_other_processes_out_until_its_process_dies(tmp_path):
    import os
    import socket

    from facekit.ablation import claim

    folder = tmp_path / "run"
    with claim(folder) as owner:
        assert owner is None and json.loads((folder / ".claim").read_text())["pid"] == os.getpid()
        with claim(folder) as second:  # a second claimant sees the live holder
            assert second is not None and (second["pid"], second["host"]) == (os.getpid(), socket.gethostname())
        assert (folder / ".claim").is_file(), "a refused claimant must not remove the holder's claim"
    assert not (folder / ".claim").exists()
    (folder / ".claim").write_text(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    with claim(folder) as owner:
        assert owner is None, "a claim whose process died is taken over"
    (folder / ".claim").write_text(json.dumps({"pid": dead_pid(), "host": "another-machine"}))
    with claim(folder) as owner:
        assert owner is not None, "a claim from another machine cannot be checked, so it stands"


def test_a_claim_whose_pid_was_reused_is_taken_over(tmp_path):
    import os
    import socket

    import pytest

    from facekit.ablation import _started, claim

    if _started(os.getppid()) is None:
        pytest.skip("this system has no /proc to read a process's start time from")
    folder = tmp_path / "run"
    folder.mkdir()
    live = {"pid": os.getppid(), "host": socket.gethostname()}  # a live process...
    (folder / ".claim").write_text(json.dumps({**live, "started": _started(os.getppid())}))
    with claim(folder) as owner:
        assert owner is not None, "the claimant itself is alive: its claim stands"
    (folder / ".claim").write_text(json.dumps({**live, "started": "another-boot:123"}))  # ...that got a dead one's pid
    with claim(folder) as owner:
        assert owner is None, "a claim whose pid now belongs to a process started later is stale"


def test_a_run_claimed_by_a_live_process_is_left_to_it(corpus, tmp_path):
    import os
    import socket

    from facekit.ablation import run_ablation

    protocol = tiny_protocol()
    ref = protocol["reference"]
    protocol.update(cells={ref: protocol["cells"][ref]}, seeds=[0, 1])
    busy = tmp_path / "abl" / "runs" / ref / "seed0"
    busy.mkdir(parents=True)
    (busy / ".claim").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    lines: list[str] = []
    run_ablation(protocol, corpus, tmp_path / "abl", log=lines.append)
    assert f"seed 0: being run by process {os.getppid()}, skipped" in lines[0]
    assert not (busy / "result.json").exists() and (busy / ".claim").is_file()
    assert (tmp_path / "abl" / "runs" / ref / "seed1" / "result.json").is_file()
    assert not (tmp_path / "abl" / "runs" / ref / "seed1" / ".claim").exists()


def test_an_expert_claimed_by_another_process_is_waited_for_after_training_the_other(corpus, tmp_path, monkeypatch):
    import os
    import socket
    import threading
    import time

    from facekit import ablation

    monkeypatch.setattr(ablation, "EXPERT_POLL_S", 0.05)
    out = tmp_path / "abl"
    (out / "expert").mkdir(parents=True)
    (out / "expert" / ".claim").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    lines: list[str] = []
    thread = threading.Thread(
        target=ablation.ablation_inputs, args=(tiny_protocol(), out, corpus), kwargs={"log": lines.append}
    )
    thread.start()
    deadline = time.monotonic() + 300
    while not (out / "eval_expert" / "eval.json").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert thread.is_alive(), "it must wait for the expert the other process trains"
    assert not (out / "expert" / "last.pt").exists()
    assert sum("waiting for another process" in ln for ln in lines) == 1, "said once, not at every look"
    (out / "expert" / "eval.json").write_text("{}")  # the other process finishes
    (out / "expert" / ".claim").unlink()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert lines[0] == f"facekit ablate: training the sync expert in {out / 'eval_expert'}/"
