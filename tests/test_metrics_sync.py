"""The SyncNet protocol (LSE-D, LSE-C, AV offset) against a mocked embedding network with a known offset, closed-form
figures, a naive double loop and syncnet_python's own calc_pdist; the facekit expert on a synthetic clip; and the
official SyncNet's layout, loading, MFCC front end and pipeline."""

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facekit.data.audio import float_to_pcm
from facekit.metrics.sync import (
    FLAT_DIP,
    SyncEvaluator,
    SyncTrust,
    checkpoint_id,
    evaluate_sync,
    facekit_embeddings,
    sync_distances,
    sync_problems,
    sync_scores,
)
from facekit.metrics.syncnet_official import (
    OfficialWeightsError,
    SyncNetOfficial,
    load_official,
    mfcc_python_speech_features,
    official_embeddings,
)
from facekit.models.sync_expert import SyncExpert

EXPERT_CKPT = Path(__file__).resolve().parents[1] / "runs/expert-cpu/last.pt"
SQRT2 = math.sqrt(2)


def unit_rows(n: int, dim: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=1)


def delayed_audio(video: torch.Tensor, k: int, filler: torch.Tensor) -> torch.Tensor:
    """Audio embeddings delayed by k windows: a_j = v_{j-k}; windows with no counterpart take ``filler`` rows."""
    audio = filler.clone()
    num = video.shape[0]
    for j in range(num):
        if 0 <= j - k < num:
            audio[j] = video[j - k]
    return audio


# ---------------------------------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("k", range(-6, 7))
def test_mocked_network_recovers_the_offset(k):
    video = unit_rows(40, 8, seed=0)
    audio = delayed_audio(video, k, filler=unit_rows(40, 8, seed=1))
    result = sync_scores(video, audio)
    assert result.offset == k  # audio delayed by k frames -> +k
    assert result.syncnet_python_offset == -k
    assert result.offsets.tolist() == list(range(-15, 16))
    assert result.mdist.shape == (31,) and result.confidence_per_frame.shape == (40,)
    assert result.lse_d == pytest.approx(abs(k) / 40)  # 0 where matched, 1 (= ||v - 0||) at the padded ends


@pytest.mark.parametrize("k", [-12, -3, 0, 5, 8, 15])
def test_closed_form_figures_with_one_hot_embeddings(k):
    """v_t = e_t and a_j = e_{j-k} (else a fresh basis vector): every distance is 0, 1 (padding) or sqrt(2).

    mdist(k) = |k| / T; mdist(j != k) = g(|j|) = (|j| + (T - |j|) sqrt 2) / T, decreasing in |j|; sorting the 31
    values gives |k|/T, g(15), g(15), g(14), ... and the 16th is g(8) whatever |k| <= 15 is.
    """
    num = 40
    eye = torch.eye(2 * num, dtype=torch.float64)
    video = eye[:num]
    audio = delayed_audio(video, k, filler=eye[num:])
    result = sync_scores(video, audio)

    def g(j: int) -> float:
        return (abs(j) + (num - abs(j)) * SQRT2) / num

    expected = torch.tensor([abs(k) / num if j == k else g(j) for j in range(-15, 16)], dtype=torch.float64)
    torch.testing.assert_close(result.mdist, expected, rtol=0, atol=1e-12)
    assert result.offset == k
    assert result.lse_d == pytest.approx(abs(k) / num, abs=1e-12)
    assert result.lse_c == pytest.approx(g(8) - abs(k) / num, abs=1e-12)
    # a frame whose whole search range is inside the clip and matched: one 0, thirty sqrt(2)
    inner = [t for t in range(num) if t - 15 >= 0 and t + 15 < num and 0 <= t + k < num]
    assert inner
    torch.testing.assert_close(result.confidence_per_frame[inner], torch.full((len(inner),), SQRT2).double())


@pytest.mark.parametrize("num, max_offset", [(12, 4), (7, 15), (1, 2)])
def test_distances_equal_a_naive_double_loop(num, max_offset):
    g = torch.Generator().manual_seed(num)
    video, audio = torch.randn(num, 5, generator=g), torch.randn(num, 5, generator=g)
    naive = torch.zeros(2 * max_offset + 1, num)
    for i, k in enumerate(range(-max_offset, max_offset + 1)):
        for t in range(num):
            a = audio[t + k] if 0 <= t + k < num else torch.zeros(5)
            naive[i, t] = math.sqrt(sum((float(x) - float(y)) ** 2 for x, y in zip(video[t], a, strict=True)))
    torch.testing.assert_close(sync_distances(video, audio, max_offset), naive, rtol=1e-6, atol=1e-6)


