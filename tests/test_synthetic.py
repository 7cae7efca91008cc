"""The synthetic corpus: determinism, aligned modalities, and audio that really encodes the mouth."""

import filecmp
from pathlib import Path

import numpy as np
import pytest

from facekit.config import apply_overrides
from facekit.data.audio import SAMPLE_RATE
from facekit.data.clips import load_clip, read_manifest
from facekit.data.synthetic.articulation import mouth_controls
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


def _frame_energy(clip, fps: float) -> np.ndarray:
    """Low-band (voiced) log-mel energy at each video frame's time: model-free, from the audio alone."""
    cols = np.round(np.arange(clip.info.num_frames) * 80 / fps).astype(int)
    return np.asarray(clip.mel)[:30, np.minimum(cols, clip.mel.shape[1] - 1)].mean(0)


def _lag_correlations(x: np.ndarray, y: np.ndarray, max_lag: int) -> np.ndarray:
    n = len(x)
    out = []
    for lag in range(-max_lag, max_lag + 1):
        a, b = (x[: n - lag], y[lag:]) if lag >= 0 else (x[-lag:], y[: n + lag])
        out.append(np.corrcoef(a, b)[0, 1])
    return np.array(out)


def test_audio_encodes_the_mouth(corpus, tiny_cfg):
    """Lip opening (from the landmarks) and voiced audio energy correlate strongly, and best at offset 0."""
    _, infos = read_manifest(corpus)
    pooled = np.zeros(11)
    for info in infos:
        clip = load_clip(corpus, info)
        corr = _lag_correlations(mouth_opening(clip.landmarks), _frame_energy(clip, tiny_cfg.data.fps), 5)
        assert corr[5] > 0.5, f"{info.id}: opening/energy correlation {corr[5]:.2f}"
        assert abs(int(np.argmax(corr)) - 5) <= 1, f"{info.id}: best offset {int(np.argmax(corr)) - 5}"
        pooled += corr
    assert int(np.argmax(pooled)) - 5 == 0, f"model-free audio-video offset {int(np.argmax(pooled)) - 5}, expected 0"


def test_mouth_image_carries_shape_not_the_targets_pixels(corpus):
    _, infos = read_manifest(corpus)
    clip = load_clip(corpus, infos[0])
    gap = mouth_opening(clip.landmarks)
    cavity = (np.asarray(clip.mouth)[..., 0] < 100).sum(axis=(1, 2))  # dark mouth interior of the driver
    assert np.corrcoef(gap, cavity)[0, 1] > 0.8
    assert infos[0].extra["driver"] != infos[0].identity
    assert not infos[0].extra["driver"].startswith("id"), "drivers are never corpus identities"


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


def test_corpus_with_other_settings_is_not_mixed(corpus, tiny_cfg):
    from facekit.data.clips import ClipFormatError

    with pytest.raises(ClipFormatError, match="other settings"):
        generate_corpus(apply_overrides(tiny_cfg, ["synth.seed=9"]), corpus, progress=False)
