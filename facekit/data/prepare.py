"""Real talking-face video -> prepared clips (the format of ``facekit.data.clips``).

One clip: decode the video (PyAV) and its audio (16 kHz mono); 68 landmarks per frame (``facekit.data.face``, the
``faces`` extra); frames without a face are filled by linear interpolation of the landmarks when a run is at most
``max_gap`` frames and the clip's total at most ``max_missing`` of its frames, otherwise the clip is skipped; a
temporally smoothed similarity alignment (``facekit.data.crop``) cuts a square face crop with the eyes in the upper
and the mouth in the lower half; landmarks follow into crop coordinates; the mouth-image modality is a lip-contour
sketch rendered from them (shape, not pixels); the text modality comes from a transcript when there is one
(``facekit.data.transcripts``: time-aligned words, or a sentence aligned approximately to the clip's speech), else the
clip has only audio and mouth. The audio is trimmed or padded (silence) to the video's length, with a warning when
they differ by more than one video frame; a transcript that ends more than 0.5 s after the audio is a skip. Every skip
and warning names its clip and reason; every skip has a kind (``ClipSkipped.kind``) that the summary counts.

A folder: :func:`prepare_folder` -- resumable (a finished clip folder is kept), one bad video never stops the others,
identities by an explicit rule (:func:`identity_function`), and ``summary.json`` (prepared, skipped with reasons and
counts by kind, identities, warnings, seconds per clip) is written beside the manifest.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facekit.data.audio import SAMPLE_RATE, float_to_pcm, melspectrogram, pcm_to_float
from facekit.data.clips import Clip, ClipFormatError, ClipInfo, write_clip, write_manifest
from facekit.data.text import WordSpan, phoneme_track, words_to_phoneme_spans
from facekit.data.video import resample_fps

FPS = 25.0


class ClipSkipped(ValueError):
    """A clip that cannot be prepared; the message is the reason written to the summary, ``kind`` its class (the
    summary counts skips by kind: no face, face lost, no audio, truncated, transcript, too short, ...)."""

    def __init__(self, message: str, kind: str = "other"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PrepareOptions:
    image_size: int = 96  # face crop side (96, 128 or 256)
    detect_every: int = 5  # detect the face on every k-th frame, interpolate the box between
    smooth_frames: int = 7  # window of the temporal smoothing of the alignment
    max_gap: int = 5  # longest run of faceless frames that is interpolated
    max_edge: int = 15  # longest faceless run at the start or end that is trimmed (with its audio)
    max_missing: float = 0.2  # largest fraction of faceless frames in a clip
    transcript_slack: float = 0.5  # seconds a transcript may run past the end of the audio
    expected_frames: int | None = None  # frames a complete video has (GRID: 75); fewer by > 2 = truncated

    @property
    def mouth_size(self) -> int:
        return self.image_size // 2


def fill_missing(landmarks: np.ndarray, found: np.ndarray, max_gap: int, max_missing: float) -> list[list[int]]:
    """Interpolate (in place) the landmarks of frames without a face; returns the runs [[first, last], ...].

    Raises ClipSkipped for a run longer than ``max_gap`` frames or more than ``max_missing`` of the frames missing.
    Runs at the start or end of the clip take the nearest detected frame.
    """
    n = len(found)
    if not found.any():
        raise ClipSkipped("no face found in any frame", "no face")
    runs, t = [], 0
    while t < n:
        if found[t]:
            t += 1
            continue
        end = t
        while end + 1 < n and not found[end + 1]:
            end += 1
        runs.append([t, end])
        t = end + 1
    for first, last in runs:
        if last - first + 1 > max_gap:
            raise ClipSkipped(
                f"no face in frames {first}-{last} ({last - first + 1} in a row; at most {max_gap} can be "
                "interpolated)",
                "face lost",
            )
    missing = int((~found).sum())
    if missing > max_missing * n:
        raise ClipSkipped(f"no face in {missing} of {n} frames (more than {max_missing:.0%})", "face lost")
    if runs:
        have = np.flatnonzero(found)
        flat = landmarks.reshape(n, -1)
        for k in range(flat.shape[1]):
            flat[~found, k] = np.interp(np.flatnonzero(~found), have, flat[have, k])
    return runs


def _edge_runs(found: np.ndarray, max_edge: int) -> tuple[int, int]:
    """Lengths of the faceless runs at the start and end that are short enough to trim (0 when longer or absent)."""
    if not found.any():
        return 0, 0
    lead = int(np.argmax(found))
    trail = int(np.argmax(found[::-1]))
    return (lead if lead <= max_edge else 0), (trail if trail <= max_edge else 0)


def _shift_words(words: list[WordSpan], seconds: float) -> list[WordSpan]:
    """Move a transcript ``seconds`` earlier; spans that end before 0 are dropped, the first is clipped at 0."""
    moved = [WordSpan(max(0.0, w.start - seconds), w.end - seconds, w.word) for w in words if w.end > seconds]
    return moved or [WordSpan(0.0, 0.0, "sil")]


def _conform_fps(frames: np.ndarray, fps: float, warn: list[str]) -> np.ndarray:
    if abs(fps - FPS) >= 0.01:
        warn.append(f"video is {fps:g} fps: resampled to {FPS:g} fps by picking the nearest frames")
    return resample_fps(frames, fps, FPS)


def _conform_audio(audio: np.ndarray, num_frames: int, warn: list[str]) -> np.ndarray:
    """Trim or pad (silence) 16 kHz audio to the video's length; warn when they differ by more than a frame."""
    want = int(round(num_frames / FPS * SAMPLE_RATE))
    diff = len(audio) - want
    if abs(diff) > SAMPLE_RATE / FPS:
        what = "trimmed" if diff > 0 else "padded with silence"
        warn.append(f"audio lasts {len(audio) / SAMPLE_RATE:.2f} s, video {num_frames / FPS:.2f} s: audio {what}")
    return np.pad(audio[:want], (0, max(0, want - len(audio))))


