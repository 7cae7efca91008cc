"""Image-quality metrics of a generated frame against its ground truth: SSIM, PSNR, LPIPS, over the face or the mouth.

Images are float (N, C, H, W) RGB in [0, data_range] (the library's [0, 1] by default). Every setting that changes a
number is pinned to the field's definition (docs/METRICS.md):

- SSIM = scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=..., channel_axis=-1)``: Gaussian window sigma 1.5 truncated at 3.5 sigma (11 taps), K1 0.01, K2 0.03,
  population covariance, per channel; the per-image value is the mean of the SSIM map over channels and over pixels at
  least 5 (the window radius) from the border, as scikit-image crops. Batched and separable here (CPU and CUDA).
- PSNR = 10 log10(data_range^2 / MSE), MSE over one image's channels and pixels.
- LPIPS = the ``lpips`` package's alex v0.1 (facekit.metrics.lpips).

A dataset figure is the mean of the per-image values. The metric classes accumulate exactly that (``update`` per
batch, ``compute`` at the end), so batch-accumulated == one-shot; ``region="mouth"`` scores the lower half only.
:func:`clip_image_scores` is the one place a generated clip (or a baseline) is scored against its real clip: every
evaluation (``facekit eval`` in both modes, the demo) reports its figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from facekit.metrics.lpips import LPIPSMetric

SIGMA, TRUNCATE, K1, K2 = 1.5, 3.5, 0.01, 0.03
RADIUS = int(TRUNCATE * SIGMA + 0.5)  # 5, as scipy.ndimage.gaussian_filter -> an 11-tap window
REGIONS = ("face", "mouth")
PSNR_CAP = 100.0  # dB: an identical frame's PSNR (infinite) counts as this in a clip's mean
LPIPS_MIN_SIDE = 31  # AlexNet (LPIPS' backbone) needs images at least this many pixels high and wide
LPIPS_BATCH = 32


def gaussian_window(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The (2 * RADIUS + 1,) normalised Gaussian taps scipy.ndimage.gaussian_filter uses for sigma 1.5."""
    t = torch.arange(-RADIUS, RADIUS + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (t / SIGMA) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad the last two dims by ``pad`` as scipy.ndimage mode 'reflect' (d c b a | a b c d | d c b a), any size."""
    out = x
    for dim in (-2, -1):
        n = x.shape[dim]
        index = torch.arange(-pad, n + pad, device=x.device) % (2 * n)
        index = torch.where(index < n, index, 2 * n - 1 - index)
        out = out.index_select(dim, index)
    return out


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"expected two (N, C, H, W) batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    return x.to(dtype), y.to(dtype)


def _separable_taps(channels: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Depthwise conv weights (channels, 1, 11, 1) and (channels, 1, 1, 11) of the Gaussian window: rows, columns."""
    taps = gaussian_window(dtype, device)
    return taps.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), taps.view(1, 1, 1, -1).repeat(channels, 1, 1, 1)


def _ssim_valid(
    x: torch.Tensor, y: torch.Tensor, data_range: float, taps: tuple[torch.Tensor, torch.Tensor] | None = None
) -> torch.Tensor:
    """SSIM map (H - 10, W - 10, N, C) at the positions whose 11x11 window lies inside the images.

    With s = x + y, d = x - y, G the Gaussian filter, mu_s = G s, var_s = G s^2 - mu_s^2 (and likewise for d):
    2 mu_x mu_y = (mu_s^2 - mu_d^2) / 2, mu_x^2 + mu_y^2 = (mu_s^2 + mu_d^2) / 2, 2 cov_xy = (var_s - var_d) / 2 and
    var_x + var_y = (var_s + var_d) / 2, so with p = mu_s^2 - mu_d^2 and q = mu_s^2 + mu_d^2,
    SSIM = (p + 2 C1)(G s^2 - G d^2 - p + 2 C2) / ((q + 2 C1)(G s^2 + G d^2 - q + 2 C2)): four filtered maps instead
    of five, and closer to float64 in float32 (d is formed before squaring). ``taps``: ``_separable_taps`` for at
    least N * C channels (made here if None). Differentiable.
    """
    n, c, h, w = x.shape
    if min(h, w) < 2 * RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * RADIUS + 1}x{2 * RADIUS + 1}, got {h}x{w}")
    k = n * c
    rows, columns = taps if taps is not None else _separable_taps(k, x.dtype, x.device)
    # every (image, channel) plane becomes one channel of an (H, W, N * C) channels-last image: the depthwise convs
    # vectorise over those channels, and each of the four maps is one contiguous block (fast on CPU); the stack is
    # the one copy that reorders the NCHW inputs
    maps = _sum_difference_planes(x.permute(2, 3, 0, 1), y.permute(2, 3, 0, 1))  # (4, H, W, N, C)
    maps = maps.view(4, h, w, k).permute(0, 3, 1, 2)  # (4, K, H, W), channels-last
    maps = F.conv2d(F.conv2d(maps, rows[:k], groups=k), columns[:k], groups=k)  # separable: rows, then columns
    mu_s, mu_d, g_ss, g_dd = maps.permute(0, 2, 3, 1)  # four contiguous (H', W', K)
    c1, c2 = 2 * (K1 * data_range) ** 2, 2 * (K2 * data_range) ** 2
    # in place where autograd saves nothing that is overwritten: fewer passes over memory, the same values
    a, b = mu_s.square(), mu_d.square()
    p = a - b
    q = a.add_(b)
    numerator = (g_ss - g_dd).sub_(p).add_(c2).mul_(p.add_(c1))
    denominator = (g_ss + g_dd).sub_(q).add_(c2).mul_(q.add_(c1))
    return numerator.div_(denominator).view(h - 2 * RADIUS, w - 2 * RADIUS, n, c)


