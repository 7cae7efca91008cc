"""Benchmark a folder of generated videos against a folder of ground-truth videos (``facekit eval --generated``).

Videos are matched by file stem (``gen/bbaf2n.mp4`` <-> ``gt/s1/bbaf2n.mpg``; both folders searched recursively).
Per clip, both videos are decoded (PyAV) with their audio (16 kHz mono), conformed to 25 fps as ``facekit prepare``
does, and cut to the same square face crop:

- default: the ground truth's face is found and aligned exactly as ``facekit prepare`` does (dlib landmarks,
  ``facekit.data.face``; the smoothed similarity alignment of ``facekit.data.crop``), and that one transform cuts both
  videos, so the two crops cover the same part of the frame, pixel for pixel (the image metrics and LMD). A generated
  video whose frame size differs from the ground truth's is aligned on its own landmarks instead (a warning says so).
  The sync metrics always see each video cut on its *own* face (as syncnet_python tracks the face of each video): a
  generated video made from another face video keeps that video's head motion;
- ``aligned=True`` (``--aligned``): the videos already are aligned square face crops; nothing is detected, the
  generated crops are resized to the ground truth's side when they differ.

Figures: L1, SSIM, PSNR (per frame, capped at 100 dB for identical frames, then the mean) and LPIPS (only with the
fetched ImageNet backbone, else skipped with the reason) over the whole crop and the mouth region (its lower half),
by ``facekit.metrics.image.clip_image_scores``; LMD on the 20 mouth landmarks in crop pixels
(``facekit.metrics.landmarks``); LSE-D, LSE-C and AV offset of the generated video *and* of the ground truth under
facekit's sync expert (checkpoint id reported) and/or the official SyncNet. Each clip says whether each network finds
the real video in sync (``in_sync``, the reason in its warnings), the summary how many, and ``result["warnings"]``
says when a network misses most of them (``facekit.metrics.sync.SyncTrust``).

Every video must show a face (dlib, in both modes): a faceless video is skipped with the reason, never scored.
Nothing scored at all (every clip skipped) is a :class:`NothingScored` error that lists every reason.

Bad input: every problem is a named skip row or warning and never stops the other clips:

- no ground-truth video with the generated video's stem: skipped;
- different frame rates: skipped, the message names both files and both fps;
- different lengths: both trimmed to the shorter (a warning) when they differ by at most ``max_trim_frames``
  frames (a generator may drop a frame at the end), skipped otherwise (probably not the same clip);
- fewer frames than one 5-frame (0.2 s) sync window: skipped;
- a video without an audio track: its sync figures are skipped with the reason, every other figure is computed;
- no face in the ground truth or in the generated video (``--aligned``: dlib finds no face in any crop; default: more
  frames in a row without a face than prepare may fill or trim): skipped; no face in the ground truth's first or last
  few frames (at most ``max_edge``): those frames and their audio are left out of both videos, with a warning (as
  ``facekit prepare`` trims a clip).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from facekit.contract import overlap_note
from facekit.data.audio import SAMPLE_RATE
from facekit.data.images import to_images
from facekit.data.prepare import FPS, ClipSkipped, PrepareOptions
from facekit.data.video import VideoError, resize_frames
from facekit.metrics.image import PSNR_CAP, clip_image_scores, lpips_problem, scoring_lpips
from facekit.metrics.landmarks import JAW, MOUTH, lmd
from facekit.metrics.sync import MAX_OFFSET, WINDOW_FRAMES, SyncTrust
from facekit.report import summarise
from facekit.runtime import configure_cpu

VIDEO_SUFFIXES = (".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm")
OFFICIAL_SIZE = 224
NOT_THE_SAME_FACE = ("not computed: the real video shows another face (a dub), so only sync can be compared with "
                     "it")  # fmt: skip
NO_FACE_CHECK = ("face check off (--no-face-check): no landmarks, and a video without a face would be scored as if it "
                 "had one")  # fmt: skip
METHODS = ("generated", "ground_truth")
ALIGNED = "the videos as given (--aligned), generated crops resized to the ground truth's side when they differ"
DETECTED = (
    "facekit prepare's smoothed similarity alignment (eyes on y = 0.40 S, 0.25 S apart; mouth-corner midpoint at "
    "(0.5 S, 0.71 S)), fitted to the ground truth's dlib landmarks and applied to both videos"
)


class NothingScored(VideoError):
    """Every clip was skipped: the message lists each one's reason (``facekit eval`` exits 2)."""


