"""Real-video preparation: alignment and sketch maths (always); GRID clips end to end (dlib + ../shared/data/grid)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from facekit.data import crop, face
from facekit.data.clips import ClipFormatError, load_clip, read_manifest
from facekit.data.grid import find_videos, identity, match_aligns, sentence_code
from facekit.data.prepare import ClipSkipped, PrepareOptions, decode, fill_missing, make_jobs, prepare_clip
from facekit.data.text import TextError, WordSpan, read_align
from facekit.data.transcripts import find_transcript, read_transcript
from facekit.data.video import VideoError, write_video

needs_dlib = pytest.mark.skipif(
    not face.available(), reason=f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}"
)


def template_landmarks(num_frames: int, size: int = 96, gap: float = 1.0) -> np.ndarray:
    """(T, 68, 2) landmarks whose reference points sit exactly on the crop template; lips ``gap`` px apart."""
    lm = np.zeros((num_frames, 68, 2), np.float32)
    eye_l, eye_r, mouth = (np.array([z.real, z.imag]) for z in crop.template(size))
    lm[:, 36:42], lm[:, 42:48] = eye_l, eye_r
    outer = np.pi - np.linspace(0, 2 * np.pi, 12, endpoint=False)  # 48 = left corner, 54 = right corner
    lm[:, 48:60] = mouth + np.stack([12 * np.cos(outer), -(4 + gap / 2) * np.sin(outer)], -1)
    inner = np.pi - np.linspace(0, 2 * np.pi, 8, endpoint=False)  # 60 = left corner, 64 = right corner
    lm[:, 60:68] = mouth + np.stack([9 * np.cos(inner), -(gap / 2) * np.sin(inner)], -1)
    return lm


def similarity(points: np.ndarray, scale: float, angle: float, shift: complex) -> np.ndarray:
    z = points[..., 0] + 1j * points[..., 1]
    z = scale * np.exp(1j * angle) * z + shift
    return np.stack([z.real, z.imag], -1)


# ---- maths that needs neither dlib nor GRID ----


def test_fill_missing_interpolates_short_gaps() -> None:
    lm = np.arange(20, dtype=np.float32)[:, None, None] * np.ones((20, 68, 2), np.float32)
    found = np.ones(20, bool)
    found[[0, 5, 6, 7]] = False
    truth = lm.copy()
    lm[~found] = np.nan
    runs = fill_missing(lm, found, max_gap=5, max_missing=0.2)
    assert runs == [[0, 0], [5, 7]]
    np.testing.assert_allclose(lm[5:8], truth[5:8])  # linear inside the clip
    np.testing.assert_allclose(lm[0], truth[1])  # the nearest frame at an edge


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        (range(10, 16), "frames 10-15 \\(6 in a row"),
        ([1, 2, 5, 6, 9, 10, 13, 14, 17], "9 of 40 frames"),
        (range(40), "any"),
    ],
)
def test_fill_missing_refuses(missing, reason) -> None:
    found = np.ones(40, bool)
    found[list(missing)] = False
    with pytest.raises(ClipSkipped, match=reason):
        fill_missing(np.zeros((40, 68, 2), np.float32), found, max_gap=5, max_missing=0.2)


def test_fit_similarity_recovers_the_transform() -> None:
    lm = template_landmarks(4)
    video = similarity(lm, 1.9, 0.1, 40 + 30j)
    alpha, beta = crop.fit_similarity(video, 96)
    np.testing.assert_allclose(alpha, 1.9 * np.exp(0.1j), rtol=1e-5)
    np.testing.assert_allclose(crop.to_crop(video, alpha, beta), lm, atol=1e-3)


def test_smoothing_removes_jitter_and_keeps_motion() -> None:
    rng = np.random.default_rng(0)
    n = 75
    lm = template_landmarks(n)
    drift = np.linspace(0, 10, n)  # a slow head movement of 10 px
    video = np.stack([similarity(lm[t], 2.0, 0.0, 50 + 40j + drift[t]) for t in range(n)])
    noisy = video + rng.normal(0, 1.0, video.shape)  # detector jitter, 1 px
    raw = crop.fit_similarity(noisy, 96)
    smooth = crop.smooth_similarity(*raw, 96, window=7)
    eyes = [crop.reference_points(crop.to_crop(video, *ab))[:, :2].mean(-1) for ab in (raw, smooth)]
    step_raw, step_smooth = (np.abs(np.diff(e)).mean() for e in eyes)
    assert step_smooth < 0.5 * step_raw
    assert np.abs(eyes[1] - eyes[1].mean()).max() < 1.0  # the drift is followed, not smeared


def test_warp_identity_copies_pixels() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    out = crop.warp_frames(frames, np.ones(3, complex), np.full(3, 5 + 7j), 32)
    np.testing.assert_array_equal(out, frames[:, 7:39, 5:37])


def test_mouth_sketch_is_dark_only_when_open() -> None:
    lm = np.concatenate([template_landmarks(1, gap=0.5), template_landmarks(1, gap=10)])
    sketch = crop.mouth_sketch(lm, 48, eye_distance=24.0)
    assert sketch.shape == (2, 48, 48, 3) and sketch.dtype == np.uint8
    dark = (sketch.mean(-1) < 80).sum((1, 2))
    assert dark[1] > dark[0] + 20
    assert sketch[:, 0, 0].min() == 255  # white background in the corner


def test_grid_names_and_alignment_matching(tmp_path) -> None:
    videos = [
        tmp_path / "v/s1/video/bbaf2n.mpg",
        tmp_path / "v/s2/bbaf2n.mpg",
        tmp_path / "v/multi/id2_vcd_swwp2s.mpg",
        tmp_path / "v/multi/lbax4n.mpg",  # another speaker's take of a sentence whose s1 alignment exists
    ]
    aligns = ["a/s1/bbaf2n.align", "a/s2/bbaf2n.align", "a/swwp2s.align", "a/s1/align/lbax4n.align"]
    for path in [*videos, *(tmp_path / a for a in aligns)]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    assert [identity(v) for v in videos] == ["s1", "s2", "id2_vcd_swwp2s", "lbax4n"]
    assert sentence_code(videos[2]) == "swwp2s"
    matches = match_aligns(videos, tmp_path / "a")
    assert matches[str(videos[0])] == tmp_path / "a/s1/bbaf2n.align"
    assert matches[str(videos[1])] == tmp_path / "a/s2/bbaf2n.align"
    assert matches[str(videos[2])] == tmp_path / "a/swwp2s.align"
    assert matches[str(videos[3])] is None
    jobs = make_jobs(videos, identities={str(v): identity(v) for v in videos})
    assert [j.clip_id for j in jobs] == ["s1_bbaf2n", "s2_bbaf2n", "id2_vcd_swwp2s", "lbax4n"]
    with pytest.raises(ClipFormatError, match="two videos give clip id"):
        make_jobs([tmp_path / "x/a.mp4", tmp_path / "x/a.mpg"])


def test_find_videos_follows_symbolic_links(tmp_path) -> None:
    """A --videos folder of links (to files and to folders) is walked through them; a broken link is listed so that
    preparing it names it; a folder without videos is an error, not an empty set."""
    real = tmp_path / "real"
    (real / "s1").mkdir(parents=True)
    (real / "s1" / "a.mp4").touch()
    (real / "b.mpg").touch()
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "s1").symlink_to(real / "s1")  # a linked folder
    (videos / "b.mpg").symlink_to(real / "b.mpg")  # a linked file
    (videos / "gone.mp4").symlink_to(real / "gone.mp4")  # a broken link
    (videos / "loop").symlink_to(videos)  # a link back up: walked once
    assert find_videos(videos) == [videos / "b.mpg", videos / "gone.mp4", videos / "s1" / "a.mp4"]
    with pytest.raises(VideoError, match="gone.mp4: a symbolic link to .*gone.mp4, which does not exist"):
        decode(videos / "gone.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no video files"):
        find_videos(tmp_path / "empty")


def test_identity_rules(tmp_path) -> None:
    videos = [tmp_path / "all" / name for name in ("id1_a.mp4", "id1_b.mp4", "id2_a.mp4")]
    by = {rule: [j.identity for j in make_jobs(videos, identity_rule=rule)] for rule in ("folder", "file")}
    assert by == {"folder": ["all", "all", "all"], "file": ["id1_a", "id1_b", "id2_a"]}
    jobs = make_jobs(videos, identity_rule=r"regex:^(id\d+)_")
    assert [(j.identity, j.clip_id) for j in jobs] == [("id1", "id1_id1_a"), ("id1", "id1_id1_b"), ("id2", "id2_id2_a")]
    with pytest.raises(ClipFormatError, match="exactly one group"):
        make_jobs(videos, identity_rule=r"regex:^id\d+_")
    with pytest.raises(ClipFormatError, match="no identity in the file name id2_a.mp4"):
        make_jobs(videos, identity_rule=r"regex:^(id1)_")
    with pytest.raises(ClipFormatError, match="use folder, file or regex:PATTERN"):
        make_jobs(videos, identity_rule="speaker")


def test_transcripts_beside_a_video(tmp_path) -> None:
    """LRS2 main-set form (sentence only), LRS3 / LRS2 pre-train form (a word table in seconds), plain text."""
    (tmp_path / "lrs2.txt").write_text("Text:  WHEN YOU LEAVE\nConf:  4\n")
    table = "Text:  WHEN YOU LEAVE\nConf:  4\n\nWORD START END ASDSCORE\nWHEN 0.10 0.30 5.1\nYOU 0.30 0.42 6.0\n"
    (tmp_path / "lrs3.txt").write_text(table + "LEAVE 0.60 0.95 4.2\n")
    (tmp_path / "plain.txt").write_text("Bin blue\nat F two now.\n")
    (tmp_path / "empty.txt").write_text("Text:  \n")
    lrs2 = read_transcript(tmp_path / "lrs2.txt")
    assert lrs2.sentence == "when you leave" and lrs2.words is None
    lrs3 = read_transcript(tmp_path / "lrs3.txt")
    assert [(w.start, w.end, w.word) for w in lrs3.words] == [
        (0.0, 0.1, "sil"), (0.1, 0.3, "when"), (0.3, 0.42, "you"), (0.42, 0.6, "sil"), (0.6, 0.95, "leave")
    ]  # fmt: skip
    assert read_transcript(tmp_path / "plain.txt").sentence == "bin blue at f two now."
    with pytest.raises(TextError, match="empty.txt: an empty transcript"):
        read_transcript(tmp_path / "empty.txt")
    (tmp_path / "lrs2.mp4").touch()
    (tmp_path / "lrs2.align").write_text("0 1000 sil\n")
    assert find_transcript(tmp_path / "lrs2.mp4") == tmp_path / "lrs2.align"  # .align (time-aligned) first
    assert find_transcript(tmp_path / "plain.mp4") == tmp_path / "plain.txt"
    assert find_transcript(tmp_path / "none.mp4") is None


def test_a_decode_error_quotes_only_its_own_file(tmp_path, monkeypatch) -> None:
    """PyAV appends FFmpeg's last logged error to its exceptions, which can come from an earlier file."""
    import av

    from facekit.data.video import read_video

    def fail(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data", args[0], (16, "mpeg", "detail of another file"))

    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00" * 100)
    monkeypatch.setattr(av, "open", fail)
    with pytest.raises(VideoError) as caught:
        read_video(bad)
    assert "bad.mp4" in str(caught.value) and "another file" not in str(caught.value)


def test_missing_dlib_names_the_extra(monkeypatch) -> None:
    face._models.cache_clear()
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib -> ImportError
    try:
        with pytest.raises(face.FaceError, match=r"pip install -e \"\.\[faces\]\""):
            face.FaceLandmarker()
    finally:
        face._models.cache_clear()


# ---- real GRID clips (dlib + ../shared/data/grid) ----

GOOD = ["bbaf2n", "lrae3s", "sgib8n"]


@pytest.fixture(scope="module")
def prepared(grid, tmp_path_factory) -> tuple[Path, dict, Path]:
    """3 good GRID clips + a garbage file + a truncated copy, prepared through the CLI."""
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    from facekit.cli import main

    tmp = tmp_path_factory.mktemp("grid")
    folder = tmp / "videos" / "s1" / "video"
    folder.mkdir(parents=True)
    for name in GOOD:
        (folder / f"{name}.mpg").symlink_to(grid / "s1" / "video" / f"{name}.mpg")
    (folder / "garbage.mpg").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, np.uint8).tobytes())
    data = (grid / "s1" / "video" / "bbaf5a.mpg").read_bytes()
    (folder / "cut.mpg").write_bytes(data[: len(data) // 2])
    out = tmp / "out"
    argv = ["prepare", "grid", "--videos", str(tmp / "videos"), "--aligns", str(grid / "s1"), "--out", str(out)]
    assert main([*argv, "--quiet"]) == 0
    return out, json.loads((out / "summary.json").read_text()), tmp / "videos"


@pytest.fixture(scope="module")
def decoded(grid):
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    frames, fps, audio, _ = decode(grid / "s1" / "video" / "bbaf2n.mpg")
    return frames, fps, audio, read_align(grid / "s1" / "align" / "bbaf2n.align")


def test_grid_clips_prepare(prepared) -> None:
    out, summary, _ = prepared
    settings, infos = read_manifest(out)
    assert settings["source"] == "grid" and settings["image_size"] == 96 and settings["mouth_size"] == 48
    assert sorted(i.id for i in infos) == [f"s1_{n}" for n in GOOD]
    for info in infos:
        clip = load_clip(out, info)
        assert info.identity == "s1" and info.modalities == ["text", "audio", "mouth"]
        assert clip.frames.shape[1:] == (96, 96, 3) and clip.frames.shape[0] in (74, 75)
        assert clip.mouth.shape == (info.num_frames, 48, 48, 3)
        assert len(clip.audio) == info.num_frames * 640 and clip.mel.shape == (80, 1 + len(clip.audio) // 200)
        assert (clip.landmarks > 0).all() and (clip.landmarks < 96).all()
        eyes = clip.landmarks[:, 36:48, 1].mean()
        mouth = clip.landmarks[:, 48:68, 1].mean()
        assert eyes < 48 < clip.landmarks[:, 48:68, 1].min() and 60 < mouth < 80
        assert (clip.phonemes > 1).sum() > 10  # speech phonemes, not only silence
        assert info.extra["split_key"] == info.id.removeprefix("s1_")
        assert info.extra["sentence"] == " ".join(w for *_, w in info.extra["words"] if w != "sil")
    assert summary["prepared"] == 3 and summary["new"] == 3
    from PIL import Image

    sheet = Image.open(out / "contact_sheet.png")  # the prepared clips, for a person to look at: one row per clip
    assert abs(sheet.size[1] - 3 * 2.1 * 110) <= 2 and np.asarray(sheet).std() > 10  # 3 rows of 2.1 in at 110 dpi


def test_crop_is_stable(prepared) -> None:
    """GRID speakers sit still: after smoothing, the eye centres in the crop move well under a pixel."""
    out, _, _ = prepared
    for info in read_manifest(out)[1]:
        lm = load_clip(out, info).landmarks
        eyes = (lm[:, 36:42].mean(1) + lm[:, 42:48].mean(1)) / 2
        nose = lm[:, 27:31].mean(1)
        assert eyes.std(0).max() < 0.5, info.id
        assert np.linalg.norm(np.diff(nose, axis=0), axis=1).mean() < 0.5, info.id


def test_bad_videos_are_skipped_and_named(prepared) -> None:
    _, summary, videos = prepared
    skipped = {Path(k).name: v for k, v in summary["skipped"].items()}
    assert set(skipped) == {"garbage.mpg", "cut.mpg"}
    assert "cannot decode" in skipped["garbage.mpg"]
    assert "truncated" in skipped["cut.mpg"]
    assert summary["skipped_by_reason"] == {"unreadable video": 1, "truncated": 1}
    assert summary["identities"] == 1 and summary["identity_rule"].startswith("The speaker folder name")


def test_rerun_prepares_nothing_new(prepared) -> None:
    from facekit.data.grid import prepare_grid

    out, _, videos = prepared
    before = {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.npy")}
    summary = prepare_grid(videos, out, progress=False)  # no aligns given: finished clips are kept as they are
    assert summary["new"] == 0 and summary["resumed"] == 3 and summary["prepared"] == 3
    assert before == {p: p.stat().st_mtime_ns for p in (out / "clips").rglob("*.npy")}
    with pytest.raises(ClipFormatError, match="other settings"):
        prepare_grid(videos, out, image_size=128, progress=False)


@pytest.mark.parametrize("first", [10, 11])  # 10: a key frame is faceless; 11-13: caught by the change check
def test_short_faceless_run_is_interpolated(decoded, first) -> None:
    frames, fps, audio, words = decoded
    frames = frames.copy()
    frames[first : first + 3] = 128
    clip = prepare_clip(frames, fps, audio, "grey3", "s1", words)
    assert clip.info.extra["face_missing"] == [[first, first + 2]]
    assert any(f"frames {first}-{first + 2}" in w for w in clip.info.extra["warnings"])
    lm = clip.landmarks
    mid = first + 1
    assert np.abs(lm[mid] - (lm[mid - 2] + lm[mid + 2]) / 2).max() < 1.5  # linear between the neighbours


def test_long_faceless_run_drops_the_clip(decoded) -> None:
    frames, fps, audio, words = decoded
    frames = frames.copy()
    frames[20:60] = 128
    with pytest.raises(ClipSkipped, match="no face in frames 20-"):
        prepare_clip(frames, fps, audio, "grey40", "s1", words)


def test_faceless_frames_at_the_start_are_trimmed_with_their_audio(decoded) -> None:
    """Some GRID files decode to ~12 garbage frames before the first picture: trim them, keep the clip in sync."""
    frames, fps, audio, words = decoded
    frames = frames.copy()
    frames[:12] = 128
    clip = prepare_clip(frames, fps, audio, "lead12", "s1", words)
    assert clip.info.num_frames == len(frames) - 12 and len(clip.audio) == clip.info.num_frames * 640
    ref = prepare_clip(decoded[0], fps, audio, "ref", "s1", words)
    assert np.array_equal(clip.audio, ref.audio[12 * 640 :])  # the audio moved with the picture
    assert np.array_equal(clip.phonemes, ref.phonemes[12:])  # and so did the transcript
    assert any("trimmed" in w for w in clip.info.extra["warnings"])


@pytest.mark.parametrize(("seconds", "what"), [(2.5, "padded"), (3.6, "trimmed")])
def test_audio_length_is_conformed_with_a_warning(decoded, seconds, what) -> None:
    frames, fps, audio, words = decoded
    audio = np.resize(audio, int(seconds * 16000))
    clip = prepare_clip(frames, fps, audio, "audio", "s1", words)
    assert len(clip.audio) == len(frames) * 640
    assert any(what in w for w in clip.info.extra["warnings"])


def test_transcript_past_the_audio_is_skipped(decoded) -> None:
    frames, fps, audio, _ = decoded
    words = [WordSpan(0.0, 1.0, "sil"), WordSpan(1.0, 4.2, "bin")]
    with pytest.raises(ClipSkipped, match="transcript ends at 4.20 s but the audio lasts 2.98 s"):
        prepare_clip(frames, fps, audio, "late", "s1", words)


def test_a_sentence_on_silent_audio_gives_no_text(decoded) -> None:
    """A transcript without word times needs speech to be placed on: on silence the clip keeps audio and mouth only."""
    frames, fps, _, _ = decoded
    clip = prepare_clip(frames[:30], fps, np.zeros(30 * 640, np.float32), "quiet", "s1", sentence="bin blue")
    assert clip.info.modalities == ["audio", "mouth"] and clip.phonemes is None
    assert any(w.startswith("transcript not used: no speech found") for w in clip.info.extra["warnings"])


def test_without_transcript_and_at_128(decoded) -> None:
    frames, fps, audio, _ = decoded
    clip = prepare_clip(frames[:30], fps, audio[: 30 * 640], "notext", "x", None, PrepareOptions(image_size=128))
    assert clip.info.modalities == ["audio", "mouth"] and clip.phonemes is None
    assert clip.frames.shape == (30, 128, 128, 3) and clip.mouth.shape == (30, 64, 64, 3)
    assert 64 < clip.landmarks[:, 48:68, 1].mean() < 110


@needs_dlib
def test_detection_falls_back_and_reports_no_face() -> None:
    assert face.detect_face(np.full((288, 360, 3), 128, np.uint8)) is None


def test_cli_prepare_folder(grid, tmp_path, capsys) -> None:
    """Two speakers' clips in one folder: the default rule (folder) makes them one identity, and the summary says so."""
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    from facekit.cli import main

    shutil.copy(grid / "multi" / "id2_vcd_swwp2s.mpg", tmp_path / "id2_vcd_swwp2s.mpg")
    shutil.copy(grid / "multi" / "swwp2s.align", tmp_path / "id2_vcd_swwp2s.align")
    shutil.copy(grid / "multi" / "lbax4n.mpg", tmp_path / "lbax4n.mpg")
    args = ["prepare", "folder", "--videos", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet", "--sheet", "0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "of 1 identities (rule: folder)" in out and "note: all 2 clips are one identity" in out
    settings, infos = read_manifest(tmp_path / "out")
    assert settings["source"] == "folder" and [i.modalities for i in infos] == [
        ["text", "audio", "mouth"],
        ["audio", "mouth"],
    ]
    assert infos[0].extra["sentence"] == "set white with p two soon" and infos[0].extra["alignment"] == "time-aligned"


@needs_dlib
def test_cli_prepare_that_prepares_nothing_fails_with_every_reason(tmp_path, capsys) -> None:
    """A faceless video, one without sound, a corrupt file and a broken link: exit 1, skips counted by reason."""
    from facekit.cli import main

    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000).astype(np.float32)
    write_video(tmp_path / "grey.mp4", np.full((25, 96, 96, 3), 128, np.uint8), audio=tone)
    write_video(tmp_path / "mute.mp4", np.full((25, 96, 96, 3), 128, np.uint8))
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00garbage" * 100)
    (tmp_path / "gone.mp4").symlink_to(tmp_path / "elsewhere.mp4")
    assert main(["prepare", "folder", "--videos", str(tmp_path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "skipped 4 (2 unreadable video, 1 no face, 1 no audio)" in out and "prepared nothing" in err
    skipped = {Path(k).name: v for k, v in json.loads(out[: out.rindex("}") + 1])["skipped"].items()}
    assert "no face anywhere in the video" in skipped["grey.mp4"]
    assert "no audio track" in skipped["mute.mp4"] and "--audio" not in skipped["mute.mp4"]
    assert "symbolic link" in skipped["gone.mp4"] and "corrupt.mp4" in skipped["corrupt.mp4"]


def test_cli_prepare_folder_reads_txt_transcripts_through_linked_folders(grid, tmp_path, capsys) -> None:
    """LRS-style and plain .txt transcripts give the text modality, aligned approximately to the clip's speech (which
    agrees with GRID's own forced alignment); a linked folder is walked; --identity file: one identity per video."""
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    from facekit.cli import main
    from facekit.data.text import SIL_ID, phoneme_track, words_to_phoneme_spans

    source = tmp_path / "source"
    source.mkdir()
    for name in ("bbaf2n", "lrae3s"):
        (source / f"{name}.mpg").symlink_to(grid / "s1" / "video" / f"{name}.mpg")
    (source / "bbaf2n.txt").write_text("Text:  BIN BLUE AT F TWO NOW\nConf:  5\n")
    (source / "lrae3s.txt").write_text("lay red at e three soon\n")
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "linked").symlink_to(source)
    out = tmp_path / "out"
    args = ["prepare", "folder", "--videos", str(tmp_path / "videos"), "--out", str(out), "--identity", "file"]
    assert main([*args, "--quiet", "--sheet", "0"]) == 0
    assert "prepared 2 clips (2 new, 0 from an earlier run) of 2 identities (rule: file)" in capsys.readouterr().out
    for info in read_manifest(out)[1]:
        assert info.identity == info.id and info.modalities == ["text", "audio", "mouth"]
        assert info.extra["alignment"] == "approximate" and info.extra["transcript"].endswith(f"{info.id}.txt")
        truth = phoneme_track(words_to_phoneme_spans(read_align(grid / "s1" / "align" / f"{info.id}.align")), 75)
        track = load_clip(out, info).phonemes
        assert np.mean((track == SIL_ID) == (truth[: len(track)] == SIL_ID)) >= 0.8
