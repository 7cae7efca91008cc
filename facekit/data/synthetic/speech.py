"""A small source-filter speech synthesiser driven by the same phoneme track as the mouth.

Voiced sound is additive: the harmonics k * f0(t) of a glottal source, each weighted by a three-formant spectral
envelope that moves with the phoneme (formant targets smoothed over ~10 ms). Fricatives and stop bursts are band-passed
noise. The voiced amplitude follows the mouth opening of ``articulation.mouth_controls``, so audio energy and lip
opening share one timeline -- that is what a sync expert and a lip-sync generator must learn.

Speaker traits: pitch (f0), vocal-tract length (formant scale), loudness. Emotion raises pitch, pitch movement and
loudness -- information the text alone does not carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy.signal import butter, sosfilt

from facekit.data.synthetic.articulation import CONTROL_RATE, VOWELS, _gaussian_smooth
from facekit.data.text import SIL, PhonemeSpan

SAMPLE_RATE = 16000

# phoneme -> formants F1, F2, F3 (Hz, adult male reference; scaled per speaker)
FORMANTS: dict[str, tuple[float, float, float]] = {
    "AA": (730, 1090, 2440), "AE": (660, 1720, 2410), "AH": (520, 1190, 2390), "AO": (570, 840, 2410),
    "AW": (700, 1300, 2400), "AY": (660, 1500, 2450), "EH": (530, 1840, 2480), "ER": (490, 1350, 1690),
    "EY": (480, 2000, 2600), "IH": (390, 1990, 2550), "IY": (270, 2290, 3010), "OW": (500, 900, 2400),
    "OY": (530, 1200, 2450), "UH": (440, 1020, 2240), "UW": (300, 870, 2240),
    "M": (280, 1100, 2400), "N": (280, 1700, 2600), "NG": (280, 2000, 2700), "L": (360, 1300, 2700),
    "R": (420, 1300, 1600), "W": (300, 700, 2200), "Y": (280, 2200, 3000),
}  # fmt: skip
NEUTRAL = (500, 1500, 2500)

NOISE_BANDS = {"high": (3500, 7500), "mid": (1800, 4500), "broad": (800, 7000), "low": (300, 3000)}
# phoneme -> (voicing amplitude, noise amplitude, noise band)
SOURCES: dict[str, tuple[float, float, str]] = {
    "M": (0.35, 0.0, "low"), "N": (0.35, 0.0, "low"), "NG": (0.35, 0.0, "low"),
    "L": (0.6, 0.0, "low"), "R": (0.6, 0.0, "low"), "W": (0.55, 0.0, "low"), "Y": (0.6, 0.0, "low"),
    "S": (0.0, 0.5, "high"), "Z": (0.3, 0.45, "high"), "SH": (0.0, 0.45, "mid"), "ZH": (0.3, 0.4, "mid"),
    "CH": (0.0, 0.45, "mid"), "JH": (0.3, 0.4, "mid"), "F": (0.0, 0.18, "broad"), "V": (0.3, 0.15, "broad"),
    "TH": (0.0, 0.15, "broad"), "DH": (0.3, 0.12, "broad"), "HH": (0.0, 0.25, "broad"),
    "P": (0.0, 0.0, "low"), "B": (0.12, 0.0, "low"), "T": (0.0, 0.0, "high"), "D": (0.12, 0.0, "high"),
    "K": (0.0, 0.0, "mid"), "G": (0.12, 0.0, "mid"), SIL: (0.0, 0.0, "low"),
}  # fmt: skip
BURSTS = {"P": "low", "B": "low", "T": "high", "D": "high", "K": "mid", "G": "mid"}


@dataclass(frozen=True)
class Voice:
    """A synthetic speaker."""

    pitch: float  # mean f0, Hz
    tract: float  # formant scale (shorter vocal tract -> higher formants)
    loudness: float  # peak amplitude, 0..1


@cache
def _band_filter(band: str) -> np.ndarray:
    lo, hi = NOISE_BANDS[band]
    return butter(4, [lo, hi], btype="band", fs=SAMPLE_RATE, output="sos")


def _upsample(x: np.ndarray, num_samples: int) -> np.ndarray:
    """Linear interpolation of control-rate rows ``x`` (..., n) to ``num_samples`` samples."""
    pos = np.arange(num_samples) * (CONTROL_RATE / SAMPLE_RATE)
    i0 = np.minimum(pos.astype(np.int64), x.shape[-1] - 1)
    i1 = np.minimum(i0 + 1, x.shape[-1] - 1)
    frac = (pos - i0).astype(np.float32)
    return x[..., i0] * (1 - frac) + x[..., i1] * frac


def synthesize(
    phonemes: Sequence[PhonemeSpan],
    controls: np.ndarray,
    voice: Voice,
    emotion: float,
    seconds: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Speech for a timed phoneme sequence -> float32 ``(round(seconds * 16000),)`` in [-1, 1].

    ``controls`` are the mouth controls (4, n) of ``articulation.mouth_controls`` on the same timeline.
    """
    n = controls.shape[1]
    num_samples = int(round(seconds * SAMPLE_RATE))
    formants = np.empty((3, n), np.float32)
    voicing = np.zeros(n, np.float32)
    noise = {band: np.zeros(n, np.float32) for band in NOISE_BANDS}
    for span in phonemes:
        a = int(round(span.start * CONTROL_RATE))
        b = max(a + 1, int(round(span.end * CONTROL_RATE)))
        formants[:, a:b] = np.asarray(FORMANTS.get(span.phoneme, NEUTRAL), np.float32)[:, None]
        if span.phoneme in VOWELS:
            voicing[a:b] = 1.0
        else:
            v, z, band = SOURCES.get(span.phoneme, (0.5, 0.0, "low"))
            voicing[a:b] = v
            noise[band][a:b] += z
            if span.phoneme in BURSTS:  # release burst over the last quarter
                noise[BURSTS[span.phoneme]][b - max(1, (b - a) // 4) : b] += 0.5
    formants = _gaussian_smooth(formants, 0.01 * CONTROL_RATE) * voice.tract
    voicing = _gaussian_smooth(voicing[None], 0.006 * CONTROL_RATE)[0]
    voicing *= 0.3 + 0.7 * controls[0]  # louder when the mouth is more open

    # pitch: speaker mean, raised by emotion, declination over the sentence, slow movement and jitter
    t = np.arange(n) / CONTROL_RATE
    excursion = 0.04 + 0.08 * emotion
    f0 = voice.pitch * (1 + 0.25 * emotion) * (1 - 0.12 * t / seconds)
    f0 = f0 * (1 + excursion * np.sin(2 * np.pi * rng.uniform(0.4, 0.9) * t + rng.uniform(0, 2 * np.pi)))
    f0 = f0 * (1 + 0.01 * _gaussian_smooth(rng.standard_normal((1, n)), 4.0)[0])

    num_harmonics = int(7000 / f0.min())
    k = np.arange(1, num_harmonics + 1, dtype=np.float32)[:, None]
    freqs = k * f0[None, :]  # (K, n)
    gains = np.array([1.0, 0.55, 0.3], np.float32)
    widths = np.array([70.0, 100.0, 140.0], np.float32)
    envelope = (
        sum(gains[i] / (1 + ((freqs - formants[i][None]) / widths[i]) ** 2) for i in range(3))
        * k**-0.5
        * (freqs < 7600)
    )
    amps = _upsample((envelope * voicing[None]).astype(np.float32), num_samples)
    phase = 2 * np.pi * np.cumsum(_upsample(f0.astype(np.float32), num_samples)) / SAMPLE_RATE
    voiced = (amps * np.sin(k * phase[None, :].astype(np.float32))).sum(axis=0)

    white = rng.standard_normal(num_samples).astype(np.float32)
    unvoiced = np.zeros(num_samples, np.float32)
    for band, env in noise.items():
        if env.any():
            shaped = sosfilt(_band_filter(band), white).astype(np.float32)
            unvoiced += shaped * _upsample(_gaussian_smooth(env[None], 0.004 * CONTROL_RATE)[0], num_samples)

    wav = voiced / max(1e-6, float(np.abs(voiced).max())) + 1.5 * unvoiced / max(1e-6, float(white.std()))
    wav *= voice.loudness * (1 + 0.3 * emotion) / max(1e-6, float(np.abs(wav).max()))
    wav += 1e-4 * rng.standard_normal(num_samples).astype(np.float32)  # a recording's noise floor
    return np.clip(wav, -1.0, 1.0).astype(np.float32)