@dataclass(frozen=True)
class BenchmarkOptions:
    aligned: bool = False  # the videos are already aligned square face crops: no face alignment
    face_check: bool = True  # --aligned only: off for rendered faces dlib cannot find (no LMD, a faceless video scored)
    image_size: int | None = None  # crop side; default 96 (detection) or the ground truth's side (aligned)
    max_trim_frames: int = 12  # lengths may differ by this many frames (trimmed to the shorter), else a skip
    detect_every: int = 5  # as facekit prepare
    smooth_frames: int = 7
    max_gap: int = 5
    max_missing: float = 0.2
    max_edge: int = 15  # a faceless run this short at the ground truth's start / end is left out of both videos
    num_samples: int = 4  # clips whose sample frames go into the report
    sample_frames: int = 4  # frames per sample clip
    lpips_cache: str | None = None  # folder of `facekit weights lpips` (default: its default cache)
    allow_expert_overlap: bool = False  # score with an expert that trained on some of the clips (the title says so)
    compare_images: bool = True  # off for a dub, whose real video shows another face: sync figures only


@dataclass
class Video:
    path: Path
    frames: np.ndarray  # uint8 (T, H, W, 3) RGB
    fps: float
    audio: np.ndarray | None  # float32 (N,) 16 kHz mono in [-1, 1]; None without a usable audio track
    no_audio: str | None = None  # why audio is None


def _by_stem(folder: str | Path) -> dict[str, Path]:
    from facekit.data.grid import find_videos

    table: dict[str, Path] = {}
    for video in find_videos(folder, VIDEO_SUFFIXES):
        if video.stem in table:
            raise VideoError(f"two videos named {video.stem!r}: {table[video.stem]} and {video}; videos are matched "
                             "by file name, so rename one or point at a sub-folder")  # fmt: skip
        table[video.stem] = video
    if not table:
        raise VideoError(f"{folder}: no videos ({' '.join(VIDEO_SUFFIXES)}) in this folder or below")
    return table


def match_videos(generated: str | Path, ground_truth: str | Path) -> tuple[list[tuple[str, Path, Path | None]], list]:
    """(stem, generated video, ground-truth video or None) per generated video, and the unmatched ground truths."""
    gen, gt = _by_stem(generated), _by_stem(ground_truth)
    pairs = [(stem, path, gt.get(stem)) for stem, path in sorted(gen.items())]
    return pairs, [gt[stem] for stem in sorted(gt) if stem not in gen]


def load_video(path: Path) -> Video:
    """Decode frames (VideoError names the file) and audio; a missing or broken audio track is recorded, not raised."""
    import av

    from facekit.data.audio import AudioError, load_audio
    from facekit.data.video import read_video

    frames, fps = read_video(path)
    with av.open(str(path)) as container:
        has_audio = bool(container.streams.audio)
    if not has_audio:
        reason = (f"{path} has no audio track: the sync figures need the speech; mux it in "
                  "(ffmpeg -i VIDEO -i AUDIO -map 0:v -map 1:a -c:v copy OUT.mp4)")  # fmt: skip
        return Video(path, frames, fps, None, reason)
    try:
        return Video(path, frames, fps, load_audio(path))
    except AudioError as exc:
        return Video(path, frames, fps, None, str(exc))


