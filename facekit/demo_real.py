"""The main job, ``facekit demo``: the shipped GRID generator dubs three real clips it never saw; about a minute.

No training and nothing to fetch: the three GRID speaker-1 sentences ship in ``facekit/demo_data/grid`` (CC BY 4.0,
see its ATTRIBUTION.md) and lie in the held-out split of every shipped GRID model.

1. prepare the clips into ``OUT/data`` (``facekit.data.grid.prepare_grid``, as ``facekit prepare``);
2. cross-dub (``facekit.crossdub.cross_dub``): each sentence's audio and word alignment generated onto the *next*
   clip's face video by ``grid-s1``, scored by the folder benchmark against the real video of that sentence, with the
   independent sync expert ``grid-s1-judge`` (never used in training);
3. the sync baselines, scored by the same benchmark call: the real videos (the level to reach, scored beside the
   generated ones) and the face video left unchanged with the new sentence's audio (its mouth says other words: the
   level a dub must beat). Optionally the same figures under ``grid-s1-expert``, one of the two experts ``grid-s1``
   trained against (which flatters it);
4. re-dub each clip's own mouth in the crop (``facekit.evaluation.evaluate_generator``) for the image figures beside
   the reference-frame and mean-mouth baselines;
5. write ``report.html``, ``report.md`` and ``summary.json``: the videos, and a verdict per figure and baseline
   (``facekit.verdict``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from facekit.config import ConfigError
from facekit.verdict import IMAGE_BASELINES, IMAGE_FIGURES, SYNC_FIGURES, verdict_rows, verdict_text

DEMO_DATA = Path(__file__).parent / "demo_data" / "grid"
GENERATOR, JUDGE, TRAINING_EXPERT = "grid-s1", "grid-s1-judge", "grid-s1-expert"
DUB_FIGURES = [*SYNC_FIGURES, "lmd"]
DUB_BASELINES = {"ground_truth": "real videos", "face_unchanged": "face unchanged"}


def check_models(names: tuple[str, ...] = (GENERATOR, JUDGE)) -> None:
    """ConfigError naming the alternative when a shipped model the demo needs is not in the zoo."""
    from facekit.zoo import read_registry, zoo_dir

    missing = [n for n in names if n not in read_registry()]
    if missing:
        raise ConfigError(
            f"facekit demo needs the shipped model(s) {', '.join(missing)}, which are not in the model zoo "
            f"({zoo_dir()}; see `facekit models`). Run `facekit demo --from-scratch` instead: it trains a small "
            "model on a synthetic corpus (about 9 minutes on 2 CPU cores) and reports on it"
        )


def prepare_demo_clips(data: str | Path, workers: int = 1) -> dict:
    """Prepare the shipped GRID clips (``DEMO_DATA``) into ``data`` as ``facekit prepare`` does (96-px crops, audio,
    transcripts, a manifest; a few seconds per clip); returns ``facekit.data.grid.prepare_grid``'s summary."""
    from facekit.data.grid import prepare_grid

    video, align = DEMO_DATA / "s1" / "video", DEMO_DATA / "s1" / "align"
    return prepare_grid(video, data, align, workers=workers, progress=False)


def write_face_unchanged(speech_video: str | Path, face_video: str | Path, out: Path) -> Path:
    """The trivial dub: ``face_video``'s frames as they are, with ``speech_video``'s audio, at the length and in the
    encoding ``facekit generate`` writes (its face loop, crf ``OUTPUT_CRF``) -> ``out``."""
    from facekit.data.audio import SAMPLE_RATE, load_audio, num_video_frames
    from facekit.data.prepare import FPS
    from facekit.data.video import write_video
    from facekit.generate import OUTPUT_CRF
    from facekit.inputs import loop_indices, read_frames

    wav = load_audio(speech_video)
    n = num_video_frames(len(wav))
    frames, _ = read_frames(Path(face_video), FPS, n)
    audio = wav[: round(n * SAMPLE_RATE / FPS)]
    return write_video(out, frames[loop_indices(len(frames), n)], FPS, audio, SAMPLE_RATE, crf=OUTPUT_CRF)


def score_dubs(data: Path, out: Path, expert: str, pairs: int, log: Callable[[str], None]) -> dict:
    """Cross-dub ``pairs`` clips under ``expert`` (videos already made are kept) and score the face-unchanged baseline
    the same way: {"generated": cross_dub's result, "face_unchanged": the benchmark's result for its videos}."""
    from facekit.benchmark import run_benchmark
    from facekit.crossdub import cross_dub

    dubbed = cross_dub(GENERATOR, data, expert, out, pairs, log)
    for pair in dubbed["pairs"]:
        baseline = out / "face_unchanged" / f"{Path(pair['speech']).stem}.mp4"
        if not baseline.exists():
            write_face_unchanged(pair["speech"], pair["face"], baseline)
    unchanged = run_benchmark(out / "face_unchanged", out / "ground_truth", expert)
    return {"generated": dubbed, "face_unchanged": unchanged}


