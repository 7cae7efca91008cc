"""Checks for the notebooks' exercises: each says right or wrong, with a hint, and never prints the answer.

Every check takes the exercise's inputs and the student's answer, works the answer out with the library itself (so it
is the library's figure the student is compared with, not a copy of it), prints one line and returns ``True`` when the
answer is right. Numbers are compared with a relative and absolute tolerance of 1e-4; tensors may be given as numpy
arrays or lists.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

TOLERANCE = 1e-4
VERDICTS = ("better", "worse", "within noise")


def _judge(correct: bool, hint: str) -> bool:
    print("Right." if correct else f"Not yet: {hint}")
    return bool(correct)


def _exercise(check: Callable[..., bool]) -> Callable[..., bool]:
    """The check, saying "no answer yet" for ``None`` and "not yet" for an answer it cannot read, instead of raising."""
    signature = inspect.signature(check)
    answer_names = [name for name in ("answer", "low", "high") if name in signature.parameters]

    @functools.wraps(check)
    def wrapper(*args, **kwargs) -> bool:
        given = signature.bind(*args, **kwargs).arguments
        if any(given.get(name) is None for name in answer_names):
            print("No answer yet: replace None with yours and run the cell again.")
            return False
        try:
            return check(*args, **kwargs)
        except (TypeError, ValueError) as exc:
            return _judge(False, f"the answer is not of the kind asked for ({exc})")

    return wrapper


def _close(answer, expected) -> bool:
    """``answer`` equals ``expected`` (numbers or arrays) within the tolerance; a wrong shape is not equal."""
    try:
        a = np.asarray(answer.detach() if isinstance(answer, torch.Tensor) else answer, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    e = np.asarray(expected.detach() if isinstance(expected, torch.Tensor) else expected, dtype=np.float64)
    return a.shape == e.shape and bool(np.allclose(a, e, rtol=TOLERANCE, atol=TOLERANCE))


def _tensor(x) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------------- any notebook


@_exercise
def check_lowest(values: Mapping[str, float], answer: str) -> bool:
    """``answer`` names the entry of ``values`` with the lowest value."""
    if answer not in values:
        return _judge(False, f"answer with one of the names: {', '.join(map(repr, values))}")
    return _judge(values[answer] == min(values.values()), "compare the numbers again: lower is what is asked for")


# ---------------------------------------------------------------------------------------------------- 00 quickstart


@_exercise
def check_painted_pixels(image_size: int, answer: int) -> bool:
    """Pixels (per colour channel) of one ``image_size`` x ``image_size`` face that the generator paints."""
    from facekit.models.generator import mouth_mask

    expected = int(mouth_mask(image_size).expand(image_size, image_size).sum())  # the (S, 1) column over S columns
    return _judge(answer == expected, "the generator paints the lower half: rows S/2 .. S-1, every column")


@_exercise
def check_mouth_l1(pred, target, answer: float) -> bool:
    """The mouth-region L1 of (T, 3, S, S) ``pred`` against ``target``, as ``facekit.eval`` scores it."""
    from facekit.metrics.image import clip_image_scores

    expected = clip_image_scores(_tensor(pred), _tensor(target))["mouth_l1"]
    return _judge(_close(answer, expected), "the mean of |pred - target| over rows S/2 .. S-1, all channels and frames")


# ---------------------------------------------------------------------------------------------------- 01 modalities


@_exercise
def check_mel_window_start(t: int, answer: int) -> bool:
    """First mel column of video frame ``t``'s audio window."""
    from facekit.data.audio import mel_window_start

    return _judge(answer == mel_window_start(t), "80 mel columns and 25 frames per second; round down")


@_exercise
def check_mel_columns(num_samples: int, answer: int) -> bool:
    """Columns of the log-mel of ``num_samples`` samples of 16 kHz audio."""
    from facekit.data.audio import melspectrogram

    expected = melspectrogram(np.zeros(num_samples, np.float32)).shape[1]
    return _judge(answer == expected, "one column every 200 samples (12.5 ms), and count the column at sample 0")


@_exercise
def check_pad_count(num_frames: int, t: int, window: int, answer: int) -> bool:
    """``<pad>`` ids in the phoneme window of frame ``t`` of a ``num_frames`` clip."""
    from facekit.data.text import PAD_ID, phoneme_window

    expected = int((phoneme_window(np.full(num_frames, PAD_ID + 1), t, window) == PAD_ID).sum())
    return _judge(answer == expected, "the window spans t - window//2 .. t + window//2; count the frames outside")


