"""The modulation formula of claim 11 -- a RECONSTRUCTION, not the patent's formula.

The patent's "preset modulation formula" y = f(S, F) is lost in our copy of the text. What is implemented here is the
most plausible reading: StyleGAN2 weight modulation / demodulation on a layer's weight, which is how StyleSync
(CVPR 2023, the same company's published lip-sync generator) injects audio into its generator:

    s     = A F + b                          style: learned affine of the modulating vector F, b initialised to 1
    W'_ij = s_j W_ij                         modulate: scale the input columns of the weight
    W''_ij = W'_ij / sqrt(sum_j W'_ij^2 + eps)   demodulate: unit norm per output row (per output channel for conv)
    y     = W'' S (+ bias), then leaky ReLU

Two other readings are selectable for ablation (``FORMULAS``): FiLM, y = gamma(F) * S + beta(F), and AdaIN,
y = gamma(F) * normalise(S) + beta(F), each followed by a plain layer.

The pure functions have two equivalent execution paths: a fast one that never builds per-sample weights (scale the
input by s, run the one shared layer, scale the output by the demodulation coefficients d) and a reference one that
builds them (``*_reference``, and StyleGAN2's grouped convolution ``modulated_conv2d_grouped``). Tests check that they
agree; the fast path is the one the modules use (faster on CPU, see docs/PERFORMANCE.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FORMULAS = ("stylegan2", "film", "adain")


def _shape(t: Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def _check_modulated(x: Tensor, weight: Tensor, styles: Tensor, ndim: int, names: str) -> None:
    """Shape contract shared by the linear (ndim 2: x (N, in), W (out, in)) and conv (ndim 4) ops."""
    if x.ndim != ndim:
        raise ValueError(f"x must have shape {names}, got {_shape(x)}")
    if weight.ndim != ndim or weight.shape[1] != x.shape[1]:
        expected = f"(out, {x.shape[1]})" if ndim == 2 else f"(Cout, {x.shape[1]}, kh, kw)"
        raise ValueError(f"weight must have shape {expected}, got {_shape(weight)}")
    if styles.shape != (x.shape[0], x.shape[1]):
        raise ValueError(f"styles must have shape (N, in) = {(x.shape[0], x.shape[1])}, got {_shape(styles)}")


def modulated_weight(weight: Tensor, styles: Tensor, demodulate: bool = True, eps: float = 1e-8) -> Tensor:
    """Per-sample weights W' (or W'' if ``demodulate``): weight (out, in, *k), styles (N, in) -> (N, out, in, *k)."""
    if weight.ndim < 2 or styles.ndim != 2 or styles.shape[1] != weight.shape[1]:
        raise ValueError(
            f"styles must have shape (N, in) with in={weight.shape[1] if weight.ndim > 1 else '?'}, "
            f"got {_shape(styles)} for weight {_shape(weight)}"
        )
    s = styles.reshape(*styles.shape[:1], 1, styles.shape[1], *([1] * (weight.ndim - 2)))
    w = weight.unsqueeze(0) * s  # modulate: W'_ij = s_j W_ij
    if demodulate:  # demodulate: W''_ij = W'_ij / sqrt(sum_{j,k} W'_ij^2 + eps)
        w = w * torch.rsqrt(w.square().sum(dim=tuple(range(2, w.ndim)), keepdim=True) + eps)
    return w


def demodulation(weight: Tensor, styles: Tensor, eps: float = 1e-8) -> Tensor:
    """Demodulation coefficients d (N, out) = 1 / ||W'_n,o|| = rsqrt((s^2) @ sum_k(W^2).T + eps), without building
    the per-sample weights: weight (out, in, *k), styles (N, in)."""
    return torch.rsqrt(styles.square() @ weight.square().reshape(*weight.shape[:2], -1).sum(2).t() + eps)


def modulated_linear(x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, eps: float = 1e-8) -> Tensor:
    """Modulated fully connected layer: x (N, in), weight (out, in), styles (N, in) -> (N, out). No bias.

    Fast path, no per-sample weights: y = ((x * s) @ W.T) * d with d = rsqrt((s^2) @ (W^2).T + eps).
    """
    _check_modulated(x, weight, styles, 2, "(N, in)")
    h = x * styles  # modulate (on the activations: (W s) x == W (s x))
    y = h @ weight.t()  # execute: one shared matmul
    if demodulate:  # demodulate: d_i = 1 / ||W'_i||, the same for every input
        y = y * demodulation(weight, styles, eps)
    return y