def sync_values(scored: dict) -> dict[str, dict]:
    """{method: mean figures} of a :func:`score_dubs` result, the baseline's generated row renamed."""
    summary = scored["generated"]["summary"]
    return {
        "generated": summary["generated"],
        "ground_truth": summary["ground_truth"],
        "face_unchanged": scored["face_unchanged"]["summary"]["generated"],
    }


def run_real_demo(
    out: str | Path, training_expert: bool = False, workers: int = 1, log: Callable[[str], None] = print
) -> dict:
    """Steps 1-5 of the module docstring into ``out``; returns the summary written to ``out/summary.json``. The
    videos of an earlier run in ``out/crossdub`` are made anew; the prepared clips in ``out/data`` are reused.

    ``training_expert``: also score the dubs with ``grid-s1-expert`` (a second scoring pass, about 10 s on 2 cores)."""
    from facekit.data.clips import read_manifest
    from facekit.demo_report import write_real_report
    from facekit.evaluation import evaluate_generator
    from facekit.report import jsonable

    check_models((GENERATOR, JUDGE, TRAINING_EXPERT) if training_expert else (GENERATOR, JUDGE))
    start = time.perf_counter()
    out = Path(out)
    data = out / "data"
    shutil.rmtree(out / "crossdub", ignore_errors=True)  # cross_dub keeps videos it finds: those of an older model
    log(f"[1/5] preparing the shipped GRID clips ({DEMO_DATA}) into {data}/ ...")
    prepared = prepare_demo_clips(data, workers)
    log(f"[2/5] cross-dubbing with {GENERATOR}, judged by {JUDGE} ...")
    scored = {JUDGE: score_dubs(data, out / "crossdub", JUDGE, prepared["prepared"], log)}
    if training_expert:
        log(f"[3/5] the same videos under {TRAINING_EXPERT}, one of the experts {GENERATOR} trained against ...")
        scored[TRAINING_EXPERT] = score_dubs(data, out / "crossdub", TRAINING_EXPERT, prepared["prepared"], log)
    else:
        log(f"[3/5] skipped: the figures under {TRAINING_EXPERT} (--training-expert)")
    log("[4/5] re-dubbing each clip's own mouth in the crop, beside the trivial baselines ...")
    image = evaluate_generator(GENERATOR, data, JUDGE, "eval")
    verdicts = {
        f"lip_sync_{name}": verdict_rows(sync_values(result), DUB_FIGURES, DUB_BASELINES)
        for name, result in scored.items()
    }
    verdicts["image"] = verdict_rows(image["summary"], IMAGE_FIGURES, IMAGE_BASELINES)
    sentences = {Path(i.extra["video"]).stem: i.extra.get("sentence") for i in read_manifest(data)[1]}
    clips = []
    for pair in scored[JUDGE]["generated"]["pairs"]:
        speech = Path(pair["speech"])
        clips.append({"id": speech.stem, "sentence": sentences.get(speech.stem), **pair,
                      "ground_truth": str(out / "crossdub" / "ground_truth" / speech.name),
                      "face_unchanged": str(out / "crossdub" / "face_unchanged" / f"{speech.stem}.mp4")})  # fmt: skip
    # each benchmark run judges the same real videos, so their warnings recur: listed once
    warnings = [w for result in scored.values() for run in result.values() for w in run["warnings"]]
    warnings += image["warnings"]
    log("[5/5] writing the report ...")
    summary = {
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_cores": os.cpu_count(),
        "models": {"generator": GENERATOR, "judge": JUDGE, "training_expert": training_expert and TRAINING_EXPERT},
        "clips": clips,
        "verdicts": verdicts,
        "warnings": list(dict.fromkeys(warnings)),
        "prepare": {k: prepared[k] for k in ("videos", "prepared", "warnings", "seconds")},
        "cross_dub": {name: {k: jsonable(v) for k, v in r.items()} for name, r in scored.items()},
        "image": image,
    }
    paths = write_real_report(summary, scored, out)
    summary["report"] = {k: str(v) for k, v in paths.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    log(verdict_text(verdicts))
    log(f"\nfacekit demo: done in {summary['seconds']:.0f} s. Open {paths['html']}")
    return summary
