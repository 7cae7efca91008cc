"""Speech on a face it was not recorded with: held-out sentences cross-dubbed onto each other's videos and stills.

Both studies use the held-out clips of a generator's own recorded split of the most common speaker, sorted
by id, so a generator is never scored on what it trained on and the speaker stays the same:

- :func:`cross_dub`: sentence ``i``'s audio and transcript generated (``facekit generate``) onto the *video* of
  sentence ``i + 1`` (the last onto the first), then scored by the folder benchmark (``facekit eval --generated``)
  against the real video of sentence ``i`` -- what dubbing another video asks;
- :func:`speech_face_matrix`: every sentence painted onto every clip's *still* face (frame 0 of its prepared crop),
  scored in-crop against the sentence's audio. The diagonal is ``facekit eval --still-face``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facekit.data.clips import ClipInfo


def held_out_clips(
    data: str | Path, checkpoint: str | Path, count: int, need: tuple[str, ...] = (), split: str = "eval"
) -> list[ClipInfo]:
    """The first ``count`` held-out clips of the generator ``checkpoint`` (the split its checkpoint recorded, as
    ``facekit eval`` uses; ``split="val"``: its validation clips instead) of the most common speaker, by id, that have
    every file named in ``need`` (keys of their ``extra``, e.g. ``("video", "transcript")``); at least two."""
    from facekit.checkpoints import checkpoint_config, load_checkpoint
    from facekit.contract import read_contract
    from facekit.evaluation import choose_clips

    state = load_checkpoint(checkpoint, "generator")
    cfg = checkpoint_config(state, checkpoint)
    chosen, _ = choose_clips(checkpoint, read_contract(state, checkpoint), cfg.data, data, split)
    held = [i for i in chosen if all(i.extra.get(k) for k in need)]
    if not held:
        having = f" with {' and '.join(need)}" if need else ""
        which = "validation" if split == "val" else "held-out"
        raise ValueError(f"{data} has no {which} clips{having} of {checkpoint}'s split ({cfg.data.split_by})")
    speaker = Counter(i.identity for i in held).most_common(1)[0][0]
    clips = sorted((i for i in held if i.identity == speaker), key=lambda i: i.id)[:count]
    if len(clips) < 2:
        raise ValueError(f"{data}: only {len(clips)} held-out clip(s) of {speaker}; two are needed to swap faces")
    return clips


def cross_dub_pairs(clips: list[ClipInfo]) -> list[tuple[ClipInfo, ClipInfo]]:
    """(speech clip, face clip) pairs: each clip's speech on the next clip's face, the last on the first's."""
    return [(clips[k], clips[(k + 1) % len(clips)]) for k in range(len(clips))]


def cross_dub(
    checkpoint: str | Path,
    data: str | Path,
    expert: str | Path,
    out_dir: str | Path,
    pairs: int = 10,
    log: Callable[[str], None] = print,
    split: str = "eval",
    allow_expert_overlap: bool = False,
) -> dict:
    """Generate every pair of :func:`cross_dub_pairs` into ``out_dir/generated/<sentence>.mp4``, link each sentence's
    real video into ``out_dir/ground_truth``, and score them with the folder benchmark under ``expert``.

    Videos already there are kept when ``out_dir/generated/made_by.json`` names this same checkpoint (its sha256) and
    the same face for them, so another expert can score the same videos; videos of another checkpoint, of an unrecorded
    one or on another face (another ``pairs`` moves the last pair's face) are made again, and those of sentences no
    longer paired are removed. ``split="val"`` pairs the generator's validation clips (to choose settings on);
    ``allow_expert_overlap`` scores with an expert that trained on them (the result says so).

    Returns the benchmark's result (``facekit.report``'s shape) with ``result["pairs"]``: speech, transcript, face
    and generated video of every pair.
    """
    from facekit.benchmark import BenchmarkOptions, run_benchmark
    from facekit.generate import generate

    out = Path(out_dir)
    (out / "generated").mkdir(parents=True, exist_ok=True)
    (out / "ground_truth").mkdir(parents=True, exist_ok=True)
    chosen = cross_dub_pairs(held_out_clips(data, checkpoint, pairs, need=("video", "transcript"), split=split))
    faces = {Path(speech.extra["video"]).stem: str(face.extra["video"]) for speech, face in chosen}
    _keep_only_videos_of(checkpoint, faces, out, log)
    made_pairs = []
    for speech, face in chosen:
        video = Path(speech.extra["video"])
        transcript = speech.extra["transcript"]
        said = {"align": transcript} if transcript.endswith(".align") else {"text": speech.extra["sentence"]}
        made = out / "generated" / f"{video.stem}.mp4"
        truth = out / "ground_truth" / video.name
        if not truth.exists():
            truth.symlink_to(video.resolve())
        if not made.exists():
            generate(checkpoint, face.extra["video"], audio=video, out=made, log=None, **said)
        made_pairs.append(
            {"speech": str(video), "transcript": transcript, "face": face.extra["video"], "generated": str(made)}
        )
        log(f"{video.stem}: speech {video.name} on the face of {Path(face.extra['video']).name}")
    # the real video shows another face: sync only
    options = BenchmarkOptions(compare_images=False, allow_expert_overlap=allow_expert_overlap)
    result = run_benchmark(out / "generated", out / "ground_truth", expert, options=options, progress=True)
    result["pairs"] = made_pairs
    return result


