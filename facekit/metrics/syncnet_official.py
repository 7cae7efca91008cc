"""The field's pretrained SyncNet (``syncnet_v2.model``, joonson/syncnet_python) and its exact preprocessing.

With these weights, :func:`official_embeddings` + ``facekit.metrics.sync.sync_scores`` give paper-comparable LSE-D /
LSE-C. The weights cannot be downloaded here; a user who has the file loads it with :func:`load_official`.

Preprocessing, as the reference ``SyncNetInstance.evaluate``:

- video: 25 fps face crops resized to 224 x 224, **BGR**, raw float 0..255; window t = frames t .. t+4 as N x 3 x 5 x
  224 x 224;
- audio: 16 kHz mono int16 (raw values); ``python_speech_features.mfcc`` defaults, re-implemented in numpy by
  :func:`mfcc_python_speech_features` (100 columns per second); window t = MFCC columns 4t .. 4t+19 (N x 1 x 13 x 20);
- usable length L = min(frames, floor(samples / 640)); windows t = 0 .. L-6 (syncnet_python's ``range(L - 5)``);
- embeddings un-normalised, 1024-d.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from facekit.data.audio import float_to_pcm

OFFICIAL_SIZE = 224
SAMPLES_PER_FRAME = 640  # 16 kHz / 25 fps
MFCC_PER_FRAME = 4  # 100 MFCC columns per second / 25 fps
MFCC_WINDOW = 20


class OfficialWeightsError(ValueError):
    """A SyncNet weights file that cannot be used; the message names the file and the offending keys."""


def _conv_bn(conv: nn.Module, bn: nn.Module, pool: nn.Module | None = None) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)] + ([pool] if pool is not None else [])


def _fc(embed_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(), nn.Linear(512, embed_dim))


class SyncNetOfficial(nn.Module):
    """syncnet_python's ``S``; submodule names and Sequential indices match ``syncnet_v2.model``'s state-dict keys."""

    def __init__(self, embed_dim: int = 1024) -> None:
        super().__init__()
        conv, bn, pool = nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d
        self.netcnnaud = nn.Sequential(
            *_conv_bn(conv(1, 64, 3, padding=1), bn(64), pool(1, stride=1)),  # 0-3
            *_conv_bn(conv(64, 192, 3, padding=1), bn(192), pool(3, stride=(1, 2))),  # 4-7
            *_conv_bn(conv(192, 384, 3, padding=1), bn(384)),  # 8-10
            *_conv_bn(conv(384, 256, 3, padding=1), bn(256)),  # 11-13
            *_conv_bn(conv(256, 256, 3, padding=1), bn(256), pool(3, stride=(2, 2))),  # 14-17
            *_conv_bn(conv(256, 512, (5, 4), padding=0), bn(512)),  # 18-20
        )
        self.netfcaud = _fc(embed_dim)
        conv, bn, pool = nn.Conv3d, nn.BatchNorm3d, nn.MaxPool3d
        self.netcnnlip = nn.Sequential(
            *_conv_bn(conv(3, 96, (5, 7, 7), stride=(1, 2, 2)), bn(96), pool((1, 3, 3), stride=(1, 2, 2))),  # 0-3
            *_conv_bn(
                conv(96, 256, (1, 5, 5), stride=(1, 2, 2), padding=(0, 1, 1)),
                bn(256),
                pool((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            ),  # 4-7
            *_conv_bn(conv(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn(256)),  # 8-10
            *_conv_bn(conv(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn(256)),  # 11-13
            *_conv_bn(conv(256, 256, (1, 3, 3), padding=(0, 1, 1)), bn(256), pool((1, 3, 3), stride=(1, 2, 2))),
            *_conv_bn(conv(256, 512, (1, 6, 6)), bn(512)),  # 18-20
        )
        self.netfclip = _fc(embed_dim)

    def forward_aud(self, x: Tensor) -> Tensor:
        """(N, 1, 13, 20) MFCC windows -> (N, 1024) un-normalised audio embeddings."""
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: Tensor) -> Tensor:
        """(N, 3, 5, 224, 224) BGR 0..255 frame windows -> (N, 1024) un-normalised video embeddings."""
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_official(path: str | Path, map_location: str | torch.device = "cpu") -> SyncNetOfficial:
    """Load ``syncnet_v2.model`` (a plain state dict) into a frozen, eval-mode :class:`SyncNetOfficial`.

    Every key and shape must match; BatchNorm ``num_batches_tracked`` counters may be absent (files written by old
    PyTorch versions lack them, and they do not affect evaluation). Raises OfficialWeightsError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise OfficialWeightsError(f"{path}: no such file; pass the path of syncnet_v2.model (joonson/syncnet_python)")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated files and pickled code both land here
        raise OfficialWeightsError(f"{path}: not a readable weights-only state dict ({type(exc).__name__}: {exc})") \
            from exc  # fmt: skip
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise OfficialWeightsError(f"{path}: expected a plain state dict of tensors (syncnet_v2.model)")
    model = SyncNetOfficial()
    expected = model.state_dict()
    optional = {k for k in expected if k.endswith("num_batches_tracked")}
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]  # fmt: skip
    problems = [f"missing {missing[:5]}"] * bool(missing) + [f"unexpected {unexpected[:5]}"] * bool(unexpected)
    problems += [f"wrong shapes {wrong[:5]}"] * bool(wrong)
    if problems:
        raise OfficialWeightsError(f"{path}: does not match the SyncNet (syncnet_v2) layout: {'; '.join(problems)}")
    model.load_state_dict(state, strict=False)  # strictness checked above, optional counters aside
    return model.eval().requires_grad_(False)


