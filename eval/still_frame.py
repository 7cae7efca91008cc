"""One frame of two videos side by side, as a PNG, to look for a seam at the paste-back's edge.

    python eval/still_frame.py INPUT_VIDEO GENERATED_VIDEO --frame 30 --out still.png [--zoom 2]

Frame ``--frame`` of each video (after conforming to 25 fps, as ``facekit generate`` reads its face input), input
left, generated right, scaled by ``--zoom`` (nearest neighbour, so no smoothing hides an edge).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def frame_at(path: Path, index: int) -> np.ndarray:
    from facekit.data.video import read_video, resample_fps

    frames = resample_fps(*read_video(path))
    if not 0 <= index < len(frames):
        sys.exit(f"still_frame: {path} has {len(frames)} frames at 25 fps; choose --frame below {len(frames)}")
    return frames[index]


def main(argv: list[str] | None = None) -> None:
    from PIL import Image

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path)
    parser.add_argument("generated", type=Path)
    parser.add_argument("--frame", type=int, default=30)
    parser.add_argument("--zoom", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    left, right = frame_at(args.input, args.frame), frame_at(args.generated, args.frame)
    if left.shape != right.shape:
        sys.exit(
            f"still_frame: frame sizes differ ({left.shape[1]}x{left.shape[0]} and {right.shape[1]}x{right.shape[0]})"
        )
    both = np.concatenate([left, np.full((left.shape[0], 4, 3), 255, np.uint8), right], axis=1)
    both = both.repeat(args.zoom, axis=0).repeat(args.zoom, axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(both).save(args.out)
    print(f"wrote {args.out}: frame {args.frame}, {args.input} (left) | {args.generated} (right), x{args.zoom}")


if __name__ == "__main__":
    main()