# ---------------------------------------------------------------------------------------------------- 02 modulation


@_exercise
def check_modulated_output(S, W, s, answer) -> bool:
    """StyleGAN2 modulation/demodulation: the (N, out) output of (N, in) input ``S``, weight ``W``, styles ``s``."""
    from facekit.nn.modulation import modulated_linear

    expected = modulated_linear(_tensor(S), _tensor(W), _tensor(s))
    return _judge(_close(answer, expected), "modulate, demodulate, execute; mind what a negative style does")


@_exercise
def check_demodulation_factors(W, s, answer) -> bool:
    """The (out,) factors d_i that demodulation multiplies output i by, for one sample's style ``s`` (in,)."""
    from facekit.nn.modulation import modulated_weight

    W, s = _tensor(W), _tensor(s)
    modulated = s[None, :] * W
    expected = (modulated_weight(W, s[None])[0] * modulated).sum(1) / modulated.square().sum(1)
    return _judge(_close(answer, expected), "one factor per output row: 1 over the norm of the modulated row")


@_exercise
def check_film(S, W, gamma, beta, answer) -> bool:
    """FiLM's output ``W (gamma * S + beta)`` for (N, in) ``S``."""
    from facekit.nn.modulation import film

    expected = film(_tensor(S), _tensor(gamma), _tensor(beta)) @ _tensor(W).T
    return _judge(_close(answer, expected), "FiLM scales and shifts the features, then the plain layer runs")


# ---------------------------------------------------------------------------------------------------- 03 cascade


@_exercise
def check_cascade_linears(order: Sequence[str], num_fc: int, answer: int) -> bool:
    """``nn.Linear`` layers in the FC stacks of a ``ModalityCascade`` of ``order`` with ``num_fc``."""
    from facekit.models.cascade import ModalityCascade

    cascade = ModalityCascade(tuple(order), 4, num_fc)
    expected = sum(isinstance(m, torch.nn.Linear) for m in cascade.fc.modules())
    return _judge(answer == expected, "every modality has its own stack of num_fc layers")


@_exercise
def check_changed_features(order: Sequence[str], changed: str, answer: Sequence[str]) -> bool:
    """The modalities whose mouth-shape feature changes when ``changed``'s data feature changes (measured)."""
    from facekit.models.cascade import ModalityCascade

    torch.manual_seed(0)
    cascade = ModalityCascade(tuple(order), 8).eval()
    features = {m: torch.randn(2, 8) for m in order}
    with torch.no_grad():
        before = cascade(features)
        after = cascade({**features, changed: features[changed] + 1})
    expected = {m for m, b, a in zip(order, before, after, strict=True) if not torch.equal(a, b)}
    return _judge(set(answer) == expected, "each stage is modulated by the one before it; what can a change reach?")


@_exercise
def check_cascade_stage(cascade, features: Mapping[str, torch.Tensor], k: int, answer) -> bool:
    """Mouth-shape feature number ``k`` (0-based, in cascade order) of ``cascade`` on ``features``."""
    with torch.no_grad():
        expected = cascade(dict(features))[k]
    return _judge(
        _close(answer, expected), "modulate S_k by the previous mouth feature (the preset for k = 0), then FC"
    )


# ---------------------------------------------------------------------------------------------------- 04 generator


@_exercise
def check_resolutions(image_size: int, answer: Sequence[int]) -> bool:
    """The face encoder's feature-map sides for ``image_size``, from the input down to the bottleneck."""
    from facekit.models.generator import resolutions

    return _judge(list(answer) == resolutions(image_size), "halve while the side is even and larger than 6")


@_exercise
def check_channels(side: int, image_size: int, base_channels: int, answer: int) -> bool:
    """Channels of the face encoder's map of side ``side``."""
    from facekit.models.generator import channels_at

    expected = channels_at(side, image_size, base_channels)
    return _judge(answer == expected, "base x (S / side), capped at 8 x base")


