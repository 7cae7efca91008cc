"""The synthetic talking-face corpus: identities x GRID-grammar sentences -> prepared clips.

Every clip is a pure function of ``(seed, clip index)`` (and the config), so the same seed gives byte-identical clips
in any order and with any number of worker processes. Each clip has all three modalities, aligned frame by frame:

- **text**: a GRID-grammar sentence, timed phoneme by phoneme (``phonemes.npy`` + spans in ``meta.json``);
- **audio**: speech synthesised from the same phoneme track (``speech.py``) with the speaker's pitch, rate and
  loudness and the clip's emotion;
- **mouth**: the mouth of a *driver* -- a different random person (never a corpus identity) -- chosen by
  ``data.mouth_driver`` and recorded in each clip's ``mouth_driver``:

  - ``rendition`` (default): the driver says the same sentence in its own rendition (another speaking rate, rhythm,
    coarticulation and emotion), re-timed to the target's speech through both phoneme alignments
    (``articulation.warp_times``): each frame shows the driver at the same phoneme and relative position within it,
    so the timing matches but the mouth shape is the driver's, not a copy of the target's;
  - ``oracle``: the driver's face drawn with the target's own per-frame mouth controls -- the target's mouth shape,
    exactly; figures that use it are labelled "oracle mouth".

plus the face frames with ground truth, and the 68-point landmarks. The generator's mouthless face is the frame with
its lower half masked and the reference frame is another frame of the clip; both are made by the dataset
(``facekit.data.dataset``) from these arrays.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facekit.config import Config
from facekit.data.audio import SAMPLE_RATE, float_to_pcm, melspectrogram, pcm_to_float
from facekit.data.clips import Clip, ClipFormatError, ClipInfo, read_manifest, write_clip, write_manifest
from facekit.data.synthetic.articulation import (
    Timing,
    mouth_controls,
    rendition_timing,
    sample_controls,
    time_sentence,
    warp_times,
)
from facekit.data.synthetic.face import (
    Identity,
    Motion,
    landmarks_68,
    mouth_window,
    render,
    sample_identity,
    sample_motion,
)
from facekit.data.synthetic.speech import Voice, synthesize
from facekit.data.text import frame_times, phoneme_track, word_to_phonemes

GRID_GRAMMAR: tuple[tuple[str, ...], ...] = (
    ("bin", "lay", "place", "set"),
    ("blue", "green", "red", "white"),
    ("at", "by", "in", "with"),
    tuple("abcdefghijklmnopqrstuvxyz"),
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    ("again", "now", "please", "soon"),
)


@dataclass(frozen=True)
class Speaker:
    identity: Identity
    voice: Voice
    rate: float  # speaking rate, 1 = normal


def make_speaker(seed: int, index: int) -> Speaker:
    """Corpus identity number ``index`` (deterministic from the seed)."""
    rng = np.random.default_rng([seed, 0, index])
    identity = sample_identity(f"id{index:04d}", rng)
    pitch = float(rng.uniform(85, 240))
    tract = float(np.clip(0.85 + (pitch - 85) / 155 * 0.3 + rng.normal(0, 0.04), 0.85, 1.2))
    return Speaker(identity, Voice(pitch, tract, float(rng.uniform(0.35, 0.7))), float(rng.uniform(0.85, 1.2)))


def clip_id(cfg: Config, index: int) -> str:
    per = cfg.synth.clips_per_identity
    return f"id{index // per:04d}_{index % per:03d}"


def sample_sentence(rng: np.random.Generator) -> list[str]:
    return [slot[rng.integers(len(slot))] for slot in GRID_GRAMMAR]


def driver_rendition(
    timing: Timing, rate: float, num_frames: int, fps: float, emotion_max: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict]:
    """The driver's own rendition of the target's sentence (said at speaking ``rate``), re-timed to the target's frames.

    Returns the driver's mouth controls at each target frame (T, 4) and its record: its phoneme spans on its own
    timeline, tempo (its speaking rate relative to the target's), coarticulation, emotion and articulation style (a
    speaker's own habit: how wide it opens, spreads and rounds its lips, as gains and a shift of the controls).
    """
    tempo = float(rng.uniform(0.65, 0.85) if rng.random() < 0.5 else rng.uniform(1.2, 1.5))
    coarticulation = float(rng.uniform(0.012, 0.035))
    emotion = float(rng.uniform(0.0, emotion_max))
    open_gain = float(rng.uniform(0.55, 0.8) if rng.random() < 0.5 else rng.uniform(1.2, 1.45))
    spread_shift, round_gain = float(rng.uniform(-0.25, 0.25)), float(rng.uniform(0.6, 1.4))
    spans = rendition_timing(timing.phonemes, tempo, rng)
    controls = mouth_controls(spans, spans[-1].end, rate * tempo, emotion, coarticulation)
    controls[0] *= open_gain
    controls[1] += spread_shift
    controls[2] *= round_gain
    times = warp_times(frame_times(num_frames, fps), timing.phonemes, spans)
    record = {
        "driver_phonemes": [[round(p.start, 4), round(p.end, 4), p.phoneme] for p in spans],
        "driver_tempo": round(tempo, 4),
        "driver_coarticulation": round(coarticulation, 4),
        "driver_emotion": round(emotion, 4),
        "driver_style": {
            "open_gain": round(open_gain, 4),
            "spread_shift": round(spread_shift, 4),
            "round_gain": round(round_gain, 4),
        },
    }
    return sample_controls(np.clip(controls, 0.0, 1.0), times), record


def make_clip(cfg: Config, index: int) -> Clip:
    """Synthesise clip number ``index`` of the corpus described by ``cfg``."""
    seed, fps = cfg.synth.seed, cfg.data.fps
    speaker = make_speaker(seed, index // cfg.synth.clips_per_identity)
    rng = np.random.default_rng([seed, 1, index])
    words = sample_sentence(rng)
    seconds = cfg.synth.seconds
    rate = speaker.rate * float(rng.uniform(0.92, 1.08))
    emotion = float(rng.uniform(0.0, cfg.synth.emotion_max))
    timing = time_sentence([(w, word_to_phonemes(w)) for w in words], seconds, rate, rng)
    controls = mouth_controls(timing.phonemes, seconds, rate, emotion)
    num_frames = int(round(seconds * fps))
    per_frame = sample_controls(controls, frame_times(num_frames, fps))
    motion = sample_motion(num_frames, fps, rng)
    size = cfg.data.image_size
    frames = render(speaker.identity, per_frame, motion, size)
    landmarks = landmarks_68(speaker.identity, per_frame, motion, size)
    driver = sample_identity(f"driver{index:05d}", np.random.default_rng([seed, 2, index]))
    driven, record = per_frame, {}
    if cfg.data.mouth_driver == "rendition":
        rendition_rng = np.random.default_rng([seed, 3, index])
        driven, record = driver_rendition(timing, rate, num_frames, fps, cfg.synth.emotion_max, rendition_rng)
    still = Motion(np.zeros((num_frames, 2), np.float32), np.ones(num_frames, np.float32))
    mouth = render(driver, driven, still, cfg.data.mouth_size, window=mouth_window(driver))
    wav = synthesize(timing.phonemes, controls, speaker.voice, emotion, seconds, rng)
    audio = float_to_pcm(wav)
    info = ClipInfo(
        id=clip_id(cfg, index),
        identity=speaker.identity.name,
        num_frames=num_frames,
        modalities=["text", "audio", "mouth"],
        extra={
            "source": "synthetic",
            "seed": seed,
            "index": index,
            "sentence": " ".join(words),
            "words": [[round(w.start, 4), round(w.end, 4), w.word] for w in timing.words],
            "phonemes": [[round(p.start, 4), round(p.end, 4), p.phoneme] for p in timing.phonemes],
            "emotion": round(emotion, 4),
            "rate": round(rate, 4),
            "pitch": round(speaker.voice.pitch, 2),
            "driver": driver.name,
            "mouth_driver": cfg.data.mouth_driver,
            **record,
        },
    )
    return Clip(
        info=info,
        frames=frames,
        audio=audio,
        mel=melspectrogram(pcm_to_float(audio)),
        landmarks=landmarks,
        mouth=mouth,
        phonemes=phoneme_track(timing.phonemes, num_frames, fps),
    )


def _write_one(args: tuple[Config, int, str]) -> ClipInfo:
    cfg, index, root = args
    meta = Path(root) / "clips" / clip_id(cfg, index) / "meta.json"
    if meta.is_file():  # finished in an earlier, interrupted run (clip folders appear only when complete)
        return ClipInfo(**json.loads(meta.read_text()))
    clip = make_clip(cfg, index)
    write_clip(root, clip)
    return clip.info


def corpus_settings(cfg: Config) -> dict:
    return {
        "source": "synthetic",
        "fps": cfg.data.fps,
        "sample_rate": SAMPLE_RATE,
        "image_size": cfg.data.image_size,
        "mouth_size": cfg.data.mouth_size,
        "mouth_driver": cfg.data.mouth_driver,
        "synth": {k: getattr(cfg.synth, k) for k in ("num_identities", "clips_per_identity", "seconds", "seed")},
    }


def generate_corpus(cfg: Config, root: str | Path, workers: int = 1, progress: bool = True) -> list[ClipInfo]:
    """Write the corpus of ``cfg.synth`` to ``root`` in the prepared-clip format; returns the clip infos.

    Resumable: a re-run with the same settings keeps every finished clip and makes only the missing ones (a clip
    folder appears only once complete). A folder made with other settings is refused rather than mixed.
    """
    root = Path(root)
    settings = corpus_settings(cfg)
    stamp = root / "synth.json"
    if stamp.is_file() and json.loads(stamp.read_text()) != json.loads(json.dumps(settings)):
        raise ClipFormatError(
            f"{root} holds a synthetic corpus made with other settings ({stamp}); "
            "choose another output folder or delete this one"
        )
    if (root / "manifest.json").is_file():
        return read_manifest(root)[1]
    root.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(settings, indent=1, sort_keys=True) + "\n")
    total = cfg.synth.num_identities * cfg.synth.clips_per_identity
    jobs = [(cfg, i, str(root)) for i in range(total)]
    infos = list(_progress(_run(jobs, workers), total, progress, f"synthesising {total} clips"))
    write_manifest(root, infos, **settings)
    return infos


def _run(jobs: list, workers: int) -> Iterator[ClipInfo]:
    if workers <= 1:
        yield from map(_write_one, jobs)
        return
    with mp.get_context("fork").Pool(workers) as pool:
        yield from pool.imap(_write_one, jobs, chunksize=4)


def _progress(items: Iterator, total: int, show: bool, desc: str) -> Iterator:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=desc, unit="clip")
