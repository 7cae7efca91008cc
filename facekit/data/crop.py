"""Face crops of real video: a temporally smoothed similarity alignment, and the lip-contour sketch.

Alignment. Per frame, a similarity transform (rotation + uniform scale + translation) maps the crop to the video
frame, fitted by least squares so that three reference points land on a fixed template in the crop: the two eye
centres (means of landmarks 36-41 and 42-47) and the mouth centre, taken as the midpoint of the mouth corners 48 and
54 (unlike the mean of all lip points it hardly moves when the jaw opens, so the crop does not pulse with speech).
The template puts the eyes on the line y = 0.40 S, 0.25 S apart, and the mouth at (0.5 S, 0.71 S) for a crop of side
S -- eyes in the upper half, mouth in the lower half, as in the synthetic corpus, so the generator's lower-half mask
covers the mouth. The transform's log-scale, angle and the source position of the crop centre are then smoothed over
time with a Savitzky-Golay filter of order 1 (a centred moving average that fits a line at the clip's ends), which
removes the landmark detector's frame-to-frame jitter while following real head motion.

Coordinates: points are (x, y) in pixels with pixel centres at i + 0.5 (the library's landmark convention). A
transform is stored as two complex numbers per frame, ``alpha`` and ``beta``, with ``z_video = alpha * z_crop + beta``
for ``z = x + iy``.
"""

from __future__ import annotations

import numpy as np

EYE_Y = 0.40  # eye line, fraction of the crop side
HALF_EYE_DISTANCE = 0.125  # eye centres at x = 0.5 -/+ this
MOUTH_Y = 0.71  # midpoint of the mouth corners
MOUTH_BOX = (0.56, 0.86, 0.25, 0.75)  # top, bottom, left, right (fractions of the side): the lips and teeth
SKETCH_SCALE = 0.7  # mouth-sketch pixels per eye distance, as a fraction of the sketch side

LEFT_EYE = slice(36, 42)  # the subject's right eye: on the left of the image
RIGHT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)


def reference_points(landmarks: np.ndarray) -> np.ndarray:
    """(..., 68, 2) landmarks -> (..., 3) complex: left eye centre, right eye centre, mouth-corner midpoint."""
    pts = np.stack(
        [
            landmarks[..., LEFT_EYE, :].mean(-2),
            landmarks[..., RIGHT_EYE, :].mean(-2),
            (landmarks[..., 48, :] + landmarks[..., 54, :]) / 2,
        ],
        axis=-2,
    )
    return pts[..., 0] + 1j * pts[..., 1]


def mouth_box(images):
    """The (..., H, W) images' box around the template's mouth (:data:`MOUTH_BOX`): where the lips and the teeth are
    in an aligned crop, tighter than the generator's lower half."""
    h, w = images.shape[-2:]
    top, bottom, left, right = MOUTH_BOX
    return images[..., round(top * h) : round(bottom * h), round(left * w) : round(right * w)]


def template(size: int) -> np.ndarray:
    """(3,) complex template positions of :func:`reference_points` in a crop of side ``size``."""
    left, right = 0.5 - HALF_EYE_DISTANCE, 0.5 + HALF_EYE_DISTANCE
    return size * np.array([left + 1j * EYE_Y, right + 1j * EYE_Y, 0.5 + 1j * MOUTH_Y])


