"""``facekit generate``: a generator checkpoint + a face + speech -> a lip-synced mp4 with the speech's audio.

Inputs (any of audio, text and mouth images; the checkpoint's ``model.cascade.order`` says which it needs; the face
and mouth loaders are in ``facekit.inputs``, the approximate alignment in ``facekit.speech_alignment``):

- **face**: an image (a still face, repeated for the whole speech) or a video (its frames resampled to 25 fps, then
  played forward and backward -- 0, 1, ..., n-1, n-2, ..., 1, 0, 1, ... -- as often as the speech needs and cut at its
  end; a ping-pong loop has no jump). The face is found and aligned as ``facekit prepare`` does (``facekit.data.face``
  landmarks, the ``facekit.data.crop`` similarity transform, smoothed over time for a video); with ``aligned=True``
  the input already is an aligned face crop of the model's size (no detection, no paste-back: synthetic faces).
- **audio**: any file FFmpeg reads -> 16 kHz mono -> a log-mel window per frame (``facekit.data.audio``).
- **text**: a GRID ``.align`` transcript (``time-aligned``), or a sentence with audio, aligned ``approximate`` ly:
  speech segments are found by energy and the sentence's phonemes spread over the speech time in proportion to their
  typical durations. The summary and a log line say which.
- **mouth**: a driver video (its face found, aligned and drawn as a lip sketch, as ``facekit prepare`` does), a folder
  of mouth images, or a ``.npy`` of them (uint8 (T, M, M, 3), e.g. a prepared clip's ``mouth.npy``); looped like the
  face video.

The model sees what it saw in training (``facekit.data.dataset.clip_windows``): the crop with its lower half zeroed,
one fixed reference crop (frame 0), and the per-frame modality windows; a modality listed in ``drop`` is marked absent
(``has``), so its data feature is zero -- the encoders' own way of handling a clip without that modality. The
generated crops are pasted back into the full frames with a feathered mouth mask (``facekit.data.paste``).

Output length: the audio's (``floor(samples * 25 / 16000)`` frames), else the transcript's, else the driver's. The
audio is muxed in as AAC, cut to the video's length.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from facekit.checkpoints import outside_training_data
from facekit.config import MODALITIES, DataConfig
from facekit.data.audio import (
    HOP,
    MEL_WINDOW,
    SAMPLE_RATE,
    SILENCE_VALUE,
    AudioError,
    float_to_pcm,
    is_silent,
    load_audio,
    melspectrogram,
)
from facekit.data.clips import Clip, ClipInfo
from facekit.data.images import to_frames
from facekit.data.text import TextError, in_dictionary, phoneme_track, read_align, words_to_phoneme_spans
from facekit.data.video import VideoError
from facekit.inputs import IMAGE_SUFFIXES, GenerateError, load_face, load_mouth, loop_indices, read_frames
from facekit.runtime import configure_cpu
from facekit.speech_alignment import approximate_alignment

# x264 quality of the written video: 12 rather than the usual visually-lossless 18, because the painted mouth's small
# frame-to-frame motion is what lip sync is judged on. On GRID (eval/sync_by_stage.py, a still face, the GRID expert)
# the mp4 round trip cost LSE-C 0.036 at crf 18 and 0.003 at 12; the file is about 1.7 times the size.
OUTPUT_CRF = 12
FLAGS = {"text": "--text SENTENCE (with --audio) or --align FILE.align", "audio": "--audio FILE", "mouth": "--mouth"}
# Speech audio whose RMS over the whole track is under this level (dBFS, facekit.data.audio.is_silent) is silent: a
# warning, as the painted mouth then only shows what the model does without speech. GRID s1 (20 clips): speech RMS
# -22 to -15 dBFS, its quietest 10 ms frames (the pauses' noise floor) -53 to -43 dBFS; digital silence is far below.
SILENT_DBFS = -60.0


def _attempt(problems: list[str], load: Callable, *args, **kwargs):
    """``load(*args, **kwargs)``, or None with its error added to ``problems`` (an input that cannot be used)."""
    from facekit.checkpoints import CheckpointError

    try:
        return load(*args, **kwargs)
    except (GenerateError, AudioError, TextError, VideoError, CheckpointError) as exc:
        problems.append(str(exc))
        return None


def _peek_checkpoint(checkpoint, problems: list[str]):
    """(the config, the data source it trained on -- None when not recorded) of a checkpoint path, without building
    its model; (None, None) with the error added to ``problems`` when it is no generator checkpoint."""
    from facekit.checkpoints import checkpoint_config, load_checkpoint

    if not isinstance(checkpoint, (str, Path)):
        return checkpoint[1], None
    state = _attempt(problems, load_checkpoint, checkpoint, "generator")
    if state is None:
        return None, None
    return _attempt(problems, checkpoint_config, state, checkpoint), state.get("data_source")


def load_model(checkpoint, device: str | torch.device = "cpu"):
    """A checkpoint path, or an already built ``(LipSyncModel, Config)`` -> (model in eval mode, config, label)."""
    from facekit.checkpoints import load_generator

    if isinstance(checkpoint, (str, Path)):
        model, cfg = load_generator(checkpoint, device)
        return model, cfg, str(checkpoint)
    model, cfg = checkpoint
    return model.to(device).eval(), cfg, type(model).__name__


def load_libraries(face_detection: bool = True, text: bool = True) -> None:
    """Set-up that happens once per process (1-3 s): librosa and the mel filter bank, the CMU dictionary, and dlib's
    face models.

    Done before the clock starts, as the model load is, so that ``frames_per_s`` measures the work per video."""
    melspectrogram(np.zeros(HOP, np.float32))
    if text:
        in_dictionary("a")
    if face_detection:
        import scipy.signal  # noqa: F401 -- the alignment's smoothing
        import skimage.draw  # noqa: F401 -- a driver's lip sketch

        from facekit.data.face import FaceLandmarker

        FaceLandmarker()


def _stderr(message: str) -> None:
    print(f"facekit generate: {message}", file=sys.stderr)


def _length(wav, words_end: float | None, mouth, fps: float) -> int:
    """Frames of the output: the audio's, else the transcript's, else the mouth input's (one of them is given)."""
    if wav is not None:
        return math.floor(len(wav) * fps / SAMPLE_RATE)
    if words_end is not None:
        return math.ceil(words_end * fps - 1e-6)
    return len(mouth)


