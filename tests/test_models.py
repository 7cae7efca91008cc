"""Encoders, the modulation cascade in every order, both generator variants, the contrastive baseline, the expert."""

import itertools

import pytest
import torch

from facekit.config import MODALITIES, apply_overrides, tiny
from facekit.data.text import NUM_PHONEMES
from facekit.models.cascade import ModalityCascade
from facekit.models.generator import CascadeFusion, FaceGenerator, resolutions
from facekit.models.lipsync import LipSyncModel, info_nce
from facekit.models.sync_expert import SyncExpert, info_nce_sync
from facekit.nn import modulated_linear

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


def _images_by_order(batch):
    """The tiny model's output for every order of the three modalities, all built from the SAME weights.

    Encoders, modulations, FC layers and the preset are per modality, so they are shared as they are; the residual
    fusion's per-position target layers are made equal, so the generator is blind to the order and only the cascade
    can tell one order from another."""
    torch.manual_seed(0)
    first = LipSyncModel(apply_overrides(tiny(), {"model.cascade.order": list(MODALITIES)}))
    torch.nn.init.normal_(first.generator.decoder.to_rgb.weight, std=0.1)  # zero at init: paste the reference
    for target in first.generator.fusion.targets[1:]:
        target.load_state_dict(first.generator.fusion.targets[0].state_dict())
    images = {}
    for order in itertools.permutations(MODALITIES):
        model = LipSyncModel(apply_overrides(tiny(), {"model.cascade.order": list(order)})).eval()
        model.load_state_dict(first.state_dict())  # strict: the same parameters, only the order differs
        with torch.no_grad():
            images[order] = model(batch)["image"]
    return images


def _assert_orders_differ(images):
    for (a, x), (b, y) in itertools.combinations(images.items(), 2):
        assert not torch.allclose(x, y), f"{a} and {b} give the same image"


def test_different_orders_give_different_outputs(monkeypatch):
    batch = fake_batch(tiny())
    _assert_orders_differ(_images_by_order(batch))

    def order_blind(self, features, return_all=False):  # control: every modality modulated by the preset alone
        preset = self.preset.expand(next(iter(features.values())).shape[0], -1)
        return [self.fc[m](self.modulate[m](features[m], preset)) for m in self.order]

    monkeypatch.setattr(ModalityCascade, "forward", order_blind)
    with pytest.raises(AssertionError, match="give the same image"):
        _assert_orders_differ(_images_by_order(batch))


def test_preset_vector_conditions_the_first_stage_only_through_its_modulation(monkeypatch):
    torch.manual_seed(0)
    cascade = ModalityCascade(("audio", "text"), 16, num_fc=1)
    features = {m: torch.randn(4, 16) for m in cascade.order}
    learned, other = cascade.preset.detach().clone(), torch.randn(16)

    def trace_with(preset):
        with torch.no_grad():
            cascade.preset.copy_(preset)
            return cascade(features, return_all=True)

    base, changed = trace_with(learned), trace_with(other)
    assert torch.equal(base["audio.data"], changed["audio.data"])
    assert not torch.allclose(base["audio.modulated"], changed["audio.modulated"])
    assert not torch.allclose(base["audio.mouth"], changed["audio.mouth"])
    # with the first modulation's condition pinned to the learned preset (the conditioning removed), a changed
    # preset changes nothing at all: the modulation is its only way in, and the checks above would fail
    first = cascade.modulate["audio"]
    modulate = first.forward
    monkeypatch.setattr(first, "forward", lambda x, cond: modulate(x, learned.expand(x.shape[0], -1)))
    pinned = trace_with(other)
    assert all(torch.equal(pinned[k], base[k]) for k in base)


@pytest.mark.parametrize("fusion_fc", ["claims", "every_stage"])
def test_cascade_fusion_is_conditioned_on_the_face_vector(monkeypatch, fusion_fc):
    """The multimodal feature (what is added to the face vector) depends on the face vector: it conditions stage 1."""
    torch.manual_seed(0)
    fusion = CascadeFusion(3, 16, num_fc=1, formula="stylegan2", fc=fusion_fc)
    mouths, face, other = [torch.randn(4, 16) for _ in range(3)], torch.randn(4, 16), torch.randn(4, 16)

    def multimodal(face):
        with torch.no_grad():
            _, seen = _stage_outputs(fusion, face, mouths)
        assert torch.equal(seen["modulate"][0][0][1], face)  # stage 1's condition
        return seen["fc"][-1]

    assert not torch.allclose(multimodal(face), multimodal(other))
    # without the conditioning (stage 1's condition pinned to one face) the face vector no longer matters
    first = fusion.modulate[0]
    modulate = first.forward
    monkeypatch.setattr(first, "forward", lambda x, cond: modulate(x, face))
    assert torch.equal(multimodal(face), multimodal(other))


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


