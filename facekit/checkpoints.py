"""Reading checkpoints: the one place that loads a generator or a sync expert, for training, metrics, eval and generate.

A checkpoint (written by ``facekit.train``) is one file holding the config, the weights, the optimizer and RNG state
and the run's data contract (``facekit.contract``). It loads with ``torch.load(weights_only=True)``: only tensors,
numbers, strings, lists and dicts -- never pickled code. A file that is not one gets a one-line
:class:`CheckpointError` naming it. Instead of a path, a shipped model's name (``facekit.zoo``, e.g. ``grid-s1-expert``)
loads its compact file after its sha256 is checked; its fp16 weights come back as float32.
"""

from __future__ import annotations

from pathlib import Path

import torch

from facekit.config import Config, ConfigError
from facekit.models.lipsync import LipSyncModel
from facekit.models.sync_expert import SyncExpert


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or made for something else; the message names the file."""


def checkpoint_file(path: str | Path) -> Path:
    """A checkpoint's path, or a shipped model's name -> its file (``facekit.zoo.resolve``: sha256 checked); an
    unknown name is a CheckpointError listing the shipped ones."""
    path = Path(path)
    if path.is_file():
        return path
    from facekit.zoo import resolve

    return resolve(str(path))


def load_checkpoint(path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint (weights only; a path or a shipped model's name) and check it is of ``kind`` ("expert" or
    "generator"). Floating weights come back as float32, as training wrote them (shipped models are stored in fp16)."""
    path = checkpoint_file(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types (with multi-line advice) for truncated or foreign files
        raise CheckpointError(
            f"{path}: not a facekit checkpoint (unreadable as torch weights: truncated, corrupt or another program's "
            f"file); give the last.pt written by `facekit train`"
        ) from exc
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(
            f"{path}: not a facekit checkpoint (no config/model inside); give the last.pt written by `facekit train`"
        )
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"{path}: is a {state.get('kind')!r} checkpoint, expected {kind!r}")
    state["model"] = {k: v.float() if v.dtype == torch.float16 else v for k, v in state["model"].items()}
    return state


def checkpoint_config(state: dict, path: str | Path = "<checkpoint>") -> Config:
    try:
        return Config.from_dict(state["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its config does not fit this facekit version ({exc})") from exc


def _load_weights(model: torch.nn.Module, state: dict, path: str | Path) -> None:
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:  # weights of another architecture than the stored config
        reason = str(exc).strip().splitlines()[0]
        message = f"{path}: its weights do not fit its own config ({reason}); re-train or re-save it"
        raise CheckpointError(message) from exc


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> tuple[LipSyncModel, Config]:
    """A generator checkpoint -> (LipSyncModel in eval mode on ``device``, its config)."""
    state = load_checkpoint(path, "generator", map_location=device)
    cfg = checkpoint_config(state, path)
    model = LipSyncModel(cfg)
    _load_weights(model, state, path)
    return model.to(device).eval(), cfg


def load_expert(path: str | Path, device: str | torch.device = "cpu") -> SyncExpert:
    """A sync-expert checkpoint -> a frozen SyncExpert (eval mode, no gradients) on ``device``."""
    state = load_checkpoint(path, "expert", map_location=device)
    cfg = checkpoint_config(state, path)
    expert = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2)
    _load_weights(expert, state, path)
    return expert.to(device).eval().requires_grad_(False)


def outside_training_data(checkpoint: str | Path, trained_on: str | None, used_on: str) -> list[str]:
    """The warning for a generator used on real faces (``used_on``, e.g. "this real face") when it was trained on the
    synthetic corpus (``trained_on``, its checkpoint's ``data_source``) or does not record what it was trained on."""
    if trained_on == "synthetic":
        return [
            f"{checkpoint} was trained on the synthetic corpus (rendered faces, formant speech), not on real faces, "
            f"and is used here on {used_on}: its output shows that the pipeline runs, not how well it lip-syncs "
            "them; train or fine-tune on real clips (facekit prepare) for that"
        ]
    if trained_on is None:
        return [
            f"{checkpoint} does not record the data it was trained on (made before facekit recorded it): if that was "
            f"the synthetic corpus, its output on {used_on} says nothing about lip-sync quality"
        ]
    return []
