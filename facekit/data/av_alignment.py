"""Where the speech of a video frame lies in time, measured without a model.

Lip opening (from the 68 landmarks) and speech energy rise and fall together; the lag at which they correlate best
says where a frame's audio window should sit. Two measurements, pooled over clips (each series z-scored per clip,
so every clip weighs by its frames):

- :func:`lag_correlations`: Pearson r between the opening of frame t and the speech energy (or the phoneme-based
  openness of a transcript) at frame t's moment ``(t + 0.5) / fps`` plus a lag; a positive best lag means the audio
  comes after the lips;
- :func:`window_correlations`: r between the opening of frame t and the mean speech energy of frame t's 16-column
  mel window at each ``audio_offset_frames`` -- the generator's window, scored directly.

``eval/results/av_alignment/`` records both on GRID and on the synthetic corpus (where the answer is known by
construction: speech loudness follows the rendered mouth opening at the same instant).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

import numpy as np

from facekit.data.audio import FMAX, FMIN, MEL_FPS, NUM_MELS, mel_windows
from facekit.data.text import PhonemeSpan, frame_times

SPEECH_BAND = (300.0, 3000.0)  # Hz: voiced speech energy (first and second formants)


@cache
def _speech_rows() -> np.ndarray:
    import librosa

    centres = librosa.mel_frequencies(NUM_MELS + 2, fmin=FMIN, fmax=FMAX)[1:-1]
    return np.flatnonzero((centres >= SPEECH_BAND[0]) & (centres <= SPEECH_BAND[1]))


def speech_energy(mel: np.ndarray) -> np.ndarray:
    """(80, M) log-mel -> (M,) mean normalised log energy of the bands centred in 300-3000 Hz, per column."""
    return np.asarray(mel, np.float64)[_speech_rows()].mean(axis=0)


def phoneme_openness(spans: Sequence[PhonemeSpan], times: np.ndarray) -> np.ndarray:
    """Jaw opening of the viseme of the phoneme said at each time (seconds), from a transcript's phoneme spans."""
    from facekit.data.synthetic.articulation import VISEMES
    from facekit.data.text import SIL

    out = np.full(len(times), VISEMES[SIL][0])
    for span in spans:
        out[(times >= span.start) & (times < span.end)] = VISEMES.get(span.phoneme, VISEMES[SIL])[0]
    return out


def _pooled_r(pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Pearson r over all clips' frames, each clip's two series z-scored first."""
    a, b = [], []
    for x, y in pairs:
        if len(x) > 2 and x.std() > 0 and y.std() > 0:
            a.append((x - x.mean()) / x.std())
            b.append((y - y.mean()) / y.std())
    if not a:
        raise ValueError("no clip has a varying lip opening and signal to correlate")
    return float(np.mean(np.concatenate(a) * np.concatenate(b)))


def lag_correlations(
    openings: Sequence[np.ndarray],
    signals: Sequence[Callable[[np.ndarray], np.ndarray]],
    lags: np.ndarray,
    fps: float,
    durations: Sequence[float],
) -> np.ndarray:
    """Pooled r between each clip's (T,) lip opening and its signal at the frames' moments + each lag (seconds).

    ``signals[i](times)`` evaluates clip i's signal (speech energy or phoneme openness) at times in seconds; frames
    whose shifted time falls outside ``0 .. durations[i]`` are left out.
    """
    out = []
    for lag in lags:
        pairs = []
        for opening, signal, duration in zip(openings, signals, durations, strict=True):
            times = frame_times(len(opening), fps) + lag
            keep = (times >= 0) & (times <= duration)
            pairs.append((opening[keep], signal(times[keep])))
        out.append(_pooled_r(pairs))
    return np.array(out)


def energy_signal(mel: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The speech energy of a (80, M) log-mel as a function of time (column c is centred at c / 80 s)."""
    energy = speech_energy(mel)
    columns = np.arange(len(energy)) / MEL_FPS
    return lambda times: np.interp(times, columns, energy)


def window_correlations(
    openings: Sequence[np.ndarray], mels: Sequence[np.ndarray], offsets: Sequence[int], fps: float
) -> np.ndarray:
    """Pooled r between each clip's (T,) lip opening and the mean speech energy of frame t's 16-column mel window
    (``audio.mel_windows``) at each offset (``data.audio_offset_frames``)."""
    rows = _speech_rows()
    return np.array(
        [
            _pooled_r(
                [
                    (opening, mel_windows(mel, len(opening), fps, offset)[:, rows].mean(axis=(1, 2)))
                    for opening, mel in zip(openings, mels, strict=True)
                ]
            )
            for offset in offsets
        ]
    )
