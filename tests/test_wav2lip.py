"""The Wav2Lip-style baseline: the LipSyncModel contract, the method's parameter count at every preset, speech that
enters only the mouth, and a run through the library's training loop and checkpoint."""

import json

import pytest
import torch

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.config import PRESETS, apply_overrides, get_preset
from facekit.models.lipsync import LipSyncModel, method_parameters
from facekit.train.loop import train_generator
from tests.test_models import fake_batch


def wav2lip(preset: str, *overrides: str):
    return apply_overrides(get_preset(preset), ["model.variant=wav2lip", *overrides])


@pytest.mark.parametrize("preset", list(PRESETS))
def test_parameter_count_matches_the_methods_residual_model_within_10_percent(preset):
    cfg = wav2lip(preset)
    with torch.device("meta"):
        baseline, method = LipSyncModel(cfg), LipSyncModel(apply_overrides(cfg, ["model.variant=residual"]))
    count = sum(p.numel() for p in baseline.parameters())
    assert count == pytest.approx(sum(p.numel() for p in method.parameters()), rel=0.10)
    assert method_parameters(cfg) == sum(p.numel() for p in method.parameters())
    assert not hasattr(baseline, "cascade") and not hasattr(baseline, "encoders")  # concatenation, no modulation


@pytest.mark.parametrize("preset", ["tiny", "cpu"])
def test_forward_has_the_lipsync_contract_and_starts_as_the_pasted_reference(preset):
    cfg = wav2lip(preset)
    batch = fake_batch(cfg)
    out = LipSyncModel(cfg).eval()(batch)
    s = cfg.data.image_size
    assert set(out) == {"image", "aux_loss"} and out["image"].shape == (3, 3, s, s)
    assert out["aux_loss"].shape == () and float(out["aux_loss"]) == 0.0
    image = out["image"]
    assert torch.equal(image[..., : s // 2, :], batch["masked"][..., : s // 2, :])  # the upper half is the input's
    assert torch.equal(image[..., s // 2 :, :], batch["reference"][..., s // 2 :, :])  # untrained: the reference


def test_speech_changes_only_the_mouth():
    cfg = wav2lip("tiny")
    torch.manual_seed(0)
    model = LipSyncModel(cfg).eval()
    torch.nn.init.normal_(model.wav2lip.to_rgb[-1].weight, std=0.3)  # as after training: the last layer non-zero
    batch, other = fake_batch(cfg, seed=0), fake_batch(cfg, seed=1)
    a = model(batch)["image"]
    b = model({**batch, "mel": other["mel"]})["image"]
    half = cfg.data.image_size // 2
    assert torch.equal(a[..., :half, :], b[..., :half, :])
    assert (a[..., half:, :] - b[..., half:, :]).abs().max() > 1e-3


def test_one_step_through_the_training_loop_and_back_from_the_checkpoint(corpus, tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, {"model.variant": "wav2lip", "train.steps": 1, "train.log_every": 1})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1] and log[0]["loss"] == log[0]["loss"]  # finite (not NaN)
    state = load_checkpoint(tmp_path / "run" / "last.pt", "generator")
    model = LipSyncModel(checkpoint_config(state))
    model.load_state_dict(state["model"])  # the same architecture is rebuilt from the stored config
    fresh = LipSyncModel(cfg).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in state["model"].items()), "the step changed nothing"