def conform_pair(gen: Video, gt: Video, options: BenchmarkOptions, warn: list[str]) -> int:
    """Check and conform a pair in place (same fps, 25 fps, same length, audio to length) -> the frame count."""
    from facekit.data.prepare import _conform_audio, _conform_fps

    if abs(gen.fps - gt.fps) > 0.01:
        raise ClipSkipped(f"different frame rates: generated {gen.path} is {gen.fps:g} fps, ground truth {gt.path} "
                          f"is {gt.fps:g} fps; re-encode the generated video at {gt.fps:g} fps")  # fmt: skip
    fps_warn: list[str] = []
    gen.frames, gt.frames = _conform_fps(gen.frames, gen.fps, fps_warn), _conform_fps(gt.frames, gt.fps, [])
    warn += [f"both videos: {w}" for w in fps_warn]
    n_gen, n_gt = len(gen.frames), len(gt.frames)
    n = min(n_gen, n_gt)
    if n_gen != n_gt:
        if abs(n_gen - n_gt) > options.max_trim_frames:
            raise ClipSkipped(f"different lengths: generated {gen.path} has {n_gen} frames, ground truth {gt.path} "
                              f"{n_gt} (more than {options.max_trim_frames} apart: is it the same clip?)")  # fmt: skip
        warn.append(f"different lengths: generated {n_gen} frames, ground truth {n_gt}; both trimmed to the first {n}")
        gen.frames, gt.frames = gen.frames[:n], gt.frames[:n]
    if n < WINDOW_FRAMES:
        raise ClipSkipped(f"only {n} frames ({gen.path}, {gt.path}): shorter than one {WINDOW_FRAMES}-frame "
                          f"(0.2 s) sync window")  # fmt: skip
    for name, video in (("generated", gen), ("ground truth", gt)):
        if video.audio is not None:
            audio_warn: list[str] = []
            video.audio = _conform_audio(video.audio, n, audio_warn)
            warn += [f"{name}: {w}" for w in audio_warn]
    return n


# ------------------------------------------------------------------------------------------------------- face crops


def _prepare_options(options: BenchmarkOptions, size: int) -> PrepareOptions:
    return PrepareOptions(image_size=size, detect_every=options.detect_every, smooth_frames=options.smooth_frames,
                          max_gap=options.max_gap, max_missing=options.max_missing,
                          max_edge=options.max_edge)  # fmt: skip


def _detect(frames: np.ndarray, popts: PrepareOptions) -> tuple[np.ndarray, np.ndarray]:
    """(landmarks with NaN where no face, found per frame), as facekit prepare detects them."""
    from facekit.data.face import NoFaceError
    from facekit.data.prepare import _landmarker

    try:
        return _landmarker(popts)(frames)
    except NoFaceError as exc:
        raise ClipSkipped(str(exc)) from exc


def _fill(landmarks: np.ndarray, found: np.ndarray, popts: PrepareOptions) -> tuple[np.ndarray, np.ndarray]:
    """(filled landmarks for the alignment, raw landmarks with NaN where no face, for LMD): as facekit prepare."""
    from facekit.data.prepare import fill_missing

    raw = landmarks.copy()
    fill_missing(landmarks, found, popts.max_gap, popts.max_missing)
    return landmarks, raw


def _landmarks(frames: np.ndarray, popts: PrepareOptions) -> tuple[np.ndarray, np.ndarray]:
    return _fill(*_detect(frames, popts), popts)


def trim_edges(gen: Video, gt: Video, lead: int, trail: int) -> None:
    """Drop the first ``lead`` and last ``trail`` frames of both videos, with their audio (in place)."""
    n, hop = len(gt.frames), SAMPLE_RATE / FPS
    for video in (gen, gt):
        video.frames = video.frames[lead : n - trail]
        if video.audio is not None:
            video.audio = video.audio[int(round(lead * hop)) : int(round((n - trail) * hop))]


@dataclass
class Crops:
    generated: np.ndarray  # uint8 (T, S, S, 3)
    ground_truth: np.ndarray
    landmarks: dict[str, np.ndarray] | None  # crop pixels, NaN where no face; None without the face check
    official: dict[str, np.ndarray]  # frames for the official SyncNet: 224 x 224 crops (or the crops when aligned)
    alignment: str
    sync: dict[str, np.ndarray] | None = None  # crops for facekit's expert: each video on its own face (default: ^)


