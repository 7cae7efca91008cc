"""Invariants of the modulation op (claim 11, reconstructed) and the layers built on it."""

import pytest
import torch
import torch.nn.functional as F

from facekit.nn import (
    FORMULAS,
    ModulatedConv2d,
    ModulatedLinear,
    StyleAffine,
    adain,
    film,
    modulated_conv2d,
    modulated_conv2d_grouped,
    modulated_linear,
    modulated_linear_reference,
    modulated_weight,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_demodulated_linear_weights_have_unit_rows():
    w, s = torch.randn(7, 5), torch.randn(3, 5) * 2
    ww = modulated_weight(w, s, demodulate=True)
    assert ww.shape == (3, 7, 5)
    torch.testing.assert_close(ww.norm(dim=2), torch.ones(3, 7), atol=1e-5, rtol=0)
    # the reference path uses exactly these weights
    x = torch.randn(3, 5)
    torch.testing.assert_close(modulated_linear_reference(x, w, s), torch.einsum("noi,ni->no", ww, x))
    # without demodulation the rows are just the style-scaled columns
    torch.testing.assert_close(modulated_weight(w, s, demodulate=False), w[None] * s[:, None, :])


def test_demodulated_conv_weights_have_unit_norm_per_output_channel():
    w, s = torch.randn(6, 4, 3, 3), torch.rand(2, 4) + 0.1
    ww = modulated_weight(w, s, demodulate=True)
    assert ww.shape == (2, 6, 4, 3, 3)
    torch.testing.assert_close(ww.square().sum(dim=(2, 3, 4)).sqrt(), torch.ones(2, 6), atol=1e-5, rtol=0)


def test_unit_styles_without_demodulation_is_the_plain_layer():
    x, w = torch.randn(4, 6), torch.randn(5, 6)
    torch.testing.assert_close(
        modulated_linear(x, w, torch.ones(4, 6), demodulate=False), F.linear(x, w), atol=1e-6, rtol=0
    )
    x, w = torch.randn(2, 3, 7, 5), torch.randn(4, 3, 3, 3)
    ones = torch.ones(2, 3)
    for padding in (None, 0, 1):
        expected = F.conv2d(x, w, padding=1 if padding is None else padding)
        got = modulated_conv2d(x, w, ones, demodulate=False, padding=padding)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize(("n", "c_in", "c_out"), [(1, 1, 1), (1, 5, 3), (3, 7, 2), (4, 8, 9)])
def test_fast_and_reference_linear_agree(n, c_in, c_out, demodulate):
    x, w, s = torch.randn(n, c_in), torch.randn(c_out, c_in), torch.randn(n, c_in)
    fast = modulated_linear(x, w, s, demodulate=demodulate)
    ref = modulated_linear_reference(x, w, s, demodulate=demodulate)
    assert fast.shape == ref.shape == (n, c_out)
    assert (fast - ref).abs().max() < 1e-4


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize(("n", "c_in", "c_out", "h", "w"), [(1, 1, 1, 1, 1), (1, 3, 5, 7, 5), (3, 4, 2, 6, 9)])
def test_fast_and_grouped_conv_agree(n, c_in, c_out, h, w, kernel, demodulate):
    x, wt, s = torch.randn(n, c_in, h, w), torch.randn(c_out, c_in, kernel, kernel), torch.randn(n, c_in)
    fast = modulated_conv2d(x, wt, s, demodulate=demodulate)
    grouped = modulated_conv2d_grouped(x, wt, s, demodulate=demodulate)
    assert fast.shape == grouped.shape == (n, c_out, h, w)
    assert (fast - grouped).abs().max() < 1e-4


def test_explicit_padding_agrees_between_paths():
    x, wt, s = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3), torch.randn(2, 3)
    fast = modulated_conv2d(x, wt, s, padding=0)
    assert fast.shape == (2, 4, 4, 4)
    assert (fast - modulated_conv2d_grouped(x, wt, s, padding=0)).abs().max() < 1e-4


def test_demodulation_is_invariant_to_a_global_style_scale():
    x, w, s = torch.randn(3, 6), torch.randn(4, 6), torch.randn(3, 6)
    torch.testing.assert_close(modulated_linear(x, w, 3 * s), modulated_linear(x, w, s), atol=1e-5, rtol=1e-5)
    x, w = torch.randn(2, 6, 5, 5), torch.randn(4, 6, 3, 3)
    s = torch.randn(2, 6)
    torch.testing.assert_close(modulated_conv2d(x, w, 3 * s), modulated_conv2d(x, w, s), atol=1e-5, rtol=1e-5)
    # ...while without demodulation the output scales with the styles
    w2 = torch.randn(4, 6)
    torch.testing.assert_close(
        modulated_linear(x[:, :, 0, 0], w2, 3 * s, demodulate=False),
        3 * modulated_linear(x[:, :, 0, 0], w2, s, demodulate=False),
        atol=1e-5,
        rtol=1e-5,
    )


def test_style_affine_bias_starts_at_one_and_zero_cond_gives_unit_styles():
    affine = StyleAffine(5, 7)
    assert torch.equal(affine.bias, torch.ones(7))
    layer = ModulatedLinear(6, 4, cond_dim=5)
    assert torch.equal(layer.affine.bias, torch.ones(6))
    assert torch.equal(layer.affine(torch.zeros(3, 5)), torch.ones(3, 6))
    # with unit styles the stylegan2 layer is a demodulated plain layer
    x = torch.randn(3, 6)
    w = layer.weight * layer.gain
    expected = F.leaky_relu(F.linear(x, w / w.norm(dim=1, keepdim=True)), 0.2) * 2**0.5
    torch.testing.assert_close(layer(x, torch.zeros(3, 5)), expected, atol=1e-5, rtol=0)


