"""Checks of the lip-sync measurement itself: does the expert find a known offset, and where is sync lost on the way
from the generator's crops to the video file?

- :func:`offset_check`: on held-out ground truth, the clip's audio delayed by k frames must be found at offset k;
- :func:`sync_by_stage`: one ``facekit generate`` run scored by the expert at each stage up to the written mp4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def offset_check(
    expert: str | Path, data: str | Path, split: str = "eval", shifts: int = 6, max_clips: int | None = None
) -> dict:
    """For every clip of ``split`` (under the expert's own split setting, so never a clip it trained on) and every
    k in -shifts..shifts: the offset the SyncNet protocol finds with the audio delayed by k frames
    (``facekit.metrics.sync.offset_recovery``). Returns the share found exactly and within one frame, per k and
    overall, the ground truth's own LSE-D / LSE-C, and every clip's findings (``per_clip``)."""
    from facekit.data.clips import load_clip, read_manifest
    from facekit.data.dataset import select_split
    from facekit.metrics.sync import SyncEvaluator, offset_recovery

    evaluator = SyncEvaluator(expert)
    cfg_data = _expert_data_config(expert)
    infos = select_split(read_manifest(data)[1], split, cfg_data)[:max_clips]
    if not infos:
        raise ValueError(f"{data}: no clips in the {split!r} split (the expert's data.split_by={cfg_data.split_by})")
    ks = list(range(-shifts, shifts + 1))
    per_clip, lse_d, lse_c = [], [], []
    for info in infos:
        clip = load_clip(data, info)
        found = offset_recovery(evaluator, clip.frames, clip.audio, range(-shifts, shifts + 1))
        truth = evaluator.evaluate(clip.frames, clip.mel)
        lse_d.append(truth.lse_d)
        lse_c.append(truth.lse_c)
        per_clip.append({"clip": info.id, "found": {str(k): v for k, v in found.items()}, "lse_d": truth.lse_d})
    errors = np.array([[c["found"][str(k)] - k for k in ks] for c in per_clip])
    return {
        "expert_id": evaluator.expert_id,
        "data": str(data),
        "split": split,
        "split_by": cfg_data.split_by,
        "clips": len(per_clip),
        "shifts": ks,
        "exact_share": float((errors == 0).mean()),
        "within_one_share": float((np.abs(errors) <= 1).mean()),
        "ground_truth_offset_zero_share": float((errors[:, ks.index(0)] == 0).mean()),
        "per_shift_exact": {str(k): float((errors[:, i] == 0).mean()) for i, k in enumerate(ks)},
        "per_shift_within_one": {str(k): float((np.abs(errors[:, i]) <= 1).mean()) for i, k in enumerate(ks)},
        "ground_truth_lse_d": float(np.mean(lse_d)),
        "ground_truth_lse_c": float(np.mean(lse_c)),
        "per_clip": per_clip,
    }


def _expert_data_config(expert: str | Path):
    from facekit.checkpoints import checkpoint_config, load_checkpoint

    return checkpoint_config(load_checkpoint(expert, "expert"), expert).data


def sync_by_stage(
    checkpoint: str | Path,
    face: str | Path,
    audio: str | Path,
    expert: str | Path,
    align: str | Path | None = None,
    text: str | None = None,
) -> dict:
    """Run ``facekit generate`` once and score LSE-D / LSE-C / offset (``expert``, speech = ``audio``) on

    1. ``crops``: the model's crops, before pasting (what checkpoint-mode ``facekit eval`` scores);
    2. ``pasted``: the pasted frames, cut again with the face's own crop transform (the paste mask's effect);
    3. ``mp4_same_transform``: the written mp4, decoded, cut the same way (adds the H.264 round trip);
    4. ``mp4_own_landmarks``: the written mp4 with its face found and aligned anew, as folder-mode ``facekit eval``;
    5. ``real_video_of_the_speech``: ``audio``'s own video, found and aligned the same way (when it is a video with
       a face; otherwise the reason is in ``result["no_real_video"]``).

    A face that already is an aligned crop (nothing pasted) raises ValueError.
    """
    import tempfile

    from facekit.data import crop
    from facekit.data.audio import load_audio, melspectrogram
    from facekit.data.video import read_video
    from facekit.generate import generate
    from facekit.inputs import align_face
    from facekit.metrics.sync import SyncEvaluator

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "generated.mp4"
        run = generate(checkpoint, face, audio=audio, align=align, text=text, out=video, return_frames=True, log=None)
        written = read_video(video)[0][: run["num_frames"]]
        if "transforms" not in run:
            raise ValueError(f"{face} is an aligned crop (nothing pasted); give a full image or video")
        size = run["image_size"]
        alpha, beta = run["transforms"]
        stages = {
            "crops": run["crops"],
            "pasted": crop.warp_frames(run["frames"], alpha, beta, size),
            "mp4_same_transform": crop.warp_frames(written, alpha, beta, size),
            "mp4_own_landmarks": align_face(written, size, video).crops,
        }
    result: dict = {}
    try:
        stages["real_video_of_the_speech"] = align_face(read_video(audio)[0], size, audio).crops
    except Exception as exc:  # audio only, or no face: nothing to compare with
        result["no_real_video"] = f"{type(exc).__name__}: {exc}"
    sync = SyncEvaluator(expert)
    mel = melspectrogram(load_audio(audio))
    figures = {}
    for name, frames in stages.items():  # uint8 (T, S, S, 3) or float (T, 3, S, S): the evaluator converts both
        r = sync.evaluate(frames, mel, run["fps"])
        figures[name] = {"lse_d": round(r.lse_d, 4), "lse_c": round(r.lse_c, 4), "offset": int(r.offset)}
    result.update(
        expert_id=sync.expert_id,
        generate={k: v for k, v in run.items() if k not in ("frames", "crops", "transforms")},
        stages=figures,
    )
    return result
