"""Multi-process training: a 2-process gloo run (torchrun, as a user launches it) makes the same update as one
process on the combined batch."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow


def _train(cmd: list[str], run: Path, corpus: Path) -> None:
    args = ["train", "generator", "--preset", "tiny", "--data", str(corpus), "--run-dir", str(run)]
    args += ["--set", "train.steps=2", "--set", "train.batch_size=4", "--set", "train.log_every=1"]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_gloo_processes_equal_one_process(corpus, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed beside this interpreter")
    _train([sys.executable, "-m", "facekit"], tmp_path / "one", corpus)
    launcher = [str(torchrun), "--standalone", "--nproc_per_node=2", "-m", "facekit"]
    _train(launcher, tmp_path / "two", corpus)
    one = torch.load(tmp_path / "one" / "last.pt", weights_only=True)
    two = torch.load(tmp_path / "two" / "last.pt", weights_only=True)
    assert one["step"] == two["step"] == 2
    for key, value in one["model"].items():
        assert torch.allclose(value, two["model"][key], atol=2e-6, rtol=1e-4), key
    log_one = [json.loads(x) for x in (tmp_path / "one" / "log.jsonl").read_text().splitlines()]
    log_two = [json.loads(x) for x in (tmp_path / "two" / "log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log_one] == pytest.approx([r["loss"] for r in log_two], rel=1e-5)