def detected_crops(gen: Video, gt: Video, size: int, options: BenchmarkOptions, warn: list) -> Crops:
    """Full-frame videos -> face crops cut with the ground truth's alignment (facekit prepare's), landmarks in crops."""
    from facekit.data import crop
    from facekit.data.prepare import _edge_runs

    popts = _prepare_options(options, size)
    try:
        lm_gt, found_gt = _detect(gt.frames, popts)
        # a faceless run at the start or end of the ground truth (GRID: a few files decode garbage first) is cut
        # from both videos with its audio, as facekit prepare cuts it from a clip
        lead, trail = _edge_runs(found_gt, popts.max_edge)
        if lead or trail:
            n = len(gt.frames)
            trim_edges(gen, gt, lead, trail)
            lm_gt, found_gt = lm_gt[lead : n - trail], found_gt[lead : n - trail]
            warn.append(f"no face in the ground truth's first {lead} / last {trail} frames: those frames and their "
                        f"audio left out of both videos ({len(gt.frames)} of {n} scored)")  # fmt: skip
            if len(gt.frames) < WINDOW_FRAMES:
                raise ClipSkipped(f"only {len(gt.frames)} frames with a face: shorter than one sync window")
        lm_gt, raw_gt = _fill(lm_gt, found_gt, popts)
    except ClipSkipped as exc:
        raise ClipSkipped(f"ground truth {gt.path}: {exc}") from exc
    transforms = {"ground_truth": crop.smooth_similarity(*crop.fit_similarity(lm_gt, size), size, popts.smooth_frames)}
    try:
        lm_gen, raw_gen = _landmarks(gen.frames, popts)
    except ClipSkipped as exc:
        raise ClipSkipped(f"generated {gen.path}: {exc}; a video without a face is not scored") from exc
    alignment = "ground truth's alignment applied to both videos"
    if gen.frames.shape[1:] == gt.frames.shape[1:]:
        transforms["generated"] = transforms["ground_truth"]
    else:
        transforms["generated"] = crop.smooth_similarity(*crop.fit_similarity(lm_gen, size), size, popts.smooth_frames)
        alignment = "each video aligned on its own landmarks (frame sizes differ)"
        sizes = f"{gen.frames.shape[2]}x{gen.frames.shape[1]} generated, {gt.frames.shape[2]}x{gt.frames.shape[1]}"
        warn.append(f"frame sizes differ ({sizes} ground truth): each video aligned on its own face")
    videos = {"generated": gen, "ground_truth": gt}
    crops = {m: crop.warp_frames(videos[m].frames, *transforms[m], size) for m in METHODS}
    # lip sync is judged on each video's own face, as syncnet_python tracks the face of each video: a generated video
    # made from another face video keeps that video's head motion, which the ground truth's transform would cut off
    own = dict(transforms)
    if transforms["generated"] is transforms["ground_truth"]:
        own["generated"] = crop.smooth_similarity(*crop.fit_similarity(lm_gen, size), size, popts.smooth_frames)
    sync = {m: crop.warp_frames(videos[m].frames, *own[m], size) for m in METHODS}
    official = {}
    for m in METHODS:
        alpha, beta = own[m]
        official[m] = crop.warp_frames(videos[m].frames, alpha * size / OFFICIAL_SIZE, beta, OFFICIAL_SIZE)
    raw = {"generated": raw_gen, "ground_truth": raw_gt}
    landmarks = {m: crop.to_crop(raw[m], *transforms[m]) for m in METHODS}
    return Crops(crops["generated"], crops["ground_truth"], landmarks, official, alignment, sync)


