"""Neural-network building blocks: the modulation op of claim 11 (a reconstruction) and the layers built on it."""

from facekit.nn.modulation import (
    FORMULAS,
    ModulatedConv2d,
    ModulatedLinear,
    StyleAffine,
    adain,
    film,
    modulated_conv2d,
    modulated_conv2d_grouped,
    modulated_linear,
    modulated_linear_reference,
    modulated_weight,
)

__all__ = [
    "FORMULAS",
    "ModulatedConv2d",
    "ModulatedLinear",
    "StyleAffine",
    "adain",
    "film",
    "modulated_conv2d",
    "modulated_conv2d_grouped",
    "modulated_linear",
    "modulated_linear_reference",
    "modulated_weight",
]
