"""The generator's objective and the optimisation step shared by the training loop and eval/bench_model.py."""

from __future__ import annotations

import pytest
import torch

from facekit.config import apply_overrides
from facekit.metrics.image import mouth_region, ssim
from facekit.models.encoders import flatten_windows
from facekit.models.lipsync import LipSyncModel
from facekit.models.sync_expert import SyncExpert, bce, lower_half
from facekit.train.objective import GeneratorObjective, train_step


def windows(cfg, batch_size: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A FaceDataset-shaped batch (B, K, ...) of random values; ``recon`` 1 except the last window."""
    g = torch.Generator().manual_seed(seed)
    b, k, s, m = batch_size, cfg.data.num_frames, cfg.data.image_size, cfg.data.mouth_size
    target = torch.rand(b, k, 3, s, s, generator=g)
    masked = target.clone()
    masked[..., s // 2 :, :] = 0
    return {
        "target": target,
        "masked": masked,
        "reference": torch.rand(b, k, 3, s, s, generator=g),
        "mel": torch.randn(b, k, 1, 80, 16, generator=g),
        "sync_mel": torch.randn(b, 1, 80, 16, generator=g),
        "phonemes": torch.randint(0, 40, (b, k, cfg.data.phoneme_window), generator=g),
        "mouth": torch.rand(b, k, 3, m, m, generator=g),
        "has": torch.ones(b, 3, dtype=torch.bool),
        "recon": torch.tensor([1.0] * (b - 1) + [0.0]),
    }


@pytest.fixture
def setup(tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=5", "train.ssim_weight=0.5", "train.sync_weight=0.3"])
    torch.manual_seed(0)
    expert = SyncExpert(5, channels=8).eval().requires_grad_(False)
    return cfg, LipSyncModel(cfg), expert, windows(cfg, 3)


def test_every_term_is_its_definition_weighted_by_recon(setup):
    cfg, model, expert, b = setup
    t = cfg.train
    out = GeneratorObjective(t, expert)(model, b)
    flat = flatten_windows(b)
    image = model(flat)["image"]
    keep = b["recon"].repeat_interleave(5).bool()  # the other-face window has no ground truth
    mouth, real = mouth_region(image)[keep], mouth_region(flat["target"])[keep]
    l1 = (mouth - real).abs().mean()
    dssim = 1 - ssim(mouth, real)
    prob = expert(lower_half(image).unflatten(0, (3, 5)), b["sync_mel"])
    sync = bce(prob, torch.ones(3))
    for name, value in {"l1": l1, "dssim": dssim, "sync": sync}.items():
        assert torch.allclose(out[name], value, atol=1e-6), name
    expected = t.l1_weight * l1 + t.ssim_weight * dssim + t.sync_weight * sync
    assert torch.allclose(out["loss"], expected, atol=1e-6)


def test_sync_loss_trains_the_generator_through_the_image_only(setup):
    cfg, model, expert, b = setup
    only_sync = apply_overrides(cfg, ["train.l1_weight=0", "train.ssim_weight=0", "train.aux_weight=0"]).train
    out = GeneratorObjective(only_sync, expert)(model, b)
    out["loss"].backward()
    assert model.generator.decoder.to_rgb.weight.grad.abs().sum() > 0  # the image branch carries the gradient
    assert all(p.grad is None for p in expert.parameters())  # the frozen expert gets none


def test_train_step_clips_steps_and_skips_a_non_finite_loss(setup):
    cfg, model, expert, b = setup
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    objective = GeneratorObjective(cfg.train, expert)
    before = [p.detach().clone() for p in model.parameters()]
    out = train_step(model, opt, b, objective, grad_clip=1.0)
    assert "grad_norm" in out and out["grad_norm"] > 0
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))

    def poisoned(net, batch):
        record = objective(net, batch)
        return {**record, "loss": record["loss"] * float("nan")}

    before = [p.detach().clone() for p in model.parameters()]
    train_step(model, opt, b, poisoned, grad_clip=1.0)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before, strict=True))


def test_several_experts_give_the_mean_of_their_sync_losses(setup):
    cfg, model, expert, b = setup
    torch.manual_seed(1)
    other = SyncExpert(5, channels=8).eval().requires_grad_(False)
    frames = lower_half(model(flatten_windows(b))["image"]).unflatten(0, (3, 5))
    one = [GeneratorObjective(cfg.train, e).sync_loss(frames, b["sync_mel"]) for e in (expert, other)]
    both = GeneratorObjective(cfg.train, [expert, other]).sync_loss(frames, b["sync_mel"])
    assert not torch.isclose(one[0], one[1]) and torch.isclose(both, (one[0] + one[1]) / 2)


def test_the_mouth_box_term_is_l1_on_the_lips_and_teeth_only(setup):
    from facekit.data.crop import MOUTH_BOX, MOUTH_Y, mouth_box

    cfg, model, expert, b = setup
    top, bottom, left, right = MOUTH_BOX
    assert 0.5 <= top < MOUTH_Y < bottom <= 1 and 0 < left < 0.5 < right < 1  # inside the painted lower half
    s = cfg.data.image_size
    x = torch.zeros(1, 3, s, s)
    x[..., round(top * s) : round(bottom * s), round(left * s) : round(right * s)] = 1
    assert mouth_box(x).min() == 1 and mouth_box(x).numel() == x.sum()  # exactly the box
    boxed = GeneratorObjective(apply_overrides(cfg, ["train.mouth_box_weight=2"]).train, expert)
    out, plain = boxed(model, b), GeneratorObjective(cfg.train, expert)(model, b)
    flat = flatten_windows(b)
    keep = b["recon"].repeat_interleave(5).bool()
    image = model(flat)["image"]
    box_l1 = (mouth_box(image)[keep] - mouth_box(flat["target"])[keep]).abs().mean()
    assert torch.allclose(out["box_l1"], box_l1, atol=1e-6)
    assert torch.allclose(out["loss"], plain["loss"] + 2 * box_l1, atol=1e-5)


def test_a_gans_two_players_are_clipped_apart(setup):
    cfg, _, expert, b = setup
    gan = apply_overrides(cfg, ["train.gan_weight=0.05"])
    torch.manual_seed(0)
    model = LipSyncModel(gan)
    objective = GeneratorObjective(gan.train, expert)
    out = objective(model, b)
    out["loss"].backward()
    norm = lambda ps: torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in ps if p.grad is not None]))  # noqa: E731
    disc = [p for n, p in model.named_parameters() if n.startswith("discriminator.")]
    gen = [p for n, p in model.named_parameters() if not n.startswith("discriminator.")]
    assert disc and gen
    g_norm, d_norm = norm(gen), norm(disc)
    (small, small_norm), (large, large_norm) = sorted([(gen, g_norm), (disc, d_norm)], key=lambda pair: float(pair[1]))
    clip = float(small_norm + large_norm) / 2  # one player is over the limit, the other under it
    model.zero_grad()
    out = train_step(model, torch.optim.SGD(model.parameters(), lr=0.0), b, objective, grad_clip=clip)
    assert torch.isclose(out["grad_norm"], g_norm, rtol=1e-4) and torch.isclose(out["d_grad_norm"], d_norm, rtol=1e-4)
    assert torch.isclose(norm(small), small_norm, rtol=1e-4), "the player under the limit keeps its whole step"
    assert torch.isclose(norm(large), torch.tensor(clip), rtol=1e-4)


def test_the_gan_warm_up_trains_the_discriminator_alone(setup):
    cfg, _, expert, b = setup
    gan = apply_overrides(cfg, ["train.gan_weight=0.5", "train.gan_warmup_steps=3"])
    torch.manual_seed(0)
    model = LipSyncModel(gan)
    objective = GeneratorObjective(gan.train, expert)
    without = GeneratorObjective(apply_overrides(gan, ["train.gan_weight=0"]).train, expert)
    objective.step = 2  # still warming up: the loss has the discriminator's term but not the generator's
    warm = objective(model, b)
    assert torch.isclose(warm["loss"], without(model, b)["loss"], atol=1e-5) and warm["d_loss"] > 0
    assert warm["g_adv"] != 0  # recorded all the same
    objective.step = 3
    on = objective(model, b)
    assert torch.isclose(on["loss"], warm["loss"] + 0.5 * on["g_adv"], atol=1e-5)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_step_under_bf16_autocast_matches_the_cpu_losses(setup):
    cfg, model, expert, b = setup
    objective = GeneratorObjective(cfg.train, expert)
    on_cpu = objective(model, b)
    gpu_model = LipSyncModel(cfg).cuda().to(memory_format=torch.channels_last)
    gpu_model.load_state_dict(model.state_dict())
    gpu_objective = GeneratorObjective(cfg.train, expert.cuda())
    batch = {k: v.cuda() for k, v in b.items()}
    opt = torch.optim.Adam(gpu_model.parameters(), lr=1e-3)
    on_gpu = train_step(gpu_model, opt, batch, gpu_objective, grad_clip=1.0, autocast=True)
    for key in ("loss", "l1", "dssim", "sync"):
        assert float(on_gpu[key]) == pytest.approx(float(on_cpu[key]), rel=0.05, abs=1e-3), key
