"""The GRID audio-visual sentence corpus: find its videos and ``.align`` files and prepare them.

GRID (Cooke, Barker, Cunningham and Shao, JASA 2006; CC BY 4.0) comes as per-speaker video archives plus an archive
of word alignments, so preparation takes a folder of videos and a folder of ``.align`` files matched by file stem
(``bbaf2n.mpg`` <-> ``bbaf2n.align``); the stem is the sentence code. Identity: the nearest parent folder named like a
speaker (``s1``, ``s34``); a video with none (for example ``multi/id2_vcd_swwp2s.mpg``) is its own identity. Split
key (``ClipInfo.extra["split_key"]``): the sentence code, so a single-speaker set can be split by sentence and a
sentence never lands on both sides. Every complete GRID video has 75 frames; fewer means a truncated file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

GRID_FRAMES = 75
VIDEO_SUFFIXES = (".mpg", ".mpeg", ".mp4")
_SPEAKER = re.compile(r"s\d+", re.IGNORECASE)


def find_videos(folder: str | Path, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> list[Path]:
    """Video files under ``folder`` (recursively, through symbolic links to files and folders), sorted.

    A link whose target is missing is listed too, so that preparing it names the broken link. VideoError when the
    folder does not exist or holds no file with one of ``suffixes``."""
    from facekit.data.video import VideoError

    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"{folder}: no such folder of videos")
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back to a folder already walked
            dirs[:] = []
            continue
        seen.add(real)
        found += [Path(root, name) for name in files if Path(name).suffix.lower() in suffixes]
    if not found:
        raise VideoError(f"{folder}: no video files ({', '.join(suffixes)}) in it or its subfolders; check --videos")
    return sorted(found)


def speaker(video: str | Path) -> str | None:
    """The nearest parent folder named like a GRID speaker (``s1``), or None."""
    return next((part for part in reversed(Path(video).parent.parts) if _SPEAKER.fullmatch(part)), None)


def identity(video: str | Path) -> str:
    """The speaker folder name, or the file stem for a video outside any speaker folder."""
    return speaker(video) or Path(video).stem


def sentence_code(video: str | Path) -> str:
    """The sentence code of a GRID file name: ``bbaf2n`` (also for ``id2_vcd_swwp2s`` -> ``swwp2s``)."""
    return Path(video).stem.split("_")[-1]


def match_aligns(videos: list[Path], align_folder: str | Path | None) -> dict[str, Path | None]:
    """{video path: its ``.align`` file or None}, matched by stem, then by sentence code.

    The same sentence code recurs across speakers with other timings, so an alignment under a speaker folder (``s2``)
    only matches videos of that speaker; one outside any speaker folder matches any video. A match that stays ambiguous
    is left out rather than guessed.
    """
    by_stem: dict[str, list[Path]] = {}
    if align_folder is not None:
        for path in sorted(Path(align_folder).rglob("*.align")):
            by_stem.setdefault(path.stem, []).append(path)
    matches: dict[str, Path | None] = {}
    for video in videos:
        who = speaker(video)
        candidates = by_stem.get(video.stem) or by_stem.get(sentence_code(video)) or []
        candidates = [c for c in candidates if speaker(c) in (None, who)]
        if len(candidates) > 1:  # prefer the video's own speaker folder over a speaker-less one
            candidates = [c for c in candidates if speaker(c) == who] or candidates
        matches[str(video)] = candidates[0] if len(candidates) == 1 else None
    return matches


def prepare_grid(
    videos: str | Path,
    out: str | Path,
    aligns: str | Path | None = None,
    image_size: int = 96,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Prepare every GRID video under ``videos`` (with ``.align`` files from ``aligns``) into ``out``.

    Returns the summary of :func:`facekit.data.prepare.prepare_folder` (its ``without_transcript`` lists the videos
    that found no alignment: those clips have no text modality).
    """
    from facekit.data.prepare import PrepareOptions, prepare_folder

    paths = find_videos(videos)
    matched = match_aligns(paths, aligns)
    return prepare_folder(
        paths,
        out,
        image_size,
        matched,
        workers,
        progress,
        source="grid",
        identity_rule=identity,
        split_keys={str(p): sentence_code(p) for p in paths},
        options=PrepareOptions(image_size=image_size, expected_frames=GRID_FRAMES),
    )
