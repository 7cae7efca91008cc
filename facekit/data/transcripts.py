"""Transcripts that sit beside a video (``<stem>.align`` or ``<stem>.txt``): the text modality of ``facekit prepare``.

- ``.align``: a GRID transcript, one ``start end word`` per line in 1/25000 s -- time-aligned.
- ``.txt`` in the LRS2 / LRS3 form: a first line ``Text:  WORDS`` (upper case), then ``Conf:`` and, in LRS3 and the
  LRS2 pre-train set, a ``WORD START END ...`` table in seconds. With the table the words are time-aligned; without
  it only the sentence is known.
- any other ``.txt``: the sentence itself (all its lines, joined).

A sentence without word times is placed on the clip's own speech by ``facekit.speech_alignment`` (approximate timing,
recorded as such in the clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facekit.data.text import TextError, WordSpan, read_align

SUFFIXES = (".align", ".txt")  # in order of preference when both sit beside a video


@dataclass(frozen=True)
class Transcript:
    path: str
    sentence: str
    words: list[WordSpan] | None  # time-aligned words (silence as "sil"), or None when only the sentence is known


def find_transcript(video: str | Path) -> Path | None:
    """``<stem>.align`` or ``<stem>.txt`` beside ``video`` (the first that exists), or None."""
    video = Path(video)
    return next((p for p in (video.with_suffix(s) for s in SUFFIXES) if p.is_file()), None)


def _lrs_words(lines: list[str], path: Path) -> list[WordSpan] | None:
    """The ``WORD START END`` table of an LRS transcript -> words with silences between them, or None without one."""
    header = next((i for i, line in enumerate(lines) if line.split()[:3] == ["WORD", "START", "END"]), None)
    if header is None:
        return None
    words: list[WordSpan] = []
    for lineno, line in enumerate(lines[header + 1 :], start=header + 2):
        fields = line.split()
        if not fields:
            continue
        try:
            word, start, end = fields[0], float(fields[1]), float(fields[2])
        except (IndexError, ValueError) as exc:
            raise TextError(f"{path}:{lineno}: {line.strip()!r} is not 'WORD START END' ({exc})") from exc
        last = words[-1].end if words else 0.0
        if start > last:
            words.append(WordSpan(last, start, "sil"))
        words.append(WordSpan(start, end, word.lower()))
    return words or None


def read_transcript(path: str | Path) -> Transcript:
    """Read a ``.align`` or ``.txt`` transcript; TextError naming ``path`` when it is unreadable or empty."""
    path = Path(path)
    if path.suffix == ".align":
        words = read_align(path)
        return Transcript(str(path), " ".join(w.word for w in words if w.word != "sil"), words)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TextError(f"{path}: cannot read the transcript ({exc})") from exc
    lines = [line for line in lines if line.strip()]
    if lines and lines[0].startswith("Text:"):
        sentence, words = lines[0].removeprefix("Text:").strip().lower(), _lrs_words(lines, path)
    else:
        sentence, words = " ".join(line.strip() for line in lines).lower(), None
    if not sentence:
        raise TextError(f"{path}: an empty transcript; write the sentence said in the video, or delete the file")
    return Transcript(str(path), sentence, words)
