"""The whole model: modality encoders -> mouth-shape features -> face generator; and the contrastive baseline.

``model.variant`` picks the method or its baseline, on equal terms (same encoders, same generator):

- ``residual``    -- the cascade of claims 7-11, generator fusion of claim 12;
- ``cascade``     -- the cascade of claims 7-11, generator fusion of claims 13-15 (FC placement: ``model.fusion_fc``);
- ``contrastive`` -- the prior art of [0017]: each modality's data feature is projected to a latent, same-frame
  latents are pulled together (and other frames pushed apart) by InfoNCE, and the latents are fused by the residual
  generator without any modulation cascade;
- ``wav2lip``     -- the field's standard (``models.wav2lip``): audio only, joined to the face by concatenation, with
  as many parameters as the ``residual`` model of the same config (``model.cascade.order`` sets only that count).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facekit.config import Config, apply_overrides
from facekit.models.cascade import ModalityCascade
from facekit.models.discriminator import PatchDiscriminator
from facekit.models.encoders import build_encoder, encode_all
from facekit.models.generator import FaceGenerator
from facekit.models.wav2lip import Wav2LipGenerator


def info_nce(latents: list[Tensor], temperature: float = 0.1) -> Tensor:
    """Mean symmetric InfoNCE over every pair of modality latents (N, D): row i of each is the same frame."""
    if len(latents) < 2:
        return latents[0].new_zeros(())
    z = [F.normalize(x, dim=1) for x in latents]
    labels = torch.arange(z[0].shape[0], device=z[0].device)
    losses = []
    for i in range(len(z)):
        for j in range(i + 1, len(z)):
            logits = z[i] @ z[j].T / temperature
            losses.append((F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2)
    return torch.stack(losses).mean()


def method_parameters(cfg: Config) -> int:
    """Parameter count of the method (the ``residual`` variant, no discriminator) at ``cfg``, built on the meta
    device (nothing allocated)."""
    with torch.device("meta"):
        method = LipSyncModel(apply_overrides(cfg, {"model.variant": "residual", "train.gan_weight": 0.0}))
    return sum(p.numel() for p in method.parameters())


class LipSyncModel(nn.Module):
    def __init__(self, cfg: Config) -> None:
        super().__init__()
        m, d = cfg.model, cfg.data
        self.order = tuple(m.cascade.order)
        self.variant = m.variant
        if m.variant == "wav2lip":  # the field's baseline in place of encoders, cascade and generator
            self.wav2lip = Wav2LipGenerator.matching(d.image_size, method_parameters(cfg))
            if cfg.train.gan_weight > 0:
                self.discriminator = PatchDiscriminator(m.base_channels)
            return
        self.encoders = nn.ModuleDict(
            {name: build_encoder(name, m.feature_dim, d.phoneme_window, m.base_channels) for name in self.order}
        )
        if m.variant == "contrastive":
            self.project = nn.ModuleDict({name: nn.Linear(m.feature_dim, m.feature_dim) for name in self.order})
        else:
            self.cascade = ModalityCascade(self.order, m.feature_dim, m.cascade.num_fc, m.cascade.formula)
        fusion = "cascade" if m.variant == "cascade" else "residual"
        self.generator = FaceGenerator(
            d.image_size,
            m.base_channels,
            m.feature_dim,
            len(self.order),
            fusion,
            m.cascade.num_fc,
            m.cascade.formula,
            m.fusion_fc,
        )
        if cfg.train.gan_weight > 0:  # trained with the generator (inside forward, so DDP syncs it too)
            self.discriminator = PatchDiscriminator(m.base_channels)

    def mouth_features(self, batch: dict[str, Tensor]) -> list[Tensor]:
        """Mouth-shape features (N, D) per modality in cascade order (latents for the contrastive baseline)."""
        features = encode_all(self.encoders, batch)
        if self.variant == "contrastive":
            return [self.project[name](features[name]) for name in self.order]
        return self.cascade(features)

    def forward(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Flattened windows (see ``encoders.flatten_windows``) -> ``image`` (N, 3, S, S) and ``aux_loss``.

        In training, with a discriminator and a ``target`` in the batch, also ``d_loss`` and ``g_adv`` (hinge losses
        on the mouth region; see ``models.discriminator``)."""
        if self.variant == "wav2lip":
            image = self.wav2lip(batch["masked"], batch["reference"], batch["mel"])
        else:
            mouths = self.mouth_features(batch)
            image = self.generator(batch["masked"], batch["reference"], mouths)
        aux = info_nce(mouths) if self.variant == "contrastive" else image.new_zeros(())
        out = {"image": image, "aux_loss": aux}
        if self.training and hasattr(self, "discriminator") and "target" in batch:
            half = image.shape[-2] // 2
            real, fake = batch["target"][..., half:, :], image[..., half:, :]
            out["d_loss"], out["g_adv"] = self.discriminator.losses(real, fake)
        return out
