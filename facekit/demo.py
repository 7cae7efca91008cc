"""``facekit demo --from-scratch``: the kit end to end from nothing -- no data, no checkpoint, no shipped model.

1. synthesise a small talking-face corpus (``demo_config``), with some identities held out;
2. train a sync expert and a generator on it -- or reuse the demo's own cached result (the cache key is the config
   and facekit's version; ``--retrain`` ignores it);
3. generate a talking video for a held-out identity (never seen in training) from text + audio, through the same
   path as ``facekit generate --aligned``;
4. evaluate it against that identity's real clip (mouth SSIM / PSNR / L1 beside the trivial baselines, and the
   sync expert's LSE-D / LSE-C / offset beside the real clip's own) and the whole held-out split;
5. write ``report.html`` (videos, tables, plots, and per figure whether the generator beats each baseline:
   ``facekit.verdict``) and ``summary.json``.

About 8-9 minutes on 2 CPU cores from nothing, about 1 minute with the cache.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import facekit
from facekit.config import Config, apply_overrides, get_preset
from facekit.verdict import (
    IMAGE_BASELINES,
    IMAGE_FIGURES,
    SYNC_FIGURES,
    html_table,
    meanings,
    verdict_cells,
    verdict_rows,
    verdict_text,
)

DEMO_OVERRIDES = [
    "synth.num_identities=16",
    "synth.clips_per_identity=4",
    "data.eval_fraction=0.2",
    "model.cascade.order=text,audio",  # the demo speaks from text + audio; no driver's mouth
]
EXPERT_OVERRIDES = ["train.steps=400", "train.batch_size=32", "train.lr=5e-4", "train.max_minutes=2.5"]
GENERATOR_OVERRIDES = [
    "data.num_frames=5",
    "train.steps=3000",
    "train.batch_size=4",
    "train.lr=3e-4",
    "train.ssim_weight=1.0",
    "train.max_minutes=4.5",
    "train.checkpoint_every=250",
]


def demo_config(overrides: list[str] | None = None) -> Config:
    return apply_overrides(apply_overrides(get_preset("cpu"), DEMO_OVERRIDES), overrides or [])


def cache_key(cfg: Config, plan: dict) -> str:
    text = json.dumps([cfg.to_json(), plan, facekit.__version__])
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def default_cache() -> Path:
    return Path(os.environ.get("FACEKIT_CACHE", Path.home() / ".cache" / "facekit")) / "demo"


def train_or_reuse(
    cfg: Config, corpus: Path, cache: Path, retrain: bool, log: Callable[[str], None], stages: dict | None = None
) -> dict:
    """Train the expert, then the generator, into ``cache/<key>/``; a finished stage (marked by ``done.json``) is
    reused. A killed stage resumes from its checkpoint on the next run. ``stages`` replaces the overrides of
    ``EXPERT_OVERRIDES`` / ``GENERATOR_OVERRIDES`` (``{"expert": [...], "generator": [...]}``, tests use it)."""
    from facekit.train.loop import train_expert, train_generator

    plan = {"expert": EXPERT_OVERRIDES, "generator": GENERATOR_OVERRIDES, **(stages or {})}
    root = cache / cache_key(cfg, plan)
    if retrain and root.exists():
        shutil.rmtree(root)
    for stage, overrides in plan.items():
        run_dir, stage_cfg = root / stage, apply_overrides(cfg, overrides)
        done = run_dir / "done.json"
        if done.is_file():
            log(f"[2/5] {stage}: reusing the cached run in {run_dir}/ (--retrain to train anew)")
            continue
        budget = stage_cfg.train.max_minutes
        log(f"[2/5] training the {stage} (at most {budget:g} min) into {run_dir}/ ...")
        start = time.perf_counter()
        if stage == "expert":
            record = train_expert(stage_cfg, corpus, run_dir)
        else:
            record = train_generator(stage_cfg, corpus, run_dir, expert_path=root / "expert" / "last.pt")
        record["wall_seconds"] = round(time.perf_counter() - start, 1)
        done.write_text(json.dumps(record, indent=2) + "\n")
    return {"root": root, "expert": root / "expert" / "last.pt", "generator": root / "generator" / "last.pt"}


def pick_unseen_clip(cfg: Config, corpus: Path):
    """The first clip of the first held-out identity."""
    from facekit.data.clips import load_clip, read_manifest
    from facekit.data.dataset import select_split

    _, infos = read_manifest(corpus)
    held = select_split(infos, "eval", cfg.data)
    if not held:
        raise ValueError(f"{corpus}: no held-out identity; raise data.eval_fraction")
    return load_clip(corpus, held[0])


def run_demo(
    out: str | Path,
    overrides: list[str] | None = None,
    cache: str | Path | None = None,
    retrain: bool = False,
    workers: int = 2,
    log: Callable[[str], None] = print,
    stages: dict | None = None,
) -> dict:
    from facekit.data.synthetic.corpus import generate_corpus
    from facekit.evaluation import evaluate_generator

    start = time.perf_counter()
    out = Path(out)
    cfg = demo_config(overrides)
    corpus = out / "corpus"
    log(f"[1/5] synthesising {cfg.synth.num_identities * cfg.synth.clips_per_identity} clips into {corpus}/ ...")
    generate_corpus(cfg, corpus, workers=workers)
    runs = train_or_reuse(cfg, corpus, Path(cache) if cache else default_cache(), retrain, log, stages)

    clip = pick_unseen_clip(cfg, corpus)
    sentence = clip.info.extra["sentence"]
    log(f'[3/5] generating identity {clip.info.identity} (never seen in training) saying "{sentence}" ...')
    made = generate_unseen(runs["generator"], clip, sentence, out)

    log("[4/5] evaluating: the generated clip against the real one, and the whole held-out split ...")
    one = score_clip(made["frames"], clip, runs["expert"], cfg)
    split = evaluate_generator(runs["generator"], corpus, runs["expert"])

    log("[5/5] writing the report ...")
    summary = {
        "seconds": round(time.perf_counter() - start, 1),
        "identity": clip.info.identity,
        "sentence": sentence,
        "alignment": made["alignment"],
        "generate_frames_per_s": made["frames_per_s"],
        "video": made["video"],
        "side_by_side": made["side_by_side"],
        "poster": made["poster"],
        "clip_scores": one,
        "held_out": {"clips": split["clips"], **split["summary"]},
        "verdicts": demo_verdicts(one, split["summary"]),
        "warnings": one["warnings"] + split["warnings"],
        "expert": {"checkpoint": str(runs["expert"]), **_stage(runs["expert"])},
        "generator": {"checkpoint": str(runs["generator"]), **_stage(runs["generator"])},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    report = write_demo_report(summary, runs, out)
    summary["report"] = str(report)
    log(verdict_text(summary["verdicts"]))
    log(f"\nfacekit demo: done in {summary['seconds'] / 60:.1f} min. Open {report}")
    return summary


def demo_verdicts(clip: dict, held_out: dict) -> dict[str, list[dict]]:
    """Whether the generator beats each baseline, per figure: the unseen clip's and the held-out split's mouth figures
    against the trivial baselines, their sync figures against the real clip(s)."""
    return {
        "clip_image": verdict_rows(clip, IMAGE_FIGURES, IMAGE_BASELINES),
        "clip_sync": verdict_rows(clip, SYNC_FIGURES, {"ground_truth": "real clip"}),
        "held_out_image": verdict_rows(held_out, IMAGE_FIGURES, IMAGE_BASELINES),
        "held_out_sync": verdict_rows(held_out, SYNC_FIGURES, {"ground_truth": "real clips"}),
    }


def _stage(checkpoint: Path) -> dict:
    done = checkpoint.parent / "done.json"
    return json.loads(done.read_text()) if done.is_file() else {}


def generate_unseen(generator: Path, clip, sentence: str, out: Path) -> dict:
    """Speak ``clip``'s sentence with ``clip``'s audio, starting from its first frame only (``generate --aligned``)."""
    from facekit.data.audio import pcm_to_float
    from facekit.data.video import write_video
    from facekit.generate import generate
    from facekit.viz import mouth_opening

    inputs = out / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    face = inputs / "face.png"
    _save_png(face, clip.frames[0])
    audio = inputs / "speech.wav"
    _save_wav(audio, clip.audio)
    video = out / "generated.mp4"
    result = generate(generator, face, audio=audio, text=sentence, out=video, aligned=True, return_frames=True)
    frames = result["frames"]
    n = min(len(frames), clip.info.num_frames)
    both = np.concatenate([frames[:n], np.asarray(clip.frames[:n])], axis=2)  # generated | real
    side = write_video(out / "generated_vs_real.mp4", both, 25.0, pcm_to_float(clip.audio[: n * 640]), scale=4)
    poster = out / "figures" / "generated_vs_real_frame.png"  # a still of the widest-open mouth, shown before play
    poster.parent.mkdir(parents=True, exist_ok=True)
    _save_png(poster, both[int(np.argmax(mouth_opening(clip.landmarks[:n])))].repeat(4, 0).repeat(4, 1))
    return {
        "frames": frames[:n],
        "video": str(video),
        "side_by_side": str(side),
        "poster": str(poster),
        "alignment": result["alignment"],
        "frames_per_s": result["frames_per_s"],
    }


def score_clip(frames: np.ndarray, clip, expert: Path, cfg: Config) -> dict:
    """Image figures of the generated clip and of the trivial baselines against the real clip (all frames but the
    reference, frame 0), the sync figures of the generated and the real clip under the demo's expert, and whether the
    expert finds the real clip in sync (``warnings`` says what is wrong when it does not)."""
    from facekit.data.dataset import clip_windows
    from facekit.data.images import to_images
    from facekit.evaluation import baselines
    from facekit.metrics.image import clip_image_scores
    from facekit.metrics.sync import SyncEvaluator, SyncTrust

    n = len(frames)
    windows = clip_windows(clip, cfg.data, 0)
    target = windows["target"][:n]
    made = to_images(frames)
    scores: dict = {"generated": clip_image_scores(made, target, skip=0), "warnings": []}
    for name, video in baselines({k: v[:n] for k, v in windows.items()}).items():
        scores[name] = clip_image_scores(video, target, skip=0)
    sync = SyncEvaluator(expert)
    for name, video in (("generated", made), ("ground_truth", target)):
        result = sync.evaluate(video, clip.mel, cfg.data.fps)
        scores.setdefault(name, {}).update(result.to_dict())
        scores[name]["confidence_per_frame"] = [round(float(c), 4) for c in result.confidence_per_frame]
        if name == "ground_truth":
            SyncTrust().check(result, f"the demo's expert {sync.expert_id}", scores[name], scores["warnings"])
    return scores


def _save_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(np.asarray(image)).save(path)


def _save_wav(path: Path, audio: np.ndarray, sample_rate: int = 16000) -> None:
    import soundfile

    soundfile.write(path, np.asarray(audio), sample_rate, subtype="PCM_16")


# ------------------------------------------------------------------------------------------------------------ report


def write_demo_report(summary: dict, runs: dict, out: Path) -> Path:
    """``report.html`` beside its figures: the videos, the figures of the unseen clip and of the held-out split, the
    mdist(offset) curves, per-frame confidence and the training curves."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    from facekit.report import plot_confidence, plot_sync_curves

    scores = summary["clip_scores"]
    methods = ("generated", "ground_truth")
    curve = {
        "clip": f"{summary['identity']} (never seen in training)",
        "offsets": scores["generated"]["offsets"],
        "mdist": {m: scores[m]["mdist"] for m in methods},
        "confidence": {m: scores[m]["confidence_per_frame"] for m in methods},
    }
    network = f"demo expert {scores['generated'].get('expert_id')}"
    plots = [
        plot_sync_curves([curve], network, figures / "mdist.png"),
        plot_confidence([curve], network, figures / "confidence.png"),
        plot_training(runs["root"], figures / "training.png"),
    ]
    rows = [("generated", "generated"), ("reference frame pasted", "reference_pasted"), ("mean mouth", "mean_mouth")]
    clip_table = html_table(
        ["method", "mouth L1", "mouth SSIM", "mouth PSNR (dB)", "LSE-D", "LSE-C", "offset"],
        [[label, *_fmt(scores.get(key, {}), "mouth_l1", "mouth_ssim", "mouth_psnr", "lse_d", "lse_c", "offset")]
         for label, key in [*rows, ("real clip", "ground_truth")]],
    )  # fmt: skip
    held = summary["held_out"]
    split_table = html_table(
        ["method", "mouth L1", "mouth SSIM", "mouth PSNR (dB)", "LSE-D", "LSE-C", "share at offset 0"],
        [[label, *_fmt(held.get(key, {}), "mouth_l1", "mouth_ssim", "mouth_psnr", "lse_d", "lse_c",
                       "offset_zero_share")]
         for label, key in [*rows, ("real clips", "ground_truth")]],
    )  # fmt: skip
    gen, exp = summary["generator"], summary["expert"]
    expert_eval = exp.get("eval", {})
    real = scores["ground_truth"]
    in_sync = "yes" if real.get("in_sync") else "<b>no</b>: " + html.escape("; ".join(scores.get("warnings", [])))
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in summary.get("warnings", []))
    warnings = f'<div style="border:2px solid #c00;padding:0 1em"><p><b>Read first</b></p><ul>{warnings}</ul></div>' \
        if warnings else ""  # fmt: skip
    body = f"""
<h1>facekit demo</h1>
{warnings}
<p>Identity <b>{html.escape(summary["identity"])}</b> was held out of training. From its first frame, the sentence
<i>"{html.escape(summary["sentence"])}"</i> and its audio ({html.escape(str(summary["alignment"]))} text alignment)
the generator painted every frame's mouth. Made in {summary["seconds"] / 60:.1f} min on this machine.</p>
<h2>Videos</h2>
<p>generated | real (enlarged 4x):<br>
<video controls width="640" poster="{_rel(summary["poster"], out)}" src="{_rel(summary["side_by_side"], out)}">
</video></p>
<p>generated, at the model's size: <a href="{_rel(summary["video"], out)}">{_rel(summary["video"], out)}</a></p>
<h2>This clip against the real one</h2>
<p>Mouth region = lower half of the crop; every frame but the reference (frame 0). Sync figures by the SyncNet
protocol with the demo's own sync expert (checkpoint id {scores["generated"].get("expert_id")}); the generator was
trained against this same expert, which flatters its sync figures.</p>
{clip_table}
{_verdicts(summary["verdicts"], "clip")}
<p>Does the expert find the real clip in sync (best offset 0, a clear dip)? {in_sync} (offset {real.get("offset")},
LSE-C {_num(real.get("lse_c"))}). Where it does not, its figures for this clip say little about lip sync.</p>
<h2>All held-out clips ({held["clips"]})</h2>
{split_table}
{_verdicts(summary["verdicts"], "held_out")}
<p>{html.escape(str(held.get("ground_truth_in_sync", "")))}</p>
<h2>Plots</h2>
{"".join(f'<p><img src="{_rel(p, out)}" width="640"></p>' for p in plots)}
<h2>Training</h2>
<ul>
<li>sync expert: {exp.get("step", "?")} steps in {exp.get("wall_seconds", "?")} s; held-out in-sync/off-sync
accuracy {_num(expert_eval.get("accuracy"))}, BCE {_num(expert_eval.get("loss"))} (ln 2 = 0.693)</li>
<li>generator: {gen.get("step", "?")} steps in {gen.get("wall_seconds", "?")} s;
last mouth L1 {_num(gen.get("l1"))}</li>
<li>runs (cached): <code>{html.escape(str(runs["root"]))}</code></li>
</ul>
"""
    path = out / "report.html"
    style = "body{font-family:sans-serif;max-width:900px;margin:2em auto}td,th{padding:2px 8px;text-align:right}"
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>facekit demo</title>"
                    f"<style>{style}</style></head><body>{body}</body></html>\n")  # fmt: skip
    return path


