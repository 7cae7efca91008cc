"""Every exercise check of ``facekit.exercises`` accepts a right answer, worked out here by hand, and rejects a wrong
one, and its message never contains the answer."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from facekit import exercises as ex


def _rand(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def cases():
    """(check, inputs, right answer, wrong answer); the right answers are derived from the definitions."""
    S_in, W, s = (
        torch.randn(1, 4, generator=torch.Generator().manual_seed(1)),
        _rand(3, 4, seed=2) - 0.5,
        _rand(1, 4) + 0.5,
    )
    Wp = s * W  # modulate
    y = (S_in @ (Wp / Wp.norm(dim=1, keepdim=True)).T).numpy()  # demodulate, execute
    gamma, beta = _rand(1, 4, seed=3), _rand(1, 4, seed=4)
    pred, target = _rand(2, 3, 32, 32, seed=5), _rand(2, 3, 32, 32, seed=6)
    mouth_l1 = float((pred[..., 16:, :] - target[..., 16:, :]).abs().mean())
    mse = float((pred[:1] - target[:1]).square().mean())
    video = torch.nn.functional.normalize(torch.randn(20, 6, generator=torch.Generator().manual_seed(7)), dim=1)
    audio = torch.nn.functional.normalize(torch.randn(20, 6, generator=torch.Generator().manual_seed(8)), dim=1)
    padded = torch.cat([torch.zeros(15, 6), audio, torch.zeros(15, 6)])
    mdist = torch.stack([(video - padded[15 + k : 35 + k]).norm(dim=1).mean() for k in range(-15, 16)])
    a, b = np.array([0.61, 0.64, 0.60]), np.array([0.60, 0.62, 0.61])
    d = a - b
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t(0.975, 2 degrees of freedom), from a t table
    zero_layer = torch.nn.Conv2d(4, 3, 1)
    torch.nn.init.zeros_(zero_layer.weight)
    return [
        (ex.check_lowest, ({"a": 0.3, "b": 0.2},), "b", "a"),
        (ex.check_painted_pixels, (32,), 16 * 32, 32 * 32),
        (ex.check_mouth_l1, (pred, target), mouth_l1, mouth_l1 + 0.01),
        (ex.check_mel_window_start, (17,), 54, 55),  # 80 * 17 / 25 = 54.4
        (ex.check_mel_columns, (32000,), 161, 160),  # 1 + 32000 // 200
        (ex.check_pad_count, (50, 1, 5), 1, 2),  # frames -1 .. 3: one outside
        (ex.check_modulated_output, (S_in, W, s), y, -y),
        (ex.check_demodulation_factors, (W, s[0]), (1 / Wp.norm(dim=1)).numpy(), Wp.norm(dim=1).numpy()),
        (ex.check_film, (S_in, W, gamma, beta), ((gamma * S_in + beta) @ W.T).numpy(), (S_in @ W.T).numpy()),
        (ex.check_cascade_linears, (("text", "audio"), 3), 6, 3),
        (ex.check_changed_features, (("text", "audio", "mouth"), "audio"), ["audio", "mouth"], ["audio"]),
        (ex.check_resolutions, (32,), [32, 16, 8, 4], [32, 16, 8]),  # 4 is even but not larger than 6
        (ex.check_channels, (8, 32, 8), 32, 16),  # min(8 * 32 / 8, 64)
        (ex.check_nonzero_parameters, (zero_layer,), 3, 0),  # the zeroed weight leaves the 3 random biases
        (ex.check_bce, ([0.8, 0.8], [1.0, 0.0]), -(math.log(0.8) + math.log(0.2)) / 2, math.log(2)),
        (ex.check_psnr, (pred[:1], target[:1]), 10 * math.log10(1 / mse), 10 * math.log10(mse)),
        (ex.check_lse_c, (video, audio), float(mdist.median() - mdist.min()), float(mdist.min())),
        (ex.check_offset_for_shift, (2,), 2, -2),
        (ex.check_offset_for_shift, (-3,), -3, 3),
        (ex.check_standard_error, ([1.0, 2.0, 3.0, 4.0],), math.sqrt(5 / 3) / 2, math.sqrt(5 / 4) / 2),
        (ex.check_paired_interval, (a, b), (d.mean() - half, d.mean() + half), (d.mean() - 0.01, d.mean() + 0.01)),
        (ex.check_verdict, (-0.01, 0.03, True), "within noise", "better"),
        (ex.check_verdict, (0.01, 0.03, False), "worse", "better"),
    ]


def _call(check, inputs, answer):
    if check is ex.check_paired_interval:
        return check(*inputs, *answer)
    return check(*inputs, answer)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c[0].__name__)
def test_check_right_and_wrong(case, capsys):
    check, inputs, right, wrong = case
    assert _call(check, inputs, right) is True
    assert capsys.readouterr().out.strip() == "Right."
    assert _call(check, inputs, wrong) is False
    message = capsys.readouterr().out
    assert message.startswith("Not yet: ")
    for value in np.atleast_1d(np.asarray(right, dtype=object)).tolist():
        if isinstance(value, float):  # the hint must not print the number it asks for
            assert f"{value:.3f}" not in message and f"{value:.4g}" not in message


@pytest.mark.parametrize("case", cases(), ids=lambda c: c[0].__name__)
def test_check_without_an_answer(case, capsys):
    """A notebook runs its exercise cells with None in place of the answers: the check says so and does not raise."""
    check, inputs, right, _ = case
    unanswered = (None, None) if check is ex.check_paired_interval else None
    assert _call(check, inputs, unanswered) is False
    assert capsys.readouterr().out.startswith("No answer yet")


def test_every_check_is_tested():
    tested = {c[0] for c in cases()} | {ex.check_cascade_stage}  # the last one below: it takes a built cascade
    assert set(ex.CHECKS) == tested, {f.__name__ for f in set(ex.CHECKS) ^ tested}


def test_check_cascade_stage():
    """The cascade-stage check takes a built cascade: stage 1 by hand is the second modality modulated by stage 0."""
    from facekit.models.cascade import ModalityCascade

    torch.manual_seed(0)
    cascade = ModalityCascade(("audio", "text"), 8).eval()
    features = {"audio": torch.randn(3, 8), "text": torch.randn(3, 8)}
    with torch.no_grad():
        first = cascade.fc["audio"](cascade.modulate["audio"](features["audio"], cascade.preset.expand(3, -1)))
        second = cascade.fc["text"](cascade.modulate["text"](features["text"], first))
    assert ex.check_cascade_stage(cascade, features, 1, second) is True
    assert ex.check_cascade_stage(cascade, features, 1, first) is False


def test_wrong_kind_of_answer_is_a_wrong_answer(capsys):
    assert ex.check_lowest({"a": 1.0}, "c") is False
    assert "'a'" in capsys.readouterr().out  # the hint lists the names to choose from
    assert ex.check_verdict(0.1, 0.2, True, "significant") is False
    assert ex.check_modulated_output(torch.ones(1, 2), torch.ones(2, 2), torch.ones(1, 2), "a number") is False
