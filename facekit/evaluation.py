"""Evaluate a trained generator on a prepared split, beside the trivial baselines and the ground truth.

For every held-out clip the generator paints the mouth of every frame (one fixed reference frame per clip, as at
inference). Compared on the mouth region (the lower half it generates):

- ``generated``        -- the model's frames;
- ``reference_pasted`` -- the reference frame's lower half pasted into the masked target (a model that ignores speech);
- ``mean_mouth``       -- the clip's own temporal mean of the ground-truth lower half (an oracle still mouth);
- ``ground_truth``     -- for the sync figures only (the real video's own LSE-D / LSE-C / offset under the same expert).

Figures: mouth-region L1, SSIM and PSNR against ground truth, and LSE-D, LSE-C and AV offset by the SyncNet protocol
with facekit's sync expert (its checkpoint id reported with the figures).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facekit.checkpoints import load_generator
from facekit.config import ConfigError, DataConfig
from facekit.contract import Contract, check_expert_for_scoring, load_contract, overlap_note
from facekit.data.clips import ClipInfo, load_clip, read_manifest
from facekit.data.dataset import clip_windows, mouth_label, select_split
from facekit.metrics.image import mouth_region, psnr, ssim
from facekit.models.lipsync import LipSyncModel

METHODS = ("generated", "reference_pasted", "mean_mouth")


@torch.no_grad()
def generate_frames(model: LipSyncModel, windows: dict[str, torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    """All frames of a clip's windows (see ``clip_windows``) -> generated (T, 3, S, S) in [0, 1]."""
    device = next(model.parameters()).device
    n = windows["target"].shape[0]
    out = []
    for i in range(0, n, batch_size):
        batch = {k: v[i : i + batch_size].to(device) for k, v in windows.items()}
        out.append(model(batch)["image"].cpu())
    return torch.cat(out)