def generate(
    checkpoint: str | Path | tuple,
    face: str | Path,
    audio: str | Path | None = None,
    text: str | None = None,
    align: str | Path | None = None,
    mouth: str | Path | None = None,
    out: str | Path = "generated.mp4",
    aligned: bool = False,
    *,
    drop: Sequence[str] = (),
    reference_index: int = 0,
    batch_size: int = 16,
    device: str = "cpu",
    return_frames: bool = False,
    log: Callable[[str], None] | None = _stderr,
) -> dict:
    """Generate a lip-synced video of ``face`` speaking ``audio`` / ``text`` / ``mouth`` and write it to ``out``.

    ``checkpoint``: a generator checkpoint (``last.pt`` of ``facekit train generator``) or ``(LipSyncModel, Config)``.
    ``text``: a sentence (aligned approximately to the audio's speech); ``align``: a GRID ``.align`` transcript (time-
    aligned); not both. ``drop``: modalities of the checkpoint's order to leave out (their data feature is zero).
    ``reference_index``: the face frame used as the reference (pose and appearance). ``return_frames``: also return
    the written frames (``summary["frames"]``, uint8 (T, H, W, 3)), the model's crops before pasting
    (``summary["crops"]``) and, when pasted, each frame's crop -> frame transform (``summary["transforms"]``).
    Returns a summary (JSON-able without those arrays): what was used, the alignment ("time-aligned" / "approximate" /
    None), seconds per stage and ``frames_per_s``: frames / seconds from the inputs to the written mp4, excluding
    ``seconds_load`` (the model, and once per process the libraries' own set-up: librosa, dlib's models).

    Every input (the checkpoint's config, audio, transcript, mouth input, the face read and found, the flags) is
    checked before the model is built; a GenerateError then lists every problem at once. Warnings (logged and in
    ``summary["warnings"]``): silent audio (RMS under ``SILENT_DBFS``), and a checkpoint trained on the synthetic
    corpus -- or not recording its training data -- painting a real face (one found by the detector).
    """
    configure_cpu()
    from facekit.data.dataset import clip_windows
    from facekit.data.paste import paste_back
    from facekit.data.video import write_video
    from facekit.evaluation import generate_frames

    log = log or (lambda message: None)
    tic = time.perf_counter()
    problems: list[str] = []  # every problem with the inputs, reported together before the model is built
    cfg, trained_on = _peek_checkpoint(checkpoint, problems)
    driver = mouth is not None and Path(mouth).suffix.lower() not in (".npy", *IMAGE_SUFFIXES) and Path(mouth).is_file()
    load_libraries(face_detection=not aligned or driver, text=text is not None or align is not None)
    seconds_load = time.perf_counter() - tic
    seconds: dict[str, float] = {}
    data = cfg.data if cfg is not None else DataConfig()
    fps, size = data.fps, data.image_size
    order = list(cfg.model.cascade.order) if cfg is not None else []
    unknown = [m for m in drop if m not in order] if cfg is not None else []
    if unknown:
        problems.append(f"--drop {','.join(unknown)}: not in the checkpoint's modalities ({','.join(order)})")
    if text is not None and align is not None:
        problems.append("give --text SENTENCE or --align FILE.align, not both (the transcript holds the words)")
    if text is not None and audio is None:
        problems.append(
            f"text {text!r} has no timing: give --align FILE.align (a time-aligned transcript), or --audio FILE "
            "(the sentence is then aligned approximately to the speech)"
        )
    warnings: list[str] = []

    # speech: audio, text, mouth images
    tic = time.perf_counter()
    wav = _attempt(problems, load_audio, audio) if audio is not None else None
    if wav is not None:
        window = MEL_WINDOW * HOP / SAMPLE_RATE  # 0.2 s
        if len(wav) < MEL_WINDOW * HOP:
            problems.append(
                f"{audio} lasts {len(wav) / SAMPLE_RATE:.3f} s, shorter than one audio window ({window:.1f} s of "
                f"log-mel); give at least {window:.1f} s of speech"
            )
            wav = None
        elif is_silent(wav, SILENT_DBFS):
            warnings.append(
                f"{audio} is silent (RMS under {SILENT_DBFS:.0f} dBFS): the speech modalities carry nothing to say, "
                "so the mouth will not speak; check the file (or its volume)"
            )
    words = _attempt(problems, read_align, align) if align is not None else None
    loaded = _attempt(problems, load_mouth, mouth, data.mouth_size, fps) if mouth is not None else None
    mouth_images, mouth_kind = loaded if loaded is not None else (None, None)
    n = None
    if wav is not None or words is not None or mouth_images is not None:
        n = _length(wav, words[-1].end if words else None, mouth_images, fps)
        if n < 1:
            problems.append("the speech is shorter than one video frame (40 ms); give longer audio or transcript")
    elif audio is None and align is None and mouth is None:
        problems.append("nothing sets the video's length: give --audio FILE or --align FILE.align")
    alignment, segments, phonemes = None, None, None
    if words is not None and n:
        phonemes, alignment = phoneme_track(words_to_phoneme_spans(words), n, fps), "time-aligned"
        log(f"text: time-aligned transcript {align}")
        if wav is not None and words[-1].end > len(wav) / SAMPLE_RATE + 0.5:
            warnings.append(f"{align} ends at {words[-1].end:.2f} s, after the audio ({len(wav) / SAMPLE_RATE:.2f} s)")
    elif text is not None and wav is not None and n:
        aligned_text = _attempt(problems, approximate_alignment, text, wav)
        if aligned_text is None:
            problems[-1] = f"--text: {problems[-1]} in {audio}; give audio with speech, or --align FILE.align"
        else:
            spans, segments = aligned_text
            phonemes, alignment = phoneme_track(spans, n, fps), "approximate"
            log(
                f"text: approximate alignment -- {len(spans)} phoneme spans over {len(segments)} speech segments "
                "found by energy (give --align FILE.align for exact timing)"
            )
    given = {"text": text is not None or align is not None, "audio": audio is not None, "mouth": mouth is not None}
    missing = [m for m in order if not given[m] and m not in drop]
    if missing:
        problems.append(
            f"the checkpoint ({checkpoint if isinstance(checkpoint, (str, Path)) else type(checkpoint[0]).__name__}) "
            f"needs the {', '.join(missing)} modality (model.cascade.order={','.join(order)}): give "
            + "; ".join(FLAGS[m] for m in missing)
            + f". Or leave it out with --drop {','.join(missing)}: the model then zeroes its data feature, as for "
            "training clips without it"
        )
    unused = [m for m in MODALITIES if given[m] and m not in order] if cfg is not None else []
    if unused:
        warnings.append(f"the checkpoint does not use {', '.join(unused)} (order {','.join(order)}): ignored")
    if mouth_images is not None and n and abs(len(mouth_images) - n) > 1:
        warnings.append(f"the mouth input has {len(mouth_images)} frames, the speech {n}: looped back and forth / cut")
    seconds["speech"] = time.perf_counter() - tic

    # face: find, align and crop (only the frames the speech uses; the first alone when the speech is unusable)
    tic = time.perf_counter()
    face_path = Path(face)
    if cfg is None:  # no model size to align to: only check that the face can be read
        _attempt(problems, read_frames, face_path, fps, 1)
        source_face = None
    else:
        source_face = _attempt(problems, load_face, face_path, size, aligned, fps, max_frames=n or 1)
    if source_face is not None and not 0 <= reference_index < len(source_face.frames):
        problems.append(
            f"reference frame {reference_index} is outside the {len(source_face.frames)} frames of {face_path} that "
            "the speech uses"
        )
    if source_face is not None and not aligned and isinstance(checkpoint, (str, Path)):
        warnings += outside_training_data(checkpoint, trained_on, "this real face")
    seconds["face"] = time.perf_counter() - tic
    if problems:
        raise GenerateError(
            problems[0] if len(problems) == 1 else f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)
        )
    num_source = len(source_face.frames)
    index = loop_indices(num_source, n)

    # the model (after every input is known to be usable)
    tic = time.perf_counter()
    model, cfg, source = load_model(checkpoint, device)
    seconds_load += time.perf_counter() - tic

    # the model's inputs, exactly as clip_windows builds them from a prepared clip
    tic = time.perf_counter()
    present = [m for m in MODALITIES if given[m] and m not in drop]
    pcm = float_to_pcm(wav) if wav is not None else np.zeros(1, np.int16)
    mel = melspectrogram(wav) if wav is not None else np.full((80, 1), SILENCE_VALUE, np.float32)
    clip = Clip(
        info=ClipInfo(id=face_path.stem, identity=face_path.stem, num_frames=n, modalities=present),
        frames=source_face.crops[index],
        audio=pcm,
        mel=mel,
        landmarks=np.zeros((n, 68, 2), np.float32),
        mouth=mouth_images[loop_indices(len(mouth_images), n)] if mouth_images is not None else None,
        phonemes=phonemes,
    )
    # index[t] == t on the first forward pass; a clip_mean reference is the mean of the face's own frames (not looped)
    windows = clip_windows(clip, cfg.data, reference_index, face_frames=source_face.crops)
    seconds["inputs"] = time.perf_counter() - tic

    # generate, paste back, write
    tic = time.perf_counter()
    generated = generate_frames(model, windows, batch_size)  # (n, 3, S, S) in [0, 1]
    seconds["model"] = time.perf_counter() - tic
    track = None
    if wav is not None:
        want = round(n * SAMPLE_RATE / fps)
        track = np.pad(wav[:want], (0, max(0, want - len(wav))))
    kept: list[np.ndarray] = []

    def pasted():  # 64 frames at a time, encoded as they come: the output video is never whole in memory
        for i in range(0, n, 64):
            tic = time.perf_counter()
            if source_face.alpha is None:
                chunk = to_frames(generated[i : i + 64])
            else:
                k = index[i : i + 64]
                chunk = paste_back(
                    source_face.frames[k], generated[i : i + 64], source_face.alpha[k], source_face.beta[k]
                )
            seconds["paste"] += time.perf_counter() - tic
            if return_frames:
                kept.append(chunk)
            yield chunk

    seconds["paste"] = 0.0
    tic = time.perf_counter()
    write_video(out, pasted(), fps, track, SAMPLE_RATE, crf=OUTPUT_CRF)
    seconds["write"] = time.perf_counter() - tic - seconds["paste"]  # encoding and muxing alone
    total = sum(seconds.values())
    for message in warnings:
        log(f"warning: {message}")
    summary = {
        "out": str(out),
        "checkpoint": source,
        "num_frames": n,
        "fps": fps,
        "seconds": round(n / fps, 3),
        "size": [int(source_face.frames.shape[2]), int(source_face.frames.shape[1])],
        "image_size": size,
        "face": str(face_path),
        "face_input": source_face.kind,
        "face_frames": num_source,
        "face_loop": (
            "a still image, repeated"
            if num_source == 1
            else f"its first {n} frames at {fps:g} fps"
            if num_source == n
            else f"{num_source} frames at {fps:g} fps, played forward and backward to the speech's length"
        ),
        "aligned": aligned,
        "pasted_back": source_face.alpha is not None,
        "reference_frame": reference_index,
        "reference": (
            f"the mean of the face's {num_source} frames"
            if cfg.data.reference == "clip_mean"
            else f"frame {reference_index}"
        ),
        "order": order,
        "used": present,
        "dropped": list(drop),
        "audio": str(audio) if audio is not None else None,
        "alignment": alignment,
        "speech_segments": [[round(s, 3), round(e, 3)] for s, e in segments] if segments else None,
        "mouth": f"{mouth} ({mouth_kind})" if mouth is not None else None,
        "device": str(device),
        "seconds_by_stage": {k: round(v, 3) for k, v in seconds.items()},
        "seconds_load": round(seconds_load, 3),
        "seconds_total": round(total, 3),
        "frames_per_s": round(n / total, 1),
        "warnings": warnings,
    }
    log(f"wrote {out}: {n} frames ({n / fps:.2f} s) at {summary['frames_per_s']} frames/s")
    if return_frames:
        summary["frames"] = np.concatenate(kept)
        summary["crops"] = generated  # the model's crops, float (n, 3, S, S) in [0, 1], before pasting
        if source_face.alpha is not None:
            summary["transforms"] = (source_face.alpha[index], source_face.beta[index])  # (n,) complex, crop -> frame
    return summary