def _keep_only_videos_of(checkpoint: str | Path, faces: dict[str, str], out: Path, log: Callable[[str], None]) -> None:
    """Keep a video in ``out/generated`` only when ``made_by.json`` says it was made by ``checkpoint`` (its file hash)
    on the face ``faces[its stem]`` asks for; delete the others, and the real videos of sentences not in ``faces``
    (the benchmark scores the whole folder). Then record what the folder will hold."""
    import json

    from facekit.metrics.sync import checkpoint_id

    folder = out / "generated"
    stamp = folder / "made_by.json"
    made_by = {"checkpoint": str(checkpoint), "checkpoint_id": checkpoint_id(checkpoint), "faces": faces}
    recorded = json.loads(stamp.read_text()) if stamp.is_file() else {}
    same_model = recorded.get("checkpoint_id") == made_by["checkpoint_id"]
    old = sorted(folder.glob("*.mp4"))
    stale = [v for v in old if not same_model or recorded.get("faces", {}).get(v.stem) != faces.get(v.stem)]
    if stale:
        was = f"checkpoint {recorded['checkpoint_id']}" if recorded else "an unrecorded checkpoint"
        if not same_model:
            why = f"{was}, not of {checkpoint}"
        else:
            why = "another face or no longer a pair" if "faces" in recorded else "made on faces not recorded"
        log(f"{folder}: {len(stale)} of {len(old)} videos made again or dropped ({why})")
        for video in stale:
            video.unlink()
    for truth in (out / "ground_truth").glob("*"):
        if truth.stem not in faces:
            truth.unlink()
    stamp.write_text(json.dumps(made_by, indent=2) + "\n")


def speech_face_matrix(
    checkpoint: str | Path, data: str | Path, expert: str | Path, clips: int = 8, log: Callable[[str], None] = print
) -> dict:
    """LSE-D and LSE-C of every held-out sentence (rows) generated onto every held-out still face (columns).

    Cell (i, j): sentence i's audio and transcript, the mouthless face and reference of frame 0 of clip j, as
    ``facekit eval --still-face`` animates a clip's own frame 0; scored in-crop by ``expert`` against sentence i's
    audio. Returns both (n, n) matrices and their means on the diagonal (``own_face``) and off it (``other_face``).
    """
    import torch

    from facekit.data.clips import load_clip
    from facekit.data.dataset import clip_windows
    from facekit.evaluation import generate_frames, load_generator
    from facekit.metrics.sync import SyncEvaluator

    model, cfg = load_generator(checkpoint)
    chosen = [load_clip(data, i, mmap=False) for i in held_out_clips(data, checkpoint, clips)]
    sync = SyncEvaluator(expert)
    n = len(chosen)
    lse_d, lse_c = np.zeros((n, n)), np.zeros((n, n))
    for i, speech in enumerate(chosen):
        for j, face in enumerate(chosen):
            still = dataclasses.replace(speech, frames=np.repeat(face.frames[:1], speech.info.num_frames, 0))
            with torch.no_grad():
                made = generate_frames(model, clip_windows(still, cfg.data, 0, still_face=True))
            r = sync.evaluate(made, speech.mel, cfg.data.fps)
            lse_d[i, j], lse_c[i, j] = r.lse_d, r.lse_c
        log(f"{speech.info.id:12s} LSE-C " + " ".join(f"{x:.3f}" for x in lse_c[i]))
    off = ~np.eye(n, dtype=bool)
    return {
        "checkpoint": str(checkpoint),
        "expert_id": sync.expert_id,
        "clips": [c.info.id for c in chosen],
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
