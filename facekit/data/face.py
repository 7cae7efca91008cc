"""Faces in real video: dlib's face detector and its 68-point landmark predictor, offline (the ``faces`` extra).

Install with ``pip install -e ".[faces]"`` (``dlib-bin``, a prebuilt dlib wheel, and ``face_recognition_models``,
which ships the model files; it imports ``pkg_resources`` and so needs ``setuptools<81`` beside it). dlib is imported
lazily: nothing here is needed unless real video is prepared.

Licence note: the 68-point predictor (``shape_predictor_68_face_landmarks.dat``) was trained on the iBUG 300-W data
set, whose licence excludes commercial use; landmarks made with it inherit that restriction.

Detection order for one frame (dlib's HOG detector misses some faces that the others find; the frame must be RGB,
not grey): HOG at upsample 0 (~8 ms for 360x288), HOG at upsample 1 (~40 ms), then the CNN (MMOD) detector
(~0.8 s on CPU); "no face" only when all three fail. To stay near 1 s per 75-frame clip, :class:`FaceLandmarker`
detects only on every ``every``-th frame and interpolates the box between two detections; a frame whose face region
changed much from the last detection (a cut, an occluded or blank frame) and every frame next to a key frame without a
face is detected on its own. The 68 landmarks are then predicted on every frame inside its box.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

NUM_LANDMARKS = 68
EXTRA_HINT = 'pip install -e ".[faces]"  (dlib-bin, face_recognition_models, setuptools<81)'


class FaceError(RuntimeError):
    """Face detection is unavailable: the optional dlib extra is missing."""


class NoFaceError(ValueError):
    """A clip with too many frames in a row without a face (the message names the frames); ``anywhere``: the video
    shows no face at all."""

    def __init__(self, message: str, anywhere: bool = False):
        super().__init__(message)
        self.anywhere = anywhere


@functools.lru_cache(maxsize=1)
def _models():
    """(HOG detector, CNN detector, 68-point predictor), loaded once per process."""
    try:
        import dlib
    except ImportError as exc:
        raise FaceError(f"face detection needs dlib, which is not installed: {EXTRA_HINT}") from exc
    try:
        with warnings.catch_warnings():  # face_recognition_models imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import face_recognition_models as frm
    except ImportError as exc:
        raise FaceError(f"face landmarks need face_recognition_models (and setuptools<81): {EXTRA_HINT}") from exc
    hog = dlib.get_frontal_face_detector()
    cnn = dlib.cnn_face_detection_model_v1(frm.cnn_face_detector_model_location())
    predictor = dlib.shape_predictor(frm.pose_predictor_model_location())
    return hog, cnn, predictor


def available() -> bool:
    """True when dlib and face_recognition_models import (cheap: the models are not loaded)."""
    try:
        import dlib  # noqa: F401

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition_models  # noqa: F401
    except ImportError:
        return False
    return True


Box = tuple[float, float, float, float]  # left, top, right, bottom (dlib pixel indices)


def detect_face(frame: np.ndarray, use_cnn: bool = True) -> Box | None:
    """The largest face of one uint8 RGB frame (H, W, 3) -> box, or None when every detector fails."""
    hog, cnn, _ = _models()
    frame = np.ascontiguousarray(frame)
    for upsample in (0, 1):
        rects = hog(frame, upsample)
        if len(rects):
            break
    else:
        rects = [d.rect for d in cnn(frame, 0)] if use_cnn else []
    if not len(rects):
        return None
    r = max(rects, key=lambda r: r.width() * r.height())
    return (float(r.left()), float(r.top()), float(r.right()), float(r.bottom()))


def predict_landmarks(frame: np.ndarray, box: Box) -> np.ndarray:
    """68 iBUG landmarks of the face in ``box`` -> float32 (68, 2), (x, y) with pixel centres at i + 0.5."""
    import dlib

    _, _, predictor = _models()
    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = predictor(np.ascontiguousarray(frame), rect)
    return np.array([(p.x + 0.5, p.y + 0.5) for p in shape.parts()], np.float32)


def _patch(frame: np.ndarray, box: Box) -> np.ndarray:
    """A coarse grey thumbnail of the box region, for change detection."""
    h, w = frame.shape[:2]
    l, t, r, b = (int(round(v)) for v in box)
    l, t, r, b = max(l, 0), max(t, 0), min(r, w), min(b, h)
    if r - l < 8 or b - t < 8:
        return np.zeros((1,), np.float32)
    step = max(1, (r - l) // 24)
    return frame[t:b:step, l:r:step].mean(axis=-1, dtype=np.float32)


class FaceLandmarker:
    """Landmarks of every frame of a clip, with detection on every ``every``-th frame.

    ``change_threshold`` is the mean absolute grey-level change (0..255) of a coarse face-region thumbnail, relative to
    the nearest earlier detection, above which an in-between frame is detected on its own. ``max_gap`` frames in a row
    without a face can still be interpolated by the caller; once key frames show a longer run, detection stops early.
    """

    def __init__(
        self, every: int = 5, change_threshold: float = 25.0, use_cnn: bool = True, max_gap: int = 5, max_edge: int = 15
    ):
        _models()  # fail early, with the install hint, when dlib is missing
        self.every = max(1, every)
        self.change_threshold = change_threshold
        self.use_cnn = use_cnn
        self.max_gap = max_gap
        self.max_edge = max_edge  # a faceless run at the start or end may be this long (the caller trims it)

    @staticmethod
    def _hog_face(frame: np.ndarray) -> bool:
        """A face by the fast detectors alone (HOG; no CNN): enough to tell a faceless video from a lost face."""
        return detect_face(frame, use_cnn=False) is not None

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 RGB (T, H, W, 3) -> (landmarks float32 (T, 68, 2), NaN where no face; found bool (T,)).

        Raises NoFaceError as soon as key frames alone show more than ``max_gap`` frames in a row without a face (the
        clip cannot be used, and detecting on every frame of a long faceless run with the CNN would take seconds);
        when that run starts the video, the remaining key frames are checked with HOG alone to say whether the video
        shows a face at all (``NoFaceError.anywhere``).
        """
        n = len(frames)
        boxes: list[Box | None] = [None] * n
        checked = np.zeros(n, bool)

        def detect(t: int) -> Box | None:
            if not checked[t]:
                boxes[t], checked[t] = detect_face(frames[t], self.use_cnn), True
            return boxes[t]

        keys = sorted(set(range(0, n, self.every)) | {n - 1})
        first_missing = None  # first key frame of the current run of key frames without a face
        for k in keys:
            if detect(k) is not None:
                first_missing = None
                continue
            first_missing = k if first_missing is None else first_missing
            # a leading run may be trimmed (max_edge); a later one interpolated (max_gap) or, if it reaches the end,
            # trimmed -- the caller decides exactly; here we only stop detecting once no rule can save the clip
            allowed = self.max_edge if first_missing == 0 else max(self.max_gap, self.max_edge)
            if k - first_missing + 1 > allowed:
                if first_missing == 0 and not any(self._hog_face(frames[j]) for j in keys if j > k):
                    raise NoFaceError(
                        f"no face anywhere in the video (every {self.every}th of its {n} frames checked)", True
                    )
                raise NoFaceError(
                    f"no face in frames {first_missing}-{k} ({k - first_missing + 1} or more in a row; at most "
                    f"{self.max_gap} can be interpolated, {self.max_edge} trimmed at the start or end)"
                )
        for a, b in zip(keys[:-1], keys[1:], strict=True):
            if boxes[a] is None or boxes[b] is None:  # find the exact extent of the faceless run
                for t in range(a + 1, b):
                    detect(t)
        # in-between frames: interpolate the box, unless the face region changed a lot since the last key frame
        found = [t for t in range(n) if boxes[t] is not None]
        for t in range(n):
            if checked[t]:
                continue
            prev = max((k for k in found if k < t), default=None)
            nxt = min((k for k in found if k > t), default=None)
            if prev is None or nxt is None:
                detect(t)
                continue
            w = (t - prev) / (nxt - prev)
            box = tuple((1 - w) * p + w * q for p, q in zip(boxes[prev], boxes[nxt], strict=True))
            before, now = _patch(frames[prev], box), _patch(frames[t], box)
            if before.shape != now.shape or np.abs(before - now).mean() > self.change_threshold:
                detect(t)
            else:
                boxes[t] = box
        landmarks = np.full((n, NUM_LANDMARKS, 2), np.nan, np.float32)
        for t, box in enumerate(boxes):
            if box is not None:
                landmarks[t] = predict_landmarks(frames[t], box)
        return landmarks, np.array([b is not None for b in boxes])
