"""Lip sync by the SyncNet protocol: LSE-D, LSE-C and the AV offset, for any network embedding video and audio windows.

For start frames t = 0 .. T-1 a network gives a video embedding v_t (5 frames t .. t+4) and an audio embedding a_t
(the matching 0.2 s of audio). For every offset k in -K .. +K (K = ``max_offset``, 15 in the field)

    d_t(k) = || v_t - a_{t+k} ||      with a_j = 0 (a zero vector) for j < 0 or j >= T,
    mdist(k) = mean_t d_t(k),   LSE-D = min_k mdist(k),   LSE-C = median_k mdist(k) - LSE-D,
    AV offset = argmin_k mdist(k).

Zero padding: exactly as joonson/syncnet_python's ``calc_pdist`` (``F.pad(audio_emb, (0, 0, K, K))``), the *embedding*
sequence is padded with K zero vectors at each end, so a padded position contributes ||v_t|| (1 for the facekit
expert's unit embeddings). Distances are exact Euclidean norms; syncnet_python's ``pairwise_distance`` adds eps=1e-6 to
the difference, which moves its figures by less than 1e-4.

**Offset sign.** Positive = audio delayed (lagging): if the audio content of video frame t sits at audio window t + k,
then v_t matches a_{t+k} and the reported ``offset`` is +k. syncnet_python prints ``vshift - argmin``, the negation
(``SyncResult.syncnet_python_offset``); LSE-D and LSE-C do not depend on the sign.

Numbers are comparable only under the same embedding network: :func:`evaluate_sync` stamps the facekit expert's
checkpoint id into the result. ``facekit.metrics.syncnet_official`` runs the field's pretrained SyncNet instead.

**Is the network fit to judge this data?** A real video is in sync, so a network that can judge it finds it at
offset 0 with a clear dip. :func:`sync_problems` names what is wrong with a ground truth's curve: its best offset is
not 0; it is at the *edge* of the search range (|offset| = K: the curve has no minimum inside the range); or the
curve is *flat* (LSE-C < FLAT_DIP x the median of mdist: the minimum lies less than 10 % below the typical distance,
so where it falls is noise). :class:`SyncTrust` turns the per-clip verdicts into the summary line and, when the
network fails on most clips, the warning of what its figures are worth.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from facekit.checkpoints import checkpoint_config, checkpoint_file, load_checkpoint, load_expert
from facekit.data.audio import FPS, SAMPLE_RATE, load_audio, mel_windows, melspectrogram, pcm_to_float
from facekit.data.images import to_images
from facekit.models.sync_expert import SyncExpert, lower_half

WINDOW_FRAMES = 5  # video frames per window: 0.2 s at 25 fps
MAX_OFFSET = 15  # the field's offset search, -15 .. +15 frames
FLAT_DIP = 0.1  # a curve whose minimum lies less than this fraction below its median is flat
UNFIT_SHARE = 0.5  # a network that misses more than this share of real videos' sync says nothing about the data


@dataclass
class SyncResult:
    """The SyncNet-protocol figures of one video (see the module docstring for definitions and the offset sign)."""

    offsets: Tensor  # (2K+1,) int64, -K .. +K
    mdist: Tensor  # (2K+1,) mean distance per offset
    lse_d: float  # min mdist, lower is better
    lse_c: float  # median mdist - min mdist, higher is better
    offset: int  # argmin_k mdist(k), frames; + = audio lags video
    confidence_per_frame: Tensor  # (T,) median_k d_t(k) - min_k d_t(k)
    syncnet_framewise_conf: Tensor  # (T,) syncnet_python's: medfilt9(median mdist - d_t(offset))
    num_windows: int  # T
    expert_id: str | None = None  # the embedding network's checkpoint id (None when not from a file)

    @property
    def syncnet_python_offset(self) -> int:
        """The offset with syncnet_python's sign (it prints vshift - argmin, i.e. + = audio leads)."""
        return -self.offset

    def figures(self, prefix: str = "") -> dict:
        """The per-clip figures of a report: LSE-D, LSE-C and the offset, keys prefixed (e.g. "official_")."""
        return {f"{prefix}lse_d": self.lse_d, f"{prefix}lse_c": self.lse_c, f"{prefix}offset": self.offset}

    def to_dict(self) -> dict:
        return {
            "lse_d": self.lse_d,
            "lse_c": self.lse_c,
            "offset": self.offset,
            "num_windows": self.num_windows,
            "expert_id": self.expert_id,
            "mdist": [round(float(x), 6) for x in self.mdist],
            "offsets": self.offsets.tolist(),
        }


