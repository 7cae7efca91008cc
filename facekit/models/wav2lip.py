"""A Wav2Lip-style baseline (Prajwal et al. 2020, section 3.3), written from the paper's description: the field's
standard to measure the modulation cascade against (``model.variant=wav2lip``).

- an *identity encoder*: residual convolutions over the masked target and the reference frame (6 channels), down to
  a 1 x 1 face embedding, keeping a skip at every resolution;
- a *speech encoder*: 2D convolutions over the 80 x 16 mel window, down to a 1 x 1 speech embedding;
- the two embeddings are **concatenated** -- no modulation, no cascade, no text or mouth modality;
- a *face decoder*: transposed convolutions up to full resolution, concatenating the identity encoder's skip at each
  resolution (U-Net, as LipGAN and Wav2Lip).

Channel widths follow Wav2Lip's table (16, 32, 64, ..., 512 at 96 x 96) times ``width / 16``, with one level per
resolution of ``generator.resolutions``. :meth:`Wav2LipGenerator.matching` picks the width whose parameter count is
closest to a given one (the method's residual model at the same config), so the two are compared at equal size.

Two departures from the paper, so that the comparison isolates how speech enters the generator: the output is a
change to the reference frame's lower half (last layer zero-initialised, upper half the input's), exactly as
``FaceGenerator``; and GroupNorm replaces BatchNorm (batch-independent, as every facekit module).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor, nn

from facekit.models.generator import mouth_mask, resolutions


class ConvBlock(nn.Module):
    """Wav2Lip's unit: ReLU(norm(conv(x))), or ReLU(x + norm(conv(x))) when residual; ``up``: a transposed conv."""

    def __init__(self, in_channels: int, out_channels: int, kernel=3, stride=1, padding=1, residual=False, up=False):
        super().__init__()
        conv = nn.ConvTranspose2d if up else nn.Conv2d
        extra = {"output_padding": stride - 1} if up else {}
        self.conv = conv(in_channels, out_channels, kernel, stride, padding, **extra)
        self.norm = nn.GroupNorm(math.gcd(out_channels, 8), out_channels)
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        y = self.norm(self.conv(x))
        return torch.relu(x + y if self.residual else y)


def stage(in_channels: int, out_channels: int, num_residual: int, **first) -> nn.Sequential:
    """One block that changes the shape, then ``num_residual`` residual blocks at constant shape."""
    blocks = [ConvBlock(in_channels, out_channels, **first)]
    blocks += [ConvBlock(out_channels, out_channels, residual=True) for _ in range(num_residual)]
    return nn.Sequential(*blocks)


class Wav2LipGenerator(nn.Module):
    """Masked target + reference + mel window -> the face with a generated mouth; ``width`` scales every channel."""

    def __init__(self, image_size: int, width: float = 16.0) -> None:
        super().__init__()
        self.sides = resolutions(image_size)
        n = len(self.sides)

        def ch(k: float) -> int:
            return max(2, 2 * round(width * k / 2))

        skip = [ch(2**i) for i in range(n)]  # identity encoder, full resolution first
        dec = [ch(min(4 * 2**i, 32)) for i in range(n)]  # decoder, same levels
        embed = ch(32)
        self.identity = nn.ModuleList([stage(6, skip[0], 0, kernel=7, padding=3)])
        self.identity.extend(stage(skip[i - 1], skip[i], 2, stride=2) for i in range(1, n))
        self.identity.append(  # the last side -> 1 x 1 (a valid convolution), then 1 x 1
            nn.Sequential(
                ConvBlock(skip[-1], embed, kernel=self.sides[-1], padding=0), ConvBlock(embed, embed, 1, 1, 0)
            )
        )
        self.speech = nn.Sequential(  # (N, 1, 80, 16) -> 27 x 16 -> 9 x 6 -> 3 x 3 -> 1 x 1
            stage(1, ch(2), 2),
            stage(ch(2), ch(4), 2, stride=(3, 1)),
            stage(ch(4), ch(8), 2, stride=3),
            stage(ch(8), ch(16), 1, stride=(3, 2)),
            ConvBlock(ch(16), embed, padding=0),
            ConvBlock(embed, embed, 1, 1, 0),
        )
        self.join = ConvBlock(2 * embed, embed, 1, 1, 0)  # the concatenated embeddings
        self.decoder = nn.ModuleList(  # 1 x 1 -> the last side (a valid transposed convolution), then up by 2
            [stage(2 * embed, dec[-1], 1, kernel=self.sides[-1], padding=0, up=True)]
        )
        self.decoder.extend(stage(dec[i] + skip[i], dec[i - 1], 2, stride=2, up=True) for i in range(n - 1, 0, -1))
        self.to_rgb = nn.Sequential(ConvBlock(dec[0] + skip[0], ch(2)), nn.Conv2d(ch(2), 3, 1))
        nn.init.zeros_(self.to_rgb[-1].weight)  # start as "paste the reference's lower half", as FaceGenerator
        nn.init.zeros_(self.to_rgb[-1].bias)
        self.register_buffer("mask", mouth_mask(image_size), persistent=False)

    def forward(self, masked: Tensor, reference: Tensor, mel: Tensor) -> Tensor:
        """(N, 3, S, S) x 2 in [0, 1] and the (N, 1, 80, 16) mel window -> (N, 3, S, S) in [0, 1]; the upper half is
        ``masked``'s."""
        x = torch.cat([masked, reference], dim=1) * 2 - 1
        skips = []
        for block in self.identity:
            x = block(x)
            skips.append(x)
        x = torch.cat([self.join(torch.cat([skips.pop(), self.speech(mel)], dim=1)), x], dim=1)
        for block in self.decoder:
            x = torch.cat([block(x), skips.pop()], dim=1)
        generated = (reference + torch.tanh(self.to_rgb(x))).clamp(0, 1)
        return masked * (1 - self.mask) + generated * self.mask

    @classmethod
    def matching(cls, image_size: int, num_parameters: int) -> Wav2LipGenerator:
        """The generator whose parameter count is closest to ``num_parameters``."""
        return cls(image_size, matching_width(image_size, num_parameters))


@functools.cache
def matching_width(image_size: int, num_parameters: int) -> float:
    """The ``width`` of :class:`Wav2LipGenerator` whose parameter count is closest to ``num_parameters`` (candidates
    are built on the meta device: nothing is allocated)."""

    def count(width: float) -> int:
        with torch.device("meta"):
            return sum(p.numel() for p in Wav2LipGenerator(image_size, width).parameters())

    low, high = math.log(0.5), math.log(512.0)
    for _ in range(16):  # the count grows with the width: bisect (in log width) to the crossing
        mid = (low + high) / 2
        low, high = (mid, high) if count(math.exp(mid)) < num_parameters else (low, mid)
    return min((math.exp(low), math.exp(high)), key=lambda w: abs(count(w) - num_parameters))