def prepare_clip(
    frames: np.ndarray,
    fps: float,
    audio: np.ndarray,
    clip_id: str,
    identity: str,
    words: list[WordSpan] | None = None,
    options: PrepareOptions | None = None,
    landmarker=None,
    extra: dict | None = None,
    sentence: str | None = None,
) -> Clip:
    """Prepare one decoded clip: uint8 RGB frames (T, H, W, 3) at ``fps``, float audio (N,) in [-1, 1] at 16 kHz.

    ``words``: the time-aligned transcript (seconds); else ``sentence``: the words said, without times, placed on the
    clip's speech by ``facekit.speech_alignment`` (``extra["alignment"]`` says "approximate"; a clip whose audio holds
    no speech keeps no text modality, with a warning); neither: a clip without the text modality. ``landmarker``:
    a ``facekit.data.face.FaceLandmarker`` (made when None); ``options``: PrepareOptions() when None; ``extra`` is
    merged into ``ClipInfo.extra``.
    Returns a Clip of ``options.image_size`` crops; raises ClipSkipped with the reason.
    """
    from facekit.data import crop
    from facekit.data.face import FaceLandmarker, NoFaceError

    options = options or PrepareOptions()
    warn: list[str] = list((extra or {}).get("warnings", []))
    audio_seconds = len(audio) / SAMPLE_RATE
    if words is not None and words[-1].end > audio_seconds + options.transcript_slack:
        raise ClipSkipped(
            f"transcript ends at {words[-1].end:.2f} s but the audio lasts {audio_seconds:.2f} s "
            f"(more than {options.transcript_slack} s apart): wrong transcript for this clip?",
            "transcript",
        )
    frames = _conform_fps(frames, fps, warn)
    n, size = len(frames), options.image_size
    if n < options.smooth_frames:
        raise ClipSkipped(f"only {n} frames; need at least {options.smooth_frames}", "too short")
    landmarker = landmarker or FaceLandmarker(
        every=options.detect_every, max_gap=options.max_gap, max_edge=options.max_edge
    )
    try:
        landmarks, found = landmarker(frames)
    except NoFaceError as exc:
        raise ClipSkipped(str(exc), "no face" if exc.anywhere else "face lost") from exc
    lead, trail = _edge_runs(found, options.max_edge)
    if lead or trail:
        keep = slice(lead, n - trail)
        frames, landmarks, found = frames[keep], landmarks[keep], found[keep]
        start = int(round(lead * SAMPLE_RATE / FPS))
        audio = np.asarray(audio)[start : start + int(round(len(frames) * SAMPLE_RATE / FPS))]
        if words is not None:
            words = _shift_words(words, lead / FPS)
        n = len(frames)
        warn.append(f"no face in the first {lead} / last {trail} frames: trimmed with their audio")
    runs = fill_missing(landmarks, found, options.max_gap, options.max_missing)
    if runs:
        warn.append("no face in frames " + ", ".join(f"{a}-{b}" for a, b in runs) + ": landmarks interpolated")
    alpha, beta = crop.smooth_similarity(*crop.fit_similarity(landmarks, size), size, options.smooth_frames)
    crops = crop.warp_frames(frames, alpha, beta, size)
    crop_landmarks = crop.to_crop(landmarks, alpha, beta)
    eyes = crop.reference_points(crop_landmarks)
    eye_distance = float(np.median(np.abs(eyes[:, 1] - eyes[:, 0])))
    mouth = crop.mouth_sketch(crop_landmarks, options.mouth_size, eye_distance)
    audio = _conform_audio(np.asarray(audio, np.float32), n, warn)
    info_extra = {**(extra or {}), "fps": fps, "audio_seconds": round(audio_seconds, 3), "face_missing": runs}
    info_extra["mouth_driver"] = "oracle"  # the sketch is of this clip's own lips (facekit.data.dataset.MOUTH_DRIVERS)
    phonemes, spans = None, None
    with warnings.catch_warnings(record=True) as caught:  # words spelled out by letter-to-sound rules
        warnings.simplefilter("always")
        if words is not None:
            spans, info_extra["alignment"] = words_to_phoneme_spans(words), "time-aligned"
            sentence = " ".join(w.word for w in words if w.word != "sil")
            info_extra["words"] = [[round(w.start, 4), round(w.end, 4), w.word] for w in words]
        elif sentence is not None:
            spans = _approximate_spans(sentence, audio, warn)
            info_extra["alignment"] = "approximate" if spans is not None else None
    warn += [str(w.message) for w in caught]
    if spans is not None:
        phonemes = phoneme_track(spans, n, FPS)
        info_extra["sentence"] = sentence
        info_extra["phonemes"] = [[round(p.start, 4), round(p.end, 4), p.phoneme] for p in spans]
    info_extra["warnings"] = warn
    info = ClipInfo(
        id=clip_id,
        identity=identity,
        num_frames=n,
        modalities=(["text"] if phonemes is not None else []) + ["audio", "mouth"],
        extra=info_extra,
    )
    pcm = float_to_pcm(audio)
    return Clip(info, crops, pcm, melspectrogram(pcm_to_float(pcm)), crop_landmarks, mouth, phonemes)


