"""The prepared-clip format: what every data source (synthetic corpus, GRID, a folder of videos) is written as.

A prepared dataset is a folder::

    <root>/manifest.json                 {"format": "facekit-clips", "version": 1, "fps", "sample_rate",
                                          "image_size", "mouth_size", "source", "clips": [ClipInfo, ...]}
    <root>/clips/<clip id>/frames.npy    uint8 (T, S, S, 3)  RGB face crops
                          mouth.npy     uint8 (T, M, M, 3)  mouth-image modality (a driver's mouth or a sketch)
                          audio.npy     int16 (N,)          16 kHz mono speech
                          mel.npy       float32 (80, 1 + N // 200)   log-mel, facekit.data.audio.melspectrogram
                          phonemes.npy  int64 (T,)          phoneme id per frame (facekit.data.text.PHONEMES)
                          landmarks.npy float32 (T, 68, 2)  iBUG 68-point landmarks, (x, y) pixels of the crop
                          meta.json     ClipInfo + source-specific details (words, phoneme spans, ...)

``frames``, ``audio``, ``mel`` and ``landmarks`` are always present; ``mouth`` and ``phonemes`` only when the clip has
that modality (listed in ``modalities``). Arrays are plain ``.npy`` so they can be memory-mapped and so the same
content always gives the same bytes. A clip folder is written under a temporary name and renamed when complete, and
the manifest is written last, so an interrupted run never leaves a half clip that looks finished.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "facekit-clips"
VERSION = 1
REQUIRED = ("frames", "audio", "mel", "landmarks")
OPTIONAL = {"mouth": "mouth", "phonemes": "text"}  # array -> modality it provides


class ClipFormatError(ValueError):
    """A prepared dataset or clip that is missing, incomplete or inconsistent."""


@dataclass
class ClipInfo:
    id: str
    identity: str
    num_frames: int
    modalities: list[str]  # subset of text, audio, mouth
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Clip:
    """One prepared clip in memory (arrays may be memory-mapped)."""

    info: ClipInfo
    frames: np.ndarray
    audio: np.ndarray
    mel: np.ndarray
    landmarks: np.ndarray
    mouth: np.ndarray | None = None
    phonemes: np.ndarray | None = None


def write_clip(root: str | Path, clip: Clip) -> Path:
    """Write ``clip`` under ``root/clips/<id>`` atomically; returns the clip folder."""
    t = clip.info.num_frames
    checks = {"frames": clip.frames.shape[0], "landmarks": clip.landmarks.shape[0]}
    if clip.mouth is not None:
        checks["mouth"] = clip.mouth.shape[0]
    if clip.phonemes is not None:
        checks["phonemes"] = clip.phonemes.shape[0]
    bad = {k: v for k, v in checks.items() if v != t}
    if bad:
        raise ClipFormatError(f"clip {clip.info.id}: num_frames={t} but {bad}")
    final = Path(root) / "clips" / clip.info.id
    tmp = final.with_name(f".{clip.info.id}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    arrays = {
        "frames": clip.frames.astype(np.uint8, copy=False),
        "audio": clip.audio.astype(np.int16, copy=False),
        "mel": clip.mel.astype(np.float32, copy=False),
        "landmarks": clip.landmarks.astype(np.float32, copy=False),
        "mouth": None if clip.mouth is None else clip.mouth.astype(np.uint8, copy=False),
        "phonemes": None if clip.phonemes is None else clip.phonemes.astype(np.int64, copy=False),
    }
    for name, array in arrays.items():
        if array is not None:
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array))
    (tmp / "meta.json").write_text(json.dumps(asdict(clip.info), indent=1, sort_keys=True) + "\n")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def write_manifest(root: str | Path, infos: list[ClipInfo], **settings: Any) -> Path:
    """Write ``root/manifest.json`` (atomically) listing ``infos`` and dataset-wide ``settings``."""
    path = Path(root) / "manifest.json"
    body = {"format": FORMAT, "version": VERSION, **settings, "clips": [asdict(i) for i in infos]}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def read_manifest(root: str | Path) -> tuple[dict[str, Any], list[ClipInfo]]:
    """Read a prepared dataset's manifest -> (settings, clip infos)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise ClipFormatError(
            f"{root}: no manifest.json -- not a prepared dataset. Make one with `facekit synth --out {root}` "
            "or `facekit prepare ...`."
        )
    try:
        body = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ClipFormatError(f"{path}: not valid JSON ({exc}); re-run the step that wrote it") from exc
    if body.get("format") != FORMAT or body.get("version") != VERSION:
        raise ClipFormatError(f"{path}: format {body.get('format')!r} v{body.get('version')}, expected {FORMAT} v1")
    infos = [ClipInfo(**c) for c in body.pop("clips")]
    return body, infos


def data_source(root: str | Path) -> str:
    """Where a prepared dataset's clips come from, as its manifest records it: synthetic, grid, folder, ..."""
    return read_manifest(root)[0].get("source", "unknown")


def load_clip(root: str | Path, info: ClipInfo, mmap: bool = True) -> Clip:
    """Load one clip's arrays (memory-mapped by default)."""
    folder = Path(root) / "clips" / info.id
    mode = "r" if mmap else None

    def get(name: str) -> np.ndarray:
        path = folder / f"{name}.npy"
        try:
            return np.load(path, mmap_mode=mode, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ClipFormatError(f"{path}: cannot read ({exc}); re-prepare clip {info.id}") from exc

    arrays = {name: get(name) for name in REQUIRED}
    for name, modality in OPTIONAL.items():
        arrays[name] = get(name) if modality in info.modalities else None
    return Clip(info=info, **arrays)
