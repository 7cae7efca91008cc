"""Tests of facekit.data.audio: mel timing and values of the Wav2Lip front end, and decoding of real files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facekit.data.audio import (
    FPS,
    MEL_WINDOW,
    NUM_MELS,
    SAMPLE_RATE,
    AudioError,
    is_silent,
    load_audio,
    mel_window,
    mel_window_start,
    mel_windows,
    melspectrogram,
    num_video_frames,
    save_wav,
)

SR = SAMPLE_RATE


def tone(freq: float, seconds: float, amplitude: float = 0.5, sample_rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(wav: np.ndarray, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(wav * np.hanning(len(wav))))
    return float(np.argmax(spectrum) * sample_rate / len(wav))


def write_video(path: Path, audio: np.ndarray | None, codec: str = "aac", rate: int = SR) -> None:
    """A tiny 32x32 H.264 clip of 10 frames, with a mono audio stream when audio is given."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream(codec, rate=rate)
            sound.layout = "mono"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if sound is not None:
            pcm = audio.astype(np.float32) if sound.format.name == "fltp" else (audio * 32767).astype(np.int16)
            for start in range(0, len(pcm), 1024):
                frame = av.AudioFrame.from_ndarray(
                    pcm[None, start : start + 1024], format=sound.format.name, layout="mono"
                )
                frame.sample_rate, frame.pts = rate, start
                container.mux(sound.encode(frame))
            container.mux(sound.encode())


# ---------------------------------------------------------------- timing