def modulated_linear_reference(
    x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, eps: float = 1e-8
) -> Tensor:
    """Same as :func:`modulated_linear`, building the per-sample weights (N, out, in) explicitly (tests only)."""
    _check_modulated(x, weight, styles, 2, "(N, in)")
    w = modulated_weight(weight, styles, demodulate, eps)  # modulate + demodulate
    return torch.bmm(w, x.unsqueeze(2)).squeeze(2)  # execute: y_n = W''_n x_n


def _same_padding(weight: Tensor, padding: int | None) -> int | tuple[int, int]:
    return (weight.shape[2] // 2, weight.shape[3] // 2) if padding is None else padding


def modulated_conv2d(
    x: Tensor,
    weight: Tensor,
    styles: Tensor,
    demodulate: bool = True,
    padding: int | None = None,
    eps: float = 1e-8,
    upsample: bool = False,
) -> Tensor:
    """Modulated convolution: x (N, Cin, H, W), weight (Cout, Cin, k, k), styles (N, Cin) -> (N, Cout, H', W').

    ``padding`` None means 'same' (k // 2). Fast path: scale the input activations by s, run one shared conv2d, scale
    the outputs by d = rsqrt((s^2) @ sum_kk(W^2).T + eps) -- faster on CPU than the grouped convolution. With
    ``upsample`` the scaled input is resized x2 (bilinear) before the convolution: resizing acts on each channel
    alone and linearly, so scaling first is the same and touches 4x fewer values.
    """
    _check_modulated(x, weight, styles, 4, "(N, Cin, H, W)")
    h = x * styles[:, :, None, None]  # modulate (on the activations)
    if upsample:
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
    y = F.conv2d(h, weight, padding=_same_padding(weight, padding))  # execute: one shared convolution
    if demodulate:  # demodulate: d_o = 1 / ||W'_o|| over (Cin, kh, kw)
        y = y * demodulation(weight, styles, eps)[:, :, None, None]
    return y


def modulated_conv2d_grouped(
    x: Tensor, weight: Tensor, styles: Tensor, demodulate: bool = True, padding: int | None = None, eps: float = 1e-8
) -> Tensor:
    """Same as :func:`modulated_conv2d` via StyleGAN2's fused path: per-sample weights, one conv with groups=N."""
    _check_modulated(x, weight, styles, 4, "(N, Cin, H, W)")
    n, c_in, height, width = x.shape
    w = modulated_weight(weight, styles, demodulate, eps)  # modulate + demodulate: (N, Cout, Cin, kh, kw)
    y = F.conv2d(  # execute: sample n is group n
        x.reshape(1, n * c_in, height, width),
        w.reshape(-1, *w.shape[2:]),
        padding=_same_padding(weight, padding),
        groups=n,
    )
    return y.reshape(n, -1, *y.shape[2:])


def _check_affine_params(x: Tensor, gamma: Tensor, beta: Tensor) -> None:
    if x.ndim not in (2, 4):
        raise ValueError(f"x must have shape (N, C) or (N, C, H, W), got {_shape(x)}")
    expected = (x.shape[0], x.shape[1])
    for name, t in (("gamma", gamma), ("beta", beta)):
        if t.shape != expected:
            raise ValueError(f"{name} must have shape (N, C) = {expected}, got {_shape(t)}")


def film(x: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """FiLM: y = gamma * x + beta. x (N, C) or (N, C, H, W); gamma, beta (N, C), broadcast over H, W."""
    _check_affine_params(x, gamma, beta)
    if x.ndim == 4:
        gamma, beta = gamma[:, :, None, None], beta[:, :, None, None]
    return gamma * x + beta


def adain(x: Tensor, gamma: Tensor, beta: Tensor, eps: float = 1e-5) -> Tensor:
    """AdaIN: y = gamma * xhat + beta, xhat = x normalised per sample over its feature dim.

    x (N, C): mean/var over C; x (N, C, H, W): per channel over (H, W). gamma, beta (N, C). Biased variance.
    """
    _check_affine_params(x, gamma, beta)
    dims = (1,) if x.ndim == 2 else (2, 3)
    var, mean = torch.var_mean(x, dim=dims, keepdim=True, correction=0)
    xhat = (x - mean) * torch.rsqrt(var + eps)
    return film(xhat, gamma, beta)


class StyleAffine(nn.Module):
    """Learned affine cond (N, cond_dim) -> (N, dim) with weight N(0, 1) / sqrt(cond_dim) (equalised learning rate,
    applied at run time) and bias initialised to ``bias_init`` (1: modulation starts near identity)."""

    def __init__(self, cond_dim: int, dim: int, bias_init: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(dim, cond_dim))
        self.bias = nn.Parameter(torch.full((dim,), float(bias_init)))
        self.gain = 1.0 / math.sqrt(cond_dim)

    def forward(self, cond: Tensor) -> Tensor:
        return F.linear(cond, self.weight * self.gain, self.bias)


class _Modulated(nn.Module):
    """Shared parts of the modulated layers: the formula, the style affines, the bias and the activation."""

    def __init__(self, in_dim: int, out_dim: int, cond_dim: int, formula: str, demodulate: bool, activation: bool):
        super().__init__()
        if formula not in FORMULAS:
            raise ValueError(f"unknown modulation formula {formula!r}; choose one of {', '.join(FORMULAS)}")
        self.formula, self.demodulate, self.activation = formula, demodulate, activation
        self.affine = StyleAffine(cond_dim, in_dim, bias_init=1.0)  # s (stylegan2) or gamma (film, adain)
        self.shift = StyleAffine(cond_dim, in_dim, bias_init=0.0) if formula != "stylegan2" else None  # beta
        self.bias = nn.Parameter(torch.zeros(out_dim))

    def condition_input(self, x: Tensor, cond: Tensor) -> Tensor:
        """FiLM / AdaIN applied to the input features (the stylegan2 formula modulates the weight instead)."""
        gamma, beta = self.affine(cond), self.shift(cond)
        return film(x, gamma, beta) if self.formula == "film" else adain(x, gamma, beta)

    def finish(self, y: Tensor, scale: Tensor | None = None) -> Tensor:
        """(y * scale + bias), then leaky ReLU x sqrt(2) if ``activation``; scale (N, C) or None (1).

        Two passes over y: the activation's gain is folded into the scale and the bias (leaky ReLU is positively
        homogeneous), and the activation runs in place."""
        gain = math.sqrt(2) if self.activation else 1.0
        spatial = [1] * (y.ndim - 2)
        bias = (self.bias * gain).reshape(1, -1, *spatial)
        if scale is None:
            y = torch.add(bias, y, alpha=gain)
        else:
            y = torch.addcmul(bias, y, (scale * gain).reshape(*scale.shape, *spatial))
        return F.leaky_relu(y, 0.2, inplace=True) if self.activation else y


class ModulatedLinear(_Modulated):
    """Fully connected layer modulated by a condition: forward(x (N, in), cond (N, cond_dim)) -> (N, out).

    ``formula`` picks the reading of claim 11 (``FORMULAS``). The weight is N(0, 1) scaled by 1/sqrt(in) at run time
    (equalised learning rate, as StyleGAN2).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        cond_dim: int,
        formula: str = "stylegan2",
        activation: bool = True,
        demodulate: bool = True,
    ):
        super().__init__(in_features, out_features, cond_dim, formula, demodulate, activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.gain = 1.0 / math.sqrt(in_features)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        weight = self.weight * self.gain
        if self.formula == "stylegan2":
            y = modulated_linear(x, weight, self.affine(cond), demodulate=self.demodulate)
        else:
            y = F.linear(self.condition_input(x, cond), weight)
        return self.finish(y)


class ModulatedConv2d(_Modulated):
    """Convolution modulated by a condition: forward(x (N, Cin, H, W), cond (N, cond_dim)) -> (N, Cout, H', W').

    'Same' padding; with ``upsample`` the input is first resized x2 (bilinear), so H' = 2H, W' = 2W. FiLM / AdaIN act
    on the input channels before a plain convolution. Weight N(0, 1) scaled by 1/sqrt(Cin k k) at run time.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        kernel_size: int = 3,
        formula: str = "stylegan2",
        demodulate: bool = True,
        activation: bool = True,
        upsample: bool = False,
    ):
        super().__init__(in_channels, out_channels, cond_dim, formula, demodulate, activation)
        self.upsample = upsample
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        weight = self.weight * self.gain
        if self.formula == "stylegan2":  # modulate + execute, then demodulate together with the bias and activation
            styles = self.affine(cond)
            y = modulated_conv2d(x, weight, styles, demodulate=False, upsample=self.upsample)
            return self.finish(y, demodulation(weight, styles) if self.demodulate else None)
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        y = F.conv2d(self.condition_input(x, cond), weight, padding=_same_padding(weight, None))
        return self.finish(y)