def test_matches_syncnet_python_calc_pdist():
    """A transcription of joonson/syncnet_python's calc_pdist and offset/conf lines (MIT), on random embeddings."""
    video, audio = torch.randn(30, 16), torch.randn(30, 16)
    vshift = 15
    feat2p = F.pad(audio, (0, 0, vshift, vshift))
    dists = [F.pairwise_distance(video[[i], :].repeat(2 * vshift + 1, 1), feat2p[i : i + 2 * vshift + 1, :])
             for i in range(len(video))]  # fmt: skip
    mdist = torch.mean(torch.stack(dists, 1), 1)
    minval, minidx = torch.min(mdist, 0)
    result = sync_scores(video, audio, vshift)
    torch.testing.assert_close(result.mdist, mdist, rtol=0, atol=1e-4)  # pairwise_distance adds eps=1e-6
    assert result.syncnet_python_offset == int(vshift - minidx)
    assert result.lse_c == pytest.approx(float(torch.median(mdist) - minval), abs=1e-4)
    fconf = torch.median(mdist).numpy() - np.stack([d[minidx].numpy() for d in dists])
    from scipy.signal import medfilt

    np.testing.assert_allclose(result.syncnet_framewise_conf.numpy(), medfilt(fconf, kernel_size=9), atol=1e-4)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="both be"):
        sync_distances(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 5 frames"):
        sync_scores(torch.zeros(0, 3), torch.zeros(0, 3))


# ---------------------------------------------------------------------------------------------------- facekit expert


def test_facekit_embeddings_layouts_resize_and_batching():
    torch.manual_seed(0)
    expert = SyncExpert(channels=4, embed_dim=16).eval()
    handle = SyncEvaluator(expert, image_size=32)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    mel = rng.uniform(-4, 4, (80, 40)).astype(np.float32)
    v, a = handle.embeddings(frames, mel)
    assert v.shape == a.shape == (8, 16)
    torch.testing.assert_close(v.norm(dim=1), torch.ones(8))
    chw = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
    v2, a2 = facekit_embeddings(expert, chw, mel, image_size=32, batch_size=3)
    torch.testing.assert_close(v2, v)
    torch.testing.assert_close(a2, a)
    big = frames.repeat(2, axis=1).repeat(2, axis=2)  # 64 px -> resized to the expert's 32
    v3, _ = handle.embeddings(big, mel)
    assert v3.shape == (8, 16) and torch.isfinite(v3).all()
    result = handle.evaluate(frames, mel)
    assert result.num_windows == 8 and result.expert_id is None


def test_evaluate_sync_from_a_checkpoint_file(tmp_path):
    from facekit.config import tiny
    from facekit.train.checkpoint import save_checkpoint

    cfg = tiny()  # 32 px crops, 16-channel expert
    torch.manual_seed(0)
    model = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2)
    path = save_checkpoint(tmp_path / "expert.pt", {"kind": "expert", "config": cfg.to_dict(), "step": 0,
                                                    "model": model.state_dict()})  # fmt: skip
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)  # resized to 32 px by the checkpoint's config
    wav = (rng.standard_normal(20 * 640) * 3000).astype(np.int16)
    result = evaluate_sync(path, frames, wav, max_offset=5)
    assert result.expert_id == checkpoint_id(path) == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert result.num_windows == 16 and result.offsets.tolist() == list(range(-5, 6))
    assert result.to_dict()["expert_id"] == result.expert_id
    evaluator = SyncEvaluator(path)
    assert evaluator.image_size == 32
    again = evaluator.evaluate(torch.from_numpy(frames), wav)  # max_offset 15: mdist(k) for |k| <= 5 unchanged
    torch.testing.assert_close(again.mdist[10:21], result.mdist)


def _shifted(audio: np.ndarray, frames: int) -> np.ndarray:
    """Delay (frames > 0) or advance the audio by whole 25 fps frames (640 samples each), zero-padded."""
    out, n = np.zeros_like(audio), frames * 640
    if n > 0:
        out[n:] = audio[:-n]
    elif n < 0:
        out[:n] = audio[-n:]
    else:
        out[:] = audio
    return out


