"""eval/gpu_check.py on a CPU, run as a user runs it: its arguments, the commands its dry run prints (for 1 or several
GPUs with ``--gpus``), and a clear refusal without a GPU."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "gpu_check.py"


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=300)


def dry_run(*argv: str) -> dict[str, list[str]]:
    """The commands ``--dry-run`` prints, by step name (one ``name: command`` line each)."""
    done = run("--dry-run", *argv)
    assert done.returncode == 0, done.stderr
    steps = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    return {name: shlex.split(cmd) for name, cmd in steps.items()}


def test_plan_trains_the_paper_preset_and_uses_ddp_only_with_several_gpus(tmp_path):
    one = dry_run("--minutes", "2", "--runs", str(tmp_path), "--gpus", "1")
    four = dry_run("--minutes", "2", "--runs", str(tmp_path), "--gpus", "4")
    assert list(one) == ["cuda_tests", "corpus", "train_1gpu"]
    assert list(four) == ["cuda_tests", "corpus", "train_1gpu", "train_ddp_4gpu"]
    assert one["cuda_tests"][-4:] == ["-m", "cuda", "-q", "tests"]
    train = one["train_1gpu"]
    assert train[train.index("--preset") + 1] == "paper" and "train.max_minutes=2" in train
    corpus = one["corpus"][one["corpus"].index("--out") + 1]
    assert train[train.index("--data") + 1] == str(Path(corpus) / "corpus")  # where facekit synth writes the clips
    assert "--nproc_per_node=4" in four["train_ddp_4gpu"] and "--expert" not in train


def test_given_data_and_expert_are_used_and_no_corpus_is_made(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "expert.pt").write_bytes(b"")
    steps = dry_run("--data", str(tmp_path / "clips"), "--expert", str(tmp_path / "expert.pt"), "--gpus", "2")
    assert "corpus" not in steps
    for name in ("train_1gpu", "train_ddp_2gpu"):
        cmd = steps[name]
        assert cmd[cmd.index("--data") + 1] == str(tmp_path / "clips")
        assert cmd[cmd.index("--expert") + 1] == str(tmp_path / "expert.pt")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--minutes", "0"], "positive number"),
        (["--data", "/no/such/dir"], "--data /no/such/dir: no such"),
        (["--gpus", "2"], "--gpus only applies with --dry-run"),
        (["--dry-run", "--gpus", "0"], "--gpus 0: give 1 or more"),
    ],
)
def test_bad_arguments_are_clear_errors(argv, message):
    done = run(*argv)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_dry_run_prints_the_commands_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    steps = dry_run("--out", str(out))
    assert {"cuda_tests", "train_1gpu"} <= set(steps) and not out.exists()
    assert (torch.cuda.device_count() > 1) == any(name.startswith("train_ddp") for name in steps)  # the GPUs visible


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_a_gpu_it_refuses_and_runs_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    done = run("--out", str(out))
    assert done.returncode == 2 and "no CUDA device" in done.stdout and not out.exists()
