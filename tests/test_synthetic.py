"""The synthetic corpus: determinism, aligned modalities, and audio that really encodes the mouth."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from facekit.config import apply_overrides
from facekit.data.audio import SAMPLE_RATE, melspectrogram
from facekit.data.av_alignment import energy_signal, lag_correlations, window_correlations
from facekit.data.clips import load_clip, read_manifest
from facekit.data.synthetic.articulation import mouth_controls, warp_times
from facekit.data.synthetic.corpus import GRID_GRAMMAR, generate_corpus, make_clip
from facekit.data.text import PHONEMES, PhonemeSpan
from facekit.viz import mouth_opening


def _files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_same_seed_gives_identical_bytes(tmp_path, tiny_cfg, corpus):
    again = tmp_path / "again"
    generate_corpus(tiny_cfg, again, workers=2, progress=False)  # other worker count, same bytes
    assert _files(again) == _files(corpus)
    for rel in _files(corpus):
        assert filecmp.cmp(corpus / rel, again / rel, shallow=False), f"{rel} differs between runs"


def test_different_seed_gives_different_clips(tiny_cfg):
    a = make_clip(tiny_cfg, 0)
    b = make_clip(apply_overrides(tiny_cfg, ["synth.seed=1"]), 0)
    assert not np.array_equal(a.frames, b.frames)
    assert not np.array_equal(a.audio, b.audio)


def test_all_modalities_present_and_aligned(corpus, tiny_cfg):
    settings, infos = read_manifest(corpus)
    assert len(infos) == tiny_cfg.synth.num_identities * tiny_cfg.synth.clips_per_identity
    assert len({i.identity for i in infos}) == tiny_cfg.synth.num_identities
    t = int(round(tiny_cfg.synth.seconds * tiny_cfg.data.fps))
    s, m = tiny_cfg.data.image_size, tiny_cfg.data.mouth_size
    for info in infos:
        clip = load_clip(corpus, info)
        assert set(info.modalities) == {"text", "audio", "mouth"}
        assert clip.frames.shape == (t, s, s, 3) and clip.frames.dtype == np.uint8
        assert clip.mouth.shape == (t, m, m, 3)
        assert clip.phonemes.shape == (t,) and clip.landmarks.shape == (t, 68, 2)
        assert clip.audio.shape == (int(tiny_cfg.synth.seconds * SAMPLE_RATE),)
        assert clip.mel.shape == (80, 1 + clip.audio.shape[0] // 200)
        # the phoneme track follows the timed words of the sentence
        words = info.extra["sentence"].split()
        assert [w[2] for w in info.extra["words"] if w[2] != "sil"] == words
        assert all(w in slot for w, slot in zip(words, GRID_GRAMMAR, strict=True))
        spans = info.extra["phonemes"]
        for frame in (0, t // 2, t - 1):
            time = (frame + 0.5) / tiny_cfg.data.fps
            expected = next(p for a, b, p in spans if a <= time < b)
            assert PHONEMES[clip.phonemes[frame]] == expected
        assert np.all((clip.landmarks >= 0) & (clip.landmarks <= s))


def _measure(clips, fps: float, mels=None):
    """(best lag in ms of the speech energy behind the lips, best generator audio offset) over ``clips``."""
    openings = [mouth_opening(c.landmarks) for c in clips]
    mels = mels or [c.mel for c in clips]
    lags = np.arange(-16, 17) / 80
    r = lag_correlations(
        openings, [energy_signal(m) for m in mels], lags, fps, [len(c.audio) / SAMPLE_RATE for c in clips]
    )
    offsets = list(range(-5, 4))
    return 1000 * lags[int(np.argmax(r))], offsets[int(np.argmax(window_correlations(openings, mels, offsets, fps)))]


def test_the_alignment_measure_finds_what_the_corpus_was_made_with(corpus, tiny_cfg):
    """The corpus' speech loudness follows the rendered mouth opening at the same instant: the model-free measure of
    ``eval/av_alignment.py`` finds a lag of 0 (one mel column, 12.5 ms) and the centred generator window, -2; with the
    audio delayed by 3 frames (120 ms) it finds 120 ms and -2 + 3."""
    _, infos = read_manifest(corpus)
    clips = [load_clip(corpus, info) for info in infos]
    fps = tiny_cfg.data.fps
    lag, offset = _measure(clips, fps)
    assert abs(lag) <= 12.5 and offset == -2, (lag, offset)
    delay = 3 * SAMPLE_RATE // 25
    late = [melspectrogram(np.pad(c.audio[:-delay], (delay, 0)).astype(np.float32) / 32767) for c in clips]
    lag, offset = _measure(clips, fps, late)
    assert abs(lag - 120) <= 25 and offset == 1, (lag, offset)


def _cavity(mouth: np.ndarray) -> np.ndarray:
    """Dark mouth interior of each mouth image, in pixels."""
    return (np.asarray(mouth)[..., 0] < 100).sum(axis=(1, 2)).astype(float)


def test_mouth_image_is_a_driver_not_the_target(corpus):
    _, infos = read_manifest(corpus)
    clip = load_clip(corpus, infos[0])
    assert np.corrcoef(mouth_opening(clip.landmarks), _cavity(clip.mouth))[0, 1] > 0.8
    assert infos[0].extra["driver"] != infos[0].identity
    assert not infos[0].extra["driver"].startswith("id"), "drivers are never corpus identities"


def test_warp_times_maps_each_phoneme_onto_the_same_phoneme_at_the_same_relative_position():
    source = [PhonemeSpan(0.0, 0.2, "sil"), PhonemeSpan(0.2, 0.4, "AA"), PhonemeSpan(0.4, 1.0, "M")]
    target = [PhonemeSpan(0.0, 0.1, "sil"), PhonemeSpan(0.1, 0.5, "AA"), PhonemeSpan(0.5, 0.6, "M")]
    times = np.array([0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.7, 1.0, 1.3])
    expected = [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.55, 0.6, 0.6]  # halfway through AA -> halfway through AA, ...
    np.testing.assert_allclose(warp_times(times, source, target), expected)
    with pytest.raises(ValueError, match="same phonemes"):
        warp_times(times, source, target[:2])


@pytest.mark.parametrize("index", [0, 3, 7])
def test_rendition_driver_keeps_the_targets_timing_but_not_its_shape(tiny_cfg, index):
    """The default driver says the sentence in its own rendition (another tempo, rhythm, coarticulation, style),
    re-timed: at every frame it says the target's phoneme, and its mouth opens and closes with the target's (high
    correlation over time), but the mouth is not the oracle's (the driver drawn with the target's own controls)."""
    cfg = apply_overrides(tiny_cfg, ["data.mouth_size=32"])
    rendition, oracle = make_clip(cfg, index), make_clip(apply_overrides(cfg, ["data.mouth_driver=oracle"]), index)
    assert (rendition.info.extra["mouth_driver"], oracle.info.extra["mouth_driver"]) == ("rendition", "oracle")
    assert np.array_equal(rendition.frames, oracle.frames) and np.array_equal(rendition.audio, oracle.audio)
    extra = rendition.info.extra
    own, driver = extra["phonemes"], extra["driver_phonemes"]
    assert [p for _, _, p in own] == [p for _, _, p in driver]
    assert not (0.85 < extra["driver_tempo"] < 1.2), "another speaking rate"
    durations = np.array([b - a for a, b, _ in driver]) / np.array([b - a for a, b, _ in own])
    assert durations.std() / durations.mean() > 0.1, "another rhythm, not the target's durations scaled"
    # timing: each frame's moment, warped phoneme by phoneme, falls in the driver's span of the same phoneme
    fps, n = cfg.data.fps, rendition.info.num_frames
    for t in range(n):
        moment = (t + 0.5) / fps
        k = next(i for i, (a, b, _) in enumerate(own) if a <= moment < b)
        a, b, phoneme = own[k]
        at = driver[k][0] + (moment - a) / (b - a) * (driver[k][1] - driver[k][0])
        assert next(p for a, b, p in driver if a <= at < b or b == driver[-1][1] == at) == phoneme, t
    gap = mouth_opening(rendition.landmarks)
    driven, copied = _cavity(rendition.mouth), _cavity(oracle.mouth)
    assert np.corrcoef(gap, driven)[0, 1] > 0.8, "the driver's mouth moves with the target's speech"
    # shape: the driver's mouth opening differs from the oracle's by a clear share of frames and pixels
    assert np.abs(driven - copied).mean() > 0.1 * copied.mean()
    assert np.abs(rendition.mouth.astype(float) - oracle.mouth).max(axis=(1, 2, 3)).mean() > 15


def test_emotion_opens_the_mouth_and_raises_loudness(tiny_cfg):
    spans = [PhonemeSpan(0.0, 0.3, "sil"), PhonemeSpan(0.3, 0.6, "EH"), PhonemeSpan(0.6, 1.0, "sil")]
    calm, intense = mouth_controls(spans, 1.0, emotion=0.0), mouth_controls(spans, 1.0, emotion=1.0)
    assert intense[0].max() > 1.2 * calm[0].max()
    assert intense[1].mean() > calm[1].mean()


def test_bilabials_close_the_lips():
    spans = [PhonemeSpan(0.0, 0.2, "AA"), PhonemeSpan(0.2, 0.3, "M"), PhonemeSpan(0.3, 0.5, "AA")]
    c = mouth_controls(spans, 0.5)
    assert c[0, int(0.25 * 200)] < 0.1 < 0.5 < c[0, int(0.1 * 200)]


@pytest.mark.parametrize("index", [0, 5])
def test_make_clip_is_a_pure_function_of_seed_and_index(tiny_cfg, index):
    a, b = make_clip(tiny_cfg, index), make_clip(tiny_cfg, index)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.audio, b.audio)
    assert a.info == b.info


def test_generate_corpus_resumes_without_work(corpus, tiny_cfg, monkeypatch):
    import facekit.data.synthetic.corpus as mod

    monkeypatch.setattr(mod, "make_clip", lambda *a: pytest.fail("regenerated an existing clip"))
    assert len(generate_corpus(tiny_cfg, corpus, progress=False)) == 12


def test_interrupted_corpus_redoes_only_missing_clips(tmp_path, tiny_cfg, monkeypatch):
    import shutil

    import facekit.data.synthetic.corpus as mod

    root = tmp_path / "c"
    generate_corpus(tiny_cfg, root, progress=False)
    (root / "manifest.json").unlink()  # as if killed before the end
    shutil.rmtree(root / "clips" / "id0002_001")
    made = []
    real = mod.make_clip
    monkeypatch.setattr(mod, "make_clip", lambda cfg, i: made.append(i) or real(cfg, i))
    infos = generate_corpus(tiny_cfg, root, progress=False)
    assert made == [5] and len(infos) == 12


@pytest.mark.parametrize("override", ["synth.seed=9", "data.mouth_driver=oracle"])
def test_corpus_with_other_settings_is_not_mixed(corpus, tiny_cfg, override):
    from facekit.data.clips import ClipFormatError

    with pytest.raises(ClipFormatError, match="other settings"):
        generate_corpus(apply_overrides(tiny_cfg, [override]), corpus, progress=False)
