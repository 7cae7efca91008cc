import av
import numpy as np
import pytest

from facekit.data.audio import load_audio
from facekit.data.video import VideoError, read_video, resample_fps, resize_frames, write_video


def test_write_then_read_round_trip_with_audio(tmp_path):
    rng = np.random.default_rng(0)
    frames = np.zeros((30, 48, 64, 3), np.uint8)
    frames[:, :, :32] = 200  # a still two-tone picture survives H.264 nearly exactly
    frames[:, 20:30, 40:50] = rng.integers(0, 255, 3)
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(19200) / 16000).astype(np.float32)
    path = write_video(tmp_path / "v.mp4", frames, fps=25, audio=tone)
    back, fps = read_video(path)
    assert fps == 25 and back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 3
    wav = load_audio(path)
    assert abs(len(wav) - len(tone)) < 2048  # AAC priming / padding
    spectrum = np.abs(np.fft.rfft(wav[2000:18000]))
    assert abs(int(np.argmax(spectrum)) - 440) < 3  # 1 Hz bins


def test_odd_sizes_and_scale(tmp_path):
    frames = np.full((3, 15, 17, 3), 128, np.uint8)
    back, _ = read_video(write_video(tmp_path / "o.mp4", frames, scale=2))
    assert back.shape == (3, 30, 34, 3)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(VideoError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(VideoError, match="bad.mp4"):
        read_video(bad)
    with pytest.raises(VideoError, match="uint8"):
        write_video(tmp_path / "x.mp4", np.zeros((2, 8, 8, 3), np.float32))


def test_audio_only_file_has_no_video(tmp_path):
    path = tmp_path / "a.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 16000), np.float32), format="flt", layout="mono")
        f.sample_rate = 16000
        for p in [*s.encode(f), *s.encode()]:
            c.mux(p)
    with pytest.raises(VideoError, match="no video stream"):
        read_video(path)


def test_audio_is_not_delayed_by_the_encoder(tmp_path):
    """AAC's priming samples must not shift the speech against the picture (a lip-sync kit's worst bug)."""
    click = np.zeros(32000, np.float32)
    click[8000:8080] = 0.9
    path = write_video(tmp_path / "c.mp4", np.zeros((50, 16, 16, 3), np.uint8), fps=25, audio=click)
    back = load_audio(path)
    assert abs(int(np.argmax(np.abs(back))) - 8040) < 160, "audio shifted by more than 10 ms"


def test_chunks_write_the_same_video_as_one_array(tmp_path):
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (20, 32, 48, 3), dtype=np.uint8)
    tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(12800) / 16000).astype(np.float32)
    whole, _ = read_video(write_video(tmp_path / "whole.mp4", frames, audio=tone))
    parts, _ = read_video(write_video(tmp_path / "parts.mp4", (frames[i : i + 7] for i in range(0, 20, 7)), audio=tone))
    assert np.array_equal(whole, parts)  # the same encoder fed the same frames: bit-identical decode
    assert np.array_equal(load_audio(tmp_path / "whole.mp4"), load_audio(tmp_path / "parts.mp4"))


def test_a_failed_write_leaves_no_file(tmp_path):
    def chunks():
        yield np.zeros((3, 16, 16, 3), np.uint8)
        yield np.zeros((3, 32, 32, 3), np.uint8)  # another size: refused

    with pytest.raises(VideoError, match="same size"):
        write_video(tmp_path / "bad.mp4", chunks())
    with pytest.raises(VideoError, match="no frames"):
        write_video(tmp_path / "empty.mp4", iter([]))
    assert list(tmp_path.iterdir()) == []


def test_resample_fps_picks_the_nearest_frames():
    frames = np.arange(12, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    assert resample_fps(frames, 25.0) is frames
    assert resample_fps(frames, 50.0)[:, 0, 0, 0].tolist() == [0, 2, 4, 6, 8, 10]
    assert resample_fps(frames, 30.0)[:, 0, 0, 0].tolist() == [0, 1, 2, 4, 5, 6, 7, 8, 10, 11]  # round(k * 1.2)
    assert resample_fps(frames, 12.5)[:, 0, 0, 0].tolist() == [min(round(k / 2), 11) for k in range(24)]
    assert len(resample_fps(frames[:1], 60.0)) == 1, "never zero frames"


def test_resize_frames_keeps_size_flat_colour_and_dtype():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 40, 30, 3), dtype=np.uint8)
    square = frames[:, :30]
    assert resize_frames(square, 30) is square
    flat = np.full((1, 50, 70, 3), 117, np.uint8)
    out = resize_frames(flat, 24)
    assert out.dtype == np.uint8 and out.shape == (1, 24, 24, 3) and (out == 117).all()
    small = resize_frames(frames, 20)
    assert abs(float(small.mean()) - float(frames.mean())) < 2.0, "antialiased: the mean colour is kept"


def test_read_video_max_seconds_decodes_only_the_start(tmp_path):
    """A face video far longer than the speech: generate reads only what the speech uses, the same frames a full read
    would give (here a 30 fps video resampled to 25 fps)."""
    from facekit.inputs import read_frames

    frames = (np.arange(90, dtype=np.uint8) * 2)[:, None, None, None] * np.ones((1, 16, 16, 3), np.uint8)
    path = write_video(tmp_path / "long.mp4", frames, fps=30)
    full, fps = read_video(path)
    start, _ = read_video(path, max_seconds=1.0)
    assert fps == 30 and len(full) == 90 and len(start) == 31 and np.array_equal(start, full[:31])
    head, kind = read_frames(path, 25.0, max_frames=20)
    assert kind == "video" and len(head) == 20 and np.array_equal(head, resample_fps(full, 30.0)[:20])
    assert len(read_frames(path, 25.0, max_frames=500)[0]) == 75, "a video shorter than max_frames: all of it"
