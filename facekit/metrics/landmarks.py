"""Landmark distance (LMD): how far the generated mouth's shape is from the ground truth's, in pixels.

LMD of one frame = the mean, over the 20 mouth landmarks of the 68-point iBUG scheme (indices 48-67: outer lip
contour 48-59, inner 60-67), of the Euclidean distance between the generated frame's landmark and the ground truth's;
a clip's or a data set's figure is the mean over frames (docs/METRICS.md). Lower is better; 0 = the same mouth shape.

Detector: dlib's HOG frontal face detector (CNN/MMOD fallback) and its 68-point shape predictor
(``shape_predictor_68_face_landmarks.dat`` from the ``face_recognition_models`` package), exactly as
``facekit.data.face`` uses them -- not the detector of any given paper, so LMD figures are comparable only with LMD
figures from the same detector, crop and crop size.

Units. Landmarks are (x, y) pixels with pixel centres at i + 0.5. The benchmark (``facekit.benchmark``) measures them
in pixels of the aligned face crop of side S (96 by default): the smoothed similarity alignment of
``facekit.data.crop`` (eyes on y = 0.40 S, 0.25 S apart, mouth-corner midpoint at (0.5 S, 0.71 S)), fitted to the
ground truth's landmarks and applied to both videos, so one LMD pixel is 1/S of the crop side (1/24 of the eye
distance at S = 96). Frames where either landmark set is missing (NaN: no face found) are left out and counted.
"""

from __future__ import annotations

import numpy as np

MOUTH = slice(48, 68)  # 68-point indices of the 20 mouth landmarks
NUM_MOUTH = 20
JAW = [0, 1, 2, 3, 4, 12, 13, 14, 15, 16]  # the outer jaw line on both sides, below the ears: where a pasted lower face
# meets the head (the chin, 5-11, is painted and moves with the mouth)


def _points(points, which: slice | list[int]) -> np.ndarray:
    """(N, 68, 2) full landmarks (or, for the mouth, (N, 20, 2) mouth landmarks; numpy or torch) -> float64 subset."""
    x = np.asarray(points.detach().cpu() if hasattr(points, "detach") else points, dtype=np.float64)
    sizes = (68, NUM_MOUTH) if which == MOUTH else (68,)
    if x.ndim != 3 or x.shape[-1] != 2 or x.shape[1] not in sizes:
        shapes = " or ".join(f"(N, {n}, 2)" for n in sizes)
        raise ValueError(f"landmarks must be {shapes} (x, y) pixels, got {x.shape}")
    return x[:, which] if x.shape[1] == 68 else x


def lmd(pred, target, reduction: str = "mean", points: slice | list[int] = MOUTH) -> float | np.ndarray:
    """Landmark distance of (N, 68, 2) landmark arrays (pixels), generated vs ground truth, over ``points``: the 20
    mouth landmarks (LMD; (N, 20, 2) mouth-only arrays are accepted too) or e.g. :data:`JAW`.

    reduction "none" -> (N,) per-frame mean distance over the points (NaN where a frame has a NaN landmark);
    "mean" -> the mean over the frames that have both (NaN when none has).
    """
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    p, t = _points(pred, points), _points(target, points)
    if p.shape != t.shape:
        raise ValueError(f"pred and target landmarks differ in shape: {p.shape} vs {t.shape}")
    per_frame = np.linalg.norm(p - t, axis=-1).mean(-1)  # (N,), NaN propagates
    if reduction == "none":
        return per_frame
    valid = per_frame[np.isfinite(per_frame)]
    return float(valid.mean()) if valid.size else float("nan")


class LMD:
    """update(pred, target) per batch of landmark arrays, compute() -> the mean per-frame LMD so far, reset().

    ``missing`` counts frames left out because a landmark was NaN (no face found in one of the two frames).
    Batch-accumulated equals one-shot :func:`lmd`.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.count, self.missing = 0.0, 0, 0

    def update(self, pred, target) -> None:
        per_frame = lmd(pred, target, reduction="none")
        valid = np.isfinite(per_frame)
        self.total += float(per_frame[valid].sum())
        self.count += int(valid.sum())
        self.missing += int((~valid).sum())

    def compute(self) -> float:
        if not self.count:
            raise RuntimeError("LMD.compute() before any update() with a frame that has landmarks in both videos")
        return self.total / self.count


def detect_landmarks(frames: np.ndarray, every: int = 5) -> np.ndarray:
    """68 landmarks of every frame of uint8 RGB (T, H, W, 3) with facekit.data.face's dlib pipeline.

    Returns float32 (T, 68, 2) pixels of ``frames``, NaN where no face was found. Raises ``FaceError`` without the
    ``faces`` extra and ``NoFaceError`` when too many frames in a row have no face (see ``FaceLandmarker``).
    """
    from facekit.data.face import FaceLandmarker

    landmarks, _ = FaceLandmarker(every=every)(frames)
    return landmarks
