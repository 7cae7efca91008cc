"""Paste generated face crops back into the full video frames, through a feathered mouth mask (no box, no seam).

The crop of ``facekit.data.crop`` maps crop points to video points by ``z_video = alpha * z_crop + beta`` (complex,
pixel centres at i + 0.5). Pasting inverts it: every video pixel near the lower face is mapped into the crop, the
generated crop is sampled there (bilinear), and the result is blended with the original pixel by a weight that is 1
over the lower face the generator painted -- mouth, cheeks, both jaw lines and the chin -- and falls to 0 with
raised-cosine edges. The weight is a box with soft edges in crop coordinates (fractions of the crop side, so one mask
fits every crop size): the product of one ramp per edge,

- top: 0 at the crop's middle line (the generator changes only the lower half), 1 from ``TOP`` (0.58) down;
- sides: 0 within ``SIDE[0]`` (0.06) of the left and right edges, 1 from ``SIDE[1]`` (0.18) inwards;
- bottom: 1 down to ``1 - BOTTOM`` (0.95), 0 at the crop's bottom edge,

each ramp ``0.5 - 0.5 cos(pi s)`` over its span ``s`` in [0, 1].

Why the whole lower face, not just the lips: the generator paints the jaw and the chin too, and they move with the
words. With a smaller mask the input face's own jaw stays -- still for an image, moving with other words for another
video -- and the mouth reads as out of sync. Measured on GRID (the first 30-min GRID generator, a still face with a
new sentence, the GRID expert; ``eval/results/grid_generate/results.json``): the mp4 scored LSE-C 0.137 with the
earlier mouth-and-chin ellipse (written at crf 18), 0.215 with this box (crf 12), of the model's crops' own 0.225
(``eval/sync_by_stage.py``).

Pixels whose weight is 0 are copied from the input frame unchanged (byte for byte).
"""

from __future__ import annotations

import numpy as np

TOP = 0.58  # weight 1 below this line (fraction of the crop side); 0 at the middle line 0.5
SIDE = (0.06, 0.18)  # weight 0 within SIDE[0] of the left/right edge, 1 from SIDE[1] inwards
BOTTOM = 0.06  # weight 1 down to 1 - BOTTOM, 0 at the bottom edge


def _ramp(v: np.ndarray, start: float, end: float) -> np.ndarray:
    """Raised cosine: 0 at ``v <= start``, 1 at ``v >= end``."""
    t = np.clip((v - start) / (end - start), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def blend_weight(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Blend weight in [0, 1] at crop points ``(x, y)`` given as fractions of the crop side (any equal shapes)."""
    weight = _ramp(x, *SIDE) * _ramp(1.0 - x, *SIDE) * _ramp(y, 0.5, TOP) * _ramp(1.0 - y, 0.0, BOTTOM)
    return weight.astype(np.float32)


def mouth_blend_mask(size: int) -> np.ndarray:
    """The blend weight at the pixel centres of a crop of side ``size`` -> float32 (size, size) in [0, 1]."""
    u = (np.arange(size) + 0.5) / size
    return blend_weight(u[None, :], u[:, None])


def _mask_box(alpha: np.ndarray, beta: np.ndarray, size: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Video pixel box (x0, y0, x1, y1) holding the mask of every frame (the union), clipped to the frame."""
    left, right = SIDE[0], 1.0 - SIDE[0]  # the weight is 0 above the crop's middle line and outside these
    corners = size * np.array([left + 0.5j, right + 0.5j, left + 1j, right + 1j])
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
