"""Evaluate a trained generator on a prepared split, beside the trivial baselines and the ground truth.

For every held-out clip the generator paints the mouth of every frame (one fixed reference frame per clip, as at
inference). Compared on the whole crop and on the mouth region (the lower half it generates):

- ``generated``        -- the model's frames;
- ``reference_pasted`` -- the reference frame's lower half pasted into the masked target (a model that ignores speech);
- ``mean_mouth``       -- the clip's own temporal mean of the ground-truth lower half (an oracle still mouth);
- ``ground_truth``     -- for the sync figures only (the real video's own LSE-D / LSE-C / offset under the same expert).

Figures: L1, SSIM, PSNR and LPIPS of the whole crop and of the mouth region against ground truth
(``facekit.metrics.image.clip_image_scores``, the same for every method), and LSE-D, LSE-C and AV offset by the
SyncNet protocol with facekit's sync expert (its checkpoint id reported with the figures). Each clip says whether the
expert finds its real video in sync, the summary how many it does, and a warning when it misses most
(``facekit.metrics.sync.SyncTrust``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facekit.checkpoints import load_checkpoint, load_generator, outside_training_data
from facekit.config import ConfigError, DataConfig
from facekit.contract import Contract, check_expert_for_scoring, load_contract, overlap_note
from facekit.data.clips import ClipInfo, load_clip, read_manifest
from facekit.data.dataset import clip_windows, mouth_label, select_split
from facekit.metrics.image import PSNR_CAP, clip_image_scores, scoring_lpips
from facekit.metrics.sync import SyncTrust
from facekit.models.lipsync import LipSyncModel
from facekit.report import summarise
from facekit.runtime import configure_cpu

METHODS = ("generated", "reference_pasted", "mean_mouth")


@torch.no_grad()
def generate_frames(model: LipSyncModel, windows: dict[str, torch.Tensor], batch_size: int = 64) -> torch.Tensor:
    """All frames of a clip's windows (see ``clip_windows``) -> generated (T, 3, S, S) in [0, 1]."""
    device = next(model.parameters()).device
    n = windows["target"].shape[0]
    out = []
    for i in range(0, n, batch_size):  # reference_frame is the baselines' (the model reads reference)
        batch = {k: v[i : i + batch_size].to(device) for k, v in windows.items() if k != "reference_frame"}
        out.append(model(batch)["image"].cpu())
    return torch.cat(out)