def sync_problems(result: SyncResult) -> dict[str, str]:
    """What is wrong with the curve of a video known to be in sync (a ground truth): {} when the network finds it in
    sync, else some of {"offset": ..., "edge": ..., "flat": ...} with a sentence each (module docstring)."""
    problems = {}
    max_offset = int(result.offsets.abs().max())
    if result.offset != 0:
        problems["offset"] = f"best offset {result.offset:+d}, not 0"
    if max_offset > 0 and abs(result.offset) == max_offset:
        problems["edge"] = f"the minimum lies at the edge of the -{max_offset}..{max_offset} search"
    median = float(result.mdist.median())
    if result.lse_c < FLAT_DIP * median:
        problems["flat"] = f"flat curve: LSE-C {result.lse_c:.3f} < {FLAT_DIP:g} x median distance {median:.3f}"
    return problems


class SyncTrust:
    """Whether each network finds each real video in sync: flags per clip, a count and a warning for the summary."""

    def __init__(self) -> None:
        self.checks: dict[str, tuple[str, list[list[str]]]] = {}  # prefix -> (network, problem names per clip)

    def check(self, result: SyncResult, network: str, figures: dict, warnings: list[str], prefix: str = "") -> None:
        """Judge a real video's ``result``: ``figures[prefix + "in_sync"]``, and a warning naming what is wrong."""
        problems = sync_problems(result)
        figures[f"{prefix}in_sync"] = not problems
        if problems:
            warnings.append(f"{network} does not find the real video in sync: {'; '.join(problems.values())}")
        self.checks.setdefault(prefix, (network, []))[1].append(list(problems))

    def summarise(self, summary: dict, warnings: list[str]) -> None:
        """Add ``summary["ground_truth_<prefix>in_sync"]`` (how many) per network; a warning in ``warnings`` for a
        network that misses more than UNFIT_SHARE of the real videos."""
        for prefix, (network, checks) in self.checks.items():
            bad = [c for c in checks if c]
            kinds = [k for k in ("offset", "edge", "flat") if any(k in c for c in bad)]
            counts = ", ".join(f"{k} {sum(k in c for c in bad)}" for k in kinds)
            line = f"{len(checks) - len(bad)} of {len(checks)} real videos found in sync by {network}"
            summary[f"ground_truth_{prefix}in_sync"] = line + (f"; {len(bad)} not ({counts})" if bad else "")
            if len(bad) > UNFIT_SHARE * len(checks):
                warnings.append(f"{network} does not find the real videos in sync in {len(bad)} of {len(checks)} "
                                f"clips ({counts}): its LSE-D, LSE-C and offsets on this data say nothing about lip "
                                "sync (was it trained on other speakers or other data?); score with an expert "
                                "trained on these speakers, or the official SyncNet (--syncnet)")  # fmt: skip


def sync_distances(video_emb: Tensor, audio_emb: Tensor, max_offset: int = MAX_OFFSET) -> Tensor:
    """d_t(k) = ||v_t - a_{t+k}|| for k = -max_offset .. +max_offset, audio embeddings zero-padded at both ends.

    video_emb, audio_emb: (T, E), row t the window starting at frame t. Returns (2*max_offset+1, T), row i for
    k = i - max_offset. One (T, E) difference per offset, so memory stays O(T E) for long videos.
    """
    if video_emb.ndim != 2 or video_emb.shape != audio_emb.shape:
        raise ValueError(f"video_emb and audio_emb must both be (T, E), got {tuple(video_emb.shape)} and "
                         f"{tuple(audio_emb.shape)}")  # fmt: skip
    if video_emb.shape[0] == 0:
        raise ValueError("no windows to score: the clip needs at least 5 frames (one 0.2 s window)")
    if max_offset < 0:
        raise ValueError(f"max_offset must be >= 0, got {max_offset}")
    num = video_emb.shape[0]
    padded = F.pad(audio_emb, (0, 0, max_offset, max_offset))  # (T + 2K, E)
    return torch.stack([torch.linalg.vector_norm(video_emb - padded[i : i + num], dim=1)
                        for i in range(2 * max_offset + 1)])  # fmt: skip


def sync_scores(video_emb: Tensor, audio_emb: Tensor, max_offset: int = MAX_OFFSET) -> SyncResult:
    """LSE-D, LSE-C, the AV offset and per-frame confidences of (T, E) video and audio embeddings."""
    from scipy.signal import medfilt

    dists = sync_distances(video_emb, audio_emb, max_offset)  # (2K+1, T)
    offsets = torch.arange(-max_offset, max_offset + 1)
    mdist = dists.mean(dim=1)
    min_value, min_index = mdist.min(dim=0)  # first index on ties
    median = mdist.median()  # 2K+1 values: the middle one
    per_frame = dists.median(dim=0).values - dists.min(dim=0).values
    with warnings.catch_warnings():  # clips under 9 windows: medfilt zero-pads, as in syncnet_python
        warnings.filterwarnings("ignore", message="kernel_size exceeds")
        framewise = medfilt((median - dists[min_index]).double().numpy(), kernel_size=9)
    return SyncResult(
        offsets=offsets,
        mdist=mdist,
        lse_d=float(min_value),
        lse_c=float(median - min_value),
        offset=int(offsets[min_index]),
        confidence_per_frame=per_frame,
        syncnet_framewise_conf=torch.from_numpy(framewise),
        num_windows=dists.shape[1],
    )


