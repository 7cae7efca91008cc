"""The sync expert's offset protocol on held-out ground truth: audio shifted by k frames must be found at offset k.

    .venv/bin/python eval/sync_offsets.py --expert runs/expert/last.pt --data DIR [--split eval] [--shifts 6]
        [--max-clips N] --out eval/results/NAME.json

For every clip of the split and every k in -S..S the clip's audio is delayed by k frames (zero-filled, in samples, mel
recomputed) and the SyncNet protocol (offsets -15..15, ``facekit.metrics.sync``) is run with the expert. Reported: the
share of (clip, k) found exactly and within one frame, per k and overall, and the ground truth's own LSE-D / LSE-C.
The expert's training split setting is used, so its held-out clips are never ones it trained on.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.data.audio import pcm_to_float
from facekit.data.clips import load_clip, read_manifest
from facekit.data.dataset import select_split
from facekit.metrics.sync import SyncEvaluator, offset_recovery


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expert", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="eval")
    parser.add_argument("--shifts", type=int, default=6)
    parser.add_argument("--max-clips", type=int)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    cfg = checkpoint_config(load_checkpoint(args.expert, "expert"), args.expert)
    evaluator = SyncEvaluator(args.expert)
    infos = select_split(read_manifest(args.data)[1], args.split, cfg.data)[: args.max_clips]
    shifts = range(-args.shifts, args.shifts + 1)
    per_clip, lse_d, lse_c = [], [], []
    for info in infos:
        clip = load_clip(args.data, info)
        wav = pcm_to_float(clip.audio)
        found = offset_recovery(evaluator, clip.frames, wav, shifts)
        truth = evaluator.evaluate(clip.frames, clip.mel)
        lse_d.append(truth.lse_d)
        lse_c.append(truth.lse_c)
        per_clip.append({"clip": info.id, "found": {str(k): v for k, v in found.items()}, "lse_d": truth.lse_d})
    errors = np.array([[c["found"][str(k)] - k for k in shifts] for c in per_clip])
    result = {
        "command": "python eval/sync_offsets.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None),
        "expert_id": evaluator.expert_id,
        "data": args.data,
        "split": args.split,
        "split_by": cfg.data.split_by,
        "clips": len(per_clip),
        "shifts": list(shifts),
        "exact_share": float((errors == 0).mean()),
        "within_one_share": float((np.abs(errors) <= 1).mean()),
        "ground_truth_offset_zero_share": float((errors[:, list(shifts).index(0)] == 0).mean()),
        "per_shift_exact": {str(k): float((errors[:, i] == 0).mean()) for i, k in enumerate(shifts)},
        "per_shift_within_one": {str(k): float((np.abs(errors[:, i]) <= 1).mean()) for i, k in enumerate(shifts)},
        "ground_truth_lse_d": float(np.mean(lse_d)),
        "ground_truth_lse_c": float(np.mean(lse_c)),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "per_clip": per_clip,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "per_clip"}, indent=2))


if __name__ == "__main__":
    main()