def baselines(windows: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The trivial baselines' frames (T, 3, S, S): the reference frame's lower half pasted (``reference_frame``: a
    real frame, whatever reference the model reads) and the clip's mean lower half."""
    masked, target, reference = windows["masked"], windows["target"], windows["reference_frame"]
    half = target.shape[-2] // 2
    pasted = masked.clone()
    pasted[..., half:, :] = reference[..., half:, :]
    mean = masked.clone()
    mean[..., half:, :] = target[..., half:, :].mean(dim=0, keepdim=True)
    return {"reference_pasted": pasted, "mean_mouth": mean}


def training_data_warnings(checkpoint: str | Path, data_root: str | Path) -> list[str]:
    """What the figures are worth when a generator is scored on real clips (``data_root``'s manifest source is not
    "synthetic") but trained on the synthetic corpus -- or does not record what it was trained on."""
    source = read_manifest(data_root)[0].get("source", "unknown")
    if source == "synthetic":
        return []
    trained_on = load_checkpoint(checkpoint, "generator").get("data_source")
    return outside_training_data(checkpoint, trained_on, f"real clips ({source})")


def choose_clips(
    checkpoint: str | Path, contract: Contract, data: DataConfig, data_root: str | Path, split: str
) -> tuple[list[ClipInfo], list[str]]:
    """The clips of ``split`` the generator's ``contract`` recorded (``all``: every clip of ``data_root``), in
    manifest order, and notes: which of them are missing from ``data_root``, or that no split was recorded (then it is
    drawn from the manifest by the checkpoint's rule ``data``, which re-preparing the data may have moved)."""
    _, infos = read_manifest(data_root)
    if split == "all":
        return infos, []
    if split == "val" and (contract.split is None or not contract.split.val):
        raise ConfigError(f"{checkpoint} set no validation clips aside (data.val_fraction="
                          f"{contract.split.val_fraction if contract.split else 0}); train with data.val_fraction=0.1 "
                          f"(say) to have some, or score its held-out clips")  # fmt: skip
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
    ``lpips``: also LPIPS (whole crop and mouth) when its weights are fetched (else the reason it is skipped, in the
    summary).
    ``details``: also keep what ``facekit.report.write_report`` draws -- the mdist(offset) and per-frame confidence
    curves of every clip (``result["sync"]``) and 4 sample frames of the first ``num_samples`` clips
    (``result["samples"]``, arrays, not JSON).
    """
    configure_cpu()
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
    lpips_net, lpips_note = scoring_lpips(cfg.data.image_size) if lpips else (None, "skipped: not asked for")
    trust, warnings = SyncTrust(), []
    clips, curves, samples = [], [], []
    for info in infos:
        clip = load_clip(data_root, info)
        windows = clip_windows(clip, cfg.data, reference_index, still_face)
        frames = {"generated": generate_frames(model, windows), **baselines(windows)}
        record: dict = {"clip": info.id, "identity": info.identity}
        for name in METHODS:
            record[name] = clip_image_scores(frames[name], windows["target"], reference_index, lpips_net)
        if sync is not None:
            record["warnings"] = []
            curve: dict = {
                "clip": info.id,
                "network": f"facekit expert {sync.expert_id}",
                "mdist": {},
                "confidence": {},
            }
            for name, video in (("generated", frames["generated"]), ("ground_truth", windows["target"])):
                result = sync.evaluate(video, clip.mel, cfg.data.fps)
                record.setdefault(name, {}).update(result.figures())
                if name == "ground_truth":
                    trust.check(result, curve["network"], record[name], record["warnings"])
                curve["offsets"] = result.offsets.tolist()
                curve["mdist"][name] = [round(float(x), 6) for x in result.mdist]
                curve["confidence"][name] = [round(float(x), 6) for x in result.confidence_per_frame]
            curves.append(curve)
        if details and len(samples) < num_samples:
            picks = np.unique(np.linspace(0, len(windows["target"]) - 1, 4).round().astype(int)).tolist()
            shown = {**frames, "ground_truth": windows["target"]}
            samples.append({"clip": info.id, "frames": picks, **{k: v[picks] for k, v in shown.items()}})
        clips.append(record)
    summary = summarise(clips, [*METHODS, "ground_truth"] if sync is not None else METHODS)
    if sync is not None:
        summary["expert_id"] = sync.expert_id
        trust.summarise(summary, warnings)
    summary["lpips"] = lpips_note
    summary["mouth_modality"] = mouth
    warnings = training_data_warnings(checkpoint, data_root) + warnings
    if warning:  # an overlapping expert (allowed by the flag) or one without a contract: the result's first line
        summary = {"warning": warning, **summary}
        warnings = [warning, *warnings]
    result = {
        "split": split,
        "mouth_modality": mouth,
        "clips": len(clips),
        "checkpoint": str(checkpoint),
        "still_face": still_face,
        "summary": summary,
        "per_clip": clips,
        "notes": notes,
        "warnings": warnings,
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
            "model_reference": (
                "the mean of each clip's frames (data.reference=clip_mean; the mean-mouth baseline's input)"
                if cfg.data.reference == "clip_mean" and not still_face
                else f"frame {reference_index}"
            ),
            "face_input": (
                "still: the reference frame's mouthless face for every frame"
                if still_face
                else "the clip's own frames, mouth masked (re-dubbing)"
            ),
            "region": "face: the whole crop; mouth: its lower half (what the generator paints)",
            "psnr": f"per frame, capped at {PSNR_CAP:g} dB, then the mean",
            "sync_expert": f"facekit expert {sync.expert_id} ({sync.path})" if sync is not None else "none",
        }
        result["sync"], result["samples"] = curves, samples
    return result
