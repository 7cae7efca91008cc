"""Training: loss falls, checkpoints round-trip, a killed run resumes exactly, bad checkpoints are clear errors."""

import json

import pytest
import torch

from facekit.config import apply_overrides
from facekit.models.lipsync import LipSyncModel
from facekit.train.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
from facekit.train.loop import epoch_batches, load_expert, train_expert, train_generator


def _cfg(tiny_cfg, **over):
    base = {"train.steps": 12, "train.batch_size": 4, "train.log_every": 1, "train.checkpoint_every": 4}
    return apply_overrides(tiny_cfg, {**base, **over})


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_epoch_batches_are_a_pure_function_of_seed_and_epoch():
    assert epoch_batches(50, 8, 0, 3) == epoch_batches(50, 8, 0, 3)
    assert epoch_batches(50, 8, 0, 3) != epoch_batches(50, 8, 0, 4)
    assert all(len(b) == 8 for b in epoch_batches(50, 8, 1, 0)) and len(epoch_batches(50, 8, 1, 0)) == 6


@pytest.mark.parametrize("variant", ["residual", "cascade", "contrastive"])
def test_generator_variants_train_and_loss_falls(corpus, tiny_cfg, tmp_path, variant):
    cfg = _cfg(tiny_cfg, **{"model.variant": variant, "train.steps": 30, "train.lr": 2e-3})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    l1 = [r["l1"] for r in _log(tmp_path / "run")]
    assert len(l1) == 30
    assert sum(l1[-5:]) / 5 < 0.8 * sum(l1[:5]) / 5, f"{variant}: L1 did not fall ({l1[:5]} -> {l1[-5:]})"


def test_checkpoint_round_trips_to_identical_outputs(corpus, tiny_cfg, tmp_path):
    from tests.test_models import fake_batch

    cfg = _cfg(tiny_cfg, **{"train.steps": 4})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt", "generator")
    assert state["step"] == 4 and checkpoint_config(state) == cfg
    a = LipSyncModel(checkpoint_config(state)).eval()
    a.load_state_dict(state["model"])
    b = LipSyncModel(checkpoint_config(state)).eval()
    b.load_state_dict(load_checkpoint(tmp_path / "run" / "last.pt")["model"])
    batch = fake_batch(cfg)
    assert torch.equal(a(batch)["image"], b(batch)["image"])


def test_killed_and_resumed_run_continues_with_the_same_losses(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "full", progress=False)
    # "kill" after step 8: train to 8 with the same config except steps, then resume to 12
    train_generator(apply_overrides(cfg, {"train.steps": 8}), corpus, tmp_path / "cut", progress=False)
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    state["config"]["train"]["steps"] = 12  # the interrupted run was meant to go to 12
    torch.save(state, tmp_path / "cut" / "last.pt")
    train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    full, cut = _log(tmp_path / "full"), _log(tmp_path / "cut")
    assert [r["step"] for r in cut] == list(range(1, 13))
    for a, b in zip(full, cut, strict=True):
        assert a["step"] == b["step"] and a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)


def test_resume_with_another_config_is_refused(corpus, tiny_cfg, tmp_path):
    train_generator(_cfg(tiny_cfg, **{"train.steps": 2}), corpus, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="another config"):
        train_generator(_cfg(tiny_cfg, **{"train.steps": 2, "train.lr": 1.0}), corpus, tmp_path / "run", progress=False)


def test_expert_trains_evaluates_and_serves_as_sync_loss(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg, **{"train.steps": 6})
    record = train_expert(cfg, corpus, tmp_path / "expert", progress=False)
    assert 0.0 <= record["eval"]["accuracy"] <= 1.0 and record["eval"]["windows"] > 0
    expert = load_expert(tmp_path / "expert" / "last.pt")
    assert not any(p.requires_grad for p in expert.parameters())
    gen_cfg = _cfg(tiny_cfg, **{"train.steps": 3, "data.num_frames": 5})
    train_generator(gen_cfg, corpus, tmp_path / "gen", expert_path=tmp_path / "expert" / "last.pt", progress=False)
    assert all("sync" in r for r in _log(tmp_path / "gen"))


def test_broken_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"truncated")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)
    torch.save({"hello": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a facekit checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_time_budget_stops_with_a_checkpoint(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg, **{"train.steps": 10_000, "train.max_minutes": 0.0001})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert 1 <= state["step"] < 10_000


def test_infonce_expert_trains_and_reports_auc(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg, **{"train.steps": 4, "model.expert_loss": "infonce"})
    record = train_expert(cfg, corpus, tmp_path / "expert", progress=False)
    assert 0.0 <= record["eval"]["auc"] <= 1.0
    assert all(0.0 <= r["acc"] <= 1.0 for r in _log(tmp_path / "expert"))


def test_evaluate_expert_auc_closed_form():
    from facekit.train.loop import evaluate_expert

    class Fixed(torch.nn.Module):  # scores = the label itself -> perfect ranking
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, frames, mel):
            return frames.flatten(1)[:, 0].clamp(0.01, 0.99)

    data = [{"frames": torch.full((2,), float(i % 2)), "mel": torch.zeros(1), "label": torch.tensor(float(i % 2))}
            for i in range(10)]  # fmt: skip
    out = evaluate_expert(Fixed(), data, batch_size=4)
    assert out["auc"] == 1.0 and out["accuracy"] == 1.0 and out["windows"] == 10
