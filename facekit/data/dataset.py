"""Training windows from prepared clips: a run's fixed split, generator windows and sync-expert pairs.

Image convention (the whole library): float32 NCHW RGB in [0, 1]. A generator window at frame t holds

- ``target``    (K, 3, S, S) ground-truth frames t .. t+K-1
- ``masked``    (K, 3, S, S) the same frames with the mouth region (the lower half) set to 0 -- the mouthless face
- ``reference`` (K, 3, S, S) frames of the same clip at least ``reference_min_gap`` frames away (pose/appearance prior);
  with ``data.reference=clip_mean`` the mean of all the frames of the clip it comes from instead (what the face video
  shows on average; for a still face, its one frame)

Two training augmentations (``DataConfig``) make the mouth come from the speech, not from the face video it is painted
into -- what generation on another video or a still image needs:

- ``still_face_prob``: the window's mouthless face is one random frame of the clip, repeated. Without it the model
  can read the mouth off the upper face, which moves slightly with the speech (and with the crop alignment, which
  follows the mouth corners); with another video's face, that motion belongs to other words.
- ``other_reference_prob``: the reference frames come from another clip of the same identity (when it has one), so
  the mouth in the reference need not be from this sentence's recording.
- ``other_face_prob``: the mouthless face (one frame, repeated) and the reference both come from another clip of the
  same identity -- the speech is painted onto a face it was never recorded with, as when dubbing another video. Such
  a window has no ground truth (``recon`` is 0): the generator's loop trains it by the sync expert alone.
- ``mel``       (K, 1, 80, 16) the audio modality: log-mel window of each frame, starting ``data.audio_offset_frames``
  frames from it (-2: centred on the frame; ``facekit.data.audio``)
- ``sync_mel``  (1, 80, 16) the sync expert's window of frames t .. t+4 (its own convention: t .. t + 0.2 s)
- ``phonemes``  (K, P) int64 the text modality: phoneme ids of P frames centred on each frame (PAD_ID where absent)
- ``mouth``     (K, 3, M, M) the mouth-image modality: what the clip's record ``mouth_driver`` says it is (a
  rendition re-timed to the speech, or the oracle drawn from the target's own mouth); must match ``data.mouth_driver``
- ``has``       (3,) bool: which of text, audio, mouth the clip really has (missing ones are zeros)
- ``recon``     () float: 1 when ``target`` is the ground truth of this face, 0 for an ``other_face_prob`` window

A sync window (``SyncDataset``) holds the lower halves of 5 consecutive ground-truth frames, a mel window that is
either the matching one (label 1) or one from another time of the same clip (label 0), 50/50.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from facekit.config import MODALITIES, ConfigError, DataConfig
from facekit.data.audio import mel_window, mel_windows
from facekit.data.clips import Clip, ClipInfo, load_clip, read_manifest
from facekit.data.images import to_images as _images
from facekit.data.text import PAD_ID, phoneme_windows


def _ranked(keys: Sequence[str], seed: int) -> list[str]:
    """``keys`` without repeats, in the order of a hash of ``seed`` and the key (the order every split draws from)."""
    return sorted(set(keys), key=lambda k: hashlib.sha1(f"{seed}:{k}".encode()).hexdigest())


def split_keys(keys: Sequence[str], eval_fraction: float, seed: int = 0) -> tuple[list[str], list[str]]:
    """Split ``keys`` (identities, or sentences) reproducibly -> (train, eval), each sorted.

    The order is a hash of ``seed`` and the key, so a key's side does not depend on which other keys exist except
    through the count; at least one key goes to each side when there are two or more.
    """
    unique = sorted(set(keys))
    ranked = _ranked(unique, seed)
    n_eval = int(round(eval_fraction * len(unique)))
    if len(unique) >= 2:
        n_eval = min(max(n_eval, 1), len(unique) - 1)
    held = set(ranked[:n_eval])
    return [k for k in unique if k not in held], [k for k in unique if k in held]


def validation_keys(train_keys: Sequence[str], val_fraction: float, total: int, seed: int = 0) -> list[str]:
    """The keys of ``train_keys`` set aside for validation: ``round(val_fraction * total)`` of them (``total``: every
    key, held-out ones included), the next ones in :func:`split_keys`' order after the held-out keys, sorted.

    So the held-out keys do not depend on ``val_fraction``, and a larger ``val_fraction`` sets aside a superset; at
    least one key is set aside when ``val_fraction`` > 0, and at least one stays in training."""
    if val_fraction <= 0:
        return []
    n_val = min(max(int(round(val_fraction * total)), 1), len(set(train_keys)) - 1)
    return sorted(_ranked(train_keys, seed)[: max(n_val, 0)])


def split_key(info: ClipInfo, by: str) -> str:
    """What a clip is split by: its identity (unseen faces) or its sentence (unseen sentences, e.g. GRID's s1)."""
    if by == "identity":
        return info.identity
    if by == "sentence":
        key = info.extra.get("split_key") or info.extra.get("sentence")
        if not key:
            raise ValueError(f"clip {info.id} has no sentence to split by; use data.split_by=identity")
        return str(key)
    raise ValueError(f"data.split_by={by!r}: use identity or sentence")


@dataclass(frozen=True)
class Split:
    """A run's fixed train / held-out assignment: the rule it was drawn by and the exact clips on each side.

    Drawn once from the manifest at the start of training (:meth:`draw`), written to the run folder (``split.json``)
    and into every checkpoint; datasets and evaluation then take the clip ids as given, so re-preparing the data (a
    clip skipped or added) never moves a clip between sides. ``train_keys`` / ``eval_keys`` / ``val_keys`` are the
    split keys (identities or sentences, ``by``) the clips were split by. The validation clips (``data.val_fraction``;
    none by default) are taken out of training to choose settings on, so that the held-out clips judge only the
    final choice."""

    by: str
    eval_fraction: float
    seed: int
    train: tuple[str, ...]  # clip ids
    eval: tuple[str, ...]
    train_keys: tuple[str, ...]
    eval_keys: tuple[str, ...]
    val_fraction: float = 0.0
    val: tuple[str, ...] = ()
    val_keys: tuple[str, ...] = ()

    @classmethod
    def draw(cls, infos: Sequence[ClipInfo], cfg: DataConfig) -> Split:
        """Split ``infos`` by ``data.split_by`` / ``eval_fraction`` / ``val_fraction`` / ``split_seed`` (a held-out or
        validation key never trains)."""
        keys = [split_key(i, cfg.split_by) for i in infos]
        train_keys, eval_keys = split_keys(keys, cfg.eval_fraction, cfg.split_seed)
        val_keys = validation_keys(train_keys, cfg.val_fraction, len(set(keys)), cfg.split_seed)
        side = {**{k: "eval" for k in eval_keys}, **{k: "val" for k in val_keys}}
        ids = {name: tuple(i.id for i, k in zip(infos, keys, strict=True) if side.get(k, "train") == name)
               for name in ("train", "eval", "val")}  # fmt: skip
        return cls(
            by=cfg.split_by,
            eval_fraction=cfg.eval_fraction,
            seed=cfg.split_seed,
            train=ids["train"],
            eval=ids["eval"],
            train_keys=tuple(k for k in train_keys if k not in side),
            eval_keys=tuple(eval_keys),
            val_fraction=cfg.val_fraction,
            val=ids["val"],
            val_keys=tuple(val_keys),
        )

    def clip_ids(self, split: str) -> tuple[str, ...]:
        if split not in ("train", "eval", "val"):
            raise ValueError(f"unknown split {split!r}; use train, eval or val")
        return getattr(self, split)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Split:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def split_line(split: dict) -> str:
    """A recorded split (``Split.to_dict()``, or a card's copy) in one line, for model cards."""
    line = (f"split by {split['by']}, eval fraction {split['eval_fraction']}, seed {split['seed']}: "
            f"{len(split['train'])} train / {len(split['eval'])} held-out clips")  # fmt: skip
    if split.get("val"):
        line += f" / {len(split['val'])} validation clips (val fraction {split['val_fraction']}, never trained on)"
    return line + " (ids below)"


def split_ids(split: dict) -> list[str]:
    """A model card's sections listing the split's clip ids (markdown lines)."""
    sections = [("Held-out clips", "eval"), ("Validation clips", "val"), ("Train clips", "train")]
    return [
        line for title, key in sections if split.get(key) for line in (f"## {title}", "", ", ".join(split[key]), "")
    ]


def select_split(infos: Sequence[ClipInfo], split: str, cfg: DataConfig, fixed: Split | None = None) -> list[ClipInfo]:
    """The clips of ``split`` ("train", "eval", "val" or "all"), in manifest order: those ``fixed`` lists, or, without a
    fixed split, drawn from ``infos`` by ``cfg``'s rule (a held-out key never appears in "train")."""
    if split == "all":
        return list(infos)
    keep = set((fixed or Split.draw(infos, cfg)).clip_ids(split))
    return [i for i in infos if i.id in keep]


class _Clips:
    """Prepared clips of one split, with per-frame modality windows precomputed once."""

    def __init__(
        self,
        root: str | Path,
        split: str,
        cfg: DataConfig,
        in_memory: bool,
        audio_offset_frames: int,
        fixed: Split | None,
    ) -> None:
        settings, infos = read_manifest(root)
        if settings.get("image_size") != cfg.image_size:
            raise ValueError(
                f"{root}: clips are {settings.get('image_size')}px but data.image_size={cfg.image_size}; "
                f"regenerate the data or set data.image_size={settings.get('image_size')}"
            )
        self.infos = select_split(infos, split, cfg, fixed)
        if not self.infos:
            raise ValueError(f"{root}: split {split!r} has no clips")
        self.clips: list[Clip] = [load_clip(root, info, mmap=not in_memory) for info in self.infos]
        self.mels = [mel_windows(c.mel, c.info.num_frames, cfg.fps, audio_offset_frames)[:, None] for c in self.clips]
        self.phonemes = [
            phoneme_windows(c.phonemes, cfg.phoneme_window)
            if c.phonemes is not None
            else np.full((c.info.num_frames, cfg.phoneme_window), PAD_ID, np.int64)
            for c in self.clips
        ]
        self.has = [np.array([m in c.info.modalities for m in MODALITIES]) for c in self.clips]


MOUTH_DRIVERS = {
    "rendition": "another rendition of the sentence (another speaker, rate and coarticulation), re-timed to the speech",
    "oracle": "drawn from the target clip's own mouth (its controls or landmarks): an oracle",
}


def recorded_mouth_driver(info: ClipInfo) -> str | None:
    """What a clip's mouth images are, from its own record (``extra["mouth_driver"]``): "rendition" or "oracle";
    None when the clip has no mouth modality. A clip written before the record existed holds the oracle: every
    source then drew the mouth from the target's own controls (synthetic) or landmarks (a prepared video)."""
    if "mouth" not in info.modalities:
        return None
    return str(info.extra.get("mouth_driver", "oracle"))


def mouth_label(infos: Sequence[ClipInfo], order: Sequence[str]) -> str:
    """How a figure names its mouth modality: "oracle mouth" when the model reads the mouth (``order``) and any
    clip's mouth images are the oracle, else "rendition mouth"; "no mouth modality" when it is not used or absent."""
    drivers = {recorded_mouth_driver(i) for i in infos} - {None}
    if "mouth" not in order or not drivers:
        return "no mouth modality"
    return "oracle mouth" if "oracle" in drivers else "rendition mouth"


def check_mouth_driver(root: str | Path, infos: Sequence[ClipInfo], cfg: DataConfig) -> None:
    """ConfigError naming the folder and the fix when the clips' mouth images are not ``data.mouth_driver``'s."""
    found = sorted({recorded_mouth_driver(i) for i in infos} - {None, cfg.mouth_driver})
    if found:
        what = MOUTH_DRIVERS.get(found[0], "an unknown kind")
        raise ConfigError(
            f"{root}: its mouth images are {found[0]} ({what}) but data.mouth_driver="
            f"{cfg.mouth_driver}. Set data.mouth_driver={found[0]} to use them knowingly (figures are then labelled "
            f"'{found[0]} mouth'), or use data made with data.mouth_driver={cfg.mouth_driver} "
            "(`facekit synth --set data.mouth_driver=...`; a prepared video only has the oracle sketch)"
        )


def clip_mean(frames: np.ndarray) -> torch.Tensor:
    """The mean of a clip's uint8 (T, S, S, 3) frames as one float (3, S, S) image in [0, 1]: ``data.reference=
    clip_mean``'s reference (the face video on average; its lower half is the "mean mouth" baseline's)."""
    mean = np.asarray(frames).mean(axis=0, dtype=np.float64)  # (S, S, 3); float64: exact for any clip length
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(mean / 255.0, -1, 0), dtype=np.float32))


