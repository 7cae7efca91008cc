"""Faces that move: does the painted lower face follow the head?

    python eval/moving_faces.py --checkpoint grid-s1 --data data/grid-s1 --out-dir runs/moving-faces \\
        [--candidates 20] [--clips 6] [--extra OTHER_VIDEO ...]

From the generator's held-out clips (its recorded split) that have a video and a transcript, the ``--clips`` whose
heads move most (of the first ``--candidates``) are re-dubbed with their own speech (audio + ``.align``) through
``facekit generate``: each output frame keeps the input frame's head, and only the painted lower face can drift from
it. ``--extra`` videos (any face video with sound, e.g. other people) are re-dubbed from their audio alone.

Measured with the folder benchmark (``facekit.benchmark``: both videos cut with the input's alignment) in pixels of
the 96 px aligned crop: the outer jaw line's landmark distance (68-point 0-4 and 12-16, ``jaw_lmd``) of the output
against the input video, beside the same figure for the input merely re-encoded (decoded and written again as
``facekit generate`` writes, crf 12): what detection and encoding alone cost. Head motion of a clip: the RMS distance
of the eye-and-nose centroid (68-point 27-47) from its mean over the clip, in crop pixels (scaled by the crop
alignment's own scale, ``facekit.data.crop.fit_similarity``).

Writes ``OUT/results.json`` (per clip and mean), ``OUT/README.md`` (the table) and ``OUT/frame_<clip>.png``: the
frame of the most-moving clip farthest from its first frame's head position, input | output (2x, nearest).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

CROP = 96


def head_motion(video: Path) -> tuple[float, int]:
    """(RMS head motion in crop pixels, the frame farthest from the first frame's head position) of ``video``: the
    eye-and-nose centroid, scaled to crop pixels by the crop alignment's own scale (``facekit.data.crop``)."""
    from facekit.data.crop import fit_similarity
    from facekit.data.video import read_video, resample_fps
    from facekit.metrics.landmarks import detect_landmarks

    landmarks = detect_landmarks(resample_fps(*read_video(video)), every=5)
    found = np.isfinite(landmarks).all(axis=(1, 2))
    alpha, _ = fit_similarity(landmarks[found], CROP)  # video pixels per crop pixel, per frame
    centre = landmarks[found][:, 27:48].mean(axis=1)  # nose and eyes: the head, not the jaw
    rms = float(np.sqrt(((centre - centre.mean(0)) ** 2).sum(-1).mean()) / np.abs(alpha).mean())
    far = int(np.flatnonzero(found)[np.linalg.norm(centre - centre[0], axis=-1).argmax()])
    return rms, far


def reencode(video: Path, out: Path) -> None:
    from facekit.data.audio import load_audio
    from facekit.data.video import read_video, resample_fps, write_video
    from facekit.generate import OUTPUT_CRF

    frames = resample_fps(*read_video(video))
    write_video(out, frames, 25.0, load_audio(video), crf=OUTPUT_CRF)


def main(argv: list[str] | None = None) -> int:
    from facekit.benchmark import run_benchmark
    from facekit.crossdub import held_out_clips
    from facekit.generate import generate

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="generator checkpoint or shipped model name")
    p.add_argument("--data", required=True, help="prepared clips of the generator's data (its held-out split)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--candidates", type=int, default=20, help="held-out clips whose head motion is measured")
    p.add_argument("--clips", type=int, default=6, help="the most-moving of them that are re-dubbed")
    p.add_argument("--extra", nargs="*", default=[], help="other face videos with sound (re-dubbed from audio)")
    args = p.parse_args(argv)
    out = Path(args.out_dir)
    for sub in ("generated", "reencoded", "input"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    try:
        clips = held_out_clips(args.data, args.checkpoint, args.candidates, need=("video", "transcript"))
    except ValueError as exc:
        print(f"moving_faces: error: {exc}", file=sys.stderr)
        return 2
    jobs = [(Path(c.extra["video"]), {"align": c.extra["transcript"]}) for c in clips]
    motion = {video.stem: head_motion(video) for video, _ in jobs}
    jobs = sorted(jobs, key=lambda j: -motion[j[0].stem][0])[: args.clips]
    for extra in map(Path, args.extra):
        motion[extra.stem] = head_motion(extra)
        jobs.append((extra, {"drop": ["text"]}))
    for video, said in jobs:
        link = out / "input" / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
        made = out / "generated" / f"{video.stem}.mp4"
        if not made.exists():
            generate(args.checkpoint, video, audio=video, out=made, log=None, **said)
        if not (out / "reencoded" / f"{video.stem}.mp4").exists():
            reencode(video, out / "reencoded" / f"{video.stem}.mp4")

    scored = {name: run_benchmark(out / name, out / "input", None, progress=True)
              for name in ("generated", "reencoded")}  # fmt: skip
    rows = []
    for video, _ in jobs:
        stem = video.stem
        row = {"clip": stem, "head_motion_crop_px": round(motion[stem][0], 3), "farthest_frame": motion[stem][1]}
        for name, result in scored.items():
            clip = next((c for c in result["per_clip"] if c["clip"] == stem), None)
            figures = clip["generated"] if clip else {}
            row[f"{name}_jaw_lmd"] = figures.get("jaw_lmd")
            row[f"{name}_lmd"] = figures.get("lmd")
        rows.append(row)
    keys = ("generated_jaw_lmd", "reencoded_jaw_lmd", "generated_lmd", "reencoded_lmd", "head_motion_crop_px")
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in keys}
    command = " ".join(["python eval/moving_faces.py", *(argv if argv is not None else sys.argv[1:])])
    skipped = {name: result["skipped"] for name, result in scored.items() if result["skipped"]}
    results = {"command": command, "checkpoint": args.checkpoint, "per_clip": rows, "mean": mean, "skipped": skipped}
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")

    top = max(rows, key=lambda r: r["head_motion_crop_px"])
    still = Path(__file__).with_name("still_frame.py")
    frame_png = out / f"frame_{top['clip']}.png"
    sys.path.insert(0, str(still.parent))
    from still_frame import main as still_frame

    source = next(v for v, _ in jobs if v.stem == top["clip"])
    still_frame([str(source), str(out / "generated" / f"{top['clip']}.mp4"), "--frame", str(top["farthest_frame"]),
                 "--out", str(frame_png)])  # fmt: skip

    lines = [
        "# Faces that move: jaw line of the output against the input video",
        "",
        f"`{command}`",
        "",
        "Crop pixels of the 96 px aligned crop (the input's alignment applied to both videos). jaw: outer jaw line "
        "(68-point 0-4, 12-16); mouth: LMD (48-67). Re-encoded: the input decoded and written again at crf 12.",
        "",
        "| clip | head motion (RMS) | jaw, output | jaw, re-encoded | mouth, output | mouth, re-encoded |",
        "|---|---|---|---|---|---|",
    ]
    for r in [*rows, {"clip": "**mean**", **mean}]:
        cells = [r[k] for k in ("head_motion_crop_px", *keys[:4])]
        lines.append(f"| {r['clip']} | " + " | ".join("" if v is None else f"{v:.2f}" for v in cells) + " |")
    where = f"{top['clip']}, frame {top['farthest_frame']}: input left, output right"
    lines += ["", f"Frame: `{frame_png.name}` ({where})."]
    (out / "README.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
