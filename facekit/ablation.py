"""The ablation study: a grid of configurations, several seeds each, trained on an equal budget and evaluated alike.

A protocol (a JSON file; ``default_protocol()`` is the built-in one, recorded as ``eval/protocols/ablation_*.json``):

- ``preset`` and ``overrides``: the config every cell starts from;
- ``steps``: the equal training budget of every cell, in optimizer steps (wall time is recorded beside it);
- ``seeds``: the seeds of every cell (``train.seed``; the data split stays fixed);
- ``eval_clips``: how many held-out clips each run is evaluated on (the same clips for every run);
- ``reference``: the cell the others are compared with (the method as claimed);
- ``expert_overrides``: how to train the sync expert (sync loss and LSE metrics) when none is given (``--expert``);
- ``cells``: ``{name: {"group": ..., "overrides": [...]}}``.

Each (cell, seed) trains in ``out/runs/<cell>/seed<k>/`` and writes ``result.json`` once evaluated. A re-run skips
finished runs (a killed training resumes from its checkpoint). At the end: ``table.md`` / ``table.csv`` (mean +- sd
over seeds), ``plots/<metric>.png``, ``summary.md`` (which differences exceed the seed noise) and ``runs.json``
(every run's figures and wall time) -- everything but ``runs/`` is small enough to record.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facekit.config import MODALITIES, Config, apply_overrides, get_preset

# metric key in evaluate_generator's summary -> (label, higher is better)
METRICS = {
    "mouth_l1": ("mouth L1", False),
    "mouth_ssim": ("mouth SSIM", True),
    "mouth_psnr": ("mouth PSNR (dB)", True),
    "mouth_lpips": ("mouth LPIPS", False),
    "lse_d": ("LSE-D", False),
    "lse_c": ("LSE-C", True),
    "offset_zero_share": ("share of clips at offset 0", True),
}


def default_cells() -> dict[str, dict]:
    """Every order of the three modalities, each single modality and pair, both generator variants, the three
    modulation formulas and the contrastive baseline. Cells change one factor from the method's default (order
    text, audio, mouth; residual fusion; StyleGAN2 modulation)."""
    cells: dict[str, dict] = {}
    for order in itertools.permutations(MODALITIES):
        cells["order_" + "_".join(order)] = {"group": "order", "overrides": [f"model.cascade.order={','.join(order)}"]}
    for size in (1, 2):
        for subset in itertools.combinations(MODALITIES, size):
            cells["subset_" + "_".join(subset)] = {
                "group": "subset",
                "overrides": [f"model.cascade.order={','.join(subset)}"],
            }
    cells["variant_cascade"] = {"group": "variant", "overrides": ["model.variant=cascade"]}
    for formula in ("film", "adain"):
        cells[f"formula_{formula}"] = {"group": "formula", "overrides": [f"model.cascade.formula={formula}"]}
    cells["contrastive"] = {"group": "baseline", "overrides": ["model.variant=contrastive"]}
    return cells


def default_protocol(preset: str = "cpu") -> dict:
    """The built-in protocol: the synthetic corpus of ``preset``, the recipe of the recorded generator runs."""
    return {
        "name": f"ablation-synthetic-{preset}",
        "preset": preset,
        "overrides": ["data.num_frames=5", "train.batch_size=4", "train.lr=3e-4", "train.ssim_weight=1.0"],
        "steps": 200,
        "seeds": [0, 1, 2],
        "eval_clips": 8,
        "reference": "order_text_audio_mouth",
        "expert_overrides": ["train.steps=1500", "train.batch_size=64", "train.lr=5e-4"],
        "cells": default_cells(),
    }


def load_protocol(path: str | Path | None, seeds: int | None = None, steps: int | None = None) -> dict:
    """The protocol in the JSON file ``path`` (None: the built-in one); ``seeds`` replaces its seeds by 0..seeds-1,
    ``steps`` its training budget. A file that is not a protocol raises ValueError naming it and what it lacks."""
    protocol = default_protocol() if path is None else _read_protocol(Path(path))
    if seeds:
        protocol["seeds"] = list(range(seeds))
    if steps:
        protocol["steps"] = steps
    return protocol


def _read_protocol(path: Path) -> dict:
    try:
        protocol = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable ablation protocol ({exc})") from exc
    missing = {"preset", "steps", "seeds", "cells", "reference"} - set(protocol)
    if missing:
        raise ValueError(f"{path}: protocol lacks {sorted(missing)}; see facekit.ablation's docstring")
    if protocol["reference"] not in protocol["cells"]:
        raise ValueError(f"{path}: reference cell {protocol['reference']!r} is not one of its cells")
    return protocol


def ablation_inputs(
    protocol: dict,
    out: str | Path,
    data: str | Path | None = None,
    expert: str | Path | None = None,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[Path, Path | None]:
    """The clips and the sync expert an ablation runs with.

    ``data``, or else the synthetic corpus of the protocol's preset and overrides in ``data/synthetic-<name>-seed<k>``
    (made if missing, with ``workers`` processes). ``expert``, or else one trained with the protocol's
    ``expert_overrides`` into ``out/expert`` (kept once evaluated, so a re-run reuses it), or else None: no sync loss
    and no sync metrics.
    """
    from facekit.data.synthetic.corpus import generate_corpus
    from facekit.train.loop import train_expert

    cfg = apply_overrides(get_preset(protocol["preset"]), protocol.get("overrides", []))
    if data is None:
        data = Path("data") / f"synthetic-{cfg.name}-seed{cfg.synth.seed}"
        log(f"facekit ablate: no --data given; using the synthetic corpus in {data}/")
        generate_corpus(cfg, data, workers=workers)
    if expert is None and protocol.get("expert_overrides"):
        expert = Path(out) / "expert" / "last.pt"
        log(f"facekit ablate: training the sync expert for the sync loss and metrics in {expert.parent}/")
        if not (expert.parent / "eval.json").is_file():
            train_expert(apply_overrides(cfg, protocol["expert_overrides"]), data, expert.parent)
    elif expert is None:
        log("facekit ablate: no --expert and no expert_overrides in the protocol: no sync loss, no sync metrics")
    return Path(data), Path(expert) if expert is not None else None


def cell_config(protocol: dict, cell: str, seed: int) -> Config:
    cfg = apply_overrides(get_preset(protocol["preset"]), protocol.get("overrides", []))
    spec = protocol["cells"][cell]
    return apply_overrides(cfg, [*spec["overrides"], f"train.steps={protocol['steps']}", f"train.seed={seed}"])


def run_cell(cfg: Config, data: Path, run_dir: Path, expert: str | Path | None, eval_clips: int | None) -> dict:
    """Train (or resume) one run and evaluate it on the held-out split; the result is written to result.json."""
    from facekit.evaluation import evaluate_generator
    from facekit.train.loop import train_generator

    start = time.perf_counter()
    train_generator(cfg, data, run_dir, expert_path=expert, progress=False)
    trained = time.perf_counter()
    result = evaluate_generator(run_dir / "last.pt", data, expert, max_clips=eval_clips)
    record = {
        "config": cfg.to_dict(),
        "train_seconds": round(trained - start, 1),
        "eval_seconds": round(time.perf_counter() - trained, 1),
        "clips": result["clips"],
        "expert_id": result["summary"].get("expert_id"),
        "mouth_modality": result["mouth_modality"],
        "generated": result["summary"]["generated"],
        "baselines": {k: result["summary"][k] for k in ("reference_pasted", "mean_mouth")},
    }
    (run_dir / "result.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def run_ablation(
    protocol: dict,
    data: str | Path,
    out: str | Path,
    expert: str | Path | None = None,
    cells: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run every (cell, seed) not yet finished under ``out``, then write the table, plots and summary."""
    out, data = Path(out), Path(data)
    names = cells or list(protocol["cells"])
    unknown = [c for c in names if c not in protocol["cells"]]
    if unknown:
        raise ValueError(f"unknown cell(s) {unknown}; the protocol has {', '.join(protocol['cells'])}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "protocol.json").write_text(json.dumps(protocol, indent=2) + "\n")
    todo = [(c, s) for c in names for s in protocol["seeds"]]
    start = time.perf_counter()
    for i, (cell, seed) in enumerate(todo, 1):
        run_dir = out / "runs" / cell / f"seed{seed}"
        cfg = cell_config(protocol, cell, seed)
        done = run_dir / "result.json"
        if done.is_file():
            if json.loads(done.read_text())["config"] != json.loads(cfg.to_json()):
                raise ValueError(f"{done} was made with another config; use a new --out or delete {run_dir}")
            log(f"[{i}/{len(todo)}] {cell} seed {seed}: done earlier, skipped")
            continue
        record = run_cell(cfg, data, run_dir, expert, protocol.get("eval_clips"))
        g = record["generated"]
        log(
            f"[{i}/{len(todo)}] {cell} seed {seed}: {cfg.train.steps} steps in {record['train_seconds']} s; "
            f"mouth SSIM {g['mouth_ssim']:.4f}, L1 {g['mouth_l1']:.5f}"
            + (f", LSE-D {g['lse_d']:.3f}" if "lse_d" in g else "")
            + f"  ({(time.perf_counter() - start) / 60:.1f} min so far)"
        )
    return write_outputs(protocol, out, names)


def collect(out: Path, protocol: dict, names: list[str]) -> dict[str, dict[str, list[float]]]:
    """{cell: {metric: [value per finished seed]}} from the runs' result.json files."""
    table: dict[str, dict[str, list[float]]] = {}
    for cell in names:
        values: dict[str, list[float]] = {}
        for seed in protocol["seeds"]:
            path = out / "runs" / cell / f"seed{seed}" / "result.json"
            if path.is_file():
                for k, v in json.loads(path.read_text())["generated"].items():
                    if k in METRICS:
                        values.setdefault(k, []).append(float(v))
        if values:
            table[cell] = values
    return table


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and the sample standard deviation over seeds (0 for a single seed)."""
    a = np.asarray(values, dtype=float)
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def compare(a: list[float], b: list[float], higher_is_better: bool) -> tuple[float, str]:
    """Difference of means (a - b) and a verdict: "better" / "worse" when it exceeds twice its standard error
    sqrt(sd_a^2 / n_a + sd_b^2 / n_b) (seed noise), "within noise" otherwise, "one seed" when noise is unknown."""
    (ma, sa), (mb, sb) = mean_sd(a), mean_sd(b)
    diff = ma - mb
    if min(len(a), len(b)) < 2:
        return diff, "one seed"
    noise = math.sqrt(sa**2 / len(a) + sb**2 / len(b))
    if abs(diff) <= 2 * noise:
        return diff, "within noise"
    return diff, "better" if (diff > 0) == higher_is_better else "worse"


def write_outputs(protocol: dict, out: Path, names: list[str]) -> dict:
    table = collect(out, protocol, names)
    records = []
    for cell in names:
        for seed in protocol["seeds"]:
            path = out / "runs" / cell / f"seed{seed}" / "result.json"
            if path.is_file():
                record = {k: v for k, v in json.loads(path.read_text()).items() if k != "config"}
                records.append({"cell": cell, "seed": seed, **record})
    (out / "runs.json").write_text(json.dumps(records, indent=1) + "\n")  # every run's figures, in one small file
    metrics = [m for m in METRICS if any(m in v for v in table.values())]
    ref = protocol["reference"]
    oracle = {r["cell"] for r in records if r.get("mouth_modality") == "oracle mouth"}
    label = {cell: f"{cell} (oracle mouth)" if cell in oracle else cell for cell in table}
    with (out / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["cell", "group", "seeds", *[f"{m}_{s}" for m in metrics for s in ("mean", "sd")]])
        for cell, values in table.items():
            row = [label[cell], protocol["cells"][cell]["group"], len(next(iter(values.values())))]
            w.writerow(row + [f"{x:.6g}" for m in metrics for x in mean_sd(values.get(m, [float("nan")]))])
    lines = ["| cell | group | seeds | " + " | ".join(METRICS[m][0] for m in metrics) + " |"]
    lines.append("|---" * (3 + len(metrics)) + "|")
    for cell, values in table.items():
        cells = [f"{mean_sd(values[m])[0]:.4g} +- {mean_sd(values[m])[1]:.2g}" if m in values else "" for m in metrics]
        name = f"**{label[cell]}**" if cell == ref else label[cell]
        seeds = len(next(iter(values.values())))
        lines.append(f"| {name} | {protocol['cells'][cell]['group']} | {seeds} | " + " | ".join(cells) + " |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    summary = summarise(protocol, table, metrics)
    (out / "summary.md").write_text(summary)
    plots = plot_metrics(protocol, table, metrics, out / "plots")
    return {"table": table, "summary": summary, "plots": [str(p) for p in plots]}


def summarise(protocol: dict, table: dict[str, dict[str, list[float]]], metrics: list[str]) -> str:
    """Which cells differ from the reference by more than the seed noise, and the two questions the method raises:
    is the cascade better than the contrastive baseline, and than any single modality?"""
    ref = protocol["reference"]
    if ref not in table:
        return f"The reference cell {ref} has no finished runs yet.\n"
    out = [
        f"Reference: **{ref}** (the method as claimed). A difference counts when it exceeds twice its standard error "
        f"over seeds (seeds: {protocol['seeds']}); with few seeds that noise estimate is itself rough.\n"
    ]
    verdicts: dict[str, dict[str, str]] = {}
    for cell, values in table.items():
        if cell == ref:
            continue
        verdicts[cell] = {}
        for m in metrics:
            if m in values and m in table[ref]:
                diff, verdict = compare(values[m], table[ref][m], METRICS[m][1])
                verdicts[cell][m] = verdict
                if verdict in ("better", "worse"):
                    out.append(f"- {cell} is **{verdict}** than the reference on {METRICS[m][0]} ({diff:+.4g}).")
    if len(out) == 1:
        out.append("- No cell differs from the reference by more than the seed noise on any metric.")
    out.append("")

    def answer(question: str, cells: list[str]) -> None:
        found = [c for c in cells if c in verdicts]
        if not found:
            out.append(f"{question} not run.")
            return
        parts = []
        for m in metrics:
            # the reference against each cell: flip "cell worse than reference" into "reference better"
            flips = {"worse": "better", "better": "worse"}
            says = [flips.get(verdicts[c].get(m, ""), verdicts[c].get(m, "not measured")) for c in found]
            parts.append(f"{METRICS[m][0]}: " + ", ".join(f"{v} than {c}" for v, c in zip(says, found, strict=True)))
        out.append(f"{question} The reference is " + "; ".join(parts) + ".")

    groups = {c: protocol["cells"][c]["group"] for c in table}
    answer("Cascade vs the contrastive baseline:", [c for c, g in groups.items() if g == "baseline"])
    singles = [c for c, g in groups.items() if g == "subset" and len(cell_order(protocol, c)) == 1]
    answer("Cascade vs single modalities (ablations; the claims need two or more):", singles)
    return "\n".join(out) + "\n"


def cell_order(protocol: dict, cell: str) -> tuple[str, ...]:
    return tuple(cell_config(protocol, cell, protocol["seeds"][0]).model.cascade.order)


def plot_metrics(protocol: dict, table: dict, metrics: list[str], folder: Path) -> list[Path]:
    """One horizontal bar chart per metric: mean +- sd over seeds per cell, the reference's mean as a line."""
    from facekit.viz import new_figure, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    names = list(table)
    for m in metrics:
        stats = [mean_sd(table[c].get(m, [float("nan")])) for c in names]
        fig = new_figure(7, 0.32 * len(names) + 1.4)
        ax = fig.subplots()
        colors = ["tab:red" if c == protocol["reference"] else "tab:blue" for c in names]
        ax.barh(names, [s[0] for s in stats], xerr=[s[1] for s in stats], color=colors, capsize=3)
        ref = protocol["reference"]
        if ref in table and m in table[ref]:
            ax.axvline(mean_sd(table[ref][m])[0], color="tab:red", lw=1, ls="--", label=f"reference ({ref})")
            ax.legend(loc="lower right", fontsize=7)
        label, higher = METRICS[m]
        lo = min(s[0] - s[1] for s in stats)
        hi = max(s[0] + s[1] for s in stats)
        pad = 0.15 * (hi - lo) or 0.01 * abs(hi) or 0.01
        ax.set_xlim(lo - pad, hi + pad)
        ax.invert_yaxis()
        ax.set_xlabel(f"{label} ({'higher' if higher else 'lower'} is better), mean +- sd over seeds")
        ax.set_ylabel("cell")
        ax.set_title(f"Ablation: {label}")
        paths.append(save_figure(fig, folder / f"{m}.png"))
    return paths