def test_film_closed_form():
    x, gamma, beta = torch.randn(2, 3, 4, 5), torch.randn(2, 3), torch.randn(2, 3)
    torch.testing.assert_close(film(x, gamma, beta), x * gamma[:, :, None, None] + beta[:, :, None, None])
    x2 = torch.randn(2, 3)
    torch.testing.assert_close(film(x2, gamma, beta), gamma * x2 + beta)
    torch.testing.assert_close(film(x2, torch.ones(2, 3), torch.zeros(2, 3)), x2)


def test_adain_sets_mean_and_std_over_the_feature_dim():
    x = torch.randn(4, 16) * 5 + 2
    g, b = torch.rand(4) + 0.5, torch.randn(4)
    y = adain(x, g[:, None].expand(4, 16), b[:, None].expand(4, 16))
    torch.testing.assert_close(y.mean(dim=1), b, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=1, correction=0), g, atol=1e-4, rtol=0)
    # NCHW: per sample and channel over H, W
    x = torch.randn(2, 3, 6, 5) * 3 - 1
    gamma, beta = torch.rand(2, 3) + 0.5, torch.randn(2, 3)
    y = adain(x, gamma, beta)
    torch.testing.assert_close(y.mean(dim=(2, 3)), beta, atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std(dim=(2, 3), correction=0), gamma, atol=1e-4, rtol=0)


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_modules_depend_on_cond_and_pass_gradients(formula, kind):
    if kind == "linear":
        layer, x = ModulatedLinear(6, 5, cond_dim=4, formula=formula), torch.randn(3, 6)
        out_shape = (3, 5)
    else:
        layer, x = ModulatedConv2d(6, 5, cond_dim=4, formula=formula), torch.randn(3, 6, 4, 4)
        out_shape = (3, 5, 4, 4)
    cond = torch.randn(3, 4, requires_grad=True)
    y = layer(x, cond)
    assert y.shape == out_shape
    assert not torch.allclose(y, layer(x, torch.randn(3, 4)))
    y.square().mean().backward()
    assert cond.grad is not None and cond.grad.abs().sum() > 0
    assert all(p.grad is not None for p in layer.parameters())


def test_modules_start_at_a_sensible_scale():
    for demodulate in (True, False):
        layer = ModulatedLinear(64, 64, cond_dim=16, activation=False, demodulate=demodulate)
        std = layer(torch.randn(32, 64), torch.randn(32, 16) * 0.1).std().item()
        assert 0.3 < std < 3.0


def test_unknown_formula_names_the_choices():
    with pytest.raises(ValueError, match="stylegan2.*film.*adain"):
        ModulatedLinear(4, 4, 4, formula="concat")
    with pytest.raises(ValueError, match="stylegan2"):
        ModulatedConv2d(4, 4, 4, formula="add")


def test_shape_errors_name_the_expected_shape():
    x, w = torch.randn(3, 5), torch.randn(4, 5)
    with pytest.raises(ValueError, match=r"styles must have shape \(N, in\) = \(3, 5\)"):
        modulated_linear(x, w, torch.randn(3, 4))
    with pytest.raises(ValueError, match=r"weight must have shape \(out, 5\)"):
        modulated_linear_reference(x, torch.randn(4, 6), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"x must have shape \(N, Cin, H, W\)"):
        modulated_conv2d(x, torch.randn(4, 5, 3, 3), torch.randn(3, 5))
    with pytest.raises(ValueError, match=r"weight must have shape \(Cout, 2, kh, kw\)"):
        modulated_conv2d_grouped(torch.randn(1, 2, 4, 4), torch.randn(3, 4, 3, 3), torch.randn(1, 2))
    with pytest.raises(ValueError, match=r"gamma must have shape \(N, C\) = \(2, 3\)"):
        film(torch.randn(2, 3, 4, 4), torch.randn(2, 4), torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"beta must have shape \(N, C\) = \(2, 3\)"):
        adain(torch.randn(2, 3), torch.randn(2, 3), torch.randn(3))


@pytest.mark.parametrize("formula", FORMULAS)
def test_modulated_conv_upsample_doubles_the_size(formula):
    layer = ModulatedConv2d(3, 2, cond_dim=4, formula=formula, upsample=True)
    assert layer(torch.randn(2, 3, 5, 7), torch.randn(2, 4)).shape == (2, 2, 10, 14)
    assert ModulatedConv2d(3, 2, 4, kernel_size=1)(torch.randn(2, 3, 5, 7), torch.randn(2, 4)).shape == (2, 2, 5, 7)


@pytest.mark.parametrize("upsample", [False, True])
@pytest.mark.parametrize("demodulate", [True, False])
def test_conv_module_is_the_grouped_op_then_bias_and_activation(upsample, demodulate):
    layer = ModulatedConv2d(6, 5, 4, demodulate=demodulate, upsample=upsample)
    with torch.no_grad():
        layer.bias.normal_()
    x, cond = torch.randn(3, 6, 7, 9), torch.randn(3, 4)
    resized = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False) if upsample else x
    y = modulated_conv2d_grouped(resized, layer.weight * layer.gain, layer.affine(cond), demodulate=demodulate)
    expected = F.leaky_relu(y + layer.bias[None, :, None, None], 0.2) * 2**0.5
    assert torch.allclose(layer(x, cond), expected, atol=1e-5)
    channels_last = layer(x.contiguous(memory_format=torch.channels_last), cond)
    assert channels_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(channels_last, expected, atol=1e-5)
