"""A lip-sync expert in the manner of Wav2Lip's: 5 lower-half frames and a 0.2 s mel window -> one embedding space.

Trained on in-sync / off-sync pairs (``facekit.data.dataset.SyncDataset``) with a binary cross-entropy on the cosine
similarity of the L2-normalised embeddings; used frozen as the generator's sync loss and as the embedding network of
the LSE-D / LSE-C metrics. Small on purpose: it must train in minutes on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _block(in_channels: int, out_channels: int, stride: int | tuple[int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class SyncExpert(nn.Module):
    def __init__(self, num_frames: int = 5, channels: int = 32, embed_dim: int = 128) -> None:
        super().__init__()
        c = channels
        self.face = nn.Sequential(
            _block(3 * num_frames, c, 1), _block(c, 2 * c, 2), _block(2 * c, 4 * c, 2), _block(4 * c, 4 * c, 2),
            _block(4 * c, 8 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * c, embed_dim), nn.ReLU(),
        )  # fmt: skip
        self.audio = nn.Sequential(
            _block(1, c, 1), _block(c, 2 * c, (2, 1)), _block(2 * c, 4 * c, 2), _block(4 * c, 4 * c, 2),
            _block(4 * c, 8 * c, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8 * c, embed_dim), nn.ReLU(),
        )  # fmt: skip

    def embed_face(self, frames: Tensor) -> Tensor:
        """(N, 5, 3, S/2, S) lower halves in [0, 1] -> unit embeddings (N, E)."""
        return F.normalize(self.face(frames.flatten(1, 2) * 2 - 1), dim=1)

    def embed_audio(self, mel: Tensor) -> Tensor:
        """(N, 1, 80, 16) log-mel windows -> unit embeddings (N, E)."""
        return F.normalize(self.audio(mel / 4), dim=1)

    def forward(self, frames: Tensor, mel: Tensor, embeddings: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Sync probability in [0, 1]: the cosine similarity of the two non-negative (ReLU) unit embeddings.

        With ``embeddings`` the two (N, E) embeddings are returned instead (for the InfoNCE objective)."""
        face, audio = self.embed_face(frames), self.embed_audio(mel)
        if embeddings:
            return face, audio
        return self.similarity(face, audio)

    @staticmethod
    def similarity(face: Tensor, audio: Tensor) -> Tensor:
        """Sync probability (N,) of (N, E) face and audio embeddings: their cosine, kept inside (0, 1) for the BCE."""
        return (face * audio).sum(dim=1).clamp(1e-6, 1 - 1e-6)


def info_nce_sync(face: Tensor, audio: Tensor, temperature: float = 0.07) -> tuple[Tensor, Tensor]:
    """Contrastive sync objective: each window's own audio against every other window's in the batch.

    Returns (loss, top-1 accuracy of finding the own audio)."""
    logits = face.float() @ audio.float().T / temperature
    labels = torch.arange(face.shape[0], device=face.device)
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    return loss, (logits.argmax(dim=1) == labels).float().mean()


def bce(prob: Tensor, label: Tensor) -> Tensor:
    """Binary cross-entropy in fp32 (it is unsafe under autocast)."""
    with torch.autocast(prob.device.type, enabled=False):
        return F.binary_cross_entropy(prob.float(), label.float())


def lower_half(frames: Tensor) -> Tensor:
    return frames[..., frames.shape[-2] // 2 :, :]