@pytest.mark.slow
@pytest.mark.skipif(not EXPERT_CKPT.is_file(), reason=f"no trained expert at {EXPERT_CKPT} (facekit train expert)")
def test_trained_expert_finds_zero_and_shifted_offsets():
    from facekit.checkpoints import checkpoint_config, load_checkpoint
    from facekit.data.dataset import split_keys
    from facekit.data.synthetic.corpus import make_clip

    cfg = checkpoint_config(load_checkpoint(EXPERT_CKPT, "expert"), EXPERT_CKPT)
    names = [f"id{i:04d}" for i in range(cfg.synth.num_identities)]
    held_out = split_keys(names, cfg.data.eval_fraction, cfg.data.split_seed)[1]
    clip = make_clip(cfg, int(held_out[0][2:]) * cfg.synth.clips_per_identity)
    assert clip.info.identity == held_out[0]
    expert = SyncEvaluator(EXPERT_CKPT)  # a training run may be rewriting the file: compare ids within one load
    assert len(expert.expert_id) == 12 and expert.image_size == cfg.data.image_size
    for shift in (0, 3, -3):
        result = evaluate_sync(expert, clip.frames, _shifted(clip.audio, shift))  # int16 audio
        assert result.offset == shift, (shift, result.mdist)
        assert result.expert_id == expert.expert_id and result.num_windows == clip.info.num_frames - 4


# ---------------------------------------------------------------------------------------------------- official SyncNet


def _conv(prefix: str, index: int, shape: tuple) -> dict:
    return {f"{prefix}.{index}.weight": shape, f"{prefix}.{index}.bias": (shape[0],)}


def _bn(prefix: str, index: int, channels: int) -> dict:
    keys = {f"{prefix}.{index}.{n}": (channels,) for n in ("weight", "bias", "running_mean", "running_var")}
    return keys | {f"{prefix}.{index}.num_batches_tracked": ()}


def _fc(prefix: str) -> dict:
    return _conv(prefix, 0, (512, 512)) | _bn(prefix, 1, 512) | _conv(prefix, 3, (1024, 512))


# SYNCNET.md's layout: (Sequential index, weight shape) of every conv; a BatchNorm follows each at index + 1
AUDIO_CONVS = [(0, (64, 1, 3, 3)), (4, (192, 64, 3, 3)), (8, (384, 192, 3, 3)), (11, (256, 384, 3, 3)),
               (14, (256, 256, 3, 3)), (18, (512, 256, 5, 4))]  # fmt: skip
LIP_CONVS = [(0, (96, 3, 5, 7, 7)), (4, (256, 96, 1, 5, 5)), (8, (256, 256, 1, 3, 3)), (11, (256, 256, 1, 3, 3)),
             (14, (256, 256, 1, 3, 3)), (18, (512, 256, 1, 6, 6))]  # fmt: skip
EXPECTED_LAYOUT = (
    {k: v for i, s in AUDIO_CONVS for k, v in (_conv("netcnnaud", i, s) | _bn("netcnnaud", i + 1, s[0])).items()}
    | _fc("netfcaud")
    | {k: v for i, s in LIP_CONVS for k, v in (_conv("netcnnlip", i, s) | _bn("netcnnlip", i + 1, s[0])).items()}
    | _fc("netfclip")
)


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    torch.manual_seed(0)
    model = SyncNetOfficial()
    for m in model.modules():  # non-trivial BatchNorm statistics, so the round trip checks buffers too
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("syncnet") / "syncnet_v2.model"
    torch.save(model.state_dict(), path)
    return model.eval(), path


