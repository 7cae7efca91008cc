"""Lip sync of every held-out sentence painted onto every held-out face: does the face's recording matter?

    .venv/bin/python eval/speech_face_matrix.py --checkpoint runs/gen-grid-ft3/last.pt --data data/grid-s1 \\
        --expert runs/expert-grid-seed1/last.pt [--clips 8] --out eval/results/grid_generate/....json

``facekit.crossdub.speech_face_matrix`` does the work: the first ``--clips`` held-out clips of the checkpoint's own
split of the most common speaker; cell (i, j) is sentence i's speech generated onto frame 0 of clip j (as ``facekit
eval --still-face``), scored in-crop by ``--expert``. The diagonal is the face of the sentence's own recording; off
the diagonal, a face the speech was not recorded with. The JSON holds both matrices and the means on and off the
diagonal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facekit.crossdub import speech_face_matrix


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="prepared GRID clips (facekit prepare grid)")
    p.add_argument("--expert", required=True)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args(argv)

    try:
        result = speech_face_matrix(args.checkpoint, args.data, args.expert, args.clips)
    except ValueError as exc:
        print(f"speech_face_matrix: error: {exc}", file=sys.stderr)
        return 2
    result = {"command": " ".join(["eval/speech_face_matrix.py", *(argv if argv is not None else sys.argv[1:])]),
              **result}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"own face   LSE-D {result['own_face']['lse_d']:.3f}  LSE-C {result['own_face']['lse_c']:.3f}")
    print(f"other face LSE-D {result['other_face']['lse_d']:.3f}  LSE-C {result['other_face']['lse_c']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
