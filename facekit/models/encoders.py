"""Modality encoders (claims 2-6): each modality -> its encoder -> a fully connected layer -> a data feature.

One contract for all three: ``encoder(batch) -> (N, feature_dim)``, where ``batch`` is a dict of flattened windows
(``phonemes`` (N, P) int64, ``mel`` (N, 1, 80, 16), ``mouth`` (N, 3, M, M) in [0, 1]). Encoders are registered by
modality name in :data:`ENCODERS`, so the cascade can be built from ``model.cascade.order`` alone.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facekit.config import MODALITIES
from facekit.data.text import NUM_PHONEMES


def _conv(in_channels: int, out_channels: int, stride: int | tuple[int, int] = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.GroupNorm(min(8, out_channels // 4), out_channels),  # batch-independent: DDP == one big batch
        nn.LeakyReLU(0.2),
    )


class TextEncoder(nn.Module):
    """Phoneme ids of P frames around t -> embedding -> temporal convolution -> FC -> data feature."""

    modality = "text"
    input_key = "phonemes"

    def __init__(self, feature_dim: int, window: int, embed_dim: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(NUM_PHONEMES, embed_dim)
        self.conv = nn.Sequential(nn.Conv1d(embed_dim, 2 * embed_dim, 3, padding=1), nn.LeakyReLU(0.2))
        self.fc = nn.Linear(2 * embed_dim * window, feature_dim)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        x = self.embed(batch[self.input_key]).transpose(1, 2)  # (N, E, P)
        return self.fc(self.conv(x).flatten(1))


class AudioEncoder(nn.Module):
    """The 80 x 16 log-mel window of frame t -> convolutions -> FC -> data feature."""

    modality = "audio"
    input_key = "mel"

    def __init__(self, feature_dim: int, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.conv = nn.Sequential(
            _conv(1, c), _conv(c, c, (2, 1)), _conv(c, 2 * c, 2), _conv(2 * c, 2 * c, 2), _conv(2 * c, 4 * c, 2)
        )  # (N, 4c, 5, 2)
        self.fc = nn.Linear(4 * c * 5 * 2, feature_dim)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.fc(self.conv(batch[self.input_key]).flatten(1))


class MouthEncoder(nn.Module):
    """The mouth image of frame t (a driver's mouth or a lip sketch) -> convolutions -> FC -> data feature."""

    modality = "mouth"
    input_key = "mouth"

    def __init__(self, feature_dim: int, channels: int = 16) -> None:
        super().__init__()
        c = channels
        self.conv = nn.Sequential(_conv(3, c, 2), _conv(c, 2 * c, 2), _conv(2 * c, 4 * c, 2), _conv(4 * c, 4 * c))
        self.fc = nn.Linear(4 * c, feature_dim)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        x = batch[self.input_key] * 2 - 1
        return self.fc(self.conv(x).mean(dim=(2, 3)))


ENCODERS = {"text": TextEncoder, "audio": AudioEncoder, "mouth": MouthEncoder}


def build_encoder(modality: str, feature_dim: int, phoneme_window: int, base_channels: int) -> nn.Module:
    """The encoder registered for ``modality``."""
    if modality == "text":
        return TextEncoder(feature_dim, phoneme_window)
    if modality == "audio":
        return AudioEncoder(feature_dim, channels=2 * base_channels)
    if modality == "mouth":
        return MouthEncoder(feature_dim, channels=base_channels)
    raise ValueError(f"unknown modality {modality!r}; known: {', '.join(ENCODERS)}")


def encode_all(encoders: nn.ModuleDict, batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """Data features of every modality in ``encoders``; a modality the sample lacks (``has``) gives zeros."""
    out = {}
    for name, encoder in encoders.items():
        feature = encoder(batch)
        if "has" in batch:
            present = batch["has"][:, MODALITIES.index(name)].to(feature.dtype)
            feature = feature * present[:, None]
        out[name] = feature
    return out


def flatten_windows(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """(B, K, ...) window tensors of ``FaceDataset`` -> (B*K, ...); ``has`` repeated per frame."""
    k = batch["target"].shape[1]
    out = {key: v.flatten(0, 1) for key, v in batch.items() if v.dim() >= 2 and key != "has"}
    if "has" in batch:
        out["has"] = torch.repeat_interleave(batch["has"], k, dim=0)
    return out
