"""Cross-dubbing on held-out GRID sentences: each sentence's speech put on *another* held-out clip's face video.

    .venv/bin/python eval/cross_dub.py --checkpoint runs/gen-grid-ft/last.pt --data data/grid-s1 \\
        --expert runs/expert-grid/last.pt --out-dir runs/cross-dub [--pairs 10]

``facekit.crossdub.cross_dub`` does the work: the first ``--pairs`` held-out sentences (with a video and a ``.align``
transcript) of the checkpoint's own split, sentence ``i`` generated onto the video of sentence ``i + 1`` into
``OUT/generated/<sentence>.mp4``, scored by the folder benchmark against the real videos (``OUT/ground_truth``). The
report goes to ``OUT/eval`` (``--eval-name`` to keep several, e.g. one per expert); re-running skips the videos
already made, so a second expert can score the same videos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from facekit.crossdub import cross_dub
from facekit.report import write_outputs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="prepared GRID clips (facekit prepare grid)")
    p.add_argument("--expert", required=True, help="sync-expert checkpoint that scores the videos")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--eval-name", default="eval", help="report folder inside --out-dir (default eval)")
    p.add_argument(
        "--split",
        default="eval",
        choices=["eval", "val"],
        help="the generator's held-out clips (default) or its validation clips (data.val_fraction), to choose on",
    )
    p.add_argument(
        "--allow-expert-overlap",
        action="store_true",
        help="score with an expert that trained on these clips (the report says so)",
    )
    args = p.parse_args(argv)

    out = Path(args.out_dir)
    try:
        result = cross_dub(
            args.checkpoint,
            args.data,
            args.expert,
            out,
            args.pairs,
            split=args.split,
            allow_expert_overlap=args.allow_expert_overlap,
        )
    except ValueError as exc:
        print(f"cross_dub: error: {exc}", file=sys.stderr)
        return 2
    result["command"] = " ".join(["eval/cross_dub.py", *(argv if argv is not None else sys.argv[1:])])
    write_outputs(result, out / args.eval_name)
    (out / "pairs.json").write_text(json.dumps(result["pairs"], indent=2) + "\n")
    summary = result["summary"]
    for name in ("generated", "ground_truth"):
        s = summary.get(name, {})
        print(f"{name:13s} LSE-D {s.get('lse_d', float('nan')):.3f}  LSE-C {s.get('lse_c', float('nan')):.3f}  "
              f"offset 0 in {s.get('offset_zero_share', float('nan')):.0%}")  # fmt: skip
    print(f"report: {out / args.eval_name / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