def aligned_crops(gen: Video, gt: Video, options: BenchmarkOptions, warn: list) -> Crops:
    """Videos that already are square face crops -> crops of one side; landmarks detected on the crops (LMD), and a
    video in which no crop shows a face is skipped."""
    from facekit.data.face import NoFaceError
    from facekit.metrics.landmarks import detect_landmarks

    for video in (gen, gt):
        h, w = video.frames.shape[1:3]
        if h != w:
            raise ClipSkipped(f"{video.path}: frames are {w}x{h}; --aligned expects square face crops (drop --aligned "
                              "to detect and align the face)")  # fmt: skip
    size = options.image_size or gt.frames.shape[1]
    for name, video in (("generated", gen), ("ground truth", gt)):
        if video.frames.shape[1] != size:
            warn.append(f"{name} crops {video.frames.shape[1]}x{video.frames.shape[1]} resized to {size}x{size}")
    crops = {"generated": resize_frames(gen.frames, size), "ground_truth": resize_frames(gt.frames, size)}
    if not options.face_check:
        return Crops(crops["generated"], crops["ground_truth"], None, crops, "none (--aligned: the videos are crops)")
    landmarks = {}
    for method, video in (("ground_truth", gt), ("generated", gen)):
        name = method.replace("_", " ")
        try:
            landmarks[method] = detect_landmarks(crops[method], options.detect_every)
            if not np.isfinite(landmarks[method]).all(axis=(1, 2)).any():
                raise NoFaceError("no face in any crop")
        except NoFaceError as exc:
            raise ClipSkipped(f"{name} {video.path}: {exc} (dlib); a video without a face is not scored") from exc
    return Crops(crops["generated"], crops["ground_truth"], landmarks, crops, "none (--aligned: the videos are crops)")


# ---------------------------------------------------------------------------------------------------------- metrics


class SyncNetworks:
    """The embedding networks of the sync figures, loaded once: facekit's expert and/or the official SyncNet."""

    def __init__(self, expert: str | Path | None = None, syncnet: str | Path | None = None) -> None:
        from facekit.metrics.sync import SyncEvaluator, checkpoint_id
        from facekit.metrics.syncnet_official import load_official

        self.expert = SyncEvaluator(expert) if expert is not None else None
        self.official = load_official(syncnet) if syncnet is not None else None
        self.official_id = checkpoint_id(syncnet) if syncnet is not None else None
        self.names = {}
        if self.expert is not None:
            self.names["expert"] = f"facekit expert {self.expert.expert_id}"
        if self.official is not None:
            self.names["official"] = f"official SyncNet {self.official_id}"

    def score(self, crops: np.ndarray, official_frames: np.ndarray, audio: np.ndarray, fps: float) -> dict:
        """{"expert": SyncResult, "official": SyncResult | str (why not)} for one video's crops and audio."""
        from facekit.metrics.sync import sync_scores
        from facekit.metrics.syncnet_official import official_embeddings

        out: dict = {}
        if self.expert is not None:
            out["expert"] = self.expert.evaluate(crops, audio, fps)
        if self.official is not None:
            try:
                out["official"] = sync_scores(*official_embeddings(self.official, official_frames, audio), MAX_OFFSET)
                out["official"].expert_id = self.official_id
            except ValueError as exc:  # too short for syncnet_python's 6-frame minimum
                out["official"] = str(exc)
        return out


def _image_figures(crops, lpips_net, skipped: dict[str, str]) -> dict:
    """The image figures and landmark distances of the generated crops against the ground truth's; a figure that
    cannot be computed is named in ``skipped`` with the reason."""
    figures = clip_image_scores(to_images(crops.generated), to_images(crops.ground_truth), lpips_net=lpips_net)
    if crops.landmarks is None:
        skipped["lmd"] = skipped["jaw_lmd"] = NO_FACE_CHECK
        return figures
    for key, points in (("lmd", MOUTH), ("jaw_lmd", JAW)):
        value = lmd(crops.landmarks["generated"], crops.landmarks["ground_truth"], points=points)
        figures[key] = None if np.isnan(value) else value
        if figures[key] is None:
            skipped[key] = "no frame has a face in both videos"
    return figures