def baselines(windows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trivial baselines' frames (T, 3, S, S)."""
    masked, target, reference = windows["masked"], windows["target"], windows["reference"]
    half = target.shape[-2] // 2
    pasted = masked.clone()
    pasted[..., half:, :] = reference[..., half:, :]
    mean = masked.clone()
    mean[..., half:, :] = target[..., half:, :].mean(dim=0, keepdim=True)
    return {"reference_pasted": pasted, "mean_mouth": mean}


def image_scores(
    pred: torch.Tensor, target: torch.Tensor, skip: int | None = None, lpips_net: torch.nn.Module | None = None
) -> dict[str, float]:
    """Mouth-region L1, SSIM and PSNR (and LPIPS with ``lpips_net``), per frame, then the mean; frame ``skip`` (the
    reference) is left out. PSNR of an identical frame (infinite) is capped at 100 dB."""
    keep = [i for i in range(pred.shape[0]) if i != skip]
    p, t = mouth_region(pred[keep]), mouth_region(target[keep])
    scores = {
        "mouth_l1": float((p - t).abs().mean()),
        "mouth_ssim": float(ssim(p, t)),
        "mouth_psnr": float(psnr(p, t, reduction="none").clamp(max=100).mean()),
    }
    if lpips_net is not None:
        with torch.no_grad():
            scores["mouth_lpips"] = float(
                torch.cat([lpips_net(p[i : i + 64], t[i : i + 64]) for i in range(0, len(p), 64)]).mean()
            )
    return scores


def mouth_lpips_or_reason(image_size: int) -> tuple[torch.nn.Module | None, str]:
    """``metrics.lpips.lpips_or_reason``, and None with the reason when the mouth region is below AlexNet's 31 px."""
    from facekit.metrics.lpips import lpips_or_reason

    if image_size // 2 < 31:
        return None, f"skipped: the mouth region ({image_size // 2} px high) is below AlexNet's 31 px"
    return lpips_or_reason()


def choose_clips(
    checkpoint: str | Path, contract: Contract, data: DataConfig, data_root: str | Path, split: str
) -> tuple[list[ClipInfo], list[str]]:
    """The clips of ``split`` the generator's ``contract`` recorded (``all``: every clip of ``data_root``), in
    manifest order, and notes: which of them are missing from ``data_root``, or that no split was recorded (then it is
    drawn from the manifest by the checkpoint's rule ``data``, which re-preparing the data may have moved)."""
    _, infos = read_manifest(data_root)
    if split == "all":
        return infos, []
    if contract.split is None:
        note = (f"{checkpoint} records no split (no contract recorded: made before facekit recorded one); its "
                f"{split} clips are drawn again from {data_root}'s manifest")  # fmt: skip
        return select_split(infos, split, data), [note]
    chosen = select_split(infos, split, data, contract.split)
    expected = contract.split.clip_ids(split)
    missing = sorted(set(expected) - {i.id for i in chosen})
    if not missing:
        return chosen, []
    return chosen, [f"{len(missing)} of the checkpoint's {len(expected)} {split} clips are missing from {data_root}: "
                    f"{', '.join(missing)}"]  # fmt: skip


def evaluate_generator(
    checkpoint: str | Path,
    data_root: str | Path,
    expert: str | Path | None = None,
    split: str = "eval",
    max_clips: int | None = None,
    reference_index: int = 0,
    *,
    still_face: bool = False,
    lpips: bool = True,
    details: bool = False,
    num_samples: int = 4,
    allow_expert_overlap: bool = False,
) -> dict:
    """Per-clip and mean figures of the generator and the baselines on ``split`` of ``data_root``.

    The clips are those the checkpoint recorded for ``split`` (:func:`choose_clips`). ``expert`` is checked against
    the generator's data contract (``facekit.contract``): another frame rate is an error, another crop size a stated
    resize, and an expert that trained on any scored clip is refused unless ``allow_expert_overlap`` (then the
    result's title and summary begin with the warning).
    ``still_face``: animate the reference frame (see ``clip_windows``) instead of re-dubbing each clip's own video.
    ``lpips``: also mouth-region LPIPS when its weights are fetched (else the reason it is skipped, in the summary).
    ``details``: also keep what ``facekit.report.write_report`` draws -- the mdist(offset) and per-frame confidence
    curves of every clip (``result["sync"]``) and 4 sample frames of the first ``num_samples`` clips
    (``result["samples"]``, arrays, not JSON).
    """
    model, cfg = load_generator(checkpoint)
    contract = load_contract(checkpoint, "generator")
    infos, notes = choose_clips(checkpoint, contract, cfg.data, data_root, split)
    infos = infos[:max_clips]
    if not infos:
        raise ConfigError(f"{data_root}: none of the checkpoint's {split} clips is there; give the data it was "
                          f"trained on, or --split all")  # fmt: skip
    mouth = mouth_label(infos, cfg.model.cascade.order)  # from the clips' own record: "oracle mouth" is labelled
    sync, warning = None, None
    if expert is not None:
        from facekit.metrics.sync import SyncEvaluator

        resize = check_expert_for_scoring(expert, contract)
        warning = overlap_note(expert, [i.id for i in infos], allow_expert_overlap)
        notes += [n for n in (warning, resize) if n]
        sync = SyncEvaluator(expert)
    lpips_net, lpips_note = mouth_lpips_or_reason(cfg.data.image_size) if lpips else (None, "skipped: not asked for")
    clips, curves, samples = [], [], []
    for info in infos:
        clip = load_clip(data_root, info)
        windows = clip_windows(clip, cfg.data, reference_index, still_face)
        frames = {"generated": generate_frames(model, windows), **baselines(windows)}
        record: dict = {"clip": info.id, "identity": info.identity}
        for name in METHODS:
            record[name] = image_scores(frames[name], windows["target"], skip=reference_index, lpips_net=lpips_net)
        if sync is not None:
            curve: dict = {
                "clip": info.id,
                "network": f"facekit expert {sync.expert_id}",
                "mdist": {},
                "confidence": {},
            }
            for name, video in (("generated", frames["generated"]), ("ground_truth", windows["target"])):
                result = sync.evaluate(video, clip.mel, cfg.data.fps)
                record.setdefault(name, {}).update(lse_d=result.lse_d, lse_c=result.lse_c, offset=result.offset)
                curve["offsets"] = result.offsets.tolist()
                curve["mdist"][name] = [round(float(x), 6) for x in result.mdist]
                curve["confidence"][name] = [round(float(x), 6) for x in result.confidence_per_frame]
            curves.append(curve)
        if details and len(samples) < num_samples:
            picks = np.unique(np.linspace(0, len(windows["target"]) - 1, 4).round().astype(int)).tolist()
            shown = {**frames, "ground_truth": windows["target"]}
            samples.append({"clip": info.id, "frames": picks, **{k: v[picks] for k, v in shown.items()}})
        clips.append(record)
    summary = {
        name: {k: float(np.mean([c[name][k] for c in clips])) for k in clips[0][name]}
        for name in (*METHODS, "ground_truth")
        if name in clips[0]
    }
    if sync is not None:
        for name in ("generated", "ground_truth"):
            summary[name]["offset_zero_share"] = float(np.mean([c[name]["offset"] == 0 for c in clips]))
        summary["expert_id"] = sync.expert_id
    summary["lpips"] = lpips_note
    summary["mouth_modality"] = mouth
    if warning:
        summary = {"warning": warning, **summary}
    result = {
        "split": split,
        "mouth_modality": mouth,
        "clips": len(clips),
        "checkpoint": str(checkpoint),
        "still_face": still_face,
        "summary": summary,
        "per_clip": clips,
        "notes": notes,
    }
    if details:
        result["title"] = f"facekit eval: {checkpoint} on the {split} split of {data_root}" + (
            " (oracle mouth)" if mouth == "oracle mouth" else ""
        )
        if warning:
            result["title"] = f"{warning} -- {result['title']}"
        result["settings"] = {
            "data": str(data_root),
            "split": split,
            "reference_frame": f"frame {reference_index} of each clip (left out of the image figures)",
            "face_input": (
                "still: the reference frame's mouthless face for every frame"
                if still_face
                else "the clip's own frames, mouth masked (re-dubbing)"
            ),
            "region": "mouth region: the lower half of the crop (what the generator paints)",
            "psnr": "per frame, capped at 100 dB, then the mean",
            "sync_expert": f"facekit expert {sync.expert_id} ({sync.path})" if sync is not None else "none",
        }
        result["sync"], result["samples"] = curves, samples
    return result
