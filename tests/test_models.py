"""Encoders, the modulation cascade in every order, both generator variants, the contrastive baseline, the expert."""

import itertools

import pytest
import torch

from facekit.config import MODALITIES, apply_overrides, tiny
from facekit.data.text import NUM_PHONEMES
from facekit.models.cascade import ModalityCascade
from facekit.models.generator import FaceGenerator, resolutions
from facekit.models.lipsync import LipSyncModel, info_nce
from facekit.models.sync_expert import SyncExpert

ORDERS = [p for r in (1, 2, 3) for c in itertools.combinations(MODALITIES, r) for p in itertools.permutations(c)]


def fake_batch(cfg, n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    s, m, p = cfg.data.image_size, cfg.data.mouth_size, cfg.data.phoneme_window
    target = torch.rand(n, 3, s, s, generator=g)
    masked = target.clone()
    masked[..., s // 2 :, :] = 0
    return {
        "target": target,
        "masked": masked,
        "reference": torch.rand(n, 3, s, s, generator=g),
        "mel": torch.rand(n, 1, 80, 16, generator=g) * 8 - 4,
        "phonemes": torch.randint(0, NUM_PHONEMES, (n, p), generator=g),
        "mouth": torch.rand(n, 3, m, m, generator=g),
        "has": torch.ones(n, 3, dtype=torch.bool),
    }


def test_all_orders_counted():
    assert len(ORDERS) == 3 + 6 + 6


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: "-".join(o))
def test_every_order_of_every_subset_builds_and_runs(order):
    cfg = apply_overrides(tiny(), {"model.cascade.order": list(order)})
    model = LipSyncModel(cfg)
    out = model(fake_batch(cfg))
    assert out["image"].shape == (3, 3, 32, 32)
    assert torch.isfinite(out["image"]).all()
    assert model.cascade.is_ablation == (len(order) == 1)


def test_different_orders_give_different_outputs():
    cfg = tiny()
    batch = fake_batch(cfg)
    outs = []
    for order in itertools.permutations(MODALITIES):
        torch.manual_seed(0)
        cfg = apply_overrides(tiny(), {"model.cascade.order": list(order)})
        model = LipSyncModel(cfg)
        torch.nn.init.normal_(model.generator.decoder.to_rgb.weight, std=0.1)  # zero at init: paste the reference
        outs.append(model(batch)["image"])
    for a, b in itertools.combinations(outs, 2):
        assert not torch.allclose(a, b)


def test_cascade_chains_each_modality_on_the_previous():
    torch.manual_seed(0)
    cascade = ModalityCascade(("text", "audio", "mouth"), 16, num_fc=1)
    feats = {m: torch.randn(4, 16) for m in MODALITIES}
    base = cascade(feats)
    changed = dict(feats, text=torch.randn(4, 16))
    after = cascade(changed)
    # changing the first modality changes every later mouth feature (it conditions them) ...
    assert all(not torch.allclose(a, b) for a, b in zip(base, after, strict=True))
    # ... changing the last changes only its own
    changed = dict(feats, mouth=torch.randn(4, 16))
    after = cascade(changed)
    assert torch.allclose(base[0], after[0]) and torch.allclose(base[1], after[1])
    assert not torch.allclose(base[2], after[2])
    trace = cascade(feats, return_all=True)
    assert list(trace)[:3] == ["text.data", "text.modulated", "text.mouth"]
    assert torch.equal(trace["mouth.mouth"], base[2])


@pytest.mark.parametrize("variant", ["residual", "cascade", "contrastive"])
@pytest.mark.parametrize("formula", ["stylegan2", "film", "adain"])
def test_variants_and_formulas_backpropagate(variant, formula):
    cfg = apply_overrides(tiny(), {"model.variant": variant, "model.cascade.formula": formula})
    model = LipSyncModel(cfg)
    torch.nn.init.normal_(model.generator.decoder.to_rgb.weight, std=0.1)  # as after the first update
    batch = fake_batch(cfg, n=4)
    out = model(batch)
    loss = (out["image"] - batch["target"]).abs().mean() + out["aux_loss"]
    loss.backward()
    for name, enc in model.encoders.items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc.parameters()), name
    if variant == "contrastive":
        assert out["aux_loss"] > 0


def test_upper_half_is_passed_through_exactly():
    cfg = tiny()
    batch = fake_batch(cfg)
    image = LipSyncModel(cfg)(batch)["image"]
    assert torch.equal(image[..., :16, :], batch["masked"][..., :16, :])


@pytest.mark.parametrize("size", [32, 64, 96, 128])
def test_generator_resolutions(size):
    gen = FaceGenerator(size, 4, 16, 2)
    x = torch.rand(1, 3, size, size)
    out = gen(x, x, [torch.randn(1, 16), torch.randn(1, 16)])
    assert out.shape == (1, 3, size, size)
    assert resolutions(size)[-1] <= 6 and f"b{size // 2}" in gen.encoder.blocks


def test_info_nce_prefers_aligned_latents():
    z = torch.randn(8, 16)
    assert info_nce([z, z]) < info_nce([z, torch.randn(8, 16)])


def test_missing_modality_is_zeroed():
    cfg = tiny()
    model = LipSyncModel(cfg).eval()
    batch = fake_batch(cfg)
    batch["has"][:, 2] = False  # no mouth images
    other = dict(batch, mouth=torch.rand_like(batch["mouth"]))
    assert torch.equal(model(batch)["image"], model(other)["image"])


def test_sync_expert_shapes_and_range():
    expert = SyncExpert(5, channels=8)
    frames = torch.rand(2, 5, 3, 16, 32)
    p = expert(frames, torch.randn(2, 1, 80, 16))
    assert p.shape == (2,) and (p >= 0).all() and (p <= 1).all()


def test_untrained_generator_pastes_the_reference():
    cfg = tiny()
    batch = fake_batch(cfg)
    image = LipSyncModel(cfg)(batch)["image"]
    assert torch.equal(image[..., 16:, :], batch["reference"][..., 16:, :])