@pytest.fixture(scope="module")
def burst_mel() -> np.ndarray:
    """3 s of silence with a 1 kHz burst from 1.00 s to 1.20 s (mel columns 80..96)."""
    wav = np.zeros(3 * SR, np.float32)
    wav[SR : SR + SR // 5] = tone(1000, 0.2)
    return melspectrogram(wav)


def loud_columns(mel: np.ndarray) -> np.ndarray:
    energy = mel.max(axis=0)
    return np.flatnonzero(energy > (energy.min() + energy.max()) / 2)


def test_burst_lands_on_mel_columns_80_to_96(burst_mel: np.ndarray) -> None:
    assert burst_mel.shape == (NUM_MELS, 1 + 3 * SR // 200)
    loud = loud_columns(burst_mel)
    assert abs(loud[0] - 80) <= 2 and abs(loud[-1] - 96) <= 2
    assert np.array_equal(loud, np.arange(loud[0], loud[-1] + 1))  # one contiguous burst
    assert np.all(burst_mel[:, :70] == -4.0) and np.all(burst_mel[:, 110:] == -4.0)


def test_window_of_frame_25_holds_the_burst(burst_mel: np.ndarray) -> None:
    assert mel_window_start(25) == 80 and mel_window_start(10) == 32
    assert mel_window(burst_mel, 25).max() > 0.0
    assert np.all(mel_window(burst_mel, 10) == -4.0)


def test_frames_whose_window_covers_the_burst_follow_the_closed_form(burst_mel: np.ndarray) -> None:
    loud = loud_columns(burst_mel)
    energy = burst_mel.max(axis=0)
    threshold = (energy.min() + energy.max()) / 2
    num_frames = num_video_frames(3 * SR)
    hit = {t for t in range(num_frames) if mel_window(burst_mel, t).max(axis=0).max() > threshold}
    # closed form: the window [int(80 t / 25), +16) overlaps the loud columns [first, last]
    expected = {t for t in range(num_frames) if 80 * t // 25 <= loud[-1] and 80 * t // 25 + 16 > loud[0]}
    assert hit == expected
    # burst at 1.00-1.20 s = columns 80..96: first window reaching it is t=21 (67..82), last t=30 (96..111)
    assert abs(min(hit) - 21) <= 1 and abs(max(hit) - 30) <= 1


def test_window_start_matches_wav2lip_formula() -> None:
    for t in range(2000):
        assert mel_window_start(t) == int(80.0 * (t / 25.0)) == 16 * t // 5
    assert mel_window_start(30, fps=30) == 80
    with pytest.raises(ValueError):
        mel_window_start(-1)


@pytest.mark.parametrize("offset", [-3, -2, 0, 2])
def test_mel_windows_at_an_offset_equal_stacked_windows(offset: int) -> None:
    mel = np.random.default_rng(offset + 5).uniform(-4, 4, (NUM_MELS, 50)).astype(np.float32)
    stacked = np.stack([mel_window(mel, t, offset_frames=offset) for t in range(20)])
    assert np.array_equal(mel_windows(mel, 20, offset_frames=offset), stacked)


def test_generator_window_columns_are_pinned_for_the_default_and_the_sync_offset() -> None:
    """Frame t's window starts at floor(3.2 (t + offset)): -2 (the default) covers (t - 2) / 25 .. (t + 3) / 25 s,
    centred on frame t's moment (t + 0.5) / 25; 0 (the sync expert's) covers t / 25 .. t / 25 + 0.2 s."""
    from facekit.config import DataConfig

    assert DataConfig().audio_offset_frames == -2
    mel = np.tile(np.arange(100, dtype=np.float32), (NUM_MELS, 1))  # every column holds its own index
    assert mel_window(mel, 10, offset_frames=-2)[0].tolist() == list(range(25, 41))  # floor(3.2 * 8) = 25
    assert mel_window(mel, 10, offset_frames=0)[0].tolist() == list(range(32, 48))
    assert mel_window(mel, 12, offset_frames=-2)[0].tolist() == list(range(32, 48))  # = the sync window of frame 10
    # the first frames reach before the audio: silence there
    assert mel_window(mel, 0, offset_frames=-2)[0].tolist() == [-4.0] * 7 + list(range(9))  # floor(-6.4) = -7
    assert mel_window(mel, 1, offset_frames=-2)[0].tolist() == [-4.0] * 4 + list(range(12))  # floor(-3.2) = -4
    # the window's centre (mean column time) sits within half a frame of the frame's moment at -2, 2 frames late at 0
    for offset, late in ((-2, 0.0), (0, 2.0)):
        centres = [(mel_window_start(t, offset_frames=offset) + 7.5) / 80 * 25 - (t + 0.5) for t in range(100)]
        assert abs(np.mean(centres) - late) < 0.5, (offset, np.mean(centres))


def test_mel_column_c_holds_the_samples_around_200_c() -> None:
    """A click at sample 200 * 33 peaks in column 33 (columns are centred on their hop), so it lies in the default
    window of frame 10 (columns 25..40) at position 8, and in the sync window of frame 10 (32..47) at position 1."""
    wav = np.zeros(SR, np.float32)
    wav[200 * 33] = 1.0
    mel = melspectrogram(wav)
    assert int(np.argmax(mel.mean(axis=0))) == 33
    assert int(np.argmax(mel_window(mel, 10, offset_frames=-2).mean(axis=0))) == 8
    assert int(np.argmax(mel_window(mel, 10, offset_frames=0).mean(axis=0))) == 1


# ---------------------------------------------------------------- values


def test_sine_peaks_in_the_nearest_mel_band() -> None:
    import librosa

    mel = melspectrogram(tone(2000, 1.0))
    centres = librosa.mel_frequencies(NUM_MELS + 2, fmin=55, fmax=7600)[1:-1]
    expected = int(np.argmin(np.abs(centres - 2000)))
    assert abs(int(np.argmax(mel.mean(axis=1))) - expected) <= 1


def test_silence_is_minus_four_and_full_scale_sine_in_range() -> None:
    assert 20 * np.log10(1e-5) - 20 == pytest.approx(-120)  # below the -100 dB floor -> clipped to -4
    silence = melspectrogram(np.zeros(SR, np.float32))
    assert silence.dtype == np.float32 and np.all(silence == -4.0)
    peak = melspectrogram(tone(1000, 1.0, amplitude=1.0)).max()
    assert 0.0 < peak <= 4.0


def wav2lip_reference(wav: np.ndarray) -> np.ndarray:
    """Wav2Lip's audio.melspectrogram, written out with a numpy STFT (reflect padding, periodic Hann)."""
    import librosa
    from scipy.signal import get_window, lfilter

    emphasised = lfilter([1, -0.97], [1], wav.astype(np.float64))
    padded = np.pad(emphasised, 400, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, 800)[::200]
    magnitude = np.abs(np.fft.rfft(frames * get_window("hann", 800), axis=1)).T
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ magnitude
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * ((db + 100) / 100) - 4, -4, 4)


def test_melspectrogram_matches_wav2lip_reference() -> None:
    rng = np.random.default_rng(1)
    wav = (0.3 * rng.standard_normal(4321)).clip(-1, 1).astype(np.float32)  # loud at both edges
    mel = melspectrogram(wav)
    assert mel.shape == (NUM_MELS, 1 + 4321 // 200) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, wav2lip_reference(wav), atol=1e-4)


def test_melspectrogram_rejects_wrong_rate_and_empty_audio() -> None:
    with pytest.raises(AudioError, match="resample"):
        melspectrogram(np.zeros(100, np.float32), sample_rate=22050)
    with pytest.raises(AudioError, match="empty"):
        melspectrogram(np.zeros(0, np.float32))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("num_samples", [1, 199, 200, 799, 12345])
def test_mel_length_is_one_plus_samples_over_hop(num_samples: int) -> None:
    rng = np.random.default_rng(num_samples)
    mel = melspectrogram(rng.uniform(-0.5, 0.5, num_samples).astype(np.float32))
    assert mel.shape == (NUM_MELS, 1 + num_samples // 200)


def test_mel_windows_equal_stacked_windows_padded_with_silence() -> None:
    rng = np.random.default_rng(0)
    mel = rng.uniform(-4, 4, (NUM_MELS, 50)).astype(np.float32)
    num_frames = 20  # frame 19 starts at column 60, past the end
    stacked = np.stack([mel_window(mel, t) for t in range(num_frames)])
    windows = mel_windows(mel, num_frames)
    assert windows.shape == (num_frames, NUM_MELS, MEL_WINDOW) and windows.dtype == np.float32
    assert np.array_equal(windows, stacked)
    assert np.array_equal(windows[13], np.pad(mel[:, 41:], ((0, 0), (0, 7)), constant_values=-4.0))
    assert np.all(windows[19] == -4.0)
    assert np.array_equal(mel_windows(mel, 7, fps=30), np.stack([mel_window(mel, t, fps=30) for t in range(7)]))
    assert mel_windows(mel, 0).shape == (0, NUM_MELS, MEL_WINDOW)


def test_num_video_frames_and_silence_detection() -> None:
    assert num_video_frames(3 * SR) == 75 and num_video_frames(3 * SR - 1) == 74
    assert num_video_frames(44100, sample_rate=44100, fps=30) == 30
    assert is_silent(np.zeros(100)) and is_silent(np.full(100, 1e-4))  # -80 dBFS
    assert not is_silent(tone(440, 0.1)) and not is_silent(np.full(100, 1e-2))  # -40 dBFS


# ---------------------------------------------------------------- loading


def test_stereo_44k_wav_is_mixed_to_mono_and_resampled(tmp_path: Path) -> None:
    import soundfile

    rate = 44100
    left = tone(1000, 2.0, 0.6, rate) + tone(3000, 2.0, 0.15, rate)
    right = -tone(1000, 2.0, 0.6, rate) + tone(3000, 2.0, 0.15, rate)  # the mean cancels 1 kHz
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([left, right], axis=1), rate, subtype="PCM_16")
    wav = load_audio(path)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert abs(len(wav) - 2 * SR) <= 4
    assert peak_frequency(wav) == pytest.approx(3000, abs=2)
    assert np.sqrt(np.mean(wav[1000:-1000] ** 2)) == pytest.approx(0.15 / np.sqrt(2), rel=0.02)


def test_flac_and_wav_round_trip(tmp_path: Path) -> None:
    import soundfile

    wav = tone(440, 0.5) + tone(2500, 0.5, 0.2)
    soundfile.write(tmp_path / "a.flac", wav, SR)
    save_wav(tmp_path / "a.wav", np.concatenate([wav, [1.5, -1.5]]))
    flac, pcm = load_audio(tmp_path / "a.flac"), load_audio(tmp_path / "a.wav")
    assert np.allclose(flac, wav, atol=1e-4) and np.allclose(pcm[:-2], wav, atol=1e-4)
    assert pcm[-2] == pytest.approx(1.0, abs=1e-4) and pcm[-1] == -1.0  # clipped, not wrapped


@pytest.mark.parametrize(("suffix", "codec"), [("mp4", "aac"), ("mkv", "pcm_s16le")])
def test_audio_track_of_a_video_file(tmp_path: Path, suffix: str, codec: str) -> None:
    path = tmp_path / f"clip.{suffix}"
    write_video(path, tone(1000, 1.0), codec=codec)
    wav = load_audio(path)
    assert abs(len(wav) - SR) <= 2048  # AAC adds encoder priming and a padded last frame
    assert peak_frequency(wav) == pytest.approx(1000, abs=5)
    assert not is_silent(wav)


def test_bad_files_raise_audio_error_naming_the_file(tmp_path: Path) -> None:
    silent_video = tmp_path / "silent.mp4"
    write_video(silent_video, None)
    with pytest.raises(AudioError, match="no audio") as info:
        load_audio(silent_video)
    assert "silent.mp4" in str(info.value) and "--audio" in str(info.value)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(AudioError, match="corrupt.wav"):
        load_audio(corrupt)
    empty = tmp_path / "empty.wav"
    empty.touch()
    with pytest.raises(AudioError, match="empty.wav"):
        load_audio(empty)
    with pytest.raises(AudioError, match="missing.wav"):
        load_audio(tmp_path / "missing.wav")


def grid_root() -> Path:
    return Path(os.environ.get("FACEKIT_GRID", Path(__file__).resolve().parents[2] / "shared/data/grid"))


def test_grid_clip_audio() -> None:
    videos = sorted((grid_root() / "s1" / "video").glob("*.mpg"))
    if not videos:
        pytest.skip(f"no GRID clips at {grid_root()} (a user's machine has none; set FACEKIT_GRID to use them)")
    wav = load_audio(videos[0])
    assert abs(len(wav) - 3 * SR) <= SR // 10
    assert num_video_frames(len(wav), fps=FPS) in (74, 75)
    assert not is_silent(wav)
