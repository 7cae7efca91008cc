"""Evaluation results -> files a person and a program read: ``report.md`` with PNG figures, JSON and CSV.

:func:`write_report` (markdown + figures) and :func:`write_tables` (JSON + CSV) take one result dict, the shape that
``facekit.benchmark.run_benchmark`` and ``facekit.evaluation.evaluate_generator(details=True)`` return. Every key but
``summary`` and ``per_clip`` is optional::

    {
      "title":    str,                                   # the report's heading
      "settings": {name: str | number},                  # every setting that changes a number (a table)
      "summary":  {method: {metric: number}, key: str},  # dataset figures; dict-valued entries are rows
                                                         # ("generated", "ground_truth", baselines ...), other
                                                         # entries (e.g. "expert_id") are listed under the table
      "per_clip": [{"clip": str,
                    method: {metric: number | None},     # None: not computed (the reason in skipped_metrics)
                    "warnings": [str],                   # e.g. "trimmed to 74 frames"
                    "skipped_metrics": {metric: reason}, # e.g. {"face_lpips": "weights missing: run ..."}
                    ...}],                               # other scalar keys (frames, fps, files) become columns
      "skipped":  [{"clip": str, "reason": str}],        # clips left out, each named with its reason
      "warnings": [str],                                 # what the figures are worth, shown first
      "notes":    [str],                                 # anything else the reader must know
      "sync":     [{"clip": str, "network": str,         # the SyncNet-protocol curves of one clip under one network
                    "offsets": [int],                    # -15 .. 15
                    "mdist": {method: [float]},          # mean distance per offset, one list per method
                    "confidence": {method: [float]}}],   # per-frame confidence (median_k - min_k d_t(k)), per method
      "samples":  [{"clip": str, "frames": [int],        # sample frames shown side by side
                    method: uint8 (K, H, W, 3) RGB or float (K, 3, H, W) in [0, 1]}],
    }

Methods are the keys of ``summary`` whose values are dicts; "generated" and "ground_truth" are drawn in fixed
colours, any other method (a baseline) in the next colour of the cycle. Figures: ``figures/sync_curves_<n>.png`` (mean
mdist(offset) per method and network, thin lines per clip), ``figures/confidence_<n>.png`` (per-frame confidence of
up to ``max_clips`` clips), ``figures/samples_<clip>.png`` (rows = frames, columns = methods). Each has a title and
labelled axes. ``samples`` are not written to JSON (arrays); the JSON holds the PNG paths instead.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from facekit.viz import new_figure, save_figure

COLOURS = {"generated": "tab:red", "ground_truth": "tab:blue"}
ARRAY_KEYS = ("samples",)


def summarise(per_clip: list[dict], methods: tuple[str, ...] | list[str]) -> dict:
    """Mean over clips of every figure of every method (clips without the figure left out; a boolean's mean is the
    share of clips where it holds); an offset also as the share of clips at 0."""
    summary = {}
    for method in methods:
        keys = list(dict.fromkeys(k for c in per_clip for k in c.get(method, {})))
        row = {}
        for key in keys:
            values = [c[method][key] for c in per_clip if c.get(method, {}).get(key) is not None]
            if values:
                row[key] = float(np.mean(values))
                if key.endswith("offset"):
                    row[f"{key}_zero_share"] = float(np.mean([v == 0 for v in values]))
        summary[method] = row
    return summary


def methods_of(result: dict) -> list[str]:
    """The rows of the summary table: its dict-valued entries, in order."""
    return [k for k, v in result.get("summary", {}).items() if isinstance(v, dict)]


def _fmt(value) -> str:
    if value is None:
        return "--"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]


def _columns(dicts: list[dict]) -> list[str]:
    """Union of keys, first-seen order."""
    return list(dict.fromkeys(k for d in dicts for k in d))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


# ---------------------------------------------------------------------------------------------------------- figures


def _colour(method: str, others: list[str]) -> str:
    if method in COLOURS:
        return COLOURS[method]
    return f"C{2 + others.index(method) % 8}" if method in others else "C9"


def plot_sync_curves(curves: list[dict], network: str, path: Path) -> Path:
    """mdist(offset) per method: the mean over clips (thick) and each clip (thin), for one embedding network."""
    fig = new_figure(7, 4.2)
    ax = fig.subplots()
    methods = _columns([c["mdist"] for c in curves])
    others = [m for m in methods if m not in COLOURS]
    for method in methods:
        rows = [c["mdist"][method] for c in curves if method in c["mdist"] and c["mdist"][method] is not None]
        if not rows:
            continue
        offsets = np.asarray(curves[0]["offsets"])
        colour = _colour(method, others)
        for row in rows:
            ax.plot(offsets, row, color=colour, alpha=0.15, linewidth=0.8)
        mean = np.mean(rows, axis=0)
        ax.plot(offsets, mean, color=colour, linewidth=2.2, label=f"{method} (mean of {len(rows)} clips)")
        k = int(np.argmin(mean))
        ax.plot(offsets[k], mean[k], "o", color=colour)
    ax.axvline(0, color="grey", linewidth=0.8, linestyle=":")
    ax.set_title(f"SyncNet protocol: mean distance per offset -- {network}")
    ax.set_xlabel("offset k (video frames; + = audio lags the video)")
    ax.set_ylabel("mdist(k) = mean over windows of ||v_t - a_(t+k)||")
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_confidence(curves: list[dict], network: str, path: Path, max_clips: int = 4) -> Path:
    """Per-frame confidence (median_k d_t(k) - min_k d_t(k)) of up to ``max_clips`` clips, one panel each."""
    shown = curves[:max_clips]
    fig = new_figure(7, 2.2 * len(shown) + 0.6)
    axes = fig.subplots(len(shown), 1, squeeze=False)
    methods = _columns([c["confidence"] for c in shown])
    others = [m for m in methods if m not in COLOURS]
    for ax, curve in zip(axes[:, 0], shown, strict=True):
        for method, values in curve["confidence"].items():
            if values is not None:
                ax.plot(values, color=_colour(method, others), label=method, linewidth=1.2)
        ax.set_title(f"{curve['clip']}", fontsize=9)
        ax.set_xlabel("window start frame t (5 frames t .. t+4)")
        ax.set_ylabel("confidence")
        ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Per-frame sync confidence (median_k - min_k of d_t(k)) -- {network}", fontsize=10)
    return save_figure(fig, path)


def _as_hwc(images) -> np.ndarray:
    """uint8 frames (K, H, W, 3) or float images (K, 3, H, W) in [0, 1] (numpy or torch) -> uint8 (K, H, W, 3)."""
    from facekit.data.images import to_frames

    x = np.asarray(images.detach().cpu() if hasattr(images, "detach") else images)
    return x if x.dtype == np.uint8 else to_frames(x)


def plot_samples(sample: dict, methods: list[str], path: Path) -> Path:
    """Sample frames side by side: one row per frame, one column per method (generated | ground truth | ...)."""
    cols = [m for m in methods if m in sample]
    images = {m: _as_hwc(sample[m]) for m in cols}
    frames = sample.get("frames") or list(range(len(images[cols[0]])))
    fig = new_figure(2.4 * len(cols), 2.4 * len(frames) + 0.5)
    axes = fig.subplots(len(frames), len(cols), squeeze=False)
    for i, t in enumerate(frames):
        for j, method in enumerate(cols):
            ax = axes[i, j]
            ax.imshow(images[method][i], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(method.replace("_", " "), fontsize=9)
            ax.set_ylabel(f"frame {t}" if j == 0 else "", fontsize=9)
            ax.set_xlabel(method.replace("_", " ") if i == len(frames) - 1 else "", fontsize=8)
    fig.suptitle(f"{sample['clip']}: {' | '.join(m.replace('_', ' ') for m in cols)}", fontsize=10)
    return save_figure(fig, path)


# ---------------------------------------------------------------------------------------------------------- writers


def write_report(result: dict, out_dir: str | Path, max_clips: int = 4) -> Path:
    """Write ``out_dir/report.md`` and its figures (``out_dir/figures/*.png``) from ``result`` (module docstring).

    ``max_clips``: clips drawn in the per-frame confidence figure and given sample frames. Returns the report's path.
    """
    out = Path(out_dir)
    figures = out / "figures"
    methods = methods_of(result)
    lines = [f"# {result.get('title', 'facekit evaluation')}", ""]
    if result.get("command"):
        lines += [f"Command: `{result['command']}`", ""]
    per_clip, skipped = result.get("per_clip", []), result.get("skipped", [])
    lines += [f"{len(per_clip)} clips scored, {len(skipped)} skipped.", ""]
    if result.get("warnings"):
        lines += ["## Read this first", ""] + [f"- **{_fmt(w)}**" for w in result["warnings"]] + [""]

    oracle = " -- oracle mouth (mouth images drawn from the target's own mouth)"
    lines += ["## Summary (mean over clips)" + (oracle if result.get("mouth_modality") == "oracle mouth" else ""), ""]
    columns = _columns([result["summary"][m] for m in methods])
    lines += _table(["", *columns], [[m, *(result["summary"][m].get(c) for c in columns)] for m in methods])
    extra = {k: v for k, v in result.get("summary", {}).items() if not isinstance(v, dict)}
    lines += [""] + [f"- {k}: `{_fmt(v)}`" for k, v in extra.items()] + [""] * bool(extra)

    if result.get("settings"):
        lines += ["## Settings", ""]
        lines += _table(["setting", "value"], [[k, v] for k, v in result["settings"].items()]) + [""]

    figure_lines = _figures(result, figures, methods, max_clips)
    if figure_lines:
        lines += figure_lines

    for method in methods:
        rows = [c for c in per_clip if isinstance(c.get(method), dict)]
        if not rows:
            continue
        cols = _columns([c[method] for c in rows])
        lines += [f"## Per clip: {method.replace('_', ' ')}", ""]
        lines += _table(["clip", *cols], [[c["clip"], *(c[method].get(k) for k in cols)] for c in rows]) + [""]

    if skipped:
        lines += ["## Skipped clips", ""]
        lines += _table(["clip", "reason"], [[s["clip"], s["reason"]] for s in skipped]) + [""]
    notes = [f"{c['clip']}: {w}" for c in per_clip for w in c.get("warnings", [])]
    notes += [f"{c['clip']}: {m} not computed: {r}" for c in per_clip for m, r in c.get("skipped_metrics", {}).items()]
    notes += list(result.get("notes", []))
    if notes:
        lines += ["## Warnings and metrics not computed", ""] + [f"- {_fmt(n)}" for n in notes] + [""]
    path = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n")
    return path


def _figures(result: dict, figures: Path, methods: list[str], max_clips: int) -> list[str]:
    lines = []
    sync = result.get("sync", [])
    networks = list(dict.fromkeys(c["network"] for c in sync))
    for n, network in enumerate(networks):
        curves = [c for c in sync if c["network"] == network]
        lines += [f"## Lip sync under {network}", ""]
        path = plot_sync_curves(curves, network, figures / f"sync_curves_{n}.png")
        lines += [f"![mdist(offset), {network}](figures/{path.name})", ""]
        path = plot_confidence(curves, network, figures / f"confidence_{n}.png", max_clips)
        lines += [f"![per-frame confidence, {network}](figures/{path.name})", ""]
    samples = result.get("samples", [])[:max_clips]
    if samples:
        lines += ["## Sample frames (side by side)", ""]
        for sample in samples:
            path = figures / f"samples_{_slug(sample['clip'])}.png"
            plot_samples(sample, methods or ["generated", "ground_truth"], path)
            sample["png"] = f"figures/{path.name}"
            lines += [f"![{sample['clip']}](figures/{path.name})", ""]
    return lines


def jsonable(result: dict) -> dict:
    """``result`` without the sample arrays (their PNG paths instead, once the report is written)."""
    out = {k: v for k, v in result.items() if k not in ARRAY_KEYS}
    if result.get("samples"):
        out["samples"] = [{k: v for k, v in s.items() if k in ("clip", "frames", "png")} for s in result["samples"]]
    return out


def flat_rows(result: dict) -> list[dict]:
    """One flat row per clip (``method.metric`` columns, warnings and skipped metrics joined), then skipped clips."""
    methods = methods_of(result)
    rows = []
    for clip in result.get("per_clip", []):
        row: dict = {"clip": clip["clip"], "status": "scored"}
        for key, value in clip.items():
            if key in methods and isinstance(value, dict):
                row.update({f"{key}.{k}": v for k, v in value.items()})
            elif key == "warnings":
                row[key] = "; ".join(value)
            elif key == "skipped_metrics":
                row[key] = "; ".join(f"{m}: {r}" for m, r in value.items())
            elif key != "clip" and not isinstance(value, dict | list):
                row[key] = value
        rows.append(row)
    for skip in result.get("skipped", []):
        rows.append({"clip": skip["clip"], "status": "skipped", "reason": skip["reason"]})
    return rows


def write_tables(result: dict, out_dir: str | Path) -> dict[str, Path]:
    """``results.json`` (everything but sample arrays), ``per_clip.csv`` (scored and skipped clips) and
    ``summary.csv`` (one row per method) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "per_clip_csv": out / "per_clip.csv", "summary_csv": out / "summary.csv"}
    paths["json"].write_text(json.dumps(jsonable(result), indent=2) + "\n")
    rows = flat_rows(result)
    _write_csv(paths["per_clip_csv"], rows)
    methods = methods_of(result)
    label = {"mouth_modality": result["mouth_modality"]} if "mouth_modality" in result else {}
    _write_csv(paths["summary_csv"], [{"method": m, **result["summary"][m], **label} for m in methods])
    return paths


def _write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_columns(rows) or ["clip"])
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(result: dict, out_dir: str | Path, max_clips: int = 4) -> dict[str, Path]:
    """:func:`write_report` then :func:`write_tables` (so the JSON records the sample PNGs)."""
    report = write_report(result, out_dir, max_clips)
    return {"report": report, **write_tables(result, out_dir)}
