"""Metrics: image quality (SSIM, PSNR, LPIPS) and mouth landmark distance (LMD)
against ground truth, and lip sync (LSE-D, LSE-C, AV offset).

The sync metrics live in ``facekit.metrics.sync`` (facekit's expert) and ``facekit.metrics.syncnet_official`` (the
field's pretrained SyncNet, when a user supplies its weights); import them from there.
"""

from facekit.metrics.image import LPIPS, PSNR, SSIM, mouth_region, psnr, ssim, ssim_map
from facekit.metrics.landmarks import LMD, lmd
from facekit.metrics.lpips import (
    ChecksumError,
    LPIPSMetric,
    LPIPSWeightsError,
    MissingWeightsError,
    fetch_lpips_weights,
    lpips_distance,
)

__all__ = [
    "LMD",
    "LPIPS",
    "PSNR",
    "SSIM",
    "ChecksumError",
    "LPIPSMetric",
    "LPIPSWeightsError",
    "MissingWeightsError",
    "fetch_lpips_weights",
    "lmd",
    "lpips_distance",
    "mouth_region",
    "psnr",
    "ssim",
    "ssim_map",
]
