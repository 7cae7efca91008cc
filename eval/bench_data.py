"""Benchmark the data layer: synthetic corpus generation speed and training-window throughput.

    .venv/bin/python eval/bench_data.py [--clips 100] [--workers 2] [--out eval/results/bench_data.json]

Targets (issue 2): 100 clips of 3 s at 96x96 in under 60 s on 2 cores; >= 2,000 training windows/s in one process.
Writes a JSON of the measured figures with the machine's description; nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

# isort: off
import facekit  # noqa: F401 -- before torch: sets GOMP_SPINCOUNT (libgomp reads it when torch loads it)

# isort: on
import torch

from facekit.config import apply_overrides, get_preset
from facekit.data.dataset import FaceDataset, SyncDataset
from facekit.data.synthetic.corpus import generate_corpus
from facekit.runtime import cpu_name


def windows_per_second(ds, seconds: float = 5.0) -> float:
    """Items fetched per second by plain indexing in this process (what a DataLoader worker does)."""
    n, i, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ds[i % len(ds)]
        i += 7919  # stride through clips like a shuffled sampler
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", default="eval/results/bench_data.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = apply_overrides(
        get_preset("paper"),
        [f"synth.num_identities={args.clips // 4}", "synth.clips_per_identity=4", "synth.seconds=3"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        from facekit.data.text import word_to_phonemes

        word_to_phonemes("warm")  # the CMU dictionary loads once per process; not part of the corpus cost
        start = time.perf_counter()
        generate_corpus(cfg, tmp, workers=args.workers, progress=False)
        gen_seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
        face = FaceDataset(tmp, cfg.data, split="all")
        sync = SyncDataset(tmp, cfg.data, split="all")
        results = {
            "command": f"python eval/bench_data.py --clips {args.clips} --workers {args.workers}",
            "machine": {
                "cpus": os.cpu_count(),
                "processor": cpu_name(),
                "torch": torch.__version__,
            },
            "corpus": {
                "clips": args.clips,
                "seconds_per_clip": 3.0,
                "image_size": cfg.data.image_size,
                "workers": args.workers,
                "wall_seconds": round(gen_seconds, 2),
                "clips_per_second": round(args.clips / gen_seconds, 2),
                "megabytes_on_disk": round(size / 2**20, 1),
                "target": "100 clips in < 60 s",
            },
            "dataset": {
                "face_windows_per_second": round(windows_per_second(face)),
                "sync_windows_per_second": round(windows_per_second(sync)),
                "processes": 1,
                "target": ">= 2000 windows/s",
            },
        }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
