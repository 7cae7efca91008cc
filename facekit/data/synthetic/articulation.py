"""Articulation: phoneme timing and a coarticulated, viseme-driven mouth.

A sentence becomes a sequence of timed phonemes (natural intrinsic durations, scaled by the speaker's rate), and the
phonemes become four mouth controls sampled at a control rate of :data:`CONTROL_RATE` Hz:

- ``open``   -- lip opening / jaw drop, 0 (closed) .. 1 (wide open)
- ``spread`` -- lip spreading (smile-like width), 0 .. 1
- ``round``  -- lip rounding / protrusion (narrower mouth), 0 .. 1
- ``teeth``  -- how much the teeth show (f/v put the upper teeth on the lower lip), 0 .. 1

Coarticulation: the per-phoneme targets are smoothed with a Gaussian (neighbouring phonemes blend), while bilabial
closure (p, b, m) is smoothed much less so the lips really close. Emotion makes the mouth open wider and spread more.
The same control curves drive the synthetic speech (``speech.py``), so audio and mouth share one timeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from facekit.data.text import SIL, PhonemeSpan, WordSpan

CONTROL_RATE = 200  # Hz: one control sample every 5 ms

VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}
DIPHTHONGS = {"AW", "AY", "EY", "OW", "OY"}
STOPS = {"B", "D", "G", "K", "P", "T"}
FRICATIVES = {"DH", "F", "HH", "S", "SH", "TH", "V", "Z", "ZH", "CH", "JH"}
NASALS = {"M", "N", "NG"}
BILABIALS = {"B", "M", "P"}

# phoneme -> (open, spread, round, teeth)
VISEMES: dict[str, tuple[float, float, float, float]] = {
    "AA": (0.95, 0.30, 0.00, 0.3), "AE": (0.80, 0.55, 0.00, 0.4), "AH": (0.65, 0.30, 0.00, 0.3),
    "AO": (0.75, 0.00, 0.55, 0.2), "AW": (0.75, 0.10, 0.45, 0.2), "AY": (0.80, 0.40, 0.00, 0.4),
    "EH": (0.60, 0.55, 0.00, 0.5), "ER": (0.35, 0.10, 0.45, 0.3), "EY": (0.50, 0.65, 0.00, 0.6),
    "IH": (0.40, 0.65, 0.00, 0.6), "IY": (0.28, 0.85, 0.00, 0.8), "OW": (0.55, 0.00, 0.75, 0.1),
    "OY": (0.55, 0.10, 0.65, 0.2), "UH": (0.40, 0.00, 0.60, 0.1), "UW": (0.28, 0.00, 0.95, 0.0),
    "B": (0.00, 0.15, 0.00, 0.0), "P": (0.00, 0.15, 0.00, 0.0), "M": (0.00, 0.15, 0.00, 0.0),
    "F": (0.10, 0.25, 0.00, 1.0), "V": (0.10, 0.25, 0.00, 1.0),
    "TH": (0.22, 0.35, 0.00, 0.7), "DH": (0.22, 0.35, 0.00, 0.7),
    "S": (0.15, 0.65, 0.00, 0.9), "Z": (0.15, 0.65, 0.00, 0.9),
    "SH": (0.22, 0.05, 0.65, 0.7), "ZH": (0.22, 0.05, 0.65, 0.7),
    "CH": (0.22, 0.05, 0.60, 0.7), "JH": (0.22, 0.05, 0.60, 0.7),
    "T": (0.25, 0.45, 0.00, 0.6), "D": (0.25, 0.45, 0.00, 0.6), "N": (0.22, 0.45, 0.00, 0.6),
    "L": (0.30, 0.40, 0.00, 0.5), "K": (0.35, 0.30, 0.00, 0.3), "G": (0.35, 0.30, 0.00, 0.3),
    "NG": (0.30, 0.30, 0.00, 0.3), "HH": (0.45, 0.30, 0.00, 0.3), "R": (0.25, 0.05, 0.55, 0.2),
    "W": (0.15, 0.00, 1.00, 0.0), "Y": (0.22, 0.65, 0.00, 0.5),
    SIL: (0.03, 0.20, 0.00, 0.0),
}  # fmt: skip


def intrinsic_duration(phoneme: str) -> float:
    """Typical duration of ``phoneme`` in seconds at a normal speaking rate."""
    if phoneme in DIPHTHONGS:
        return 0.15
    if phoneme in VOWELS:
        return 0.11
    if phoneme in STOPS:
        return 0.075
    if phoneme in FRICATIVES:
        return 0.095
    if phoneme in NASALS:
        return 0.07
    return 0.065  # approximants


@dataclass(frozen=True)
class Timing:
    """A timed sentence: word spans and phoneme spans on one timeline (seconds)."""

    words: list[WordSpan]
    phonemes: list[PhonemeSpan]


def time_sentence(
    words: Sequence[tuple[str, list[str]]], seconds: float, rate: float, rng: np.random.Generator
) -> Timing:
    """Lay out ``words`` (each ``(word, phonemes)``) in a clip of ``seconds``.

    Phoneme durations are intrinsic durations / ``rate`` with +-15% jitter; short pauses between some words; leading
    and trailing silence. A sentence too long for the clip is compressed to leave at least 0.15 s of silence at each
    end.
    """
    durations = [[intrinsic_duration(p) / rate * rng.uniform(0.85, 1.15) for p in phs] for _, phs in words]
    gaps = [rng.uniform(0.0, 0.08) if rng.random() < 0.3 else 0.0 for _ in words[:-1]] + [0.0]
    speech = sum(sum(d) for d in durations) + sum(gaps)
    lead = rng.uniform(0.15, 0.45)
    room = seconds - lead - 0.15
    scale = min(1.0, room / speech)
    t = lead
    word_spans: list[WordSpan] = [WordSpan(0.0, lead, SIL)]
    phone_spans: list[PhonemeSpan] = [PhonemeSpan(0.0, lead, SIL)]
    for (word, phs), durs, gap in zip(words, durations, gaps, strict=True):
        start = t
        for p, d in zip(phs, durs, strict=True):
            phone_spans.append(PhonemeSpan(t, t + d * scale, p))
            t += d * scale
        word_spans.append(WordSpan(start, t, word))
        if gap > 0:
            word_spans.append(WordSpan(t, t + gap * scale, SIL))
            phone_spans.append(PhonemeSpan(t, t + gap * scale, SIL))
            t += gap * scale
    word_spans.append(WordSpan(t, seconds, SIL))
    phone_spans.append(PhonemeSpan(t, seconds, SIL))
    return Timing(word_spans, phone_spans)


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth the last axis of ``x`` with a Gaussian of ``sigma`` samples (edges held)."""
    radius = max(1, int(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    k /= k.sum()
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(radius, radius)], mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, k.size, axis=-1)
    return windows @ k


