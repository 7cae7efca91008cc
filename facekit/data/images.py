"""The library's one image convention and its two conversions.

Video frames are decoded, stored and written as uint8 (..., H, W, 3) RGB; every model and metric takes float32
(..., 3, H, W) RGB in [0, 1]. :func:`to_images` and :func:`to_frames` convert between the two, and nothing else in
facekit divides or multiplies pixels by 255.
"""

from __future__ import annotations

import numpy as np
import torch


def to_images(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (..., H, W, 3) RGB frames (numpy, memory-mapped or torch) -> float32 (..., 3, H, W) in [0, 1].

    Converted in numpy: torch's intra-op thread pool makes this small op 100x slower while a training process is
    using every core."""
    x = frames.numpy(force=True) if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.dtype != np.uint8 or x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 (..., H, W, 3) RGB frames, got {x.dtype} {x.shape}")
    chw = np.moveaxis(x, -1, -3).astype(np.float32)
    chw *= np.float32(1 / 255)
    return torch.from_numpy(chw)


def to_frames(images: torch.Tensor | np.ndarray) -> np.ndarray:
    """float (..., 3, H, W) RGB in [0, 1] (clipped) -> uint8 (..., H, W, 3): ``round(255 x)``, the inverse of
    :func:`to_images` (a uint8 frame survives the round trip unchanged)."""
    x = torch.as_tensor(images).detach()
    if not x.is_floating_point() or x.ndim < 3 or x.shape[-3] != 3:
        raise ValueError(f"expected float (..., 3, H, W) RGB images in [0, 1], got {x.dtype} {tuple(x.shape)}")
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).movedim(-3, -1).cpu().numpy()
