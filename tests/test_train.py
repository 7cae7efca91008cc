"""Training: loss falls, checkpoints round-trip, a killed run resumes exactly, bad checkpoints are clear errors."""

import json

import pytest
import torch

from facekit.checkpoints import CheckpointError, checkpoint_config, load_checkpoint, load_expert
from facekit.config import ConfigError, apply_overrides
from facekit.models.lipsync import LipSyncModel
from facekit.train.loop import epoch_batches, train_expert, train_generator


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
def test_generator_variants_train(corpus, tiny_cfg, tmp_path, variant):
    cfg = _cfg(tiny_cfg, **{"model.variant": variant, "train.steps": 6})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    log = _log(tmp_path / "run")
    assert [r["step"] for r in log] == list(range(1, 7)) and all(r["loss"] == r["loss"] for r in log)
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    fresh = LipSyncModel(checkpoint_config(state)).state_dict()
    assert any(not torch.equal(fresh[k], v) for k, v in state["model"].items()), "training changed nothing"


@pytest.mark.parametrize("variant", ["residual", "cascade", "contrastive"])
def test_generator_loss_falls_on_real_windows(corpus, tiny_cfg, variant):
    """Fitting a fixed batch of real windows from a perturbed start (the zero-initialised last layer made random, so
    the first frames are far off): L1 must fall well below where it began."""
    from torch.utils.data import default_collate

    from facekit.data.dataset import FaceDataset
    from facekit.models.encoders import flatten_windows

    torch.manual_seed(0)
    cfg = apply_overrides(tiny_cfg, {"model.variant": variant})
    data = FaceDataset(corpus, cfg.data)
    batch = flatten_windows(default_collate([data[i] for i in range(0, len(data), len(data) // 8)][:8]))
    model = LipSyncModel(cfg)
    torch.nn.init.normal_(model.generator.decoder.to_rgb.weight, std=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        out = model(batch)
        loss = (out["image"] - batch["target"]).abs().mean()
        opt.zero_grad()
        (loss + 0.1 * out["aux_loss"]).backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], f"{variant}: L1 {losses[0]:.4f} -> {losses[-1]:.4f}"


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


def _same_losses(full: list[dict], cut: list[dict]) -> None:
    assert [r["step"] for r in cut] == [r["step"] for r in full]
    for a, b in zip(full, cut, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5, abs=1e-6)


def test_a_run_extended_by_train_steps_continues_with_the_same_losses(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "full", progress=False)
    # a run of 8 steps, extended to 12: a config change that does not alter its past
    train_generator(apply_overrides(cfg, {"train.steps": 8}), corpus, tmp_path / "cut", progress=False)
    train_generator(apply_overrides(cfg, {"train.max_minutes": 60.0}), corpus, tmp_path / "cut", progress=False)
    _same_losses(_log(tmp_path / "full"), _log(tmp_path / "cut"))
    assert checkpoint_config(load_checkpoint(tmp_path / "cut" / "last.pt")).train.max_minutes == 60.0


def test_a_kill_between_checkpoints_leaves_no_duplicated_steps(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "full", progress=False)
    # killed in step 11 of 12, after the step-8 checkpoint: the folder holds last.pt of step 8 and 10 log records
    train_generator(apply_overrides(cfg, {"train.steps": 8}), corpus, tmp_path / "cut", progress=False)
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    state["config"]["train"]["steps"] = 12  # the killed run was meant to go to 12
    torch.save(state, tmp_path / "cut" / "last.pt")
    with (tmp_path / "cut" / "log.jsonl").open("a") as log:
        log.writelines(json.dumps(r) + "\n" for r in _log(tmp_path / "full")[8:10])
        log.write('{"step": 11, "lo')  # the kill cut this line short
    train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    _same_losses(_log(tmp_path / "full"), _log(tmp_path / "cut"))


@pytest.mark.parametrize("signum", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_saves_the_step_it_lands_in_and_the_run_resumes_the_same(
    corpus, tiny_cfg, tmp_path, monkeypatch, signum
):
    """The signal arrives inside step 6 (checkpoints every 4): the step finishes, is saved, and the run stops with
    KeyboardInterrupt; resumed, it has the losses of an uninterrupted run. The handlers are put back afterwards."""
    import signal

    from facekit.train import loop

    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "full", progress=False)
    calls, original = [], loop.train_step

    def step_then_signal(*args, **kwargs):
        out = original(*args, **kwargs)
        calls.append(1)
        if len(calls) == 6:
            signal.raise_signal(getattr(signal, signum))
        return out

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(loop, "train_step", step_then_signal)
    with pytest.raises(KeyboardInterrupt):
        train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    assert {s: signal.getsignal(s) for s in before} == before
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 6 and len(_log(tmp_path / "cut")) == 6
    monkeypatch.setattr(loop, "train_step", original)
    train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    _same_losses(_log(tmp_path / "full"), _log(tmp_path / "cut"))


def test_a_run_made_before_a_config_field_was_added_resumes(corpus, tiny_cfg, tmp_path):
    from facekit.config import ADDED

    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "full", progress=False)
    train_generator(apply_overrides(cfg, {"train.steps": 8}), corpus, tmp_path / "cut", progress=False)
    made = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    current = {k: made["config"][k.split(".")[0]][k.split(".")[1]] for k in ADDED}
    same = [k for k in ADDED if current[k] == ADDED[k]]
    differs = [k for k in ADDED if current[k] != ADDED[k]]
    assert same and differs

    def older(removed):  # the checkpoint of a facekit that did not have these fields yet
        state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
        for key in removed:
            del state["config"][key.split(".")[0]][key.split(".")[1]]
        torch.save(state, tmp_path / "cut" / "last.pt")

    # a missing field means the value it had before it was added: another value now is a change, and refused
    older([differs[0]])
    with pytest.raises(ConfigError, match=f"another config .*{differs[0]}"):
        train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    torch.save(made, tmp_path / "cut" / "last.pt")
    older(same)
    train_generator(cfg, corpus, tmp_path / "cut", progress=False)
    _same_losses(_log(tmp_path / "full"), _log(tmp_path / "cut"))


def test_resume_with_another_config_is_refused(corpus, tiny_cfg, tmp_path):
    train_generator(_cfg(tiny_cfg, **{"train.steps": 2}), corpus, tmp_path / "run", progress=False)
    with pytest.raises(ValueError, match="another config .*train.lr: 0.0002 -> 1.0"):
        train_generator(_cfg(tiny_cfg, **{"train.steps": 2, "train.lr": 1.0}), corpus, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="at step 2, past train.steps=1"):
        train_generator(_cfg(tiny_cfg, **{"train.steps": 1}), corpus, tmp_path / "run", progress=False)


def _assert_eval_is_the_saved_experts_on_held_out(record, run, corpus, cfg):
    """The figures a run records (returned and in eval.json) are evaluate_expert's, of the saved last.pt, on the
    held-out split (its off-sync pairs drawn with train_expert's seed 12345) -- the formula is checked in closed form
    by test_evaluate_expert_auc_and_accuracy_in_closed_form."""
    from facekit.data.dataset import SyncDataset
    from facekit.train.loop import evaluate_expert

    held_out = SyncDataset(corpus, cfg.data, "eval", seed=12345)
    assert len(held_out) != len(SyncDataset(corpus, cfg.data, "train"))
    # the run evaluates its channels-last model, load_expert a contiguous one: equal up to float rounding
    expected = evaluate_expert(load_expert(run / "last.pt"), held_out)
    # AUC ranks scores: a rounding difference can swap one near-tied pair (about 1e-4 here), so it gets 1e-3
    assert record["eval"]["auc"] == pytest.approx(expected["auc"], abs=1e-3)
    others = {k: v for k, v in expected.items() if k != "auc"}
    assert {k: record["eval"][k] for k in others} == pytest.approx(others, rel=1e-5)
    assert json.loads((run / "eval.json").read_text()) == record["eval"]


def test_expert_trains_evaluates_and_serves_as_sync_loss(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg, **{"train.steps": 6})
    record = train_expert(cfg, corpus, tmp_path / "expert", progress=False)
    _assert_eval_is_the_saved_experts_on_held_out(record, tmp_path / "expert", corpus, cfg)
    expert = load_expert(tmp_path / "expert" / "last.pt")
    assert not any(p.requires_grad for p in expert.parameters())
    gen_cfg = _cfg(tiny_cfg, **{"train.steps": 3, "data.num_frames": 5})
    train_generator(gen_cfg, corpus, tmp_path / "gen", expert_path=tmp_path / "expert" / "last.pt", progress=False)
    assert all("sync" in r for r in _log(tmp_path / "gen"))
    # other-face windows have no ground truth: with all windows such, only the sync loss is left
    other = _cfg(
        tiny_cfg, **{"train.steps": 2, "data.num_frames": 5, "data.other_face_prob": 1.0, "train.ssim_weight": 1.0}
    )
    train_generator(other, corpus, tmp_path / "other", expert_path=tmp_path / "expert" / "last.pt", progress=False)
    assert all(r["l1"] == 0 and r["dssim"] == 0 and r["sync"] > 0 for r in _log(tmp_path / "other"))
    from facekit.config import ConfigError

    with pytest.raises(ConfigError, match="other_face_prob=1.0.*sync expert alone"):
        train_generator(other, corpus, tmp_path / "no-expert", progress=False)


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
    _assert_eval_is_the_saved_experts_on_held_out(record, tmp_path / "expert", corpus, cfg)
    batch = cfg.train.batch_size  # top-1 accuracy over a batch: a whole number of its windows
    assert all(r["acc"] * batch == pytest.approx(round(r["acc"] * batch), abs=1e-4) for r in _log(tmp_path / "expert"))


class ChosenScores(torch.nn.Module):
    """A fake expert whose sync probability for each window is chosen by the test (carried in ``frames``)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, frames, mel):
        return frames.flatten(1)[:, 0]


@pytest.mark.parametrize(
    "scores, labels, auc, accuracy",
    [
        ([0.9, 0.8, 0.3, 0.2, 0.7, 0.1], [1, 1, 0, 0, 1, 0], 1.0, 1.0),  # every in-sync pair above every off-sync one
        ([0.1, 0.2, 0.7, 0.8, 0.3, 0.9], [1, 1, 0, 0, 1, 0], 0.0, 0.0),  # reversed
        ([0.9, 0.4, 0.6, 0.2, 0.7, 0.1], [1, 1, 0, 0, 1, 0], 8 / 9, 4 / 6),  # 0.4 ranks below 0.6 only: 8 of 9 pairs
        ([0.5, 0.5, 0.8, 0.2], [1, 0, 1, 0], 3.5 / 4, 3 / 4),  # a tied pair counts one half; 0.5 is not above 0.5
        ([1e-6] * 6, [1, 0, 1, 0, 1, 0], 0.5, 0.5),  # a collapsed expert (every score clamped alike) ranks at chance
        ([1e-6] * 6, [0, 0, 0, 1, 1, 1], 0.5, 0.5),
    ],
)
def test_evaluate_expert_auc_and_accuracy_in_closed_form(scores, labels, auc, accuracy):
    from facekit.train.loop import evaluate_expert

    data = [
        {"frames": torch.tensor([s]), "mel": torch.zeros(1), "label": torch.tensor(float(y))}
        for s, y in zip(scores, labels, strict=True)
    ]
    out = evaluate_expert(ChosenScores(), data, batch_size=4)
    assert out["auc"] == pytest.approx(auc, rel=1e-6) and out["accuracy"] == pytest.approx(accuracy, rel=1e-6)
    assert out["windows"] == len(scores)


def test_optional_loss_terms_are_logged_and_samples_written(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg, **{"train.steps": 8, "train.ssim_weight": 1.0, "train.gan_weight": 0.1, "train.samples": 3})
    train_generator(cfg, corpus, tmp_path / "run", progress=False)
    record = _log(tmp_path / "run")[-1]
    assert {"dssim", "d_loss", "g_adv"} <= set(record) and 0 < record["dssim"] < 1
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert any(k.startswith("discriminator.") for k in state["model"])  # the discriminator resumes with the run
    grids = sorted((tmp_path / "run" / "samples").glob("step_*.png"))
    assert [g.name for g in grids] == ["step_000004.png", "step_000008.png"]
    from PIL import Image

    size = tiny_cfg.data.image_size
    assert Image.open(grids[-1]).size == (3 * size + 4 * 2, 3 * size + 4 * 2)  # 3 rows x (masked | made | real)


def test_the_training_loop_starts_the_adversarial_term_after_the_warm_up(corpus, tiny_cfg, tmp_path):
    over = {"train.steps": 6, "train.gan_weight": 0.5, "train.gan_warmup_steps": 3, "train.ssim_weight": 0.0}
    train_generator(_cfg(tiny_cfg, **over), corpus, tmp_path / "run", progress=False)
    for r in _log(tmp_path / "run"):  # one record a step (log_every 1); step k is the loop's step k - 1
        without_gan = r["l1"] + tiny_cfg.train.aux_weight * r["aux"] + r["d_loss"]
        gan = 0.5 * r["g_adv"] if r["step"] > 3 else 0.0
        assert r["loss"] == pytest.approx(without_gan + gan, rel=1e-4, abs=1e-6), r


def test_gan_losses_move_only_their_own_player():
    from facekit.models.discriminator import PatchDiscriminator

    torch.manual_seed(0)
    disc = PatchDiscriminator(8)
    real, fake = torch.rand(2, 3, 16, 32), torch.rand(2, 3, 16, 32, requires_grad=True)
    d_loss, g_loss = disc.losses(real, fake)
    params = list(disc.parameters())
    g_on_disc = torch.autograd.grad(g_loss, params, retain_graph=True, allow_unused=True)
    assert all(g is None for g in g_on_disc)
    assert torch.autograd.grad(g_loss, fake, retain_graph=True)[0].abs().sum() > 0
    d_on_disc = torch.autograd.grad(d_loss, params, retain_graph=True)
    assert all(g.abs().sum() > 0 for g, p in zip(d_on_disc, params, strict=True) if p.ndim > 1)  # every weight moves
    assert torch.autograd.grad(d_loss, fake, allow_unused=True)[0] is None


def test_perceptual_term_on_a_too_small_mouth_is_a_clear_error(corpus, tiny_cfg, tmp_path):
    from facekit.config import ConfigError

    with pytest.raises(ConfigError, match="perceptual_weight needs a mouth region of at least 31 px"):
        train_generator(_cfg(tiny_cfg, **{"train.perceptual_weight": 0.1}), corpus, tmp_path / "run", progress=False)


def test_init_from_starts_a_new_run_from_a_checkpoints_weights(corpus, tiny_cfg, tmp_path):
    first = _cfg(tiny_cfg, **{"train.steps": 3})
    train_generator(first, corpus, tmp_path / "first", progress=False)
    source = load_checkpoint(tmp_path / "first" / "last.pt", "generator")["model"]
    # one step at learning rate 0: the new run holds exactly the source weights; other training settings are free
    tuned = _cfg(tiny_cfg, **{"train.steps": 1, "train.lr": 0.0, "data.still_face_prob": 0.5})
    tuned = apply_overrides(tuned, {"train.init_from": str(tmp_path / "first" / "last.pt")})
    train_generator(tuned, corpus, tmp_path / "tuned", progress=False)
    state = load_checkpoint(tmp_path / "tuned" / "last.pt", "generator")
    assert state["step"] == 1 and all(torch.equal(v, state["model"][k]) for k, v in source.items())
    # a GAN run may start from a checkpoint without a discriminator (it starts fresh)
    gan = apply_overrides(tuned, {"train.gan_weight": 0.1, "train.steps": 1})
    train_generator(gan, corpus, tmp_path / "gan", progress=False)


def test_init_from_another_architecture_is_a_clear_error(corpus, tiny_cfg, tmp_path):
    train_generator(_cfg(tiny_cfg, **{"train.steps": 1}), corpus, tmp_path / "first", progress=False)
    wider = _cfg(tiny_cfg, **{"train.steps": 1, "model.feature_dim": 48})
    wider = apply_overrides(wider, {"train.init_from": str(tmp_path / "first" / "last.pt")})
    with pytest.raises(CheckpointError, match=r"first/last.pt.*do not fit.*same model"):
        train_generator(wider, corpus, tmp_path / "wider", progress=False)
    expert = apply_overrides(wider, {"train.init_from": str(tmp_path / "nothing.pt")})
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        train_generator(expert, corpus, tmp_path / "missing", progress=False)


def test_init_from_a_checkpoint_that_trained_on_held_out_or_validation_clips_is_refused(corpus, tiny_cfg, tmp_path):
    train_generator(_cfg(tiny_cfg, **{"train.steps": 1}), corpus, tmp_path / "first", progress=False)
    start = {"train.init_from": str(tmp_path / "first" / "last.pt"), "train.steps": 1}
    with pytest.raises(ConfigError, match="trained on 2 clips this run holds out or keeps for validation"):
        train_generator(
            _cfg(tiny_cfg, **{**start, "data.val_fraction": 0.17}), corpus, tmp_path / "val", progress=False
        )
    with pytest.raises(ConfigError, match="holds out or keeps for validation"):
        train_generator(_cfg(tiny_cfg, **{**start, "data.split_seed": 1}), corpus, tmp_path / "other", progress=False)
    train_generator(_cfg(tiny_cfg, **start), corpus, tmp_path / "same", progress=False)  # the same split: allowed
