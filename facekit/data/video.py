"""Reading and writing video with PyAV (its wheels bundle FFmpeg with libx264 and AAC; no system ffmpeg needed), and
the two frame conversions every reader of a video needs: to another frame rate, to another size."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np


class VideoError(ValueError):
    """A video that cannot be read or written; the message names the file."""


def _even_frames(frames: np.ndarray, path: Path, scale: int) -> np.ndarray:
    """Check uint8 (T, H, W, 3), enlarge by ``scale``, pad to even sides (yuv420p needs them)."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        got = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise VideoError(f"{path}: frames must be uint8 (T, H, W, 3), got {got}")
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return frames


def write_video(
    path: str | Path,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float = 25.0,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    scale: int = 1,
    crf: int = 18,
) -> Path:
    """Write uint8 RGB ``frames`` (T, H, W, 3) as an H.264 mp4, with mono float ``audio`` (N,) in [-1, 1] as AAC.

    ``frames`` may also be an iterable of such arrays (chunks of one video, all the same size), encoded as they come,
    so a long video never has to be in memory at once. ``scale`` enlarges each pixel to a ``scale`` x ``scale`` block
    (nearest neighbour) so small crops are watchable. ``crf``: x264's constant rate factor (lower = closer to the
    frames, larger file; 18 is visually lossless). The file appears only when complete (written beside it, then
    renamed); on an error nothing is left behind.
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    try:
        with av.open(str(tmp), "w") as container:
            vstream = astream = None
            for chunk in chunks:
                chunk = _even_frames(chunk, path, scale)
                if vstream is None:
                    vstream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
                    vstream.width, vstream.height = chunk.shape[2], chunk.shape[1]
                    vstream.pix_fmt = "yuv420p"
                    vstream.options = {"crf": str(crf), "preset": "veryfast"}
                    if audio is not None:
                        astream = container.add_stream("aac", rate=sample_rate)
                        astream.layout = "mono"
                elif chunk.shape[1:3] != (vstream.height, vstream.width):
                    size = f"{chunk.shape[2]}x{chunk.shape[1]}, the video {vstream.width}x{vstream.height}"
                    raise VideoError(f"{path}: a chunk of frames is {size}; every chunk must have the same size")
                for frame in chunk:
                    image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                    for packet in vstream.encode(image):
                        container.mux(packet)
            if vstream is None:
                raise VideoError(f"{path}: no frames to write")
            for packet in vstream.encode():
                container.mux(packet)
            if astream is not None:
                samples = np.clip(np.asarray(audio, np.float32), -1, 1)[None, :]
                aframe = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
                aframe.sample_rate = sample_rate
                # an explicit pts lets the encoder mark its 1024 priming samples (negative pts -> an mp4 edit list),
                # so readers drop them; without it the audio came back ~1.6 video frames late
                aframe.pts = 0
                aframe.time_base = Fraction(1, sample_rate)
                for packet in astream.encode(aframe):
                    container.mux(packet)
                for packet in astream.encode():
                    container.mux(packet)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return path


def read_video(path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, float]:
    """Decode a video -> (uint8 (T, H, W, 3) RGB, frames per second).

    ``max_seconds``: stop decoding once the frames cover that long (one frame more, for resampling): only the start
    of a long video is then ever in memory."""
    import av

    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise VideoError(f"{path}: a symbolic link to {os.readlink(path)}, which does not exist; fix or remove it")
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            limit = math.inf if max_seconds is None else math.ceil(max_seconds * fps) + 1
            frames = []
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
                if len(frames) >= limit:
                    break
    except av.FFmpegError as exc:  # its own error text: str(exc) may quote FFmpeg's last logged error of another file
        raise VideoError(f"{path}: cannot decode video ({exc.strerror}); is the file complete?") from exc
    if not frames:
        raise VideoError(f"{path}: no frames could be decoded; the file is empty or truncated")
    return np.stack(frames), fps


def resample_fps(frames: np.ndarray, source_fps: float, fps: float = 25.0) -> np.ndarray:
    """Frames at ``source_fps`` -> the nearest frame at each time of ``fps`` (no blending; unchanged when equal).

    ``floor(len * fps / source_fps)`` frames, at least one."""
    if abs(source_fps - fps) < 0.01:
        return frames
    n = max(1, int(len(frames) * fps / source_fps))
    return frames[np.minimum(np.round(np.arange(n) * source_fps / fps).astype(int), len(frames) - 1)]


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (T, H, W, 3) -> uint8 (T, size, size, 3), bilinear with antialiasing (unchanged when already that size)."""
    import torch
    import torch.nn.functional as F

    if frames.shape[1:3] == (size, size):
        return frames
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).byte().permute(0, 2, 3, 1).numpy()
