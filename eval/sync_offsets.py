"""The sync expert's offset protocol on held-out ground truth: audio shifted by k frames must be found at offset k.

    .venv/bin/python eval/sync_offsets.py --expert runs/expert/last.pt --data DIR [--split eval] [--shifts 6]
        [--max-clips N] --out eval/results/NAME.json

``facekit.sync_checks.offset_check`` does the work: for every clip of the split (the expert's own split setting, so
its held-out clips are never ones it trained on) and every k in -S..S the audio is delayed by k frames (zero-filled,
in samples, mel recomputed) and the SyncNet protocol (offsets -15..15) is run with the expert. Reported: the share of
(clip, k) found exactly and within one frame, per k and overall, and the ground truth's own LSE-D / LSE-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from facekit.sync_checks import offset_check


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expert", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="eval")
    parser.add_argument("--shifts", type=int, default=6)
    parser.add_argument("--max-clips", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        figures = offset_check(args.expert, args.data, args.split, args.shifts, args.max_clips)
    except ValueError as exc:
        print(f"sync_offsets: error: {exc}", file=sys.stderr)
        return 2
    command = " ".join(["python eval/sync_offsets.py", *(argv if argv is not None else sys.argv[1:])])
    result = {"command": command, **figures, "wall_seconds": round(time.perf_counter() - start, 1)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_clip"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
