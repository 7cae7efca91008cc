"""Where lip sync is lost on the way from the generator's crops to the video file: the sync expert at each stage.

    .venv/bin/python eval/sync_by_stage.py --checkpoint runs/gen-grid/last.pt --face FACE --audio SPEECH \\
        [--align F.align | --text "..."] --expert runs/expert-grid/last.pt --out eval/results/....json

``facekit generate`` is run once; LSE-D / LSE-C / offset (the expert on the lower half of 96 px crops, speech =
``--audio``) are then measured on

1. ``crops``: the model's crops, before pasting (what checkpoint-mode ``facekit eval`` scores);
2. ``pasted``: the pasted frames, cut again with the face's own crop transform (the paste mask's effect);
3. ``mp4_same_transform``: the written mp4, decoded, cut the same way (adds the H.264 round trip);
4. ``mp4_own_landmarks``: the written mp4 with its face found and aligned anew, as ``facekit eval`` folder mode does;

and on the real video of the speech (``--audio``, when it is a video with a face), as found and aligned the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from facekit.data import crop
from facekit.data.audio import load_audio, melspectrogram
from facekit.data.images import to_images
from facekit.data.video import read_video
from facekit.generate import generate
from facekit.inputs import align_face
from facekit.metrics.sync import SyncEvaluator


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

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "generated.mp4"
        run = generate(args.checkpoint, args.face, audio=args.audio, align=args.align, text=args.text, out=video,
                       return_frames=True, log=None)  # fmt: skip
        written = read_video(video)[0][: run["num_frames"]]
    if "transforms" not in run:
        sys.exit("sync_by_stage: the face was an aligned crop (nothing pasted); give a full image or video")
    size = run["image_size"]
    sync = SyncEvaluator(args.expert)
    mel = melspectrogram(load_audio(args.audio))
    alpha, beta = run["transforms"]
    stages = {
        "crops": run["crops"],
        "pasted": to_images(crop.warp_frames(run["frames"], alpha, beta, size)),
        "mp4_same_transform": to_images(crop.warp_frames(written, alpha, beta, size)),
        "mp4_own_landmarks": to_images(align_face(written, size, video).crops),
    }
    try:
        real = read_video(args.audio)[0]
        stages["real_video_of_the_speech"] = to_images(align_face(real, size, args.audio).crops)
    except Exception as exc:  # audio only, or no face: nothing to compare with
        print(f"no real video to compare with ({type(exc).__name__}: {exc})", file=sys.stderr)
    figures = {}
    for name, frames in stages.items():
        r = sync.evaluate(frames, mel, run["fps"])
        figures[name] = {"lse_d": round(r.lse_d, 4), "lse_c": round(r.lse_c, 4), "offset": int(r.offset)}
        print(f"{name:26s} LSE-D {r.lse_d:.3f}  LSE-C {r.lse_c:.3f}  offset {int(r.offset):+d}", flush=True)
    result = {
        "command": " ".join(["eval/sync_by_stage.py", *(argv if argv is not None else sys.argv[1:])]),
        "expert_id": sync.expert_id,
        "generate": {k: v for k, v in run.items() if k not in ("frames", "crops", "transforms")},
        "stages": figures,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
