"""Cross-dubbing on held-out GRID sentences: each sentence's speech put on *another* held-out clip's face video.

    .venv/bin/python eval/cross_dub.py --checkpoint runs/gen-grid-ft/last.pt --data data/grid-s1 \\
        --expert runs/expert-grid/last.pt --out-dir runs/cross-dub [--pairs 10]

The held-out sentences of the checkpoint's own split (``data.split_by=sentence``) that have a video and a ``.align``
transcript, of the most common speaker, sorted by id; the first ``--pairs`` of them. Sentence ``i`` (its audio and
time-aligned transcript) is generated onto the video of sentence ``i + 1`` (the last onto the first) with
``facekit generate``, into ``OUT/generated/<sentence>.mp4``; ``OUT/ground_truth/<sentence>.<ext>`` links to the
real video of the sentence. Then ``facekit eval``'s folder benchmark scores every pair (each video's lip sync judged
on its own face crop) and writes its report to ``OUT/eval`` (``--eval-name`` to keep several, e.g. one per expert).
Re-running skips the videos already made, so a second expert can score the same videos.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from facekit.benchmark import run_benchmark
from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.data.clips import read_manifest
from facekit.data.dataset import select_split
from facekit.generate import generate
from facekit.report import write_outputs


def held_out_pairs(data: str | Path, checkpoint: str | Path, count: int) -> list[tuple[dict, dict]]:
    """(speech clip, face clip) extras of ``count`` held-out sentences of one speaker, each face the next clip's."""
    cfg = checkpoint_config(load_checkpoint(checkpoint, "generator"), checkpoint)
    _, infos = read_manifest(data)
    held = [i for i in select_split(infos, "eval", cfg.data) if i.extra.get("align") and i.extra.get("video")]
    if not held:
        sys.exit(f"cross_dub: {data} has no held-out clips with a video and an .align transcript")
    speaker = Counter(i.identity for i in held).most_common(1)[0][0]
    clips = sorted((i for i in held if i.identity == speaker), key=lambda i: i.id)[:count]
    if len(clips) < 2:
        sys.exit(f"cross_dub: only {len(clips)} held-out clip(s) of {speaker}; need two to swap faces")
    return [(clips[k].extra | {"id": clips[k].id}, clips[(k + 1) % len(clips)].extra) for k in range(len(clips))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", required=True, help="prepared GRID clips (facekit prepare grid)")
    p.add_argument("--expert", required=True, help="sync-expert checkpoint that scores the videos")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--pairs", type=int, default=10)
    p.add_argument("--eval-name", default="eval", help="report folder inside --out-dir (default eval)")
    args = p.parse_args(argv)

    out = Path(args.out_dir)
    (out / "generated").mkdir(parents=True, exist_ok=True)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    pairs = []
    for speech, face in held_out_pairs(args.data, args.checkpoint, args.pairs):
        video, stem = Path(speech["video"]), Path(speech["video"]).stem
        made = out / "generated" / f"{stem}.mp4"
        truth = out / "ground_truth" / video.name
        if not truth.exists():
            truth.symlink_to(video.resolve())
        if not made.exists():
            generate(args.checkpoint, face["video"], audio=video, align=speech["align"], out=made, log=None)
        pairs.append({"speech": str(video), "align": speech["align"], "face": face["video"], "generated": str(made)})
        print(f"{stem}: speech {video.name} on the face of {Path(face['video']).name}", flush=True)
    result = run_benchmark(out / "generated", out / "ground_truth", args.expert, progress=True)
    result["command"] = " ".join(["eval/cross_dub.py", *(argv if argv is not None else sys.argv[1:])])
    result["pairs"] = pairs
    write_outputs(result, out / args.eval_name)
    (out / "pairs.json").write_text(json.dumps(pairs, indent=2) + "\n")
    summary = result["summary"]
    for name in ("generated", "ground_truth"):
        s = summary.get(name, {})
        print(f"{name:13s} LSE-D {s.get('lse_d', float('nan')):.3f}  LSE-C {s.get('lse_c', float('nan')):.3f}  "
              f"offset 0 in {s.get('offset_zero_share', float('nan')):.0%}")  # fmt: skip
    print(f"report: {out / args.eval_name / 'report.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