def test_info_nce_sync_accuracy_in_closed_form():
    """Top-1 accuracy of finding each window's own audio among the batch's."""
    face = torch.eye(4)
    assert info_nce_sync(face, face)[1] == 1.0
    assert info_nce_sync(face, face.roll(1, dims=0))[1] == 0.0  # every window's audio is its neighbour's
    assert info_nce_sync(face, face[[1, 0, 2, 3]])[1] == 0.5  # windows 0 and 1 swapped: 2 of 4 found


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


def _stage_outputs(fusion, face, mouths):
    """Run the cascade fusion, recording each stage's modulation (inputs, output) and FC output."""
    seen = {"modulate": [], "fc": []}
    hooks = [
        m.register_forward_hook(lambda _, args, out: seen["modulate"].append((args, out))) for m in fusion.modulate
    ]
    hooks += [f.register_forward_hook(lambda _, args, out: seen["fc"].append(out)) for f in fusion.fc]
    w = fusion(face, mouths)
    for h in hooks:
        h.remove()
    return w, seen


def test_cascade_fusion_follows_claim_15_by_default():
    """Three modalities: the third modulation result IS the multimodal feature (no FC after it); stages 1-2 have FC."""
    torch.manual_seed(0)
    fusion = CascadeFusion(3, 16, num_fc=2, formula="stylegan2")
    face, mouths = torch.randn(4, 16), [torch.randn(4, 16) for _ in range(3)]
    w, seen = _stage_outputs(fusion, face, mouths)
    (mouth3, condition), third = seen["modulate"][2]
    assert torch.equal(w, face + third)
    # the third modulation recomputed by hand from its weights: y = lrelu(W'' mouth_3 + b) * sqrt 2, s = A cond + b_A
    mod = fusion.modulate[2]
    styles = torch.nn.functional.linear(condition, mod.affine.weight * mod.affine.gain, mod.affine.bias)
    y = modulated_linear(mouth3, mod.weight * mod.gain, styles) + mod.bias
    torch.testing.assert_close(w - face, torch.nn.functional.leaky_relu(y, 0.2) * 2**0.5)
    # it is conditioned by stage 2's FC output (the feature to aggregate), and stages 1-2 have FC layers
    assert torch.equal(condition, seen["fc"][1]) and not torch.equal(seen["fc"][1], seen["modulate"][1][1])
    assert [sum(p.numel() for p in f.parameters()) > 0 for f in fusion.fc] == [True, True, False]


def test_cascade_fusion_every_stage_keeps_fc_after_the_third():
    torch.manual_seed(0)
    fusion = CascadeFusion(3, 16, num_fc=2, formula="stylegan2", fc="every_stage")
    face, mouths = torch.randn(4, 16), [torch.randn(4, 16) for _ in range(3)]
    w, seen = _stage_outputs(fusion, face, mouths)
    third = seen["modulate"][2][1]
    assert torch.equal(w, face + fusion.fc[2](third)) and not torch.allclose(w, face + third)
    assert all(sum(p.numel() for p in f.parameters()) > 0 for f in fusion.fc)


def test_two_modality_cascade_fusion_ends_in_fc_as_claim_14():
    torch.manual_seed(0)
    fusion = CascadeFusion(2, 16, num_fc=1, formula="stylegan2")
    face, mouths = torch.randn(4, 16), [torch.randn(4, 16) for _ in range(2)]
    w, seen = _stage_outputs(fusion, face, mouths)
    assert torch.equal(w, face + seen["fc"][1]) and not torch.allclose(w, face + seen["modulate"][1][1])


@pytest.mark.parametrize("fusion_fc, has_third_fc", [("claims", False), ("every_stage", True)])
def test_model_fusion_fc_config_builds_its_form(fusion_fc, has_third_fc):
    cfg = apply_overrides(tiny(), {"model.variant": "cascade", "model.fusion_fc": fusion_fc})
    keys = LipSyncModel(cfg).state_dict()
    assert any(k.startswith("generator.fusion.fc.1.") for k in keys)
    assert any(k.startswith("generator.fusion.fc.2.") for k in keys) == has_third_fc
    assert tiny().model.fusion_fc == "claims"


def test_cascade_checkpoint_stored_before_fusion_fc_loads_as_it_was_trained(tmp_path):
    """A stored config without model.fusion_fc was made with FC after every stage: it must load as that, exactly."""
    from facekit.evaluation import load_generator
    from facekit.train.checkpoint import save_checkpoint

    cfg = apply_overrides(tiny(), {"model.variant": "cascade", "model.fusion_fc": "every_stage"})
    torch.manual_seed(0)
    model = LipSyncModel(cfg).eval()
    torch.nn.init.normal_(model.generator.decoder.to_rgb.weight, std=0.1)
    stored = cfg.to_dict()
    del stored["model"]["fusion_fc"]
    state = {"kind": "generator", "config": stored, "step": 1, "model": model.state_dict()}
    save_checkpoint(tmp_path / "old.pt", state)
    loaded, loaded_cfg = load_generator(tmp_path / "old.pt")
    assert loaded_cfg.model.fusion_fc == "every_stage"
    batch = fake_batch(cfg)
    with torch.no_grad():
        assert torch.equal(loaded(batch)["image"], model(batch)["image"])
