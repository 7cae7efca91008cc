"""facekit.train.roofline (the measuring code of eval/bench_model.py): its dummy input has a real batch's shapes, the
step it times is the library's objective, and the script's quick run writes every promised field.

No assertion on speed: the figures depend on the machine and on whatever else runs on it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from facekit.config import apply_overrides, get_preset
from facekit.data.dataset import FaceDataset
from facekit.models.encoders import flatten_windows
from facekit.models.lipsync import LipSyncModel
from facekit.train import roofline
from facekit.train.objective import GeneratorObjective

SCRIPT = Path(__file__).resolve().parents[1] / "eval" / "bench_model.py"


def test_dummy_windows_match_a_dataset_batch(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=5"])
    real = next(iter(DataLoader(FaceDataset(corpus, cfg.data, "train"), batch_size=3)))
    real = {k: v for k, v in real.items() if k not in ("clip", "frame")}  # not model inputs
    fake = roofline.dummy_windows(cfg, 3, 5)
    assert set(fake) == set(real)
    for key in real:
        assert fake[key].shape == real[key].shape, key
        assert fake[key].dtype == real[key].dtype, key
    assert LipSyncModel(cfg)(flatten_windows(fake))["image"].shape == flatten_windows(real)["target"].shape


def test_the_step_is_the_library_objective_and_old_equals_new(tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=5", "train.ssim_weight=1.0"])
    model, objective, batch = roofline.training_setup(cfg)
    assert isinstance(objective, GeneratorObjective) and len(objective.experts) == 1
    expected = objective(model, batch)  # the loop's objective on the benchmark's fixed batch, before any step
    result = roofline.step_comparison(cfg, repeats=1, warmup=0)
    first = result["equal_losses"]["losses_step_1"]
    assert set(first) == {*expected, "grad_norm"} >= {"l1", "dssim", "sync"}  # every term of the GRID run
    for key, value in expected.items():
        assert first[key] == pytest.approx(float(value.detach()), abs=1e-5), key
    assert result["equal_losses"]["equal_within_1e-4"]
    assert result["old"]["memory_format"] != result["new"]["memory_format"]
    assert result["speedup"] == pytest.approx(
        result["old"]["seconds_per_step"] / result["new"]["seconds_per_step"], 0.01
    )


def test_peak_is_the_faster_of_matmul_and_conv():
    torch.set_num_threads(1)
    peak = roofline.measure_peak(repeats=1)
    assert peak["peak_gflops"] == max(peak["matmul_2048_gflops"], peak["conv3x3_64ch_gflops"]) > 0


def test_parameter_counts_add_up():
    cfg = get_preset("tiny")
    model = LipSyncModel(cfg)
    counts = roofline.parameter_counts(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] == counts["encoders"] + counts["cascade"] + counts["generator"]
    assert counts["encoders"] == sum(counts["encoders_by_modality"].values())
    assert counts["generator"] == sum(counts["generator_by_part"].values())


def test_flops_grow_with_resolution():
    cfgs = [apply_overrides(get_preset("tiny"), [f"data.image_size={s}"]) for s in (32, 64)]
    small, large = (roofline.flops_per_frame(LipSyncModel(c), c) for c in cfgs)
    assert 0 < small < large
    assert torch.is_grad_enabled()


@pytest.mark.slow
def test_quick_run_writes_every_field(tmp_path):
    out = tmp_path / "bench_model.json"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["quick"] is True and "--quick" in result["command"]
    machine = result["machine"]
    assert machine["torch"] == torch.__version__
    assert machine["torch_threads"] == 1  # --quick defaults to one thread
    assert machine["gomp_spincount"] is not None  # facekit imported before torch
    for key in ("load_average_1min", "load_average_5min"):
        assert set(machine[key]) == {"start", "end"}
    assert set(result["rows"]) == {"cpu@96", "cpu@64"}
    sizes = {name: row["config"]["image_size"] for name, row in result["rows"].items()}
    assert sizes == {"cpu@96": 96, "cpu@64": 64}
    assert result["rows"]["cpu@96"]["config"]["mouth_size"] == 48
    for row in result["rows"].values():
        params = row["parameters"]
        assert params["total"] == params["encoders"] + params["cascade"] + params["generator"] > 0
        assert row["flops_per_frame"] > 0
        assert row["inference"]["batch_1"]["batch_size"] == 1
        for case in ("batch_1", "batched"):
            assert row["inference"][case]["frames_per_second"] > 0
            aim = row["aims"][case]
            assert aim["met"] == (aim["measured"] >= aim["aim_frames_per_second"])
        training = row["training"]
        assert training["old"]["windows_per_second"] > 0 and training["new"]["windows_per_second"] > 0
        assert training["equal_losses"]["equal_within_1e-4"] and "definition" in training
        phases = row["roofline"]["phases"]
        assert set(phases) == {
            "data", "generator_forward", "generator_backward", "expert_forward_backward", "ssim_forward_backward",
            "optimizer", "other",
        }  # fmt: skip
        assert all(p["seconds"] > 0 for name, p in phases.items() if name != "other")
        for name in ("generator_forward", "generator_backward", "expert_forward_backward"):
            assert phases[name]["gflop"] > 0 and phases[name]["fraction_of_peak"] > 0, name
    rows = result["rows"]
    assert rows["cpu@96"]["flops_per_frame"] > rows["cpu@64"]["flops_per_frame"]
    assert result["aims_met_at_96"] == rows["cpu@96"]["aims"]
    assert result["peak"]["peak_gflops"] > 0 and {"channels_last", "torch_compile"} <= set(result["levers"])
    assert "matmul" in result["settings"]["flops"] and "note" in result


def test_in_place_activations_leave_every_gradient_identical(tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=5"])
    lever = roofline.inplace_activation_lever(cfg, repeats=1)
    assert lever["identical_gradients"] is True
    assert set(lever["seconds_forward_backward"]) == {"in_place", "out_of_place"}


def test_compile_is_adopted_only_when_it_pays_at_equal_losses():
    entry = roofline.compile_entry
    measured = {"first_step_seconds": {"eager": 5.0, "compiled": 200.0}}
    assert entry(None) == {"adopted": False, "measured": None, "why": entry(None)["why"]}
    assert not entry({**measured, "speedup": 1.04, "equal_within_1e-4": True})["adopted"]
    assert not entry({**measured, "speedup": 1.5, "equal_within_1e-4": False})["adopted"]
    assert entry({**measured, "speedup": 1.5, "equal_within_1e-4": True})["adopted"]


def test_the_benchmark_own_threads_do_not_count_as_other_work():
    other_load = roofline.other_load
    assert other_load((0.1, 0, 0), (2.0, 0, 0), threads=2) == 0.1  # the end load is the benchmark itself
    assert other_load((0.1, 0, 0), (3.5, 0, 0), threads=2) == 1.5  # another job ran beside it
    assert other_load((1.8, 0, 0), (2.0, 0, 0), threads=2) == 1.8  # busy before it started


def test_interleaved_timing_calls_the_functions_in_turn(monkeypatch):
    calls: list[str] = []
    clock = iter(range(100))
    monkeypatch.setattr(roofline.time, "perf_counter", lambda: float(next(clock)))
    times = roofline.interleaved_times({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, repeats=3)
    assert calls == ["a", "b"] * 3  # in turn within each round, so a load change falls on both alike
    assert times == {"a": [1.0, 1.0, 1.0], "b": [1.0, 1.0, 1.0]}  # one tick of the fake clock per call
