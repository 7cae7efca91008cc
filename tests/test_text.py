"""Tests of facekit.data.text: phoneme ids, pronunciation, GRID alignments, phoneme tracks and windows."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from facekit.data import text
from facekit.data.text import (
    NUM_PHONEMES,
    PAD,
    PAD_ID,
    PHONEMES,
    SIL,
    SIL_ID,
    PhonemeSpan,
    TextError,
    WordSpan,
    in_dictionary,
    letter_to_sound,
    parse_align,
    phoneme_id,
    phoneme_track,
    phoneme_window,
    phoneme_windows,
    read_align,
    sentence_to_phonemes,
    word_to_phonemes,
    words_to_phoneme_spans,
)

ARPABET = (
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH"
).split()
GRID_VOCABULARY = (
    "bin lay place set blue green red white at by in with "
    + " ".join(c for c in "abcdefghijklmnopqrstuvxyz")
    + " zero one two three four five six seven eight nine again now please soon"
).split()


def grid_dir() -> Path:
    """The GRID subset: $FACEKIT_GRID, else ../shared/data/grid beside the repository."""
    default = Path(__file__).resolve().parents[2] / "shared/data/grid"
    return Path(os.environ.get("FACEKIT_GRID", default))


def grid_align_files() -> list[Path]:
    folder = grid_dir() / "s1" / "align"
    if not folder.is_dir():
        pytest.skip(f"GRID alignments not found at {folder} (set FACEKIT_GRID to the GRID folder)")
    files = sorted(folder.glob("*.align"))
    if not files:
        pytest.skip(f"no .align files in {folder}")
    return files


# --- ids ---------------------------------------------------------------------------------------------------


def test_phoneme_inventory_is_fixed():
    assert NUM_PHONEMES == len(PHONEMES) == 41
    assert len(set(PHONEMES)) == 41
    assert PHONEMES[PAD_ID] == PAD == "<pad>" and PAD_ID == 0
    assert PHONEMES[SIL_ID] == SIL == "sil" and SIL_ID == 1
    assert PHONEMES[2:] == tuple(ARPABET)
    assert [phoneme_id(p) for p in PHONEMES] == list(range(41))
    assert phoneme_id("AA") == 2 and phoneme_id("ZH") == 40 and phoneme_id("N") == 24


def test_stress_digits_are_stripped():
    assert phoneme_id("AH0") == phoneme_id("AH1") == phoneme_id("AH2") == phoneme_id("AH")
    assert phoneme_id("ER1") == PHONEMES.index("ER")


@pytest.mark.parametrize("bad", ["XX", "", "AH3", "Q"])
def test_unknown_phoneme_is_a_clear_value_error(bad):
    with pytest.raises(ValueError, match="unknown phoneme"):
        phoneme_id(bad)


# --- pronunciation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("bin", "B IH N"),
        ("blue", "B L UW"),
        ("BLUE", "B L UW"),
        ("zero", "Z IH R OW"),
        ("again", "AH G EH N"),
        ("Please", "P L IY Z"),
    ],
)
def test_known_words(word, expected):
    assert word_to_phonemes(word) == expected.split()


@pytest.mark.parametrize("word", GRID_VOCABULARY)
def test_grid_vocabulary_is_in_the_dictionary(word):
    assert in_dictionary(word)
    phonemes = word_to_phonemes(word)
    assert phonemes and all(p in PHONEMES[2:] for p in phonemes)


def test_grid_vocabulary_is_complete():
    assert len(GRID_VOCABULARY) == 4 + 4 + 4 + 25 + 10 + 4
    assert "w" not in GRID_VOCABULARY


@pytest.mark.parametrize("word", ["zzyzxq", "blorft"])
def test_unknown_word_falls_back_with_one_warning(word, monkeypatch):
    monkeypatch.setattr(text, "_warned_words", set())
    assert not in_dictionary(word)
    with pytest.warns(UserWarning, match=word):
        phonemes = word_to_phonemes(word)
    assert phonemes == letter_to_sound(word)
    assert len(phonemes) >= 1 and all(p in PHONEMES[2:] for p in phonemes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning for the same word would raise here
        assert word_to_phonemes(word) == phonemes


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("ship", "SH IH P"),
        ("bake", "B EY K"),
        ("knight", "N AY T"),
        ("phone", "F OW N"),
        ("queen", "K W IY N"),
    ],
)
def test_letter_to_sound_rules(word, expected):
    assert letter_to_sound(word) == expected.split()


def test_letter_to_sound_always_gives_valid_phonemes():
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, size=rng.integers(1, 12))) for _ in range(300)] + list(letters)
    for word in words:
        phonemes = letter_to_sound(word)
        assert len(phonemes) >= 1, word
        assert all(p in PHONEMES[2:] for p in phonemes), (word, phonemes)


@pytest.mark.parametrize("word", ["", "   ", "123", "'-", "a1b"])
def test_empty_or_non_alphabetic_word_raises(word):
    with pytest.raises(TextError, match="word"):
        word_to_phonemes(word)
    with pytest.raises(TextError):
        letter_to_sound(word)


@pytest.mark.parametrize("sentence", ["", "   ", "\n\t"])
def test_empty_sentence_raises(sentence):
    with pytest.raises(TextError, match="empty sentence"):
        sentence_to_phonemes(sentence)


def test_sentence_to_phonemes():
    assert sentence_to_phonemes("bin  blue\tat f") == [
        ["B", "IH", "N"],
        ["B", "L", "UW"],
        ["AE", "T"],
        ["EH", "F"],
    ]


# --- alignments --------------------------------------------------------------------------------------------

SMALL_ALIGN = "0 23750 sil\n23750 29500 bin\n\n29500 34000 blue\n34000 74500 sp\n"


def test_parse_align_converts_to_seconds_and_silence():
    spans = parse_align(SMALL_ALIGN)
    assert [s.word for s in spans] == ["sil", "bin", "blue", "sil"]
    assert [s.start for s in spans] == pytest.approx([0.0, 0.95, 1.18, 1.36])
    assert [s.end for s in spans] == pytest.approx([0.95, 1.18, 1.36, 2.98])
    assert isinstance(spans[0], WordSpan)


@pytest.mark.parametrize(
    ("bad_line", "what"),
    [
        ("29500 bin", "fields"),
        ("29500 34000 blue extra", "fields"),
        ("29500 3.4e4 blue", "integer"),
        ("34000 29500 blue", "interval"),
        ("20000 34000 blue", "previous"),
    ],
)
def test_malformed_line_names_source_and_line(bad_line, what):
    content = f"0 23750 sil\n23750 29500 bin\n{bad_line}\n"
    with pytest.raises(TextError, match="file.align:3") as info:
        parse_align(content, source="file.align")
    assert what in str(info.value)
    assert "expected 'start end word'" in str(info.value)


def test_empty_align_names_source():
    with pytest.raises(TextError, match="empty.align"):
        parse_align("\n  \n", source="empty.align")


def test_read_align(tmp_path):
    path = tmp_path / "clip.align"
    path.write_text(SMALL_ALIGN)
    assert read_align(path) == parse_align(SMALL_ALIGN)
    path.write_text("0 100 sil\nbroken\n")
    with pytest.raises(TextError, match="clip.align:2"):
        read_align(str(path))


def test_read_align_missing_file_names_it(tmp_path):
    with pytest.raises(TextError, match="nope.align"):
        read_align(tmp_path / "nope.align")


# --- spans, tracks and windows -----------------------------------------------------------------------------


def test_words_to_phoneme_spans_cover_each_word_exactly():
    words = parse_align(SMALL_ALIGN)
    spans = words_to_phoneme_spans(words)
    assert [s.phoneme for s in spans] == ["sil", "B", "IH", "N", "B", "L", "UW", "sil"]
    assert spans[0].start == words[0].start and spans[-1].end == words[-1].end
    for previous, current in zip(spans, spans[1:], strict=False):
        assert current.start == previous.end
        assert current.end > current.start
    blue = [s for s in spans if words[2].start <= s.start < words[2].end]
    assert blue[0].start == words[2].start and blue[-1].end == words[2].end
    assert (blue[2].end - blue[2].start) > (blue[0].end - blue[0].start)  # vowel UW lasts longer than stop B


def test_every_phoneme_has_an_intrinsic_duration():
    assert set(text._DURATIONS) == set(PHONEMES[2:])
    assert text._DURATIONS["AY"] > text._DURATIONS["IY"] > text._DURATIONS["T"]


def test_phoneme_track_takes_the_phoneme_at_each_frame_centre():
    spans = [PhonemeSpan(0.0, 0.1, "B"), PhonemeSpan(0.1, 0.2, "AA1")]
    track = phoneme_track(spans, num_frames=4, fps=10)  # frame centres 0.05, 0.15, 0.25, 0.35
    assert track.dtype == np.int64 and track.shape == (4,)
    assert track.tolist() == [phoneme_id("B"), phoneme_id("AA"), SIL_ID, SIL_ID]
    # a boundary exactly at a frame centre belongs to the span that starts there (half-open spans)
    track = phoneme_track([PhonemeSpan(0.0, 0.06, "M"), PhonemeSpan(0.06, 0.2, "IY")], num_frames=3)
    assert track.tolist() == [phoneme_id("M"), phoneme_id("IY"), phoneme_id("IY")]
    assert phoneme_track([], num_frames=3).tolist() == [SIL_ID] * 3


@pytest.mark.parametrize("size", [5, 3])
def test_frame_ts_phoneme_window_is_centred_on_its_moment(size):
    """Frame t stands for (t + 0.5) / fps; its window holds frames t - size//2 .. t + size//2 (the default 5:
    t-2 .. t+2, spanning (t - 2) / fps .. (t + 3) / fps, centred on that moment, as the default audio window is)."""
    from facekit.config import DataConfig

    assert DataConfig().phoneme_window == 5
    np.testing.assert_allclose(text.frame_times(3, fps=25), [0.02, 0.06, 0.10])
    track = np.arange(2, 22, dtype=np.int64)  # frame f holds id f + 2
    windows = phoneme_windows(track, size)
    for t in range(size // 2, len(track) - size // 2):
        frames = windows[t] - 2
        assert frames.tolist() == list(range(t - size // 2, t + size // 2 + 1))
        assert (frames.min() + frames.max() + 1) / 2 == t + 0.5  # the window's span is centred on frame t's moment


def test_phoneme_window_pads_both_ends():
    track = np.array([2, 3, 4, 5, 6], dtype=np.int64)
    assert phoneme_window(track, 0).tolist() == [PAD_ID, PAD_ID, 2, 3, 4]
    assert phoneme_window(track, 1).tolist() == [PAD_ID, 2, 3, 4, 5]
    assert phoneme_window(track, 2).tolist() == [2, 3, 4, 5, 6]
    assert phoneme_window(track, 4).tolist() == [4, 5, 6, PAD_ID, PAD_ID]
    assert phoneme_window(track, 1, size=1).tolist() == [3]
    assert phoneme_window(track[:1], 0, size=7).tolist() == [0, 0, 0, 2, 0, 0, 0]
    assert phoneme_window(track, 0).dtype == np.int64
    with pytest.raises(ValueError, match="odd"):
        phoneme_window(track, 2, size=4)


@pytest.mark.parametrize("size", [1, 3, 5, 7])
@pytest.mark.parametrize("length", [0, 1, 2, 10])
def test_phoneme_windows_equals_stacked_windows(size, length):
    track = np.random.default_rng(length).integers(1, NUM_PHONEMES, size=length)
    windows = phoneme_windows(track, size)
    assert windows.shape == (length, size) and windows.dtype == np.int64
    for t in range(length):
        np.testing.assert_array_equal(windows[t], phoneme_window(track, t, size))


def test_phoneme_windows_rejects_even_size():
    with pytest.raises(ValueError, match="odd"):
        phoneme_windows(np.ones(5, dtype=np.int64), size=2)


# --- real GRID alignments ----------------------------------------------------------------------------------


@pytest.mark.grid
def test_every_grid_alignment_parses_and_matches_its_name():
    files = grid_align_files()
    for path in files:
        words = read_align(path)
        assert words[0].start == 0.0
        assert 2.5 < words[-1].end <= 3.0 + 1e-6, path
        said = [w.word for w in words if w.word != SIL]
        name = path.stem  # command, colour, preposition, letter, digit, adverb
        assert len(said) == 6, path
        assert [said[0][0], said[1][0], said[2][0], said[3], said[5][0]] == list(name[:4] + name[5]), path


@pytest.mark.grid
def test_grid_phoneme_tracks_speak_in_the_middle():
    for path in grid_align_files():
        spans = words_to_phoneme_spans(read_align(path))
        track = phoneme_track(spans, num_frames=75)
        assert track.shape == (75,)
        assert track.min() >= SIL_ID and track.max() < NUM_PHONEMES
        assert track[0] == SIL_ID, path  # GRID clips open with silence
        assert (track[30:45] != SIL_ID).sum() >= 5, path
        windows = phoneme_windows(track, size=5)
        assert (windows[:2] == PAD_ID).any() and (windows[2:-2] != PAD_ID).all()
