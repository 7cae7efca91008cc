"""Side-by-side mouth crops of held-out frames where the mouth is open widest: reference | each generator | real.

    python eval/open_mouth_crops.py --data runs/fit-grid-s1/data --checkpoint before=grid-s1 \
        --checkpoint after=runs/sharp/last.pt --out crops.png [--frames 6] [--zoom 3]

Every checkpoint must hold out the same clips (their validation clips may differ). For each held-out clip the
frame with the widest inner-lip gap (68-point landmarks 62 and 66, in the crop's pixels) is a candidate; the
``--frames`` widest are shown, one per clip. Each row: the reference frame (frame 0; the generator sees it and the
target frame with its lower half masked), each checkpoint's generated frame (re-dub: the clip's own face video, as
``facekit eval``), the real frame; the lower half only (what is generated), scaled ``--zoom`` times, no smoothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

INNER_UPPER, INNER_LOWER = 62, 66  # iBUG 68-point inner-lip middles


def widest_frames(data_root: Path, infos, count: int) -> list[tuple[str, int, float]]:
    from facekit.data.clips import load_clip

    best = []
    for info in infos:
        marks = load_clip(data_root, info).landmarks
        gap = np.linalg.norm(marks[:, INNER_LOWER] - marks[:, INNER_UPPER], axis=1)
        gap[0] = -1  # frame 0 is the reference: never scored
        k = int(gap.argmax())
        best.append((info.id, k, float(gap[k])))
    return sorted(best, key=lambda b: -b[2])[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the prepared clips the generators trained on")
    parser.add_argument("--checkpoint", action="append", required=True, metavar="LABEL=PATH",
                        help="a generator (a last.pt or a shipped name) and its column label; repeat")  # fmt: skip
    parser.add_argument("--frames", type=int, default=6, help="rows: the widest-open held-out frames, one per clip")
    parser.add_argument("--zoom", type=int, default=3, help="pixel scale of the crops")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write (a JSON of the frames beside it)")
    args = parser.parse_args(argv)
    pairs = [c.split("=", 1) for c in args.checkpoint]
    if any(len(p) != 2 or not p[0] for p in pairs):
        print("open_mouth_crops: give each --checkpoint as LABEL=PATH, e.g. before=grid-s1", file=sys.stderr)
        return 2

    from PIL import Image, ImageDraw

    from facekit.checkpoints import load_generator
    from facekit.contract import load_contract
    from facekit.data.clips import load_clip
    from facekit.data.dataset import clip_windows
    from facekit.evaluation import choose_clips, generate_frames

    models = [(label, *load_generator(path)) for label, path in pairs]
    contracts = [load_contract(path, "generator") for _, path in pairs]
    if any(c.split.eval != contracts[0].split.eval for c in contracts[1:]):  # validation clips may differ
        print("open_mouth_crops: the checkpoints hold out different clips; compare models of one held-out split",
              file=sys.stderr)  # fmt: skip
        return 2
    infos, notes = choose_clips(pairs[0][1], contracts[0], models[0][2].data, args.data, "eval")
    for note in notes:
        print(f"open_mouth_crops: {note}", file=sys.stderr)
    by_id = {i.id: i for i in infos}
    rows, chosen = [], widest_frames(args.data, infos, args.frames)
    for clip_id, k, _gap in chosen:
        clip = load_clip(args.data, by_id[clip_id])
        tiles = []
        for _label, model, mcfg in models:
            windows = clip_windows(clip, mcfg.data, 0, False)
            tiles.append(generate_frames(model, {key: v[k : k + 1] for key, v in windows.items()})[0])
        tiles = [windows["reference_frame"][k], *tiles, windows["target"][k]]
        half = tiles[0].shape[-2] // 2
        strip = [(t[:, half:].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8) for t in tiles]
        gapcol = np.full((strip[0].shape[0], 2, 3), 255, np.uint8)
        rows.append(np.concatenate([x for s in strip for x in (s, gapcol)][:-1], axis=1))
    grid = np.concatenate([x for r in rows for x in (r, np.full((2, r.shape[1], 3), 255, np.uint8))][:-1], axis=0)
    grid = grid.repeat(args.zoom, axis=0).repeat(args.zoom, axis=1)
    head = 16
    image = Image.new("RGB", (grid.shape[1], grid.shape[0] + head), "white")
    image.paste(Image.fromarray(grid), (0, head))
    draw, width = ImageDraw.Draw(image), (strip[0].shape[1] + 2) * args.zoom
    for i, label in enumerate(["reference (input)", *(m[0] for m in models), "real"]):
        draw.text((i * width + 4, 2), label, fill="black")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out)
    columns = ["reference frame (the input's lower half is masked)", *(f"{lab}: {path}" for lab, path in pairs), "real"]
    record = {"command": "python eval/open_mouth_crops.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "columns": columns,
              "rows": [{"clip": c, "frame": k, "inner_lip_gap_px": round(g, 2)} for c, k, g in chosen]}  # fmt: skip
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"open_mouth_crops: wrote {args.out} ({len(rows)} frames x {len(models)} generators)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
