"""Checkpoints: one file holds the config, the weights, the optimizer and the RNG state, written atomically.

A checkpoint restores a run exactly (``facekit train ... --resume``) and loads with ``torch.load(weights_only=True)``:
it contains only tensors, numbers, strings, lists and dicts -- never pickled code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from facekit.config import Config, ConfigError


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable or made for something else; the message names the file."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` via a temporary file and an atomic rename (a kill never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, kind: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint (weights only) and check it is of ``kind`` ("expert" or "generator")."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint; train one with `facekit train ...` or check the path")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable facekit checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or "config" not in state or "model" not in state:
        raise CheckpointError(f"{path}: not a facekit checkpoint (no config/model inside)")
    if kind is not None and state.get("kind") != kind:
        raise CheckpointError(f"{path}: is a {state.get('kind')!r} checkpoint, expected {kind!r}")
    return state


def checkpoint_config(state: dict, path: str | Path = "<checkpoint>") -> Config:
    try:
        return Config.from_dict(state["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: its config does not fit this facekit version ({exc})") from exc
