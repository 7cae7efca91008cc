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

from facekit.data.clips import load_clip, read_manifest
from facekit.data.dataset import clip_windows, select_split
from facekit.metrics.image import mouth_region, psnr, ssim
from facekit.models.lipsync import LipSyncModel
from facekit.runtime import configure_cpu
from facekit.train.checkpoint import checkpoint_config, load_checkpoint

METHODS = ("generated", "reference_pasted", "mean_mouth")


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[LipSyncModel, object]:
    state = load_checkpoint(path, "generator", map_location=device)
    cfg = checkpoint_config(state, path)
    model = LipSyncModel(cfg)
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg


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
) -> dict:
    """Per-clip and mean figures of the generator and the baselines on ``split`` of ``data_root``.

    ``still_face``: animate the reference frame (see ``clip_windows``) instead of re-dubbing each clip's own video.
    ``lpips``: also mouth-region LPIPS when its weights are fetched (else the reason it is skipped, in the summary).
    ``details``: also keep what ``facekit.report.write_report`` draws -- the mdist(offset) and per-frame confidence
    curves of every clip (``result["sync"]``) and 4 sample frames of the first ``num_samples`` clips
    (``result["samples"]``, arrays, not JSON).
    """
    configure_cpu()
    model, cfg = load_generator(checkpoint)
    _, infos = read_manifest(data_root)
    infos = select_split(infos, split, cfg.data)[:max_clips]
    sync = None
    if expert is not None:
        from facekit.metrics.sync import SyncEvaluator

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
    result = {
        "split": split,
        "clips": len(clips),
        "checkpoint": str(checkpoint),
        "still_face": still_face,
        "summary": summary,
        "per_clip": clips,
    }
    if details:
        result["title"] = f"facekit eval: {checkpoint} on the {split} split of {data_root}"
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
