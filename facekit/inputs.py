"""The inputs of ``facekit generate`` besides speech: the face (an image or a video, found and aligned as ``facekit
prepare`` does) and the mouth-image modality (mouth images, or a driver video drawn as a lip sketch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.data.video import resize_frames

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class GenerateError(ValueError):
    """Input that ``facekit generate`` cannot use; the message names the file or flag and the fix."""


@dataclass
class Face:
    """Source frames of the face and their aligned crops."""

    frames: np.ndarray  # uint8 (F, H, W, 3): the image (F = 1) or the video's frames at 25 fps
    crops: np.ndarray  # uint8 (F, S, S, 3)
    alpha: np.ndarray | None  # (F,) complex crop -> video transforms (None: the frames are the crops)
    beta: np.ndarray | None
    kind: str  # image | video


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> uint8 RGB (H, W, 3); GenerateError naming the file when it cannot be read."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.array(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise GenerateError(f"cannot read the image {path} ({exc}); use a PNG or JPEG file") from exc


def read_frames(path: Path, fps: float, max_frames: int | None = None) -> tuple[np.ndarray, str]:
    """An image or a video file -> (uint8 (F, H, W, 3) frames at ``fps``, "image" | "video"); ``max_frames``: at most
    that many, and only that much of the video decoded."""
    if not path.is_file():
        raise GenerateError(f"{path}: no such file; check the path")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return read_image(path)[None], "image"
    from facekit.data.video import read_video, resample_fps

    frames, source_fps = read_video(path, None if max_frames is None else max_frames / fps)
    return resample_fps(frames, source_fps, fps)[:max_frames], "video"  # nearest frames, as facekit prepare does


def loop_indices(num_source: int, num_frames: int) -> np.ndarray:
    """Source frame of each output frame: forward, backward, forward, ... (a ping-pong loop), cut at ``num_frames``."""
    if num_source <= 1:
        return np.zeros(num_frames, np.int64)
    k = np.arange(num_frames) % (2 * (num_source - 1))
    return np.where(k < num_source, k, 2 * (num_source - 1) - k)


def align_face(frames: np.ndarray, size: int, path: str | Path, kind: str = "video", smooth_frames: int = 7) -> Face:
    """Find, align and crop the face of uint8 RGB frames (F, H, W, 3) as ``facekit prepare`` does -> a Face.

    One frame (an image): dlib's detectors in turn (HOG, upsampled HOG, CNN), 68 landmarks, the similarity fit. A
    video: ``FaceLandmarker`` (detection on every 5th frame), faceless frames at the start and end cut, shorter runs
    inside interpolated by ``prepare.fill_missing``, the fit smoothed over time. GenerateError naming ``path`` when
    there is no usable face.
    """
    from facekit.data import crop
    from facekit.data.face import FaceLandmarker, NoFaceError, detect_face, predict_landmarks
    from facekit.data.prepare import ClipSkipped, PrepareOptions, fill_missing

    hint = (
        "use a picture or video with a clear, frontal face, or pass --aligned (aligned=True) "
        f"if it already is an aligned face crop of {size}x{size}"
    )
    if len(frames) == 1:
        box = detect_face(frames[0])
        if box is None:
            raise GenerateError(f"no face found in {path} (dlib's HOG and CNN detectors); {hint}")
        landmarks = predict_landmarks(frames[0], box)[None]
        alpha, beta = crop.fit_similarity(landmarks, size)
    else:
        options = PrepareOptions(image_size=size, smooth_frames=smooth_frames)
        try:
            landmarks, found = FaceLandmarker(options.detect_every, max_gap=options.max_gap)(frames)
            if found.any():  # faceless frames at the start or end (at most max_edge): cut, as prepare does
                keep = slice(int(np.argmax(found)), len(found) - int(np.argmax(found[::-1])))
                frames, landmarks, found = frames[keep], landmarks[keep], found[keep]
            fill_missing(landmarks, found, options.max_gap, options.max_missing)
        except (NoFaceError, ClipSkipped) as exc:
            raise GenerateError(f"{path}: {exc}; {hint}") from exc
        alpha, beta = crop.smooth_similarity(*crop.fit_similarity(landmarks, size), size, smooth_frames)
    return Face(frames, crop.warp_frames(frames, alpha, beta, size), alpha, beta, kind)


def load_face(
    path: str | Path, size: int, aligned: bool = False, fps: float = 25.0, max_frames: int | None = None
) -> Face:
    """The face input (image or video) -> Face with crops of side ``size``; ``aligned``: the input is the crops.

    ``max_frames``: use only the first frames of a video (those a ping-pong loop of that length reaches)."""
    path = Path(path)
    frames, kind = read_frames(path, fps, max_frames)
    if not aligned:
        return align_face(frames, size, path, kind)
    if frames.shape[1:3] != (size, size):
        h, w = frames.shape[1:3]
        raise GenerateError(
            f"{path} is {w}x{h} but the checkpoint's model makes {size}x{size} crops (data.image_size={size}): "
            f"with --aligned the face must be an aligned crop of exactly {size}x{size}; resize it, or drop --aligned "
            "to find and align the face"
        )
    return Face(frames, frames, None, None, kind)


def load_mouth(path: str | Path, size: int, fps: float = 25.0) -> tuple[np.ndarray, str]:
    """The mouth-image modality -> (uint8 (T, size, size, 3), how it was made).

    ``path``: a folder of images (sorted by name), a ``.npy`` of uint8 (T, M, M, 3) mouth images, or a driver video
    whose face is found and aligned and whose lips are drawn as ``facekit prepare`` draws them (a lip sketch).
    """
    from facekit.data.prepare import ClipSkipped, PrepareOptions, prepare_clip

    path = Path(path)
    if path.is_dir():
        files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise GenerateError(f"{path}: a folder without images; give mouth images (png/jpg) or a driver video")
        return resize_frames(np.stack([resize_frames(read_image(f)[None], size)[0] for f in files]), size), "images"
    if path.suffix == ".npy":
        try:
            images = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise GenerateError(f"cannot read {path} ({exc}); save mouth images as uint8 (T, M, M, 3)") from exc
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise GenerateError(f"{path}: {images.dtype} {images.shape}; mouth images must be uint8 (T, M, M, 3)")
        return resize_frames(images, size), "images"
    frames, kind = read_frames(path, fps)
    if kind == "image":
        return resize_frames(frames, size), "images"
    options = PrepareOptions(image_size=2 * size)
    try:
        clip = prepare_clip(frames, fps, np.zeros(1, np.float32), "driver", "driver", options=options)
    except ClipSkipped as exc:
        raise GenerateError(f"driver video {path}: {exc}; use a video with the speaker's face in every frame") from exc
    return clip.mouth, "lip sketch of a driver video"
