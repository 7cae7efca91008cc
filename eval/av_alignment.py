"""Where frame t's speech lies: the lag that best correlates lip opening with speech energy and with the transcript.

    .venv/bin/python eval/av_alignment.py --data DIR [DIR ...] [--max-clips N] --out RESULTS.json

For every clip of a prepared folder (``facekit prepare`` or ``facekit synth``): the lip opening of each frame (inner-lip
gap, landmarks 62-66) against (a) the speech energy (log-mel bands 300-3000 Hz) at the frame's moment + a lag of
-200 .. 200 ms in mel columns (12.5 ms), (b) the phoneme-based openness of the clip's transcript at the same lags, and
(c) the mean speech energy of frame t's 16-column mel window at ``data.audio_offset_frames`` -5 .. 3
(``facekit.data.av_alignment``). Writes every correlation, the best lag of each and the best offset, one entry per
folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from facekit.data.audio import MEL_FPS, SAMPLE_RATE
from facekit.data.av_alignment import energy_signal, lag_correlations, phoneme_openness, window_correlations
from facekit.data.clips import load_clip, read_manifest
from facekit.data.text import PhonemeSpan
from facekit.viz import mouth_opening

LAGS = np.arange(-16, 17) / MEL_FPS  # -200 .. 200 ms in mel columns
OFFSETS = list(range(-5, 4))


def measure(data: str | Path, max_clips: int | None = None) -> dict:
    settings, infos = read_manifest(data)
    infos = infos[:max_clips]
    fps = float(settings["fps"])
    clips = [load_clip(data, info) for info in infos]
    openings = [mouth_opening(np.asarray(c.landmarks)) for c in clips]
    mels = [np.asarray(c.mel) for c in clips]
    durations = [len(c.audio) / SAMPLE_RATE for c in clips]
    audio = lag_correlations(openings, [energy_signal(m) for m in mels], LAGS, fps, durations)
    windows = window_correlations(openings, mels, OFFSETS, fps)
    result = {
        "data": str(data),
        "source": settings.get("source"),
        "clips": len(clips),
        "fps": fps,
        "lags_ms": [round(float(x) * 1000, 1) for x in LAGS],
        "audio_energy_r": [round(float(x), 4) for x in audio],
        "audio_best_lag_ms": round(float(LAGS[np.argmax(audio)]) * 1000, 1),
        "window_offsets": OFFSETS,
        "window_r": [round(float(x), 4) for x in windows],
        "best_audio_offset_frames": OFFSETS[int(np.argmax(windows))],
    }
    timed = [i for i, c in enumerate(clips) if c.info.extra.get("phonemes")]  # clips with a transcript
    if timed:
        spans = {i: [PhonemeSpan(*p) for p in clips[i].info.extra["phonemes"]] for i in timed}
        signals = [lambda times, s=spans[i]: phoneme_openness(s, times) for i in timed]
        text = lag_correlations([openings[i] for i in timed], signals, LAGS, fps, [durations[i] for i in timed])
        result["text_clips"] = len(timed)
        result["text_openness_r"] = [round(float(x), 4) for x in text]
        result["text_best_lag_ms"] = round(float(LAGS[np.argmax(text)]) * 1000, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, nargs="+", help="prepared folders (manifest.json, clips/)")
    parser.add_argument("--max-clips", type=int)
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    runs = [measure(data, args.max_clips) for data in args.data]
    result = {
        "command": " ".join(["python", "eval/av_alignment.py", *(argv or sys.argv[1:])]),
        "seconds": round(time.perf_counter() - start, 1),
        "runs": runs,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    for run in runs:
        print({k: v for k, v in run.items() if not k.endswith("_r") and k not in ("lags_ms", "window_offsets")})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