def score_clip(
    stem: str,
    gen_path: Path,
    gt_path: Path,
    options: BenchmarkOptions,
    networks: SyncNetworks,
    lpips_net,
    trust: SyncTrust,
) -> tuple[dict, list[dict], dict | None]:
    """One pair -> (per-clip record, sync curves, sample frames or None); raises ClipSkipped / VideoError.

    ``trust`` records whether each network finds the ground truth in sync."""
    warn: list[str] = []
    skipped: dict[str, str] = {}
    gen, gt = load_video(gen_path), load_video(gt_path)
    num = conform_pair(gen, gt, options, warn)
    size = options.image_size or 96
    crops = (aligned_crops(gen, gt, options, warn) if options.aligned
             else detected_crops(gen, gt, size, options, warn))  # fmt: skip
    num = len(crops.ground_truth)  # the frames scored: a faceless start or end of the ground truth is left out
    side = crops.ground_truth.shape[1]
    record: dict = {"clip": stem, "frames": num, "fps": FPS, "crop_size": side}
    record.update(generated_file=str(gen_path), ground_truth_file=str(gt_path), alignment=crops.alignment)
    if lpips_net is not None and lpips_problem(side):
        skipped["lpips"], lpips_net = lpips_problem(side), None
    if options.compare_images:
        figures = _image_figures(crops, lpips_net, skipped)
    else:
        figures, skipped["image figures and LMD"] = {}, NOT_THE_SAME_FACE
    record["generated"], record["ground_truth"] = figures, {}
    curves: dict[str, dict] = {}
    sync_crops = crops.sync or {"generated": crops.generated, "ground_truth": crops.ground_truth}
    videos = {"generated": (gen, sync_crops["generated"]), "ground_truth": (gt, sync_crops["ground_truth"])}
    for method, (video, frames) in videos.items():
        if video.audio is None:
            if networks.names:
                skipped[f"{method} sync"] = video.no_audio
            continue
        for key, result in networks.score(frames, crops.official[method], video.audio, FPS).items():
            prefix = "" if key == "expert" else "official_"
            if isinstance(result, str):
                skipped[f"{method} {prefix}sync"] = result
                continue
            record[method].update(result.figures(prefix))
            if method == "ground_truth":
                trust.check(result, networks.names[key], record[method], warn, prefix)
            curve = curves.setdefault(key, {"clip": stem, "network": networks.names[key]})
            curve["offsets"] = result.offsets.tolist()
            curve.setdefault("mdist", {})[method] = [round(float(x), 6) for x in result.mdist]
            curve.setdefault("confidence", {})[method] = [round(float(x), 6) for x in result.confidence_per_frame]
    record["warnings"], record["skipped_metrics"] = warn, skipped
    picks = np.unique(np.linspace(0, num - 1, options.sample_frames).round().astype(int)).tolist()
    sample = {"clip": stem, "frames": picks, "generated": crops.generated[picks]}
    sample["ground_truth"] = crops.ground_truth[picks]
    return record, list(curves.values()), sample


