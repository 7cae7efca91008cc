"""Paste generated face crops back into the full video frames, through a feathered mouth mask (no box, no seam).

The crop of ``facekit.data.crop`` maps crop points to video points by ``z_video = alpha * z_crop + beta`` (complex,
pixel centres at i + 0.5). Pasting inverts it: every video pixel near the mouth is mapped into the crop, the
generated crop is sampled there (bilinear), and the result is blended with the original pixel by a weight that is 1
over the mouth, jaw and chin and falls to 0 with a raised-cosine edge. The weight is an ellipse in crop coordinates
(fractions of the crop side, so one mask fits every crop size):

- centre (0.5, 0.76), semi-axes 0.27 (x) and 0.24 (y): from just below the crop's middle line (the generator changes
  only the lower half) to the chin, and over the cheeks beside the mouth corners;
- the outer ``FEATHER`` (35%) of each radius is the soft edge: weight ``0.5 - 0.5 cos(pi (1 - r) / FEATHER)`` for a
  normalised elliptic radius ``r`` in ``[1 - FEATHER, 1]``, 1 inside, 0 outside;
- zero above the crop's middle line and outside the crop.

Pixels whose weight is 0 are copied from the input frame unchanged (byte for byte).
"""

from __future__ import annotations

import numpy as np

MASK_CENTRE = (0.5, 0.76)  # (x, y), fractions of the crop side
MASK_RADII = (0.27, 0.24)
FEATHER = 0.35  # share of the radius over which the weight falls from 1 to 0


def blend_weight(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Blend weight in [0, 1] at crop points ``(x, y)`` given as fractions of the crop side (any equal shapes)."""
    r = np.hypot((x - MASK_CENTRE[0]) / MASK_RADII[0], (y - MASK_CENTRE[1]) / MASK_RADII[1])
    ramp = np.clip((1.0 - r) / FEATHER, 0.0, 1.0)
    weight = 0.5 - 0.5 * np.cos(np.pi * ramp)
    inside = (y >= 0.5) & (y <= 1.0) & (x >= 0.0) & (x <= 1.0)
    return np.where(inside, weight, 0.0).astype(np.float32)


def mouth_blend_mask(size: int) -> np.ndarray:
    """The blend weight at the pixel centres of a crop of side ``size`` -> float32 (size, size) in [0, 1]."""
    u = (np.arange(size) + 0.5) / size
    return blend_weight(u[None, :], u[:, None])


def _mask_box(alpha: np.ndarray, beta: np.ndarray, size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Video pixel box (x0, y0, x1, y1) holding the mask of every frame (the union), clipped to the frame."""
    cx, rx = MASK_CENTRE[0], MASK_RADII[0]  # the weight is 0 above the crop's middle line and below its bottom
    corners = size * np.array([cx - rx + 1j * 0.5, cx + rx + 1j * 0.5, cx - rx + 1j, cx + rx + 1j])
    z = alpha[:, None] * corners[None] + beta[:, None]
    x0, x1 = int(np.floor(z.real.min())) - 1, int(np.ceil(z.real.max())) + 1
    y0, y1 = int(np.floor(z.imag.min())) - 1, int(np.ceil(z.imag.max())) + 1
    return max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)


def frame_weights(
    alpha: np.ndarray, beta: np.ndarray, size: int, height: int, width: int
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Blend weights of every video frame inside the mask box -> (float32 (T, y1 - y0, x1 - x0), (x0, y0, x1, y1)).

    ``alpha``, ``beta``: (T,) complex crop -> video transforms of crops of side ``size``; weights are 0 outside the box.
    """
    x0, y0, x1, y1 = _mask_box(alpha, beta, size, height, width)
    z = (np.arange(x0, x1) + 0.5)[None, :] + 1j * (np.arange(y0, y1) + 0.5)[:, None]  # video pixel centres
    u = (z[None] - beta[:, None, None]) / alpha[:, None, None] / size  # crop points, fractions of the side
    return blend_weight(u.real, u.imag), (x0, y0, x1, y1)


def paste_back(frames: np.ndarray, crops, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Blend generated crops into their video frames -> a new uint8 (T, H, W, 3) array.

    ``frames``: uint8 RGB (T, H, W, 3) (a broadcast view of one image is fine); ``crops``: the generated crops,
    float (T, 3, S, S) in [0, 1] (torch tensor or numpy); ``alpha``, ``beta``: (T,) complex, the crop -> video
    transforms the crops were cut with. Outside the feathered mouth mask the frames are returned unchanged.
    """
    import torch
    import torch.nn.functional as F

    crops = torch.as_tensor(crops, dtype=torch.float32)
    t, height, width = frames.shape[:3]
    size = crops.shape[-1]
    if crops.shape[0] != t or len(alpha) != t or len(beta) != t:
        raise ValueError(f"paste_back: {t} frames but {crops.shape[0]} crops and {len(alpha)} transforms")
    out = np.array(frames, dtype=np.uint8, copy=True)
    weights, (x0, y0, x1, y1) = frame_weights(alpha, beta, size, height, width)
    if x1 <= x0 or y1 <= y0:
        return out  # the mouth lies outside the frame
    z = (np.arange(x0, x1) + 0.5)[None, :] + 1j * (np.arange(y0, y1) + 0.5)[:, None]
    u = (z[None] - beta[:, None, None]) / alpha[:, None, None]  # crop pixel coordinates
    grid = torch.from_numpy(np.stack([2 * u.real / size - 1, 2 * u.imag / size - 1], -1).astype(np.float32))
    sampled = F.grid_sample(crops * 255, grid, "bilinear", "border", align_corners=False)  # (T, 3, h, w)
    generated = sampled.permute(0, 2, 3, 1).numpy()
    region = out[:, y0:y1, x0:x1].astype(np.float32)
    w = weights[..., None]
    blended = np.round(region + w * (generated - region)).clip(0, 255).astype(np.uint8)
    out[:, y0:y1, x0:x1] = np.where(w > 0, blended, out[:, y0:y1, x0:x1])
    return out