# ---------------------------------------------------------------------------------------------------- audio


def _mel_filterbank(nfilt: int, nfft: int, sample_rate: int, lowfreq: float, highfreq: float) -> np.ndarray:
    """python_speech_features.get_filterbanks: triangles on FFT bins floor((nfft+1) f / sr), HTK mel scale."""
    to_mel = lambda hz: 2595 * np.log10(1 + hz / 700.0)  # noqa: E731
    to_hz = lambda mel: 700 * (10 ** (mel / 2595.0) - 1)  # noqa: E731
    points = np.linspace(to_mel(lowfreq), to_mel(highfreq), nfilt + 2)
    bins = np.floor((nfft + 1) * to_hz(points) / sample_rate)
    bank = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        left, centre, right = int(bins[j]), int(bins[j + 1]), int(bins[j + 2])
        up, down = np.arange(left, centre), np.arange(centre, right)
        bank[j, up] = (up - bins[j]) / (bins[j + 1] - bins[j])
        bank[j, down] = (bins[j + 2] - down) / (bins[j + 2] - bins[j + 1])
    return bank


def mfcc_python_speech_features(
    signal: np.ndarray,
    sample_rate: int = 16000,
    winlen: float = 0.025,
    winstep: float = 0.01,
    numcep: int = 13,
    nfilt: int = 26,
    nfft: int = 512,
    preemph: float = 0.97,
    ceplifter: int = 22,
) -> np.ndarray:
    """``python_speech_features.mfcc(signal, sample_rate)`` with its defaults, transposed -> float64 (numcep, F).

    Pre-emphasis ``[s0, s[1:] - 0.97 s[:-1]]``; frames of round(winlen sr) samples every round(winstep sr)
    (F = 1 + ceil((N - 400) / 160) at 16 kHz, the last frame zero-padded), rectangular window; power spectrum
    |rfft(frame, 512)|^2 / 512; 26 triangular mel filters 0 .. sr/2; log (zeros -> float eps); orthonormal DCT-II,
    first 13; sinusoidal lifter 1 + 11 sin(pi n / 22); coefficient 0 replaced by the log total frame energy.
    signal: mono (N,) raw int16 values (float accepted as is, not rescaled).
    """
    from scipy.fft import dct

    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"signal must be non-empty mono (N,), got shape {x.shape}")
    frame_len, step = math.floor(winlen * sample_rate + 0.5), math.floor(winstep * sample_rate + 0.5)
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    num = 1 if x.size <= frame_len else 1 + math.ceil((x.size - frame_len) / step)
    x = np.pad(x, (0, (num - 1) * step + frame_len - x.size))
    frames = x[np.arange(num)[:, None] * step + np.arange(frame_len)]  # (F, frame_len)
    power = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    eps = np.finfo(float).eps
    energy = power.sum(axis=1)
    energy = np.where(energy == 0, eps, energy)
    feat = power @ _mel_filterbank(nfilt, nfft, sample_rate, 0.0, sample_rate / 2).T
    feat = np.log(np.where(feat == 0, eps, feat))
    cep = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    cep *= 1 + (ceplifter / 2.0) * np.sin(np.pi * np.arange(numcep) / ceplifter)
    cep[:, 0] = np.log(energy)
    return cep.T


