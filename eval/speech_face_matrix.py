"""Lip sync of every held-out sentence painted onto every held-out face: does the face's recording matter?

    .venv/bin/python eval/speech_face_matrix.py --checkpoint runs/gen-grid-ft3/last.pt --data data/grid-s1 \\
        --expert runs/expert-grid-seed1/last.pt [--clips 8] --out eval/results/grid_generate/....json

The first ``--clips`` held-out clips of the checkpoint's own split (for GRID, ``data.split_by=sentence``) of the most
common speaker, sorted by id. Cell (i, j): sentence i's audio and transcript generated onto
a still face, frame 0 of clip j (its prepared crop: mouthless face and reference, as ``facekit eval --still-face``),
scored in-crop by ``--expert`` against sentence i's audio (LSE-D, LSE-C). The diagonal is the face of the sentence's
own recording; off the diagonal, a face the speech was not recorded with -- what dubbing another video asks. The
JSON holds both matrices and the means on and off the diagonal.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from facekit.data.clips import load_clip, read_manifest
from facekit.data.dataset import clip_windows, select_split
from facekit.evaluation import generate_frames, load_generator
from facekit.metrics.sync import SyncEvaluator


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="prepared GRID clips (facekit prepare grid)")
    p.add_argument("--expert", required=True)
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--out", required=True, help="JSON file to write")
    args = p.parse_args(argv)

    model, cfg = load_generator(args.checkpoint)
    _, infos = read_manifest(args.data)
    held = select_split(infos, "eval", cfg.data)
    speaker = Counter(i.identity for i in held).most_common(1)[0][0]
    chosen = sorted((i for i in held if i.identity == speaker), key=lambda i: i.id)[: args.clips]
    if len(chosen) < 2:
        sys.exit(f"speech_face_matrix: only {len(chosen)} held-out clip(s) of {speaker}; need two to swap faces")
    clips = [load_clip(args.data, i, mmap=False) for i in chosen]
    sync = SyncEvaluator(args.expert)
    n = len(clips)
    lse_d, lse_c = np.zeros((n, n)), np.zeros((n, n))
    for i, speech in enumerate(clips):
        for j, face in enumerate(clips):
            still = dataclasses.replace(speech, frames=np.repeat(face.frames[:1], speech.info.num_frames, 0))
            with torch.no_grad():
                made = generate_frames(model, clip_windows(still, cfg.data, 0, still_face=True))
            r = sync.evaluate(made, speech.mel, cfg.data.fps)
            lse_d[i, j], lse_c[i, j] = r.lse_d, r.lse_c
        print(f"{speech.info.id:12s} LSE-C " + " ".join(f"{x:.3f}" for x in lse_c[i]), flush=True)
    off = ~np.eye(n, dtype=bool)
    result = {
        "command": " ".join(["eval/speech_face_matrix.py", *(argv if argv is not None else sys.argv[1:])]),
        "checkpoint": args.checkpoint,
        "expert_id": sync.expert_id,
        "clips": [c.info.id for c in clips],
        "rows": "speech (audio and .align) of clip i",
        "columns": "still face: frame 0 of clip j",
        "lse_c": np.round(lse_c, 4).tolist(),
        "lse_d": np.round(lse_d, 4).tolist(),
        "own_face": {
            "lse_c": round(float(lse_c.diagonal().mean()), 4),
            "lse_d": round(float(lse_d.diagonal().mean()), 4),
        },
        "other_face": {"lse_c": round(float(lse_c[off].mean()), 4), "lse_d": round(float(lse_d[off].mean()), 4)},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"own face   LSE-D {result['own_face']['lse_d']:.3f}  LSE-C {result['own_face']['lse_c']:.3f}")
    print(f"other face LSE-D {result['other_face']['lse_d']:.3f}  LSE-C {result['other_face']['lse_c']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