def _approximate_spans(sentence: str, audio: np.ndarray, warn: list[str]):
    """The sentence's phoneme spans placed on the speech of the (conformed) audio, or None with a warning when the
    audio holds no speech."""
    from facekit.speech_alignment import NoSpeechError, approximate_alignment

    try:
        return approximate_alignment(sentence, audio)[0]
    except NoSpeechError as exc:
        warn.append(f"transcript not used: {exc}")
        return None


@contextmanager
def _ffmpeg_log() -> Iterator[list]:
    """Capture FFmpeg's warnings and errors (PyAV logs nothing by default)."""
    import av.logging

    level = av.logging.get_level()
    av.logging.set_level(av.logging.WARNING)
    try:
        with av.logging.Capture() as logs:
            yield logs
    finally:
        av.logging.set_level(level)


def decode(path: str | Path, expected_frames: int | None = None) -> tuple[np.ndarray, float, np.ndarray, list[str]]:
    """Decode a video file -> (uint8 RGB frames (T, H, W, 3), fps, float32 16 kHz mono audio (N,), warnings).

    Raises VideoError / AudioError for an unreadable file, and ClipSkipped for a file without sound ("no audio") or a
    truncated one ("truncated"): the demuxer reports a corrupt packet (a file cut short), or fewer than
    ``expected_frames - 2`` frames decode. Damage the decoder conceals inside a frame is only a warning.
    """
    import av
    import av.logging

    from facekit.data.audio import load_audio
    from facekit.data.video import read_video

    with _ffmpeg_log() as logs:
        frames, fps = read_video(path)
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise ClipSkipped(f"{path}: no audio track; prepare takes the speech from a video's sound", "no audio")
        audio = load_audio(path)
    corrupt = [m.strip() for _, name, m in logs if "corrupt" in m.lower() and name not in ("mpeg1video", "h264")]
    if corrupt:
        raise ClipSkipped(f"{path}: truncated or corrupt ({corrupt[0]}); {len(frames)} frames decoded", "truncated")
    if expected_frames and len(frames) < expected_frames - 2:
        raise ClipSkipped(f"{path}: truncated, {len(frames)} of {expected_frames} frames decoded", "truncated")
    damaged = list(dict.fromkeys(m.strip() for level, _, m in logs if level <= av.logging.ERROR))
    warn = [f"decoder concealed damage: {damaged[0]}"] if damaged else []
    return frames, fps, audio, warn