# ---------------------------------------------------------------------------------------------------- facekit expert


def checkpoint_id(path: str | Path) -> str:
    """First 12 hex digits of the sha256 of the whole file (a shipped model's name: of its file)."""
    digest = hashlib.sha256()
    with open(checkpoint_file(path), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


class SyncEvaluator:
    """A frozen facekit sync expert, loaded once, that scores many clips by the SyncNet protocol.

    ``expert``: a checkpoint path (the expert's training image size, fps and checkpoint id are read from it), or a
    ready :class:`SyncExpert` (then ``image_size`` is optional and ``expert_id`` is None).
    """

    def __init__(
        self,
        expert: str | Path | SyncExpert,
        device: torch.device | str = "cpu",
        image_size: int | None = None,
        max_offset: int = MAX_OFFSET,
    ) -> None:
        self.max_offset = max_offset
        self.image_size, self.fps, self.expert_id, self.path = image_size, float(FPS), None, None
        if isinstance(expert, SyncExpert):
            self.model = expert.eval().requires_grad_(False)
        else:
            for _ in range(3):  # a training run may replace the file meanwhile: the id must be of the bytes loaded
                expert_id = checkpoint_id(expert)
                cfg = checkpoint_config(load_checkpoint(expert, "expert"), expert)
                self.model = load_expert(expert, device)
                if checkpoint_id(expert) == expert_id:
                    break
            self.image_size, self.fps = image_size or cfg.data.image_size, cfg.data.fps
            self.expert_id, self.path = expert_id, str(expert)
        if self.model.face[0][0].in_channels != 3 * WINDOW_FRAMES:
            raise ValueError(f"{expert}: the expert takes {self.model.face[0][0].in_channels // 3} frames per window; "
                             f"the SyncNet protocol needs {WINDOW_FRAMES}")  # fmt: skip

    def embeddings(
        self, frames: np.ndarray | Tensor, mel: np.ndarray, fps: float | None = None
    ) -> tuple[Tensor, Tensor]:
        """(video_emb, audio_emb), each (T-4, E): :func:`facekit_embeddings` at the expert's image size."""
        return facekit_embeddings(self.model, frames, mel, fps or self.fps, self.image_size)

    def evaluate(
        self,
        frames: np.ndarray | Tensor | str | Path,
        wav_or_mel: np.ndarray | str | Path | None = None,
        fps: float | None = None,
    ) -> SyncResult:
        """Score one clip; see :func:`evaluate_sync` for the accepted inputs (fps defaults to the expert's)."""
        if isinstance(frames, str | Path):
            from facekit.data.video import read_video

            path = frames
            frames, fps = read_video(path)
            wav_or_mel = path if wav_or_mel is None else wav_or_mel
        if wav_or_mel is None:
            raise ValueError("no audio: pass wav_or_mel, or a video file with an audio track as frames")
        result = sync_scores(*self.embeddings(frames, _mel_of(wav_or_mel), fps), self.max_offset)
        result.expert_id = self.expert_id
        return result


def _as_images(frames: np.ndarray | Tensor) -> Tensor:
    """uint8 frames (T, H, W, 3) or float images (T, 3, H, W) in [0, 1] -> float32 (T, 3, H, W) in [0, 1]."""
    x = frames if isinstance(frames, Tensor) else torch.from_numpy(np.array(frames))  # a copy: mmaps are read-only
    if x.dtype == torch.uint8:
        return to_images(x)
    if x.ndim != 4 or x.shape[1] != 3 or not x.is_floating_point():
        raise ValueError(f"frames must be uint8 (T, H, W, 3) or float (T, 3, H, W) in [0, 1], got {x.dtype} "
                         f"{tuple(x.shape)}")  # fmt: skip
    return x.float()


@torch.no_grad()
def facekit_embeddings(
    expert: SyncExpert,
    frames: np.ndarray | Tensor,
    mel: np.ndarray,
    fps: float = FPS,
    image_size: int | None = None,
    batch_size: int = 64,
) -> tuple[Tensor, Tensor]:
    """Embeddings of every window of a clip under a facekit sync expert -> (video_emb, audio_emb), each (T-4, E).

    frames: T face crops, uint8 (T, S, S, 3) or float (T, 3, S, S) in [0, 1]; resized (bilinear, antialiased)
    to ``image_size``, the expert's training size (:class:`SyncEvaluator` reads it from the checkpoint), when given.
    mel: (80, M) facekit log-mel spectrogram of the clip's audio. Window t = lower halves of frames t .. t+4 and the
    16-column mel window of frame t (``mel_windows``), as the expert was trained.
    """
    device = next(expert.parameters()).device
    images = _as_images(frames)
    num = images.shape[0] - WINDOW_FRAMES + 1
    if num < 1:
        raise ValueError(f"a clip of {images.shape[0]} frames has no {WINDOW_FRAMES}-frame window")
    if image_size is not None and tuple(images.shape[-2:]) != (image_size, image_size):
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True)
        images = images.clamp(0, 1)
    halves = lower_half(images)  # (T, 3, S/2, S)
    mels = torch.from_numpy(mel_windows(mel, num, fps))[:, None]  # (T-4, 1, 80, 16)
    starts = torch.arange(num)[:, None] + torch.arange(WINDOW_FRAMES)  # (T-4, 5)
    video, audio = [], []
    for i in range(0, num, batch_size):
        video.append(expert.embed_face(halves[starts[i : i + batch_size]].to(device)).cpu())
        audio.append(expert.embed_audio(mels[i : i + batch_size].to(device)).cpu())
    return torch.cat(video), torch.cat(audio)