def _rel(path: str | Path, out: Path) -> str:
    return html.escape(str(Path(path).resolve().relative_to(out.resolve())))


def _num(x, digits: int = 4) -> str:
    if x is None or x == "":
        return ""
    if isinstance(x, int):
        return str(x)
    return f"{float(x):.{digits}g}"


def _fmt(values: dict, *keys: str) -> list[str]:
    return [_num(values.get(k)) for k in keys]


def _verdicts(verdicts: dict[str, list[dict]], scope: str) -> str:
    """The verdict tables of ``scope`` ("clip" or "held_out"): does the generator beat each baseline, per figure."""
    parts = []
    for kind, title in (("image", "mouth figures against the trivial baselines"), ("sync", "lip sync")):
        rows = verdicts[f"{scope}_{kind}"]
        if rows:
            items = "".join(f"<li>{html.escape(m)}</li>" for m in meanings(rows))
            parts.append(f"<p><b>Verdict, {title}:</b></p>{html_table(*verdict_cells(rows))}<ul>{items}</ul>")
    return "".join(parts)


def plot_training(root: Path, path: Path) -> Path:
    from facekit.viz import new_figure, save_figure

    fig = new_figure(8, 3.2)
    axes = fig.subplots(1, 2)
    for ax, stage, key, label in ((axes[0], "expert", "loss", "BCE"), (axes[1], "generator", "l1", "mouth L1")):
        log = root / stage / "log.jsonl"
        records = [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []
        ax.plot([r["step"] for r in records], [r.get(key) for r in records])
        ax.set_title(f"{stage}: training {label}")
        ax.set_xlabel("step")
        ax.set_ylabel(label)
    return save_figure(fig, path, dpi=100)
