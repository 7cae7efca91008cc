"""The modulation cascade of claims 7-11: data features -> mouth-shape features, one modality after another.

For the modalities in ``order`` (any permutation of any subset of text, audio, mouth):

    mouth_1 = FC^n( modulate(S_1, by=preset) )           claim 8: a learned preset vector starts the cascade
    mouth_k = FC^n( modulate(S_k, by=mouth_{k-1}) )      claims 9-10: each next by the previous mouth feature

Every stage, the third too, ends in FC layers: claim 10 gives the third modality's modulation result and claim 7 turns
each modality's result into its mouth feature by FC layers. (Only the generator's second cascade, claims 13-15, drops
the third stage's FC layers: see ``models.generator.CascadeFusion``.)

``modulate`` is one of the formulas of ``facekit.nn`` (StyleGAN2 modulation/demodulation by default; FiLM and AdaIN for
the ablation) -- a reconstruction, since the patent's formula is lost. The method needs at least two modalities; a
single-modality cascade is allowed for ablations and is marked by :attr:`ModalityCascade.is_ablation`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from facekit.nn import ModulatedLinear


def fc_stack(dim: int, num_layers: int) -> nn.Sequential:
    """``num_layers`` x (Linear + LeakyReLU) at constant width."""
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.Linear(dim, dim), nn.LeakyReLU(0.2)]
    return nn.Sequential(*layers)


class ModalityCascade(nn.Module):
    """Chained modulations: ``forward(features)`` -> mouth-shape feature of each modality, in cascade order."""

    def __init__(self, order: tuple[str, ...], feature_dim: int, num_fc: int = 2, formula: str = "stylegan2") -> None:
        super().__init__()
        if not order:
            raise ValueError("the cascade needs at least one modality")
        self.order = tuple(order)
        self.preset = nn.Parameter(torch.randn(feature_dim))
        self.modulate = nn.ModuleDict(
            {m: ModulatedLinear(feature_dim, feature_dim, feature_dim, formula=formula) for m in self.order}
        )
        self.fc = nn.ModuleDict({m: fc_stack(feature_dim, num_fc) for m in self.order})

    @property
    def is_ablation(self) -> bool:
        """True for a single-modality cascade: the claims require at least two modalities."""
        return len(self.order) < 2

    def forward(self, features: dict[str, Tensor], return_all: bool = False) -> list[Tensor] | dict[str, Tensor]:
        """``features``: data feature (N, D) per modality -> list of mouth-shape features (N, D) in cascade order.

        With ``return_all`` a dict of every intermediate (``<m>.data``, ``<m>.modulated``, ``<m>.mouth``) is returned
        instead, in order -- for notebooks that show the features changing through the cascade.
        """
        n = next(iter(features.values())).shape[0]
        condition = self.preset.expand(n, -1)
        mouths, trace = [], {}
        for m in self.order:
            modulated = self.modulate[m](features[m], condition)
            mouth = self.fc[m](modulated)
            mouths.append(mouth)
            trace.update({f"{m}.data": features[m], f"{m}.modulated": modulated, f"{m}.mouth": mouth})
            condition = mouth
        return trace if return_all else mouths
