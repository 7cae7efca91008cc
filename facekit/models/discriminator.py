"""An optional adversarial term: a small patch discriminator on the mouth region, trained with the hinge loss.

The discriminator scores overlapping patches of the lower half (real: the ground truth; fake: the generated mouth).
Both players update in the generator's one optimizer step: the discriminator's loss sees the generated image detached,
and the generator's adversarial loss runs the discriminator through *detached* copies of its parameters, so each loss
moves only its own player's weights and one ``backward()`` serves both.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call


class PatchDiscriminator(nn.Module):
    def __init__(self, channels: int = 32) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(3, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 3, padding=1),
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        """(N, 3, h, w) images in [0, 1] -> (N, 1, h/4, w/4) patch scores (real > 0 > fake)."""
        return self.net(x * 2 - 1)

    def losses(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """(discriminator hinge loss, generator adversarial loss); see the module docstring for the gradient split."""
        d_loss = F.relu(1 - self(real)).mean() + F.relu(1 + self(fake.detach())).mean()
        frozen = {name: p.detach() for name, p in self.named_parameters()}
        g_loss = -functional_call(self, frozen, (fake,)).mean()
        return d_loss, g_loss