@dataclass(frozen=True)
class Job:
    video: str
    transcript: str | None  # .align or .txt (facekit.data.transcripts)
    clip_id: str
    identity: str
    split_key: str


def _prepare_job(job: Job, root: str, source: str, options: PrepareOptions) -> tuple[str, object]:
    """("resumed", info) | ("new", info) | ("skipped", (kind, reason)), for one video; never raises for a bad clip."""
    from facekit.data.audio import AudioError
    from facekit.data.text import TextError
    from facekit.data.transcripts import read_transcript
    from facekit.data.video import VideoError

    meta = Path(root) / "clips" / job.clip_id / "meta.json"
    if meta.is_file():  # finished in an earlier run (clip folders appear only when complete)
        return "resumed", ClipInfo(**json.loads(meta.read_text()))
    try:
        transcript = read_transcript(job.transcript) if job.transcript else None
        frames, fps, audio, warn = decode(job.video, options.expected_frames)
        extra = {"source": source, "video": job.video, "split_key": job.split_key, "warnings": warn}
        words, sentence = None, None
        if transcript is not None:
            extra["transcript"] = job.transcript
            words, sentence = transcript.words, transcript.sentence
        clip = prepare_clip(
            frames, fps, audio, job.clip_id, job.identity, words, options, _landmarker(options), extra, sentence
        )
    except ClipSkipped as exc:
        return "skipped", (exc.kind, str(exc))
    except VideoError as exc:
        return "skipped", ("unreadable video", str(exc))
    except AudioError as exc:
        return "skipped", ("unreadable audio", str(exc))
    except TextError as exc:
        return "skipped", ("transcript", str(exc))
    write_clip(root, clip)
    return "new", clip.info


_LANDMARKERS: dict = {}