def clip_windows(
    clip: Clip,
    cfg: DataConfig,
    reference_index: int = 0,
    still_face: bool = False,
    face_frames: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """Every frame of ``clip`` as generator input (the keys of a flattened window, leading dim T), with one fixed
    reference frame -- what generation and evaluation use. ``reference`` is what the model reads: that frame, or with
    ``data.reference=clip_mean`` the mean of the face's frames (``face_frames`` when ``clip.frames`` repeats them, as
    generate's loop does; else ``clip.frames``). ``reference_frame`` is always the frame (the pasted baseline).

    ``still_face``: the mouthless face of every frame is the reference frame's, as when a still image is animated;
    the mouth must then come from the speech alone (the face video's own motion, which follows the words, is gone).
    A still face's mean is that frame."""
    n = clip.info.num_frames
    target = _images(clip.frames)
    masked = target[[reference_index] * n] if still_face else target.clone()
    masked[..., target.shape[-2] // 2 :, :] = 0.0
    phonemes = (
        phoneme_windows(clip.phonemes, cfg.phoneme_window)
        if clip.phonemes is not None
        else np.full((n, cfg.phoneme_window), PAD_ID, np.int64)
    )
    mouth = clip.mouth if clip.mouth is not None else np.zeros((n, 1, 1, 3), np.uint8)
    frame = _images(clip.frames[reference_index])[None].expand(n, -1, -1, -1)
    reference = frame
    if cfg.reference == "clip_mean" and not still_face:
        reference = clip_mean(clip.frames if face_frames is None else face_frames)[None].expand(n, -1, -1, -1)
    return {
        "target": target,
        "masked": masked,
        "reference": reference,
        "reference_frame": frame,
        "mel": torch.from_numpy(mel_windows(clip.mel, n, cfg.fps, cfg.audio_offset_frames)[:, None]),
        "phonemes": torch.from_numpy(phonemes),
        "mouth": _images(mouth),
        "has": torch.from_numpy(np.array([m in clip.info.modalities for m in MODALITIES]))[None].expand(n, -1),
    }


class FaceDataset(Dataset):
    """Generator training windows (see the module docstring); one item per start frame of every clip of ``split``:
    the clips ``fixed`` (a run's :class:`Split`) lists, or, without one, drawn from the manifest by ``cfg``'s rule."""

    def __init__(
        self,
        root: str | Path,
        cfg: DataConfig,
        split: str = "train",
        seed: int = 0,
        in_memory: bool = True,
        uses_mouth: bool = True,
        fixed: Split | None = None,
    ) -> None:
        """``uses_mouth``: the model reads the mouth modality, so its kind must be ``data.mouth_driver``'s."""
        self.cfg = cfg
        self.seed = seed
        self.epoch = 0
        self.data = _Clips(root, split, cfg, in_memory, cfg.audio_offset_frames, fixed)
        if uses_mouth:
            check_mouth_driver(root, self.data.infos, cfg)
        k = cfg.num_frames
        self.index = [(c, t) for c, clip in enumerate(self.data.clips) for t in range(clip.info.num_frames - k + 1)]
        by_identity: dict[str, list[int]] = {}
        for c, clip in enumerate(self.data.clips):
            by_identity.setdefault(clip.info.identity, []).append(c)
        self.same_identity = [  # other clips of each clip's identity: the other_reference_prob pool
            [o for o in by_identity[clip.info.identity] if o != c] for c, clip in enumerate(self.data.clips)
        ]
        self.means = [clip_mean(clip.frames) for clip in self.data.clips] if cfg.reference == "clip_mean" else None

    def set_epoch(self, epoch: int) -> None:
        """Change the random reference frames (call once per epoch for fresh pairings)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        c, t = self.index[i]
        clip = self.data.clips[c]
        k, n = self.cfg.num_frames, clip.info.num_frames
        rng = np.random.default_rng([self.seed, self.epoch, i])
        frames = slice(t, t + k)
        target = _images(clip.frames[frames])
        still = False
        if self.cfg.still_face_prob > 0 and rng.random() < self.cfg.still_face_prob:  # no draw at 0: same stream
            still = True
            face = clip.frames[[rng.integers(n)] * k]
        else:
            face = clip.frames[frames]
        others = self.same_identity[c]
        ref_clip = c  # the clip the reference comes from; the draws are the same for every data.reference
        if others and self.cfg.other_reference_prob > 0 and rng.random() < self.cfg.other_reference_prob:
            ref_clip = others[rng.integers(len(others))]
            source = self.data.clips[ref_clip].frames
            ref = source[rng.integers(len(source), size=k)]
        else:
            far = np.array([j for j in range(n) if abs(j - t) >= self.cfg.reference_min_gap] or [0])
            ref = clip.frames[rng.choice(far, size=k)]
        recon = 1.0
        if others and self.cfg.other_face_prob > 0 and rng.random() < self.cfg.other_face_prob:
            ref_clip = others[rng.integers(len(others))]
            source = self.data.clips[ref_clip].frames
            face, ref = source[[rng.integers(len(source))] * k], source[rng.integers(len(source), size=k)]
            recon = 0.0
        masked = _images(face)  # numpy-made copy: see to_images
        masked[..., target.shape[-2] // 2 :, :] = 0.0
        if self.means is None:
            reference = _images(ref)
        elif ref_clip == c and still:  # a still face's mean is its frame (as a still image's at generation)
            reference = _images(face)
        else:
            reference = self.means[ref_clip][None].repeat(k, 1, 1, 1)
        mouth = clip.mouth[frames] if clip.mouth is not None else np.zeros((k, 1, 1, 3), np.uint8)
        return {
            "target": target,
            "masked": masked,
            "reference": reference,
            "mel": torch.from_numpy(self.data.mels[c][frames]),
            "sync_mel": torch.from_numpy(mel_window(clip.mel, t, self.cfg.fps)[None]),
            "phonemes": torch.from_numpy(self.data.phonemes[c][frames]),
            "mouth": _images(mouth),
            "has": torch.from_numpy(self.data.has[c]),
            "clip": torch.tensor(c),
            "frame": torch.tensor(t),
            "recon": torch.tensor(recon),
        }


class SyncDataset(Dataset):
    """Sync-expert windows: (5 lower-half frames, mel window, label) with in-sync and off-sync pairs 50/50.

    Off-sync audio comes from the same clip at least ``min_offset`` frames away (Wav2Lip's negatives), so the expert
    must use timing, not identity or voice. ``split`` / ``fixed``: as :class:`FaceDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        cfg: DataConfig,
        split: str = "train",
        seed: int = 0,
        in_memory: bool = True,
        min_offset: int = 3,
        negatives: bool = True,
        fixed: Split | None = None,
    ) -> None:
        self.cfg = cfg
        self.seed = seed
        self.epoch = 0
        self.min_offset = min_offset
        self.negatives = negatives  # False: every pair in sync (InfoNCE takes its negatives from the batch)
        self.data = _Clips(root, split, cfg, in_memory, 0, fixed)  # the expert's windows: frames t..t+4
        k = cfg.sync_frames
        self.index = [(c, t) for c, clip in enumerate(self.data.clips) for t in range(clip.info.num_frames - k + 1)]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        c, t = self.index[i]
        clip = self.data.clips[c]
        k, n = self.cfg.sync_frames, clip.info.num_frames
        rng = np.random.default_rng([self.seed, self.epoch, i])
        in_sync = not self.negatives or bool(rng.random() < 0.5)
        audio_t = t
        if not in_sync:
            choices = [j for j in range(n - k + 1) if abs(j - t) >= self.min_offset]
            if choices:
                audio_t = int(rng.choice(choices))
            else:
                in_sync = True
        frames = _images(clip.frames[t : t + k])
        return {
            "frames": frames[..., frames.shape[-2] // 2 :, :],  # (5, 3, S/2, S)
            "mel": torch.from_numpy(self.data.mels[c][audio_t]),  # (1, 80, 16)
            "label": torch.tensor(float(in_sync)),
            "offset": torch.tensor(audio_t - t),
        }
