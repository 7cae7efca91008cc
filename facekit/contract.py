"""A checkpoint's data contract: what the model was trained on, so a sync expert and a generator can be checked
against each other before either is trusted.

Every checkpoint records ``state["contract"]``, built only by :func:`data_contract`: the crop and mouth sizes, the
frame rate and sync window of the run's data config, the log-mel front end (``facekit.data.audio``'s constants) and
the run's fixed :class:`~facekit.data.dataset.Split` (the rule and the exact train / held-out clip ids).

- Training a generator with an expert (:func:`check_expert_for_training`): the expert's crop size, frame rate, sync
  window and mel settings must be the generator's, else a ConfigError naming both.
- Scoring with an expert (:func:`check_expert_for_scoring`, :func:`overlap_note`): another frame rate or mel front
  end is an error, another crop size an explicit resize (stated in the result); an expert that trained on any of
  the clips scored is refused unless the overlap is allowed (``--allow-expert-overlap``), and then stated.

Checkpoints made before contracts were recorded load and generate as before; their contract is rebuilt from their
config without mel settings or split ("no contract recorded"): sizes and frame rate are still checked, and a result
scored with such an expert begins with the warning that whether it trained on the scored clips is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.config import ConfigError, DataConfig
from facekit.data import audio
from facekit.data.dataset import Split

MEL_SETTINGS = ("SAMPLE_RATE", "NUM_MELS", "HOP", "N_FFT", "WIN", "FMIN", "FMAX", "PREEMPHASIS", "MIN_LEVEL_DB",
                "REF_LEVEL_DB", "MAX_ABS_VALUE", "MEL_WINDOW")  # fmt: skip


@dataclass(frozen=True)
class Contract:
    image_size: int
    mouth_size: int
    fps: float
    sync_frames: int
    mel: dict | None  # None: not recorded (a checkpoint older than contracts)
    split: Split | None  # None: not recorded

    def to_dict(self) -> dict:
        return {**asdict(self), "split": self.split.to_dict() if self.split else None}


def mel_settings() -> dict:
    """The log-mel front end's settings, as ``facekit.data.audio`` defines them."""
    return {name.lower(): getattr(audio, name) for name in MEL_SETTINGS}


def data_contract(cfg: DataConfig, split: Split) -> Contract:
    """The contract of a run on ``cfg`` with the fixed ``split`` (what every checkpoint records)."""
    return Contract(cfg.image_size, cfg.mouth_size, cfg.fps, cfg.sync_frames, mel_settings(), split)


def read_contract(state: dict, path: str | Path) -> Contract:
    """A loaded checkpoint's contract; rebuilt from its config, without mel settings or split, when not recorded."""
    recorded = state.get("contract")
    if recorded is not None:
        split = Split.from_dict(recorded["split"]) if recorded.get("split") else None
        return Contract(**{**recorded, "split": split})
    data = checkpoint_config(state, path).data
    return Contract(data.image_size, data.mouth_size, data.fps, data.sync_frames, None, None)


def load_contract(path: str | Path, kind: str | None = None) -> Contract:
    return read_contract(load_checkpoint(path, kind), path)


def _mismatches(expert: Contract, fps: float, mel: dict | None) -> list[str]:
    bad = [f"fps {expert.fps:g} vs {fps:g}"] if expert.fps != fps else []
    if expert.mel is not None and mel is not None and expert.mel != mel:
        diff = [k for k in mel if expert.mel.get(k) != mel[k]]
        bad.append("mel settings (" + ", ".join(f"{k} {expert.mel.get(k)} vs {mel[k]}" for k in diff) + ")")
    return bad


def check_expert_for_training(path: str | Path, cfg: DataConfig) -> Contract:
    """The expert at ``path`` must see the windows a generator on ``cfg`` makes; else a ConfigError naming both."""
    expert = load_contract(path, "expert")
    bad = _mismatches(expert, cfg.fps, mel_settings())
    if expert.image_size != cfg.image_size:
        bad.append(f"image size {expert.image_size} vs data.image_size={cfg.image_size}")
    if expert.sync_frames != cfg.sync_frames:
        bad.append(f"sync window {expert.sync_frames} vs data.sync_frames={cfg.sync_frames}")
    if bad:
        raise ConfigError(
            f"--expert {path} was trained on other data than this generator's ({'; '.join(bad)}); "
            f"train an expert with the same data.* settings"
        )
    return expert


def check_expert_for_scoring(path: str | Path, generator: Contract) -> str | None:
    """Another frame rate or mel front end is an error; another crop size -> the note saying the frames are resized."""
    expert = load_contract(path, "expert")
    bad = _mismatches(expert, generator.fps, generator.mel)
    if bad:
        raise ConfigError(f"--expert {path} does not fit the generator's data ({'; '.join(bad)}); "
                          f"use an expert trained on the same frame rate and audio settings")  # fmt: skip
    if expert.image_size != generator.image_size:
        return (f"the sync expert was trained on {expert.image_size} px crops: the {generator.image_size} px frames "
                f"are resized to {expert.image_size} px for the sync figures")  # fmt: skip
    return None


def expert_overlap(path: str | Path, names: Sequence[str]) -> list[str] | None:
    """Which of ``names`` the expert at ``path`` trained on (None: it records no split, so unknown).

    A name is a prepared clip id (``s1_bbaf2n``) or a video's file stem: the clip id without its identity prefix
    (``bbaf2n``) also counts."""
    split = load_contract(path, "expert").split
    if split is None:
        return None
    known = {cid for cid in split.train} | {cid.split("_", 1)[1] for cid in split.train if "_" in cid}
    return [n for n in names if n in known]


def overlap_note(path: str | Path, names: Sequence[str], allow: bool) -> str | None:
    """None when the expert at ``path`` trained on none of ``names``; else the warning that must head the result --
    or, for a known overlap without ``allow``, a ConfigError. An expert without a recorded split is not refused
    (what it trained on is unknown), but the warning says so."""
    overlap = expert_overlap(path, names)
    if overlap == []:
        return None
    if overlap is None:
        return (f"WARNING: the sync expert {path} records no training split (no contract recorded: made before "
                f"facekit recorded one), so whether it trained on these {len(names)} clips is unknown")  # fmt: skip
    shown = ", ".join(overlap[:5]) + (", ..." if len(overlap) > 5 else "")
    reason = f"the sync expert {path} trained on {len(overlap)} of these {len(names)} clips ({shown})"
    if not allow:
        raise ConfigError(
            f"{reason}: its sync figures on them would flatter; use an expert that never trained on them, or pass "
            f"--allow-expert-overlap to score anyway (the result then says so)"
        )
    return f"WARNING: {reason}; scored anyway (--allow-expert-overlap)"