@_exercise
def check_nonzero_parameters(module: torch.nn.Module, answer: int) -> bool:
    """How many numbers in ``module``'s parameters (weights and biases) are not zero."""
    expected = sum(int((p != 0).sum()) for p in module.parameters())
    return _judge(answer == expected, "print the module's weight and bias and count")


# ---------------------------------------------------------------------------------------------------- 05 training


@_exercise
def check_bce(prob, label, answer: float) -> bool:
    """The binary cross-entropy of predicted probabilities ``prob`` against 0/1 ``label``, mean over pairs."""
    from facekit.models.sync_expert import bce

    expected = float(bce(_tensor(prob), _tensor(label)))
    return _judge(_close(answer, expected), "-[y ln p + (1 - y) ln(1 - p)], averaged over the pairs")


# ---------------------------------------------------------------------------------------------------- 06 evaluation


@_exercise
def check_psnr(x, y, answer: float) -> bool:
    """PSNR (dB, MAX 1) of one (1, 3, H, W) image pair."""
    from facekit.metrics.image import psnr

    expected = float(psnr(_tensor(x), _tensor(y)))
    return _judge(_close(answer, expected), "10 log10(MAX^2 / MSE), the MSE over every pixel and channel")


@_exercise
def check_lse_c(video_emb, audio_emb, answer: float) -> bool:
    """LSE-C of (T, E) video and audio embeddings, as ``facekit.metrics.sync`` computes it."""
    from facekit.metrics.sync import sync_scores

    expected = sync_scores(_tensor(video_emb), _tensor(audio_emb)).lse_c
    return _judge(_close(answer, expected), "the median of the offset curve minus its minimum")


@_exercise
def check_offset_for_shift(shift: int, answer: int) -> bool:
    """The AV offset measured when the audio is ``shift`` frames late (measured on embeddings with a known shift)."""
    from facekit.metrics.sync import sync_scores

    torch.manual_seed(0)
    video = torch.nn.functional.normalize(torch.randn(40, 8), dim=1)
    audio = torch.zeros_like(video)  # a_(t + shift) = v_t: the audio of frame t arrives shift frames later
    if shift >= 0:
        audio[shift:] = video[: len(video) - shift]
    else:
        audio[:shift] = video[-shift:]
    expected = sync_scores(video, audio).offset
    return _judge(answer == expected, "d_t(k) compares v_t with a_(t+k): where does v_t's own audio sit?")


# ---------------------------------------------------------------------------------------------------- 07 statistics


@_exercise
def check_standard_error(values, answer: float) -> bool:
    """The standard error of the mean of ``values`` (sample standard deviation, n - 1)."""
    values = np.asarray(values, np.float64)
    expected = values.std(ddof=1) / math.sqrt(len(values))
    return _judge(
        _close(answer, expected), "the sample standard deviation (divide by n - 1), over the square root of n"
    )


@_exercise
def check_paired_interval(a, b, low: float, high: float) -> bool:
    """The 95% t confidence interval of the mean paired difference ``a - b`` (one pair per seed)."""
    from scipy.stats import t as student_t

    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    half = student_t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    hint = "differences per seed first; mean ± t(0.975, n - 1) x their standard error"
    return _judge(_close([low, high], [d.mean() - half, d.mean() + half]), hint)


@_exercise
def check_verdict(low: float, high: float, higher_is_better: bool, answer: str) -> bool:
    """The verdict on a difference (A - B) with 95% interval [low, high]: 'better', 'worse' or 'within noise' for A."""
    if answer not in VERDICTS:
        return _judge(False, f"answer with one of {', '.join(map(repr, VERDICTS))}")
    if low <= 0 <= high:
        expected = "within noise"
    else:
        expected = "better" if (low > 0) == higher_is_better else "worse"
    return _judge(answer == expected, "does the interval hold zero? if not, which way is good for this metric?")


CHECKS = (
    check_lowest,
    check_painted_pixels,
    check_mouth_l1,
    check_mel_window_start,
    check_mel_columns,
    check_pad_count,
    check_modulated_output,
    check_demodulation_factors,
    check_film,
    check_cascade_linears,
    check_changed_features,
    check_cascade_stage,
    check_resolutions,
    check_channels,
    check_nonzero_parameters,
    check_bce,
    check_psnr,
    check_lse_c,
    check_offset_for_shift,
    check_standard_error,
    check_paired_interval,
    check_verdict,
)
