"""The face generator (claims 12-15): encode the mouthless face, fuse the mouth-shape features, decode the face.

- :class:`FaceEncoder`: masked target + unmasked reference frame (6 channels) -> a pyramid of skip features and a
  *face vector* (N, D). Blocks are named by resolution (``b96``, ``b48``, ...) and channel widths computed from it,
  so 96x96 (default), 64, 128 or 256 all work.
- fusion, two variants of the claims:
  * :class:`ResidualFusion` (claim 12): a *target feature* is extracted from each modality's mouth feature and
    residual-connected to the face vector: ``w = face + sum_m target_m``.
  * :class:`CascadeFusion` (claims 13-15): a second modulation cascade that starts from the face vector -- the first
    mouth feature is modulated by the face vector, each next by the previous stage's *feature to aggregate* -- and the
    last result (the *multimodal feature*) is residual-connected to the face vector. As claim 15 says, the third
    stage has no FC layers: its modulation result is the multimodal feature (``model.fusion_fc``).
- :class:`FaceDecoder`: modulated convolutions conditioned on ``w``, upsampling with the encoder's skips (U-Net).

Only the mouth region (the lower half) is generated, as a change to the reference frame's lower half (the decoder's
last layer starts at zero, so an untrained generator pastes the reference: it learns only what speech changes);
the upper half of the output is the input's, exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facekit.models.cascade import fc_stack
from facekit.nn import ModulatedConv2d, ModulatedLinear


def resolutions(image_size: int) -> list[int]:
    """Feature-map sides from ``image_size`` down to the bottleneck (halving while even and larger than 6)."""
    sides = [image_size]
    while sides[-1] > 6 and sides[-1] % 2 == 0:
        sides.append(sides[-1] // 2)
    return sides


def channels_at(side: int, image_size: int, base_channels: int) -> int:
    return min(base_channels * (image_size // side), 8 * base_channels)


def mouth_mask(image_size: int, device: torch.device | None = None) -> Tensor:
    """(S, 1) mask of the generated rows, broadcast over (N, C, S, S) images: 1 on the lower half.

    Not 4-D, so a model moved to channels-last keeps it a plain column (DDP cannot broadcast a channels-last buffer
    with one channel: its strides look self-overlapping)."""
    mask = torch.zeros(image_size, 1, device=device)
    mask[image_size // 2 :] = 1.0
    return mask


class FaceEncoder(nn.Module):
    def __init__(self, image_size: int, base_channels: int, feature_dim: int) -> None:
        super().__init__()
        self.sides = resolutions(image_size)
        ch = [channels_at(s, image_size, base_channels) for s in self.sides]
        self.stem = nn.Sequential(nn.Conv2d(6, ch[0], 3, padding=1), nn.LeakyReLU(0.2))
        self.blocks = nn.ModuleDict()
        for i, side in enumerate(self.sides[1:], start=1):
            self.blocks[f"b{side}"] = nn.Sequential(
                nn.Conv2d(ch[i - 1], ch[i], 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
                nn.Conv2d(ch[i], ch[i], 3, padding=1),
                nn.LeakyReLU(0.2),
            )
        self.to_vector = nn.Linear(ch[-1] * self.sides[-1] ** 2, feature_dim)

    def forward(self, masked: Tensor, reference: Tensor) -> tuple[Tensor, list[Tensor]]:
        """(N, 3, S, S) x 2 in [0, 1] -> face vector (N, D), skips from full resolution to the bottleneck."""
        x = self.stem(torch.cat([masked, reference], dim=1) * 2 - 1)
        skips = [x]
        for block in self.blocks.values():
            x = block(x)
            skips.append(x)
        return self.to_vector(x.flatten(1)), skips


class ResidualFusion(nn.Module):
    """Claim 12: ``w = face + sum_m target_m(mouth_m)``."""

    def __init__(self, num_modalities: int, feature_dim: int) -> None:
        super().__init__()
        self.targets = nn.ModuleList(nn.Linear(feature_dim, feature_dim) for _ in range(num_modalities))

    def forward(self, face: Tensor, mouths: list[Tensor]) -> Tensor:
        return face + sum(t(m) for t, m in zip(self.targets, mouths, strict=True))


FUSION_FC = ("claims", "every_stage")


class CascadeFusion(nn.Module):
    """Claims 13-15: a second cascade from the face vector; ``w = face + multimodal``.

    Stage k modulates the k-th mouth feature by the previous stage's feature to aggregate (stage 1: by the face
    vector) and FC layers turn the result into stage k's feature to aggregate (claim 14). ``fc`` says which stages
    have FC layers:

    - ``claims``: stages 1 and 2. With three modalities the third modulation result is itself the multimodal feature
      (claim 15); with two, the second stage's FC output is (claim 14).
    - ``every_stage``: every stage, the third too (an ablation; what a stored config without ``model.fusion_fc``
      was trained with).
    """

    def __init__(self, num_modalities: int, feature_dim: int, num_fc: int, formula: str, fc: str = "claims") -> None:
        super().__init__()
        if fc not in FUSION_FC:
            raise ValueError(f"unknown fusion FC placement {fc!r}; use {' or '.join(FUSION_FC)}")
        self.modulate = nn.ModuleList(
            ModulatedLinear(feature_dim, feature_dim, feature_dim, formula=formula) for _ in range(num_modalities)
        )
        self.fc = nn.ModuleList(
            fc_stack(feature_dim, num_fc) if fc == "every_stage" or k < 2 else nn.Identity()
            for k in range(num_modalities)
        )

    def forward(self, face: Tensor, mouths: list[Tensor]) -> Tensor:
        """Face vector (N, D), mouth features (N, D) in cascade order -> image feature (N, D)."""
        condition = face
        for modulate, fc, mouth in zip(self.modulate, self.fc, mouths, strict=True):
            condition = fc(modulate(mouth, condition))  # the feature to aggregate; after the last: the multimodal one
        return face + condition


class FaceDecoder(nn.Module):
    def __init__(self, image_size: int, base_channels: int, feature_dim: int, formula: str) -> None:
        super().__init__()
        self.sides = resolutions(image_size)
        ch = [channels_at(s, image_size, base_channels) for s in self.sides]
        self.bottleneck = ModulatedConv2d(ch[-1], ch[-1], feature_dim, formula=formula)
        self.up = nn.ModuleDict()
        self.merge = nn.ModuleDict()
        for i in range(len(self.sides) - 1, 0, -1):
            side = self.sides[i - 1]
            self.up[f"b{side}"] = ModulatedConv2d(ch[i], ch[i - 1], feature_dim, formula=formula, upsample=True)
            self.merge[f"b{side}"] = ModulatedConv2d(2 * ch[i - 1], ch[i - 1], feature_dim, formula=formula)
        self.to_rgb = nn.Conv2d(ch[0], 3, 1)
        nn.init.zeros_(self.to_rgb.weight)  # start as "paste the reference's lower half": learn only what changes
        nn.init.zeros_(self.to_rgb.bias)

    def forward(self, w: Tensor, skips: list[Tensor]) -> Tensor:
        """Image feature (N, D) + encoder skips -> an RGB change (N, 3, S, S) in [-1, 1], added to the reference."""
        x = self.bottleneck(skips[-1], w)
        for (name, up), skip in zip(self.up.items(), reversed(skips[:-1]), strict=True):
            x = self.merge[name](torch.cat([up(x, w), skip], dim=1), w)
        return torch.tanh(self.to_rgb(x))


class FaceGenerator(nn.Module):
    """Mouthless face + reference + mouth features -> the face with a generated mouth."""

    def __init__(
        self,
        image_size: int,
        base_channels: int,
        feature_dim: int,
        num_modalities: int,
        fusion: str = "residual",
        num_fc: int = 2,
        formula: str = "stylegan2",
        fusion_fc: str = "claims",
    ) -> None:
        super().__init__()
        self.encoder = FaceEncoder(image_size, base_channels, feature_dim)
        if fusion == "residual":
            self.fusion: nn.Module = ResidualFusion(num_modalities, feature_dim)
        elif fusion == "cascade":
            self.fusion = CascadeFusion(num_modalities, feature_dim, num_fc, formula, fusion_fc)
        else:
            raise ValueError(f"unknown fusion {fusion!r}; use residual or cascade")
        self.decoder = FaceDecoder(image_size, base_channels, feature_dim, formula)
        self.register_buffer("mask", mouth_mask(image_size), persistent=False)

    def forward(self, masked: Tensor, reference: Tensor, mouths: list[Tensor]) -> Tensor:
        """(N, 3, S, S) x 2 in [0, 1], list of (N, D) -> (N, 3, S, S) in [0, 1]; the upper half is ``masked``'s."""
        face, skips = self.encoder(masked, reference)
        generated = (reference + self.decoder(self.fusion(face, mouths), skips)).clamp(0, 1)
        return masked * (1 - self.mask) + generated * self.mask