def fit_similarity(landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares crop -> video similarity per frame: (T, 68, 2) landmarks -> (alpha (T,), beta (T,)) complex."""
    src = reference_points(landmarks)  # (T, 3)
    dst = template(size)[None]
    src_c, dst_c = src - src.mean(-1, keepdims=True), dst - dst.mean(-1, keepdims=True)
    alpha = (src_c * np.conj(dst_c)).sum(-1) / (np.abs(dst_c) ** 2).sum(-1)
    beta = src.mean(-1) - alpha * dst.mean(-1)
    return alpha, beta


def smooth_similarity(alpha: np.ndarray, beta: np.ndarray, size: int, window: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Smooth per-frame transforms over time (centred window of ``window`` frames, order-1 Savitzky-Golay)."""
    from scipy.signal import savgol_filter

    n = len(alpha)
    window = min(window, n if n % 2 else n - 1)
    if window < 3:
        return alpha, beta
    centre = alpha * (size / 2) * (1 + 1j) + beta  # video position of the crop centre
    log_scale, angle = np.log(np.abs(alpha)), np.unwrap(np.angle(alpha))
    smooth = [savgol_filter(v, window, 1, mode="interp") for v in (log_scale, angle, centre.real, centre.imag)]
    alpha = np.exp(smooth[0] + 1j * smooth[1])
    beta = smooth[2] + 1j * smooth[3] - alpha * (size / 2) * (1 + 1j)
    return alpha, beta


def to_crop(points: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """(T, K, 2) video points -> (T, K, 2) float32 crop points under the per-frame transforms."""
    z = (points[..., 0] + 1j * points[..., 1] - beta[:, None]) / alpha[:, None]
    return np.stack([z.real, z.imag], -1).astype(np.float32)


def warp_frames(frames: np.ndarray, alpha: np.ndarray, beta: np.ndarray, size: int) -> np.ndarray:
    """Crop uint8 RGB (T, H, W, 3) video frames -> uint8 (T, size, size, 3) with torch ``grid_sample``.

    Bilinear sampling; when the crop shrinks the face (|alpha| > 1) each crop pixel averages a ceil(|alpha|)^2 grid
    of samples, so small crops do not alias. Outside the video the border pixels are repeated.
    """
    import torch
    import torch.nn.functional as F

    t, h, w = frames.shape[:3]
    ss = int(np.clip(np.ceil(np.abs(alpha).max()), 1, 4))
    u = (np.arange(size * ss) + 0.5) / ss
    grid_crop = u[None, :] + 1j * u[:, None]  # (size*ss, size*ss): x along columns, y along rows
    z = alpha[:, None, None] * grid_crop[None] + beta[:, None, None]
    # only the part of the video the crops sample from is converted to float (the border stays the border)
    x0, x1 = (int(np.clip(f(z.real) + d, 0, w)) for f, d in ((np.min, -1), (np.max, 2)))
    y0, y1 = (int(np.clip(f(z.imag) + d, 0, h)) for f, d in ((np.min, -1), (np.max, 2)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        x0, x1, y0, y1 = 0, w, 0, h
    grid = np.stack([2 * (z.real - x0) / (x1 - x0) - 1, 2 * (z.imag - y0) / (y1 - y0) - 1], -1).astype(np.float32)
    out = np.empty((t, size, size, 3), np.uint8)
    for start in range(0, t, 16):  # batches keep the float copy of the video small
        chunk = torch.from_numpy(frames[start : start + 16, y0:y1, x0:x1]).permute(0, 3, 1, 2).float()
        crop = F.grid_sample(chunk, torch.from_numpy(grid[start : start + 16]), "bilinear", "border", False)
        if ss > 1:
            crop = F.avg_pool2d(crop, ss)
        out[start : start + 16] = crop.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
    return out


def _segment_distance(px: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points px (P,) complex to the segments a -> b (K,) complex -> (P,) minimum over segments."""
    ab = b - a
    t = np.clip(((px[:, None] - a[None]) * np.conj(ab[None])).real / np.maximum(np.abs(ab) ** 2, 1e-9), 0, 1)
    return np.abs(px[:, None] - (a[None] + t * ab[None])).min(-1)


def mouth_sketch(landmarks: np.ndarray, size: int, eye_distance: float, oversample: int = 4) -> np.ndarray:
    """Render the lip contours of crop landmarks (T, 68, 2) -> uint8 RGB (T, size, size, 3): shape, not pixels.

    White background; the lips (outer contour 48-59 minus the inner contour 60-67) filled light red, the inner mouth
    dark, both contours drawn as ~1 px anti-aliased lines. Each frame is centred on the mean of its outer lip points;
    ``eye_distance`` (crop pixels, one number per clip) sets the scale so the same mouth gives the same sketch.
    """
    from skimage.draw import polygon

    n = len(landmarks)
    scale = SKETCH_SCALE * size / eye_distance
    hi = size * oversample
    lips, inner_fill = np.array([0.93, 0.68, 0.66]), np.array([0.15, 0.05, 0.05])
    outer_line, inner_line = np.array([0.55, 0.05, 0.05]), np.array([0.25, 0.0, 0.0])
    centres = (np.arange(size) + 0.5)[None, :] + 1j * (np.arange(size) + 0.5)[:, None]
    out = np.empty((n, size, size, 3), np.uint8)
    for t in range(n):
        pts = (landmarks[t] - landmarks[t, OUTER_LIPS].mean(0)) * scale + size / 2
        outer, inner = pts[OUTER_LIPS], pts[INNER_LIPS]
        mask = np.zeros((2, hi, hi), np.float32)
        for k, poly in enumerate((outer, inner)):
            rr, cc = polygon(poly[:, 1] * oversample - 0.5, poly[:, 0] * oversample - 0.5, (hi, hi))
            mask[k, rr, cc] = 1
        cover = mask.reshape(2, size, oversample, size, oversample).mean((2, 4))
        img = np.ones((size, size, 3))
        img += cover[0, ..., None] * (lips - img)
        img += cover[1, ..., None] * (inner_fill - img)
        for poly, colour in ((outer, outer_line), (inner, inner_line)):
            z = poly[:, 0] + 1j * poly[:, 1]
            d = _segment_distance(centres.ravel(), z, np.roll(z, -1)).reshape(size, size)
            ink = np.clip(1.25 - d, 0, 1)[..., None]  # ~1.5 px wide, soft edge
            img += ink * (colour - img)
        out[t] = np.round(np.clip(img, 0, 1) * 255)
    return out