def run_benchmark(
    generated: str | Path,
    ground_truth: str | Path,
    expert: str | Path | None = None,
    syncnet: str | Path | None = None,
    options: BenchmarkOptions | None = None,
    progress: bool = False,
) -> dict:
    """Score every generated video against its ground truth -> a result dict in ``facekit.report``'s shape.

    ``expert``: a facekit sync-expert checkpoint; ``syncnet``: the official ``syncnet_v2.model`` (either or both for
    the sync figures, none for image figures only). Clips that cannot be scored are in ``result["skipped"]``;
    when none can, :class:`NothingScored` lists every reason. Raises FaceError without dlib: every video is checked
    for a face, in both modes.
    """
    configure_cpu()
    from facekit.data.audio import AudioError
    from facekit.data.face import FaceError, FaceLandmarker

    options = options or BenchmarkOptions()
    if not options.aligned and not options.face_check:
        raise ValueError("the face check can be turned off only for --aligned crops (elsewhere it finds the face)")
    try:
        if options.face_check:
            FaceLandmarker()  # fail before any work when dlib is missing
    except FaceError as exc:
        why = "facekit eval checks that every video shows a face (a faceless one is never scored), --aligned too"
        raise FaceError(f"{exc}; {why} (--no-face-check: rendered faces dlib cannot find)") from exc
    pairs, unmatched = match_videos(generated, ground_truth)
    overlap = overlap_note(expert, [p[0] for p in pairs], options.allow_expert_overlap) if expert else None
    networks = SyncNetworks(expert, syncnet)
    lpips_net, lpips_info = scoring_lpips(options.image_size or (None if options.aligned else 96), options.lpips_cache)
    start = time.perf_counter()
    per_clip, skipped, sync, samples = [], [], [], []
    trust, warnings = SyncTrust(), [] if options.face_check else [NO_FACE_CHECK]
    for i, (stem, gen_path, gt_path) in enumerate(pairs):
        if progress:
            print(f"[{i + 1}/{len(pairs)}] {stem}", flush=True)
        if gt_path is None:
            skipped.append({"clip": stem, "reason": f"no ground-truth video named {stem}.* in {ground_truth} for "
                                                    f"{gen_path}; add it or remove the generated video"})  # fmt: skip
            continue
        try:
            record, curves, sample = score_clip(stem, gen_path, gt_path, options, networks, lpips_net, trust)
        except (ClipSkipped, VideoError, AudioError) as exc:
            skipped.append({"clip": stem, "reason": str(exc)})
            continue
        if lpips_net is None:
            record["skipped_metrics"].setdefault("lpips", lpips_info)
        per_clip.append(record)
        sync += curves
        if len(samples) < options.num_samples:
            samples.append(sample)
    size = options.image_size or (None if options.aligned else 96)
    settings = {
        "generated": str(generated),
        "ground_truth": str(ground_truth),
        "mode": "face detection + alignment" if not options.aligned else "aligned crops (--aligned: not aligned)",
        "face_check": "dlib finds a face in every video (else skipped)" if options.face_check else NO_FACE_CHECK,
        "face_detector": "dlib HOG (+ CNN fallback) and shape_predictor_68_face_landmarks (face_recognition_models)",
        "crop": f"square, {f'{size} px' if size else 'ground truth side'}; {ALIGNED if options.aligned else DETECTED}",
        "mouth_region": "lower half of the crop",
        "ssim": "Gaussian sigma 1.5, K1 0.01, K2 0.03, population covariance, data range 1.0 (= scikit-image)",
        "psnr": f"10 log10(1 / MSE) per frame, capped at {PSNR_CAP:g} dB, mean over frames",
        "lpips": lpips_info,
        "lmd": "mean distance of 68-point landmarks 48-67, crop pixels; frames without a face in either left out",
        "jaw_lmd": "the same over the outer jaw line (68-point 0-4 and 12-16): does the painted lower face follow the "
        "head",
        "sync_protocol": f"5-frame windows, offsets -{MAX_OFFSET}..{MAX_OFFSET}, LSE-D = min mdist, "
        "LSE-C = median - min; offset + = audio lags",
        "sync_expert": networks.names.get("expert", "none (no --expert)"),
        "sync_crops": "each video cut on its own face (prepare's alignment of its own landmarks), as syncnet_python"
        if not options.aligned
        else "the crops as given",
        "official_syncnet": (
            f"{syncnet} (sha256[:12] {networks.official_id}); 224 px crops, each video's own alignment, BGR, MFCC"
        )
        if syncnet
        else "none (no --syncnet)",  # fmt: skip
        "fps": f"{FPS:g} (other rates resampled by nearest frame, as facekit prepare)",
        "length_mismatch": f"trimmed to the shorter when <= {options.max_trim_frames} frames apart, else skipped",
        "options": str(asdict(options)),
    }
    notes = [f"ground truth without a generated video (not scored): {p}" for p in unmatched]
    notes = [overlap, *notes] if overlap else notes
    if not per_clip:
        reasons = "\n".join(f"  {s['clip']}: {s['reason']}" for s in skipped) or "  no generated video"
        raise NothingScored(f"nothing scored: none of the {len(pairs)} generated videos in {generated} could be "
                            f"scored against {ground_truth}:\n{reasons}")  # fmt: skip
    summary = summarise(per_clip, METHODS)
    if networks.expert is not None:
        summary["expert_id"] = networks.expert.expert_id
    trust.summarise(summary, warnings)
    return {
        "title": f"{overlap + ' -- ' if overlap else ''}facekit benchmark: generated vs ground-truth videos",
        "mode": "folders",
        "settings": settings,
        "clips": len(per_clip),
        "seconds": round(time.perf_counter() - start, 2),
        "summary": summary,
        "per_clip": per_clip,
        "skipped": skipped,
        "notes": notes,
        "warnings": warnings,
        "sync": sync,
        "samples": samples,
    }
