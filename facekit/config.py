"""Configuration: nested dataclasses, presets, dotted overrides, JSON round trip.

Every run is described by one :class:`Config`. Presets are functions (``tiny()`` for seconds on a CPU, ``cpu()`` for
minutes on 2 cores, ``paper()`` for a GPU). The CLI and notebooks share one override syntax::

    cfg = apply_overrides(cpu(), ["model.cascade.order=mouth,audio,text", "train.steps=500"])

Unknown keys and values of the wrong type are rejected with a message naming the key. The resolved config is written
as JSON into every run folder and checkpoint, and :func:`Config.from_dict` rebuilds it exactly.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODALITIES = ("text", "audio", "mouth")


class ConfigError(ValueError):
    """A config key or value that does not fit the schema."""


@dataclass
class SynthConfig:
    """The synthetic talking-face corpus (see ``facekit.data.synthetic``)."""

    num_identities: int = 12
    clips_per_identity: int = 4
    seconds: float = 3.0
    seed: int = 0
    emotion_max: float = 1.0  # upper bound of the per-clip emotion intensity in [0, 1]


@dataclass
class DataConfig:
    """How prepared clips become training windows."""

    image_size: int = 96  # face crop side, pixels
    mouth_size: int = 48  # mouth-image modality side, pixels
    fps: float = 25.0
    phoneme_window: int = 5  # frames of phoneme ids around t (odd): frames t - P//2 .. t + P//2, centred on frame t
    audio_offset_frames: int = -2  # frame t's 16-column mel window starts at frame t + this: -2 centres it on frame t
    # (chosen by measurement, eval/results/av_alignment); 0 = t .. t+0.2 s, the sync expert's window of frames t..t+4
    mouth_driver: str = "rendition"  # mouth-image modality: rendition (another rendition of the sentence, re-timed to
    # the target's speech; synthetic corpus) | oracle (drawn from the target's own mouth: labelled "oracle mouth")
    num_frames: int = 1  # consecutive target frames per generator window
    sync_frames: int = 5  # frames per sync-expert window (0.2 s at 25 fps)
    reference: str = "frame"  # the reference image: frame (one frame of the clip, at least reference_min_gap from the
    # target in training; one fixed frame, frame 0 by default, at generation) | clip_mean (the mean of the clip's
    # frames: what the face video shows on average, the appearance the "mean mouth" baseline pastes)
    reference_min_gap: int = 5  # the reference frame is at least this many frames from the target
    still_face_prob: float = 0.0  # training: share of windows whose mouthless face is one frame of the clip, repeated
    other_reference_prob: float = 0.0  # training: share of windows whose reference is from another clip of the identity
    other_face_prob: float = 0.0  # training: share of windows whose face is another clip's (no target: sync loss only)
    eval_fraction: float = 0.2  # share of identities (or sentences) held out for evaluation
    val_fraction: float = 0.0  # share of identities (or sentences) taken out of training to choose settings on
    # (evaluate with --split val); the held-out ones stay the same whatever this is
    split_by: str = "identity"  # identity (unseen faces) | sentence (unseen sentences: a single-speaker set, GRID s1)
    split_seed: int = 0


@dataclass
class CascadeConfig:
    """The modulation cascade of claims 7-11."""

    order: tuple[str, ...] = ("text", "audio", "mouth")
    formula: str = "stylegan2"  # stylegan2 | film | adain (claim 11's formula is a reconstruction)
    num_fc: int = 2  # FC layers after each modulation


@dataclass
class ModelConfig:
    feature_dim: int = 128  # width of every data feature and mouth-shape feature
    base_channels: int = 32
    variant: str = "residual"  # residual (claim 12) | cascade (claims 13-15) | contrastive ([0017]) | wav2lip
    fusion_fc: str = "claims"  # cascade variant, FC layers after: claims (stages 1-2; claim 15) | every_stage
    expert_loss: str = "bce"  # sync expert objective: bce (Wav2Lip's pairs) | infonce (in-batch negatives)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 16
    lr: float = 2e-4
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    num_workers: int = 0
    log_every: int = 25
    checkpoint_every: int = 200
    l1_weight: float = 1.0
    sync_weight: float = 0.03  # Wav2Lip's expert-loss weight; used when data.num_frames == data.sync_frames
    aux_weight: float = 0.1  # the contrastive baseline's InfoNCE term
    amp: bool = True  # bf16 autocast on CUDA (fp32 on CPU always)
    max_minutes: float = 0.0  # wall-clock budget: stop (with a checkpoint) once exceeded; 0 = no limit
    grad_clip: float = 1.0  # max gradient norm (0 = off); modulated layers can blow up without it
    ssim_weight: float = 0.0  # weight of (1 - SSIM) on the mouth region (the lower half)
    perceptual_weight: float = 0.0  # LPIPS (alex) on the mouth region; needs `facekit weights lpips`
    gan_weight: float = 0.0  # hinge GAN with a patch discriminator on the mouth region (0 = no discriminator)
    gan_warmup_steps: int = 0  # first steps of a run: the discriminator trains, the generator gets no GAN gradient
    mouth_box_weight: float = 0.0  # extra L1 on the box around the aligned mouth (lips, teeth): data.crop.MOUTH_BOX
    init_from: str = ""  # generator/expert checkpoint whose weights start a new run (fine-tuning); "" = random init
    samples: int = 4  # sample grids (masked | generated | real) of this many held-out windows at each checkpoint


@dataclass
class Config:
    name: str = "default"
    synth: SynthConfig = field(default_factory=SynthConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Rebuild a stored config; a field added since it was stored takes the value it was made with (``ADDED``)."""
        return _build(cls, _fill_added(data), prefix="")

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Config:
        try:
            return cls.from_json(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config ({exc})") from exc


# ---------------------------------------------------------------------------------------------------- presets


def tiny() -> Config:
    """Seconds on a CPU: tests, notebooks, smoke runs."""
    cfg = Config(name="tiny")
    cfg.synth = SynthConfig(num_identities=6, clips_per_identity=2, seconds=2.0)
    cfg.data = DataConfig(image_size=32, mouth_size=16, eval_fraction=0.34)
    cfg.model = ModelConfig(feature_dim=32, base_channels=8)
    cfg.train = TrainConfig(steps=20, batch_size=4, log_every=5)
    return cfg


def cpu() -> Config:
    """Minutes on 2 CPU cores."""
    cfg = Config(name="cpu")
    cfg.synth = SynthConfig(num_identities=60, clips_per_identity=6)
    cfg.data = DataConfig(image_size=64, mouth_size=32)
    cfg.model = ModelConfig(feature_dim=96, base_channels=16)
    cfg.train = TrainConfig(steps=3000, batch_size=16)
    return cfg


def paper() -> Config:
    """A GPU run at the field's 96x96 resolution."""
    cfg = Config(name="paper")
    cfg.synth = SynthConfig(num_identities=400, clips_per_identity=10)
    cfg.data = DataConfig(image_size=96, mouth_size=48)
    cfg.model = ModelConfig(feature_dim=256, base_channels=32)
    cfg.train = TrainConfig(steps=100_000, batch_size=64, num_workers=8)
    return cfg


PRESETS = {"tiny": tiny, "cpu": cpu, "paper": paper}


def get_preset(name: str) -> Config:
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


# ---------------------------------------------------------------------------------------------------- overrides


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Return a copy of ``cfg`` with dotted overrides applied.

    ``overrides`` is a list of ``"a.b.c=value"`` strings (values parsed by the field's type; tuples take
    comma-separated items) or a dict ``{"a.b.c": value}`` of already-typed values.
    """
    data = cfg.to_dict()
    items = overrides.items() if isinstance(overrides, dict) else (_split(o) for o in overrides)
    for key, value in items:
        parts = key.split(".")
        owner_type: Any = Config
        node = data
        for i, part in enumerate(parts):
            hints = typing.get_type_hints(owner_type)
            if part not in hints:
                known = ", ".join(".".join([*parts[:i], k]) for k in hints)
                raise ConfigError(f"unknown config key {key!r}; known keys here: {known}")
            if i == len(parts) - 1:
                if dataclasses.is_dataclass(hints[part]):
                    raise ConfigError(f"{key!r} is a section; set one of its fields, e.g. {key}.<field>=...")
                node[part] = _coerce(hints[part], value, key)
            else:
                owner_type = hints[part]
                if not dataclasses.is_dataclass(owner_type):
                    raise ConfigError(f"{'.'.join(parts[: i + 1])!r} is a value, not a section (in {key!r})")
                node = node[part]
    return Config.from_dict(data)


def _split(override: str) -> tuple[str, str]:
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key=value, e.g. train.steps=100")
    key, value = override.split("=", 1)
    return key.strip(), value.strip()


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Convert ``value`` (a string from the command line, or a typed value) to the field type ``tp``."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a comma-separated list, got {value!r}")
        (item_type, _ellipsis) = typing.get_args(tp)
        return tuple(_coerce(item_type, v, key) for v in value)
    if origin in (typing.Union, types.UnionType):
        raise ConfigError(f"{key}: union types are not supported in configs")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            return int(value) if not isinstance(value, str) else int(value.replace("_", ""))
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported field type {tp!r}")


# Fields added after configs were first stored (in run folders and checkpoints), with the value that a config stored
# without them was made with -- not today's default, so an older checkpoint is rebuilt as it was trained.
ADDED = {
    "model.fusion_fc": "every_stage",
    "data.audio_offset_frames": 0,
    "data.mouth_driver": "oracle",
    "train.gan_warmup_steps": 0,
    "train.mouth_box_weight": 0.0,
    "data.reference": "frame",
}


def _fill_added(data: Any) -> Any:
    if not isinstance(data, dict):
        return data
    data = copy.deepcopy(data)
    for key, value in ADDED.items():
        *sections, name = key.split(".")
        node = data
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.setdefault(name, value)
    return data


def _build(cls: Any, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected an object, got {data!r}")
    hints = typing.get_type_hints(cls)
    unknown = set(data) - set(hints)
    if unknown:
        raise ConfigError(f"unknown config key(s) {sorted(prefix + k for k in unknown)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        key = prefix + name
        kwargs[name] = _build(tp, value, key + ".") if dataclasses.is_dataclass(tp) else _coerce(tp, value, key)
    cfg = cls(**kwargs)
    if cls is Config:
        validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Check the cross-field rules that types alone cannot express."""
    order = cfg.model.cascade.order
    bad = [m for m in order if m not in MODALITIES]
    if bad or not order or len(set(order)) != len(order):
        raise ConfigError(
            f"model.cascade.order={','.join(order)!s} must be distinct modalities from {','.join(MODALITIES)}"
        )
    if cfg.model.cascade.formula not in ("stylegan2", "film", "adain"):
        raise ConfigError(f"model.cascade.formula={cfg.model.cascade.formula!r}: use stylegan2, film or adain")
    if cfg.model.variant not in ("residual", "cascade", "contrastive", "wav2lip"):
        raise ConfigError(f"model.variant={cfg.model.variant!r}: use residual, cascade, contrastive or wav2lip")
    if cfg.model.fusion_fc not in ("claims", "every_stage"):
        raise ConfigError(f"model.fusion_fc={cfg.model.fusion_fc!r}: use claims or every_stage")
    if cfg.data.image_size % 16 or cfg.data.image_size < 32:
        raise ConfigError(f"data.image_size={cfg.data.image_size}: use a multiple of 16, at least 32")
    if cfg.data.phoneme_window % 2 == 0:
        raise ConfigError(f"data.phoneme_window={cfg.data.phoneme_window} must be odd")
    if cfg.model.expert_loss not in ("bce", "infonce"):
        raise ConfigError(f"model.expert_loss={cfg.model.expert_loss!r}: use bce or infonce")
    if cfg.data.mouth_driver not in ("rendition", "oracle"):
        raise ConfigError(f"data.mouth_driver={cfg.data.mouth_driver!r}: use rendition or oracle")
    if cfg.data.reference not in ("frame", "clip_mean"):
        raise ConfigError(f"data.reference={cfg.data.reference!r}: use frame or clip_mean")
    if cfg.data.split_by not in ("identity", "sentence"):
        raise ConfigError(f"data.split_by={cfg.data.split_by!r}: use identity or sentence")
    if not 0.0 < cfg.data.eval_fraction < 1.0:
        raise ConfigError(f"data.eval_fraction={cfg.data.eval_fraction} must be in (0, 1)")
    if not 0.0 <= cfg.data.val_fraction < 1.0 - cfg.data.eval_fraction:
        raise ConfigError(
            f"data.val_fraction={cfg.data.val_fraction} must be in [0, 1 - data.eval_fraction): some keys must train"
        )
    for key in ("still_face_prob", "other_reference_prob", "other_face_prob"):
        if not 0.0 <= getattr(cfg.data, key) <= 1.0:
            raise ConfigError(f"data.{key}={getattr(cfg.data, key)} must be in [0, 1]")
    if cfg.synth.seconds < 1.0:
        raise ConfigError(f"synth.seconds={cfg.synth.seconds}: clips must be at least 1 s long")