def mouth_controls(
    phonemes: Sequence[PhonemeSpan],
    seconds: float,
    rate: float = 1.0,
    emotion: float = 0.0,
    coarticulation: float = 0.022,
) -> np.ndarray:
    """Coarticulated mouth controls, shape ``(4, round(seconds * CONTROL_RATE))``: open, spread, round, teeth.

    ``emotion`` in [0, 1] widens and opens the mouth (a louder, more intense speaker). ``coarticulation``: the
    standard deviation (seconds, at rate 1) of the Gaussian that blends neighbouring phonemes' targets.
    """
    n = int(round(seconds * CONTROL_RATE))
    targets = np.empty((4, n), np.float64)
    closure = np.zeros(n)
    for span in phonemes:
        a = int(round(span.start * CONTROL_RATE))
        b = max(a + 1, int(round(span.end * CONTROL_RATE)))
        targets[:, a:b] = np.asarray(VISEMES.get(span.phoneme, VISEMES[SIL]))[:, None]
        if span.phoneme in BILABIALS:
            # closure held for the middle of the phoneme
            m = (b - a) // 4
            closure[a + m : max(a + m + 1, b - m)] = 1.0
    sigma = coarticulation * CONTROL_RATE / rate
    smooth = _gaussian_smooth(targets, sigma)
    closure = np.clip(_gaussian_smooth(closure[None], 0.006 * CONTROL_RATE)[0] * 1.6, 0.0, 1.0)
    smooth[0] *= 1.0 - closure
    smooth[0] *= 1.0 + 0.35 * emotion
    smooth[1] = smooth[1] + 0.25 * emotion * (1.0 - smooth[2])
    return np.clip(smooth, 0.0, 1.0).astype(np.float32)


def sample_controls(controls: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linearly interpolate ``controls`` (4, n) at ``times`` (seconds) -> (len(times), 4)."""
    grid = np.arange(controls.shape[1]) / CONTROL_RATE
    return np.stack([np.interp(times, grid, c) for c in controls], axis=1).astype(np.float32)


def rendition_timing(phonemes: Sequence[PhonemeSpan], tempo: float, rng: np.random.Generator) -> list[PhonemeSpan]:
    """Another rendition of a timed phoneme sequence: the same phonemes (pauses included) from time 0, each lasting
    its duration / ``tempo`` times a jitter in [0.7, 1.3] -- another speaking rate and rhythm."""
    spans, t = [], 0.0
    for span in phonemes:
        d = (span.end - span.start) / tempo * rng.uniform(0.7, 1.3)
        spans.append(PhonemeSpan(t, t + d, span.phoneme))
        t += d
    return spans


def warp_times(times: np.ndarray, source: Sequence[PhonemeSpan], target: Sequence[PhonemeSpan]) -> np.ndarray:
    """Map ``times`` (seconds on the timeline of ``source``) onto ``target``'s: span k -> span k, at the same
    relative position within it -- a piecewise-linear time warp through both phoneme alignments.

    The two must list the same phonemes, contiguous. Times before the first span or after the last are clamped to
    the first span's start / the last span's end.
    """
    if [s.phoneme for s in source] != [s.phoneme for s in target]:
        raise ValueError("warp_times: the two alignments must list the same phonemes in the same order")
    src = np.array([(s.start, s.end) for s in source])
    dst = np.array([(s.start, s.end) for s in target])
    k = np.clip(np.searchsorted(src[:, 1], times, side="right"), 0, len(src) - 1)
    within = np.clip((times - src[k, 0]) / np.maximum(src[k, 1] - src[k, 0], 1e-9), 0.0, 1.0)
    return dst[k, 0] + within * (dst[k, 1] - dst[k, 0])
