"""Where lip sync is lost on the way from the generator's crops to the video file: the sync expert at each stage.

    .venv/bin/python eval/sync_by_stage.py --checkpoint runs/gen-grid/last.pt --face FACE --audio SPEECH \\
        [--align F.align | --text "..."] --expert runs/expert-grid/last.pt --out eval/results/....json

``facekit.sync_checks.sync_by_stage`` does the work: ``facekit generate`` is run once and LSE-D / LSE-C / offset
(the expert, speech = ``--audio``) measured on the model's crops, the pasted frames, the written mp4 cut the same way,
the mp4 with its face found anew (as folder-mode ``facekit eval``), and the real video of the speech when ``--audio``
is a video with a face.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facekit.sync_checks import sync_by_stage


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--face", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--align")
    p.add_argument("--text")
    p.add_argument("--expert", required=True)
    p.add_argument("--out", help="write the figures as JSON here")
    args = p.parse_args(argv)

    try:
        result = sync_by_stage(args.checkpoint, args.face, args.audio, args.expert, args.align, args.text)
    except ValueError as exc:
        print(f"sync_by_stage: error: {exc}", file=sys.stderr)
        return 2
    if "no_real_video" in result:
        print(f"no real video to compare with ({result['no_real_video']})", file=sys.stderr)
    for name, r in result["stages"].items():
        print(f"{name:26s} LSE-D {r['lse_d']:.3f}  LSE-C {r['lse_c']:.3f}  offset {r['offset']:+d}")
    result = {"command": " ".join(["eval/sync_by_stage.py", *(argv if argv is not None else sys.argv[1:])]), **result}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