def _sum_difference_planes(xl: torch.Tensor, yl: torch.Tensor) -> torch.Tensor:
    """``stack([s, d, s^2, d^2])`` of s = x + y, d = x - y; without gradients written straight into one buffer (the
    stack's copy is a sixth of the SSIM's time on CPU; ``out=`` is not differentiable, so with gradients it stacks)."""
    if torch.is_grad_enabled() and (xl.requires_grad or yl.requires_grad):
        s, d = xl + yl, xl - yl
        return torch.stack([s, d, s * s, d * d])
    out = xl.new_empty(4, *xl.shape)
    torch.add(xl, yl, out=out[0])
    torch.sub(xl, yl, out=out[1])
    torch.mul(out[0], out[0], out=out[2])
    torch.mul(out[1], out[1], out=out[3])
    return out


def ssim_map(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Full (N, C, H, W) SSIM map with scipy 'reflect' borders: scikit-image's ``full=True`` map."""
    x, y = _check_pair(x, y)
    return _ssim_valid(reflect_pad(x, RADIUS), reflect_pad(y, RADIUS), data_range).permute(2, 3, 0, 1)


def _reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return values
    if reduction == "mean":
        return values.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """SSIM of float (N, C, H, W) images in [0, data_range], H, W >= 11 -> (N,) for "none", a scalar for "mean".

    Equals scikit-image's mean over the map cropped by the window radius. The cropped pixels are exactly those whose
    window never reaches the border, so no padding is needed for this number (``ssim_map`` has the padded border).
    """
    x, y = _check_pair(x, y)
    n, c, h, w = x.shape
    # on CPU, chunks of ~2^17 values keep the filtered maps in cache (2-3x faster than one large batch)
    step = n if x.device.type != "cpu" else max(1, 2**17 // (c * h * w))
    taps = _separable_taps(min(n, step) * c, x.dtype, x.device)
    values = []
    for i in range(0, n, step):
        ssim_valid = _ssim_valid(x[i : i + step], y[i : i + step], data_range, taps)  # (H', W', n, C)
        values.append(ssim_valid.flatten(0, 1).mean(0).mean(1))  # torch sums float32 pairwise: no float64 needed
    return _reduce(torch.cat(values), reduction)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0, reduction: str = "mean") -> torch.Tensor:
    """PSNR in dB of (N, C, H, W) images in [0, data_range] -> (N,) or the scalar mean; identical images give inf."""
    x, y = _check_pair(x, y)
    mse = (x - y).square().mean(dim=(1, 2, 3)).double()
    return _reduce((10 * torch.log10(data_range**2 / mse)).to(x.dtype), reduction)


def mouth_region(x: torch.Tensor) -> torch.Tensor:
    """The lower half of (..., H, W) face crops: rows H // 2 onwards, the region the generator fills."""
    return x[..., x.shape[-2] // 2 :, :]


def lpips_problem(image_size: int) -> str | None:
    """Why LPIPS cannot score crops of side ``image_size`` (their lower half is below AlexNet's minimum), or None."""
    if image_size // 2 < LPIPS_MIN_SIDE:
        return f"skipped: the mouth region ({image_size // 2} px high) is below AlexNet's {LPIPS_MIN_SIDE} px"
    return None


def scoring_lpips(image_size: int | None = None, cache_dir: str | Path | None = None) -> tuple[LPIPSMetric | None, str]:
    """(the LPIPS network, its description) for :func:`clip_image_scores` on crops of side ``image_size`` (None: not
    known yet, check each clip with :func:`lpips_problem`) -- or (None, the reason LPIPS is skipped)."""
    from facekit.metrics.lpips import lpips_or_reason

    problem = lpips_problem(image_size) if image_size is not None else None
    return (None, problem) if problem else lpips_or_reason(cache_dir)


@torch.no_grad()
def clip_image_scores(
    pred: torch.Tensor, target: torch.Tensor, skip: int | None = None, lpips_net: LPIPSMetric | None = None
) -> dict[str, float]:
    """A generated (or baseline) clip against the real one: ``{region}_l1``, ``_ssim``, ``_psnr`` and, with
    ``lpips_net``, ``_lpips`` for region "face" (the whole crop) and "mouth" (its lower half, what the generator
    paints), each the mean over frames of the per-frame value.

    pred, target: float (T, 3, S, S) in [0, 1]. Frame ``skip`` (the reference frame the generator was shown) is left
    out. Per-frame PSNR is capped at PSNR_CAP.
    """
    pred, target = _check_pair(pred, target)
    if skip is not None:
        keep = [i for i in range(pred.shape[0]) if i != skip]
        pred, target = pred[keep], target[keep]
    if pred.shape[0] == 0:
        raise ValueError("no frame to score (a clip of only the reference frame)")
    if lpips_net is not None and lpips_problem(pred.shape[-2]):
        raise ValueError(lpips_problem(pred.shape[-2]))
    scores = {}
    for region in REGIONS:
        p, t = (pred, target) if region == "face" else (mouth_region(pred), mouth_region(target))
        scores[f"{region}_l1"] = float((p - t).abs().mean())
        scores[f"{region}_ssim"] = float(ssim(p, t))
        scores[f"{region}_psnr"] = float(psnr(p, t, reduction="none").clamp(max=PSNR_CAP).mean())
        if lpips_net is not None:
            batches = [lpips_net(p[i : i + LPIPS_BATCH], t[i : i + LPIPS_BATCH]) for i in range(0, len(p), LPIPS_BATCH)]
            scores[f"{region}_lpips"] = float(torch.cat(batches).mean())
    return scores


@torch.no_grad()
def mouth_error_maps(videos: dict[str, torch.Tensor], target: torch.Tensor, skip: int | None = None) -> dict:
    """Where each video's mouth error is: ``{name: (l1_map, bias_map)}``, two (H - H // 2, W) maps of its lower half
    against ``target`` (all (T, 3, H, W)), frame ``skip`` left out as in :func:`clip_image_scores` (so ``l1_map``'s
    mean is its ``mouth_l1``). ``l1_map``: mean |error| over frames and channels; ``bias_map``: |mean signed error
    over frames|, averaged over channels -- the part of the error every frame shares (an offset in colour or shape),
    never above ``l1_map``."""
    keep = [i for i in range(target.shape[0]) if i != skip]
    real = mouth_region(target[keep])
    out = {}
    for name, video in videos.items():
        error = mouth_region(video[keep]) - real
        out[name] = (error.abs().mean(dim=(0, 1)), error.mean(dim=0).abs().mean(dim=0))
    return out


class _MeanOverImages:
    """update(pred, target) per batch, compute() -> the mean per-image value so far, reset()."""

    def __init__(self, region: str = "face"):
        if region not in REGIONS:
            raise ValueError(f"region must be one of {REGIONS}, got {region!r}")
        self.region = region
        self.reset()

    def per_image(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    @torch.no_grad()
    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """pred, target: (N, C, H, W) in [0, data_range]; generated frames and their ground truth."""
        if self.region == "mouth":
            pred, target = mouth_region(pred), mouth_region(target)
        values = self.per_image(pred, target)
        self.total += values.double().sum().item()
        self.count += values.numel()

    def compute(self) -> float:
        if not self.count:
            raise RuntimeError(f"{type(self).__name__}.compute() before any update()")
        return self.total / self.count


class SSIM(_MeanOverImages):
    def __init__(self, data_range: float = 1.0, region: str = "face"):
        self.data_range = data_range
        super().__init__(region)

    def per_image(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ssim(pred, target, self.data_range, reduction="none")


class PSNR(_MeanOverImages):
    def __init__(self, data_range: float = 1.0, region: str = "face"):
        self.data_range = data_range
        super().__init__(region)

    def per_image(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return psnr(pred, target, self.data_range, reduction="none")


class LPIPS(_MeanOverImages):
    """LPIPS-alex v0.1 (inputs RGB in [0, 1]); ``backbone`` says which weights the number was computed with."""

    def __init__(self, region: str = "face", cache_dir: str | Path | None = None, net: LPIPSMetric | None = None):
        from facekit.metrics.lpips import LPIPSMetric

        self.net = net if net is not None else LPIPSMetric(cache_dir)
        self.backbone = self.net.backbone
        super().__init__(region)

    def per_image(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.net.to(pred.device)(pred, target)
