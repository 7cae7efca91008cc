"""eval/gpu_check.py on a CPU: its arguments, the commands it would run, and a clear refusal without a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plan_trains_the_paper_preset_and_uses_ddp_only_with_several_gpus(gpu_check, tmp_path):
    args = gpu_check.parse_args(["--minutes", "2", "--runs", str(tmp_path)])
    one, four = gpu_check.plan(args, 1), gpu_check.plan(args, 4)
    assert list(one) == ["cuda_tests", "corpus", "train_1gpu"]
    assert list(four) == ["cuda_tests", "corpus", "train_1gpu", "train_ddp_4gpu"]
    assert one["cuda_tests"][-4:] == ["-m", "cuda", "-q", "tests"]
    train = one["train_1gpu"]
    assert train[train.index("--preset") + 1] == "paper" and "train.max_minutes=2" in train
    corpus = one["corpus"][one["corpus"].index("--out") + 1]
    assert train[train.index("--data") + 1] == str(Path(corpus) / "corpus")  # where facekit synth writes the clips
    assert "--nproc_per_node=4" in four["train_ddp_4gpu"] and "--expert" not in train


def test_given_data_and_expert_are_used_and_no_corpus_is_made(gpu_check, tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "expert.pt").write_bytes(b"")
    args = gpu_check.parse_args(["--data", str(tmp_path / "clips"), "--expert", str(tmp_path / "expert.pt")])
    steps = gpu_check.plan(args, 2)
    assert "corpus" not in steps
    for name in ("train_1gpu", "train_ddp_2gpu"):
        cmd = steps[name]
        assert cmd[cmd.index("--data") + 1] == str(tmp_path / "clips")
        assert cmd[cmd.index("--expert") + 1] == str(tmp_path / "expert.pt")


@pytest.mark.parametrize(
    "argv, message",
    [(["--minutes", "0"], "positive number"), (["--data", "/no/such/dir"], "--data /no/such/dir: no such")],
)
def test_bad_arguments_are_clear_errors(argv, message):
    done = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_dry_run_prints_the_commands_and_writes_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "cuda_tests:" in done.stdout and "train_1gpu:" in done.stdout and not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_without_a_gpu_it_refuses_and_runs_nothing(tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "no CUDA device" in done.stdout and not out.exists()