def test_official_state_dict_has_the_syncnet_v2_layout(official):
    _, path = official
    state = torch.load(path, weights_only=True)
    assert {k: tuple(v.shape) for k, v in state.items()} == EXPECTED_LAYOUT
    assert state["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert state["netfclip.3.bias"].shape == (1024,)


def test_load_official_round_trips(official, tmp_path):
    model, path = official
    loaded = load_official(path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # files from old PyTorch versions have no num_batches_tracked counters: still accepted
    old = {k: v for k, v in torch.load(path, weights_only=True).items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.model")
    load_official(tmp_path / "old.model")


def test_load_official_names_the_file_and_keys(official, tmp_path):
    _, path = official
    state = torch.load(path, weights_only=True)
    renamed = dict(state)
    renamed["netcnnaud.0.kernel"] = renamed.pop("netcnnaud.0.weight")
    torch.save(renamed, tmp_path / "renamed.model")
    with pytest.raises(OfficialWeightsError, match=r"renamed\.model.*missing \['netcnnaud\.0\.weight'\].*unexpected"):
        load_official(tmp_path / "renamed.model")
    state["netfclip.3.weight"] = torch.zeros(512, 512)
    torch.save(state, tmp_path / "shape.model")
    with pytest.raises(OfficialWeightsError, match=r"shape\.model.*netfclip\.3\.weight"):
        load_official(tmp_path / "shape.model")
    with pytest.raises(OfficialWeightsError, match="no such file"):
        load_official(tmp_path / "absent.model")


def test_official_forward_shapes(official):
    model, _ = official
    with torch.no_grad():
        assert model.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert model.forward_lip(torch.rand(1, 3, 5, 224, 224) * 255).shape == (1, 1024)


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    rng = np.random.default_rng(0)
    for n in (16000, 19200, 12345, 401, 300):
        wav = (rng.standard_normal(n) * 3000).astype(np.int16)
        np.testing.assert_allclose(mfcc_python_speech_features(wav), psf.mfcc(wav, 16000).T, rtol=1e-6, atol=1e-9)
    silence = np.zeros(1600, np.int16)
    np.testing.assert_allclose(mfcc_python_speech_features(silence), psf.mfcc(silence, 16000).T, rtol=1e-6)


def test_mfcc_closed_form_properties():
    wav = (np.random.default_rng(1).standard_normal(32000) * 1000).astype(np.int16)
    cep = mfcc_python_speech_features(wav)
    assert cep.shape == (13, 1 + math.ceil((32000 - 400) / 160))  # 198: 100 frames per second, less the tail
    assert abs(cep.shape[1] - 100 * 2) <= 2
    # scaling the signal by 2 adds ln 4 to every log filter energy: only coefficient 0 (the log energy) moves
    double = mfcc_python_speech_features(wav.astype(np.float64) * 2)
    np.testing.assert_allclose(double[1:], cep[1:], atol=1e-9)
    np.testing.assert_allclose(double[0], cep[0] + math.log(4), rtol=1e-12)
    # silence: every log energy is log(eps), whose DCT is constant -> [log eps, 0, ..., 0]
    silent = mfcc_python_speech_features(np.zeros(800, np.int16))
    np.testing.assert_allclose(silent[:, 0], [math.log(np.finfo(float).eps)] + [0.0] * 12, atol=1e-9)


def test_official_pipeline_on_a_short_clip(official):
    model, _ = official
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (30, 48, 48, 3), dtype=np.uint8)  # 1.2 s at 25 fps, resized to 224
    wav = (rng.standard_normal(19200) * 3000).astype(np.int16)
    video_emb, audio_emb = official_embeddings(model, frames, wav)
    assert video_emb.shape == audio_emb.shape == (25, 1024)  # L = min(30, 19200 // 640) = 30 -> t = 0 .. 24
    result = sync_scores(video_emb, audio_emb)
    assert result.offsets.shape == (31,) and result.mdist.shape == (31,)
    assert np.isfinite([result.lse_d, result.lse_c]).all() and -15 <= result.offset <= 15


def test_shift_audio_moves_content_by_whole_frames():
    from facekit.metrics.sync import shift_audio

    wav = np.zeros(16000, np.float32)
    wav[3200] = 1.0
    assert np.argmax(shift_audio(wav, 2)) == 3200 + 1280
    assert np.argmax(shift_audio(wav, -3)) == 3200 - 1920
    assert len(shift_audio(wav, 40)) == len(wav) and shift_audio(wav, 40).max() == 0.0


def test_offset_recovery_with_a_mocked_expert():
    """An 'expert' whose embeddings are the window's own signal recovers every shift exactly."""
    from facekit.metrics.sync import SyncEvaluator, offset_recovery
    from facekit.models.sync_expert import SyncExpert

    class Energy(SyncExpert):
        # video: the frame brightness pattern; audio: the loudness pattern of the same 5 frames
        def embed_face(self, frames):
            v = frames.mean(dim=(2, 3, 4))
            return torch.nn.functional.normalize(v - v.mean(dim=1, keepdim=True), dim=1)

        def embed_audio(self, mel):
            cols = torch.tensor([2, 5, 8, 11, 14])  # the mel columns at the centres of frames t .. t+4
            e = mel[:, 0, :, :].mean(dim=1)[:, cols]
            return torch.nn.functional.normalize(e - e.mean(dim=1, keepdim=True), dim=1)

    rng = np.random.default_rng(0)
    loud = rng.random(60) > 0.5  # per-frame on/off pattern
    wav = np.concatenate([rng.standard_normal(640) * (0.5 if on else 0.001) for on in loud]).astype(np.float32)
    frames = torch.from_numpy(loud[:, None, None, None] * np.ones((60, 3, 16, 16), np.float32))  # (T, 3, H, W)
    found = offset_recovery(SyncEvaluator(Energy(5, 4)), frames, wav, range(-3, 4))
    assert found == {k: k for k in range(-3, 4)}

    class Recorder(Energy):  # keeps the mel windows it is shown
        seen: list = []

        def embed_audio(self, mel):
            self.seen.append(mel.clone())
            return super().embed_audio(mel)

    as_float, as_int16 = Recorder(5, 4), Recorder(5, 4)
    as_float.seen, as_int16.seen = [], []
    wav = np.clip(wav, -1, 1)
    offset_recovery(SyncEvaluator(as_float), frames, wav, range(0, 1))
    found16 = offset_recovery(SyncEvaluator(as_int16), frames, float_to_pcm(wav), range(-3, 4))
    # int16 samples are scaled to [-1, 1] as everywhere else: the same mel windows, the same offsets
    torch.testing.assert_close(as_int16.seen[0], as_float.seen[0], atol=0.05, rtol=0)  # the unshifted windows
    torch.testing.assert_close(as_int16.seen[4], as_float.seen[1], atol=0.05, rtol=0)  # shift 0
    assert found16 == found


# ------------------------------------------------------------------------- is the network fit to judge the real video?


def weakly_related(num: int, weight: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A mocked expert's (video, audio) embeddings of an in-sync clip: a_t = normalise(weight v_t + w_t) shares only
    ``weight`` of the video's direction (w_t unrelated), so the larger the weight, the deeper the dip at offset 0."""
    video = unit_rows(num, 64, seed)
    return video, F.normalize(weight * video + unit_rows(num, 64, seed + 1), dim=1)


def test_a_clear_dip_at_zero_is_in_sync():
    video, audio = weakly_related(400, 1.0, seed=0)
    result = sync_scores(video, audio)
    assert result.offset == 0 and sync_problems(result) == {}


def test_a_flat_curve_is_flagged_even_at_offset_zero():
    # cos(v, a) ~ 0.1: the minimum sits at 0 but only ~5 % below the median distance (FLAT_DIP is 10 %)
    video, audio = weakly_related(400, 0.1, seed=0)
    result = sync_scores(video, audio)
    median = float(result.mdist.median())
    assert result.offset == 0 and 0 < result.lse_c < FLAT_DIP * median
    problems = sync_problems(result)
    assert list(problems) == ["flat"] and "LSE-C" in problems["flat"]


@pytest.mark.parametrize(("k", "expected"), [(3, ["offset"]), (15, ["offset", "edge"]), (-15, ["offset", "edge"])])
def test_an_offset_and_a_minimum_at_the_edge_of_the_search_are_flagged(k, expected):
    video = unit_rows(40, 8, seed=0)
    result = sync_scores(video, delayed_audio(video, k, filler=unit_rows(40, 8, seed=1)))
    assert result.offset == k
    problems = sync_problems(result)
    assert list(problems) == expected and f"{k:+d}" in problems["offset"]


def test_sync_trust_flags_each_clip_counts_them_and_warns_when_most_are_missed():
    video = unit_rows(40, 8, seed=0)
    good = sync_scores(video, delayed_audio(video, 0, filler=unit_rows(40, 8, seed=1)))
    edge = sync_scores(video, delayed_audio(video, 15, filler=unit_rows(40, 8, seed=1)))
    flat = sync_scores(*weakly_related(400, 0.1, seed=0))
    for results, warned in (([good, good, flat], False), ([good, edge, flat], True)):
        trust, figures, clip_warnings = SyncTrust(), [], []
        for result in results:
            figures.append({})
            clip_warnings.append([])
            trust.check(result, "expert X", figures[-1], clip_warnings[-1])
        assert [f["in_sync"] for f in figures] == [r is good for r in results]
        assert all(bool(w) == (r is not good) for w, r in zip(clip_warnings, results, strict=True))
        summary, warnings = {}, []
        trust.summarise(summary, warnings)
        bad = sum(r is not good for r in results)
        assert summary["ground_truth_in_sync"].startswith(f"{3 - bad} of 3 real videos found in sync by expert X")
        assert bool(warnings) == warned
    assert "offset 1, edge 1, flat 1" in summary["ground_truth_in_sync"] and "say nothing" in warnings[0]