# ---------------------------------------------------------------------------------------------------- video + windows


def official_frames(frames_rgb: np.ndarray | Tensor) -> Tensor:
    """uint8 RGB (T, H, W, 3) face crops -> float (3, T, 224, 224) BGR 0..255 (the reference reads JPEGs with cv2).

    Frames of another size are resized (bicubic, antialiased, like FFmpeg's default scaler) and rounded to whole
    values as the reference's uint8 images are.
    """
    x = torch.as_tensor(np.asarray(frames_rgb)) if not isinstance(frames_rgb, Tensor) else frames_rgb
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be RGB (T, H, W, 3), got {tuple(x.shape)}")
    x = x.flip(-1).permute(0, 3, 1, 2).float()  # RGB -> BGR, (T, 3, H, W)
    if tuple(x.shape[-2:]) != (OFFICIAL_SIZE, OFFICIAL_SIZE):
        x = F.interpolate(x, size=(OFFICIAL_SIZE, OFFICIAL_SIZE), mode="bicubic", antialias=True, align_corners=False)
        x = x.round().clamp(0, 255)
    return x.permute(1, 0, 2, 3).contiguous()


def usable_frames(num_frames: int, num_samples: int) -> int:
    """syncnet_python's L = min(frames, floor(samples / 640)); windows start at t = 0 .. L-6 (L-5 of them)."""
    return min(num_frames, num_samples // SAMPLES_PER_FRAME)


@torch.no_grad()
def official_embeddings(
    model: SyncNetOfficial, frames_rgb: np.ndarray | Tensor, wav: np.ndarray, batch_size: int = 20
) -> tuple[Tensor, Tensor]:
    """Video and audio embeddings of every window under the official SyncNet -> (video_emb, audio_emb), (L-5, 1024).

    frames_rgb: uint8 RGB (T, H, W, 3) face crops at 25 fps. wav: 16 kHz mono int16 samples (float input in
    [-1, 1] is converted by ``facekit.data.audio.float_to_pcm``). Feed the result to
    ``facekit.metrics.sync.sync_scores``.
    """
    wav = np.asarray(wav)
    if wav.dtype != np.int16:
        wav = float_to_pcm(wav)
    length = usable_frames(len(frames_rgb), wav.size)
    num = length - 5
    if num < 1:
        raise ValueError(f"{len(frames_rgb)} frames / {wav.size} samples: SyncNet needs >= 6 frames (0.24 s)")
    video = official_frames(frames_rgb[:length])  # (3, L, 224, 224)
    mfcc = torch.from_numpy(mfcc_python_speech_features(wav)).float()  # (13, F), F >= 4L - 1
    device = next(model.parameters()).device
    video_emb, audio_emb = [], []
    for i in range(0, num, batch_size):
        ts = range(i, min(num, i + batch_size))
        lips = torch.stack([video[:, t : t + 5] for t in ts])  # (B, 3, 5, 224, 224)
        auds = torch.stack([mfcc[None, :, MFCC_PER_FRAME * t : MFCC_PER_FRAME * t + MFCC_WINDOW] for t in ts])
        video_emb.append(model.forward_lip(lips.to(device)).cpu())
        audio_emb.append(model.forward_aud(auds.to(device)).cpu())
    return torch.cat(video_emb), torch.cat(audio_emb)
