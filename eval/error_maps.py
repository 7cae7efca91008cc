"""Where a generator's mouth error is: per-pixel error maps of the re-dubbed lower half, beside the trivial baselines.

    python eval/error_maps.py --checkpoint runs/fit/generator/5-sharp/last.pt --data runs/fit/data --split val \
        --out error_maps.png [--max-clips N]

Every clip of ``--split`` is re-dubbed as ``facekit eval`` does (its own face video, reference frame 0, which is
left out of the figures). For the generator and each baseline (``reference_pasted``, ``mean_mouth``) the absolute
error against the real frames is averaged over each clip's frames and the colour channels, then over clips: the map's
mean is ``facekit eval``'s mouth L1. The JSON beside the PNG splits it:

- ``box_l1`` / ``outside_box_l1``: inside the box around the aligned mouth (lips and teeth, ``data.crop.mouth_box``)
  and in the rest of the lower half (chin, cheeks, jaw line);
- ``bias_l1``: the part that is the same in every frame of a clip -- the absolute value of each clip's mean signed
  error (a colour or shape offset the whole clip shares), averaged like the rest; always at most the L1.

The PNG: one heat map per method on one scale, and the generator's map less the mean mouth's (red: the generator is
worse there; blue: better).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

METHODS = ("generated", "reference_pasted", "mean_mouth")


def box_mask(size: int):
    """(size // 2, size) bool: the mouth box's pixels within the lower half of a size x size crop."""
    import torch

    from facekit.data.crop import mouth_box

    mask = torch.zeros(size, size, dtype=torch.bool)
    mouth_box(mask)[...] = True
    return mask[size // 2 :]


def figures(maps: dict, mask) -> dict:
    """Per method: the L1 and its split (see the module docstring), from the clip-averaged maps."""
    out = {}
    for name, (l1, bias) in maps.items():
        out[name] = {"l1": round(float(l1.mean()), 6), "box_l1": round(float(l1[mask].mean()), 6),
                     "outside_box_l1": round(float(l1[~mask].mean()), 6),
                     "share_of_error_in_box": round(float(l1[mask].sum() / l1.sum()), 4),
                     "bias_l1": round(float(bias.mean()), 6)}  # fmt: skip
    return out


def draw(maps: dict, mask, path: Path, title: str) -> None:
    from matplotlib.figure import Figure

    l1 = {name: m[0].numpy() for name, m in maps.items()}
    top = float(max(np.percentile(v, 99.5) for v in l1.values()))
    diff = l1["generated"] - l1["mean_mouth"]
    span = float(np.percentile(np.abs(diff), 99.5)) or 1e-6
    fig = Figure(figsize=(3.2 * (len(l1) + 1), 2.6), layout="constrained")
    axes = fig.subplots(1, len(l1) + 1)
    for ax, (name, m) in zip(axes, l1.items(), strict=False):
        shown = ax.imshow(m, cmap="magma", vmin=0, vmax=top)
        ax.set_title(f"{name}\nL1 {m.mean():.4f}", fontsize=9)
    fig.colorbar(shown, ax=axes[: len(l1)], shrink=0.8, label="mean |error|")
    shown = axes[-1].imshow(diff, cmap="coolwarm", vmin=-span, vmax=span)
    axes[-1].set_title("generated - mean_mouth\n(red: generated worse)", fontsize=9)
    fig.colorbar(shown, ax=axes[-1], shrink=0.8)
    rows, cols = np.nonzero(mask.numpy())
    for ax in axes:
        ax.add_patch(_box(rows, cols))
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _box(rows, cols):
    from matplotlib.patches import Rectangle

    return Rectangle((cols.min() - 0.5, rows.min() - 0.5), np.ptp(cols) + 1, np.ptp(rows) + 1, fill=False,
                     edgecolor="white", linewidth=0.8, linestyle="--")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="the generator: a last.pt or a shipped model name")
    parser.add_argument("--data", type=Path, required=True, help="the prepared clips it trained on")
    parser.add_argument("--split", default="eval", choices=["eval", "val", "train", "all"],
                        help="the clips to re-dub (default eval: the held-out clips)")  # fmt: skip
    parser.add_argument("--max-clips", type=int, help="only the first N clips of the split")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write (a JSON of the figures beside it)")
    args = parser.parse_args(argv)

    import torch

    from facekit.checkpoints import load_generator
    from facekit.contract import load_contract
    from facekit.data.clips import load_clip
    from facekit.data.dataset import clip_windows
    from facekit.evaluation import baselines, choose_clips, generate_frames
    from facekit.metrics.image import mouth_error_maps

    try:
        model, cfg = load_generator(args.checkpoint)
        infos, notes = choose_clips(args.checkpoint, load_contract(args.checkpoint, "generator"), cfg.data,
                                    args.data, args.split)  # fmt: skip
    except ValueError as error:  # CheckpointError, ConfigError: the message names the file
        print(f"error_maps: {error}", file=sys.stderr)
        return 2
    for note in notes:
        print(f"error_maps: {note}", file=sys.stderr)
    infos = infos[: args.max_clips]
    if not infos:
        print(f"error_maps: no {args.split} clip of the checkpoint is in {args.data}", file=sys.stderr)
        return 2
    total: dict[str, list] = {}
    with torch.no_grad():
        for info in infos:
            windows = clip_windows(load_clip(args.data, info), cfg.data, 0, False)
            frames = {"generated": generate_frames(model, windows), **baselines(windows)}
            for name, (l1, bias) in mouth_error_maps(frames, windows["target"], 0).items():
                acc = total.setdefault(name, [0, 0])
                acc[0], acc[1] = acc[0] + l1, acc[1] + bias
    maps = {name: (total[name][0] / len(infos), total[name][1] / len(infos)) for name in METHODS}
    mask = box_mask(cfg.data.image_size)
    record = {"command": "python eval/error_maps.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "checkpoint": str(args.checkpoint), "split": args.split, "clips": [i.id for i in infos],
              "region": "the crop's lower half; box: data.crop.MOUTH_BOX", "figures": figures(maps, mask)}  # fmt: skip
    draw(maps, mask, args.out, f"{args.checkpoint} - {args.split} clips ({len(infos)}), re-dub")
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    for name, figs in record["figures"].items():
        print(f"{name:17s} " + "  ".join(f"{k} {v}" for k, v in figs.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
