"""A sentence without timing placed on the speech of an audio track: energy-found speech segments, and the
sentence's phonemes spread over them (``facekit generate --text`` with ``--audio``; ``facekit prepare`` for a
transcript without word times)."""

from __future__ import annotations

import numpy as np

from facekit.data.audio import SAMPLE_RATE, is_silent
from facekit.data.text import PhonemeSpan, sentence_to_phonemes
from facekit.inputs import GenerateError


class NoSpeechError(GenerateError):
    """Audio that holds no speech to place a sentence on."""


def speech_segments(
    wav: np.ndarray,
    sample_rate: int = SAMPLE_RATE,
    level: float = 0.5,
    below_loud_db: float = 30.0,
    min_pause: float = 0.15,
    min_speech: float = 0.05,
) -> list[tuple[float, float]]:
    """Speech segments (start, end) in seconds of mono audio in [-1, 1], found by energy.

    RMS of 10 ms frames (smoothed over 3), in dBFS floored at -100; a frame is speech when louder than the noise floor
    (10th percentile) plus ``level`` of the way to the loud level (95th percentile), and than ``below_loud_db`` under
    the loud level; pauses shorter than ``min_pause`` s are bridged, segments shorter than ``min_speech`` s dropped.
    On GRID s1 (20 clips against their .align) frames are speech / silence as the transcript says 94% of the time.
    """
    hop = sample_rate // 100
    n = len(wav) // hop
    if n == 0:
        return []
    power = np.mean(np.asarray(wav[: n * hop], np.float64).reshape(n, hop) ** 2, axis=1)
    power = np.convolve(power, np.ones(3) / 3, mode="same")
    db = np.maximum(10 * np.log10(np.maximum(power, 1e-20)), -100.0)
    noise, loud = np.percentile(db, [10, 95])
    active = db > max(noise + level * (loud - noise), loud - below_loud_db)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    segments: list[list[float]] = []
    for start, end in zip(edges[::2] / 100, edges[1::2] / 100, strict=True):
        if segments and start - segments[-1][1] < min_pause:
            segments[-1][1] = float(end)
        else:
            segments.append([float(start), float(end)])
    return [(s, e) for s, e in segments if e - s >= min_speech]


def approximate_alignment(
    sentence: str, wav: np.ndarray, sample_rate: int = SAMPLE_RATE
) -> tuple[list[PhonemeSpan], list[tuple[float, float]]]:
    """Place ``sentence``'s phonemes on the speech of ``wav`` -> (phoneme spans in seconds, speech segments).

    The phonemes (CMU dictionary, letter-to-sound fallback) share the total speech time of ``speech_segments`` in
    proportion to their typical durations (``synthetic.articulation.intrinsic_duration``); a phoneme that straddles a
    pause is split around it. Raises NoSpeechError when the audio holds no speech (silent by
    ``facekit.data.audio.is_silent``, or no segment found).
    """
    from facekit.data.synthetic.articulation import intrinsic_duration

    phonemes = [p for word in sentence_to_phonemes(sentence) for p in word]
    segments = [] if is_silent(wav) else speech_segments(wav, sample_rate)
    if not segments:
        raise NoSpeechError("no speech found in the audio (silent, or nothing louder than its pauses)")
    lengths = np.array([e - s for s, e in segments])
    seg_start = np.concatenate([[0.0], np.cumsum(lengths)])  # segment i covers speech time seg_start[i:i+2]
    weights = np.array([intrinsic_duration(p) for p in phonemes])
    bounds = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum() * seg_start[-1]
    spans = []
    for p, a, b in zip(phonemes, bounds[:-1], bounds[1:], strict=True):
        for (s, _), c0, c1 in zip(segments, seg_start[:-1], seg_start[1:], strict=True):
            lo, hi = max(a, c0), min(b, c1)
            if hi > lo:
                spans.append(PhonemeSpan(s + lo - c0, s + hi - c0, p))
    return spans, segments