def _mel_of(wav_or_mel: np.ndarray | str | Path) -> np.ndarray:
    """A path (any audio/video file), mono audio (N,) int16 or float in [-1, 1], or a ready (80, M) mel -> mel."""
    if isinstance(wav_or_mel, str | Path):
        return melspectrogram(load_audio(wav_or_mel, SAMPLE_RATE))
    x = np.asarray(wav_or_mel)
    if x.ndim == 2:
        return x.astype(np.float32)
    return melspectrogram(pcm_to_float(x) if x.dtype == np.int16 else x.astype(np.float32))


def evaluate_sync(
    expert: str | Path | SyncEvaluator,
    frames: np.ndarray | Tensor | str | Path,
    wav_or_mel: np.ndarray | str | Path | None = None,
    fps: float | None = None,
    max_offset: int = MAX_OFFSET,
    device: torch.device | str = "cpu",
) -> SyncResult:
    """LSE-D / LSE-C / AV offset of one clip under a facekit sync expert, stamped with the expert's checkpoint id.

    expert: a checkpoint path, or a :class:`SyncEvaluator` (load once to score many clips; its max_offset then
    applies). frames: face crops at ``fps`` (default: the expert's training fps, 25) or a video file (its fps applies).
    wav_or_mel: 16 kHz mono audio (N,) (int16, or float in [-1, 1]), an (80, M) facekit mel, or an audio/video file;
    None takes the audio track of ``frames``' video file.
    """
    if not isinstance(expert, SyncEvaluator):
        expert = SyncEvaluator(expert, device, max_offset=max_offset)
    return expert.evaluate(frames, wav_or_mel, fps)


def shift_audio(wav: np.ndarray, frames: int, fps: float = FPS, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Delay (``frames`` > 0) or advance (< 0) ``wav`` by whole video frames, zero-filled, same length."""
    n = int(round(frames * sample_rate / fps))
    out = np.zeros_like(wav)
    if n >= 0:
        out[n:] = wav[: len(wav) - n] if n < len(wav) else out[n:]
    else:
        out[:n] = wav[-n:]
    return out


@torch.no_grad()
def offset_recovery(
    evaluator: SyncEvaluator, frames: np.ndarray | Tensor, wav: np.ndarray, shifts: range = range(-6, 7)
) -> dict[int, int]:
    """The offset the SyncNet protocol finds when the clip's audio is shifted by k frames, for every k in ``shifts``.

    A sound expert returns k for every k (0 for the untouched clip). Video embeddings are computed once; the audio is
    shifted in samples, so the mel of every shift is recomputed exactly. ``wav``: 16 kHz mono, float in [-1, 1] or
    int16.
    """
    wav = np.asarray(wav)
    if wav.dtype == np.int16:  # as _mel_of: int16 samples are scaled to [-1, 1] (unscaled, the mel saturates)
        wav = pcm_to_float(wav)
    video, _ = evaluator.embeddings(frames, melspectrogram(wav), None)
    device = next(evaluator.model.parameters()).device
    found = {}
    for k in shifts:
        mel = melspectrogram(shift_audio(wav, k, evaluator.fps))
        mels = torch.from_numpy(mel_windows(mel, video.shape[0], evaluator.fps))[:, None]
        audio = evaluator.model.embed_audio(mels.to(device)).cpu()
        found[k] = sync_scores(video, audio, evaluator.max_offset).offset
    return found