def _landmarker(options: PrepareOptions):
    """One FaceLandmarker per process (the models load once)."""
    from facekit.data.face import FaceLandmarker

    key = (options.detect_every, options.max_gap, options.max_edge)
    if key not in _LANDMARKERS:
        _LANDMARKERS[key] = FaceLandmarker(
            every=options.detect_every, max_gap=options.max_gap, max_edge=options.max_edge
        )
    return _LANDMARKERS[key]


def _run_job(args: tuple) -> tuple[Job, str, object]:
    job = args[0]
    return (job, *_prepare_job(*args))


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def safe_id(text: str) -> str:
    """A clip id usable as a folder name: letters, digits, ``_``, ``-`` and ``.``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "clip"


IdentityRule = str | Callable[[Path], str]


def identity_function(rule: IdentityRule) -> Callable[[Path], str]:
    """A clip's identity from its video path, by ``rule``: ``folder`` (the parent folder's name: LRS2 keeps one
    speaker's clips in a folder), ``file`` (each video its own identity), ``regex:PATTERN`` (the one group of PATTERN
    searched in the file stem, e.g. ``regex:^(id\\d+)_``), or a function of the path. ClipFormatError for another."""
    if callable(rule):
        return rule
    if rule == "folder":
        return lambda video: video.parent.name or "unknown"
    if rule == "file":
        return lambda video: video.stem
    if rule.startswith("regex:"):
        try:
            pattern = re.compile(rule.removeprefix("regex:"))
        except re.error as exc:
            raise ClipFormatError(f"--identity {rule}: not a regular expression ({exc})") from exc
        if pattern.groups != 1:
            raise ClipFormatError(f"--identity {rule}: the pattern needs exactly one group (...), has {pattern.groups}")

        def by_pattern(video: Path) -> str:
            match = pattern.search(video.stem)
            if match is None or not match.group(1):
                raise ClipFormatError(
                    f"--identity {rule}: no identity in the file name {video.name}; change the pattern so that its "
                    "group matches every file stem, or use --identity folder / file"
                )
            return match.group(1)

        return by_pattern
    raise ClipFormatError(f"--identity {rule}: use folder, file or regex:PATTERN (one group, over the file stem)")


def rule_name(rule: IdentityRule) -> str:
    """How a rule is named in the summary: the rule itself, or the first sentence of a function's docstring."""
    return rule if isinstance(rule, str) else (rule.__doc__ or rule.__name__).strip().split(".")[0]


def make_jobs(
    videos: list[str | Path],
    transcripts: dict[str, str | Path | None] | None = None,
    identities: dict[str, str] | None = None,
    split_keys: dict[str, str] | None = None,
    identity_rule: IdentityRule = "folder",
) -> list[Job]:
    """One Job per video. Dicts are keyed by the video path (as given, str) or, failing that, its file stem.

    Identity: from ``identities``, else by ``identity_rule`` (:func:`identity_function`; default the parent folder's
    name); default split key: the clip id. Clip id: ``<identity>_<stem>``, or the stem when the identity is the stem.
    """

    def get(table: dict | None, video: Path):
        table = table or {}
        return table.get(str(video), table.get(video.stem))

    by_rule = identity_function(identity_rule)
    jobs = []
    for video in map(Path, videos):
        identity = get(identities, video) or by_rule(video)
        clip_id = safe_id(video.stem if identity == video.stem else f"{identity}_{video.stem}")
        transcript = get(transcripts, video)
        split_key = get(split_keys, video) or clip_id
        jobs.append(Job(str(video), str(transcript) if transcript else None, clip_id, identity, split_key))
    seen: dict[str, str] = {}
    for job in jobs:
        if job.clip_id in seen:
            raise ClipFormatError(f"two videos give clip id {job.clip_id!r}: {seen[job.clip_id]} and {job.video}")
        seen[job.clip_id] = job.video
    return jobs


