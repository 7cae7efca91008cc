"""Metrics: image quality (SSIM, PSNR, LPIPS) of generated frames against ground truth."""

from facekit.metrics.image import LPIPS, PSNR, SSIM, mouth_region, psnr, ssim, ssim_map
from facekit.metrics.lpips import (
    ChecksumError,
    LPIPSMetric,
    LPIPSWeightsError,
    MissingWeightsError,
    fetch_lpips_weights,
    lpips_distance,
)

__all__ = [
    "LPIPS",
    "PSNR",
    "SSIM",
    "ChecksumError",
    "LPIPSMetric",
    "LPIPSWeightsError",
    "MissingWeightsError",
    "fetch_lpips_weights",
    "lpips_distance",
    "mouth_region",
    "psnr",
    "ssim",
    "ssim_map",
]
