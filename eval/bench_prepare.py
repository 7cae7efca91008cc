"""Benchmark real-video preparation: GRID videos -> prepared clips, seconds per 75-frame clip.

    .venv/bin/python eval/bench_prepare.py [--grid GRID] [--out-data data/grid-s1] [--workers 1]
        [--note "..."] [--out eval/results/bench_prepare.json]

``--grid`` is your GRID download (docs/GRID.md), by default ``$FACEKIT_GRID``. Runs ``facekit prepare grid`` once
(the same code path as the CLI) into ``--out-data`` and records the wall time, the seconds per clip (total wall time /
videos processed, start-up and skips included), the counts and the machine, with the load average before and after
(another job sharing the CPU slows every figure). A re-run over a finished folder resumes and measures nothing, so
point ``--out-data`` at a fresh folder. Target: about 1 s per clip on 2 cores.
Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from facekit.cli import main as facekit
from facekit.runtime import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grid", default=os.environ.get("FACEKIT_GRID"), help="folder of GRID videos and .align files ($FACEKIT_GRID)"
    )
    parser.add_argument("--out-data", default="data/grid-s1", help="where the prepared clips go")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--note", default="", help="free text stored with the figures (e.g. what else was running)")
    parser.add_argument("--out", default="eval/results/bench_prepare.json")
    args = parser.parse_args()
    if not args.grid:
        parser.error("no GRID folder: pass --grid DIR or set $FACEKIT_GRID (where to get GRID: docs/GRID.md)")
    argv = ["prepare", "grid", "--videos", args.grid, "--aligns", args.grid, "--out", args.out_data]
    argv += ["--image-size", str(args.image_size), "--workers", str(args.workers)]
    load_before = os.getloadavg()
    start = time.perf_counter()
    if facekit(argv) != 0:
        raise SystemExit("facekit prepare grid failed")
    wall = time.perf_counter() - start
    summary = json.loads((Path(args.out_data) / "summary.json").read_text())
    frames = [
        json.loads(p.read_text())["num_frames"] for p in sorted((Path(args.out_data) / "clips").glob("*/meta.json"))
    ]
    results = {
        "command": "python eval/bench_prepare.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("note", "out")),
        "cli": "facekit " + " ".join(argv),
        "machine": {"cpus": os.cpu_count(), "processor": cpu_name()},
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "note": args.note,
        "prepare": {
            "videos": summary["videos"],
            "prepared": summary["prepared"],
            "new": summary["new"],
            "resumed": summary["resumed"],
            "skipped": summary["skipped"],
            "clips_with_warnings": len(summary["warnings"]),
            "without_transcript": len(summary["without_transcript"]),
            "frames_per_clip": {"min": min(frames, default=0), "max": max(frames, default=0)},
            "workers": args.workers,
            "image_size": args.image_size,
            "wall_seconds": round(wall, 1),
            "seconds_per_clip": summary["seconds_per_clip"],
            "megabytes_on_disk": round(
                sum(p.stat().st_size for p in Path(args.out_data).rglob("*") if p.is_file()) / 2**20, 1
            ),
            "target": "about 1 s per 75-frame clip on 2 cores",
        },
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