def prepare_folder(
    videos: list[str | Path],
    out: str | Path,
    image_size: int = 96,
    transcripts: dict[str, str | Path | None] | None = None,
    workers: int = 1,
    progress: bool = True,
    *,
    source: str = "folder",
    identities: dict[str, str] | None = None,
    identity_rule: IdentityRule = "folder",
    split_keys: dict[str, str] | None = None,
    options: PrepareOptions | None = None,
) -> dict:
    """Prepare ``videos`` into ``out`` (clips/, manifest.json, summary.json); returns the summary.

    ``transcripts`` / ``identities`` / ``split_keys``: per-video transcript path (``.align`` or ``.txt``, see
    ``facekit.data.transcripts``), identity and split key, keyed by video path or stem; ``identity_rule``: the
    identity of a video not in ``identities`` (see :func:`make_jobs`). Resumable: clips already in ``out/clips`` are
    kept, not redone; an output folder made with other settings is refused. Summary keys: prepared (clips in the
    manifest), new, resumed, skipped ({video: reason}), skipped_by_reason ({kind: count}), identities (among the
    prepared clips), identity_rule, warnings ({clip id: [...]}), without_transcript (videos), seconds,
    seconds_per_clip (wall time / videos processed now, skips included).
    """
    from facekit.data.face import FaceLandmarker

    options = options or PrepareOptions(image_size=image_size)
    if options.image_size % 16 or options.image_size < 32:
        raise ClipFormatError(f"image size {options.image_size}: use a multiple of 16, at least 32 (96, 128, 256)")
    FaceLandmarker()  # FaceError with the install hint before any work when dlib is missing
    out = Path(out)
    settings = {
        "source": source,
        "fps": FPS,
        "sample_rate": SAMPLE_RATE,
        "image_size": options.image_size,
        "mouth_size": options.mouth_size,
    }
    stamp = out / "prepare.json"
    record = {**settings, "options": asdict(options)}
    if stamp.is_file() and json.loads(stamp.read_text()) != json.loads(json.dumps(record)):
        raise ClipFormatError(f"{out} was prepared with other settings ({stamp}); choose another --out or delete it")
    out.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    jobs = make_jobs(videos, transcripts, identities, split_keys, identity_rule)
    start = time.perf_counter()
    infos, skipped, kinds, counts = [], {}, Counter(), {"new": 0, "resumed": 0}
    args = [(job, str(out), source, options) for job in jobs]
    with _one_torch_thread():  # clips are the unit of parallelism (workers); threads inside one clip only contend
        for job, status, result in _progress(_map(args, workers), len(jobs), progress):
            if status == "skipped":
                kinds[result[0]] += 1
                skipped[job.video] = result[1]
            else:
                counts[status] += 1
                infos.append(result)
    seconds = time.perf_counter() - start
    infos.sort(key=lambda i: i.id)
    write_manifest(out, infos, **settings)
    processed = len(jobs) - counts["resumed"]
    summary = {
        "out": str(out),
        "source": source,
        "videos": len(jobs),
        "prepared": len(infos),
        **counts,
        "skipped": skipped,
        "skipped_by_reason": dict(kinds.most_common()),
        "identities": len({i.identity for i in infos}),
        "identity_rule": rule_name(identity_rule),
        "warnings": {i.id: i.extra["warnings"] for i in infos if i.extra.get("warnings")},
        "without_transcript": [job.video for job in jobs if not job.transcript],
        "seconds": round(seconds, 2),
        "seconds_per_clip": round(seconds / processed, 3) if processed else None,
        "workers": workers,
        "image_size": options.image_size,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _map(args: list, workers: int) -> Iterator:
    if workers <= 1:
        yield from map(_run_job, args)
        return
    with mp.get_context("fork").Pool(workers) as pool:  # forked inside _one_torch_thread: one thread each
        yield from pool.imap_unordered(_run_job, args, chunksize=1)


def _progress(items: Iterator, total: int, show: bool) -> Iterator:
    if not show:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, total=total, desc=f"preparing {total} videos", unit="clip")
