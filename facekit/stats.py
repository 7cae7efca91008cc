"""The ablation's statistics: paired comparisons with a reference cell, bootstrap CIs, verdicts that decide.

Inputs are per-clip figures of every (cell, seed) run, all evaluated on the same held-out clips, as
``evaluate_generator`` returns them (``result["per_clip"]``). The trivial baselines (``reference_pasted``,
``mean_mouth``) are rows of their own: they depend on the clips, not on the seed.

**Paired differences.** A cell is compared with the reference cell seed by seed and clip by clip:
``d[s, c] = cell[s, c] - reference[s, c]`` over the seeds both have finished. Seed ``s`` gives both cells the same
data order and split, and clip ``c`` is the same video, so whatever a seed or a clip does to both cells alike
(an easy clip, a lucky data order) cancels in ``d`` instead of widening the interval.

**Bootstrap over seeds and clips** (:func:`bootstrap_means`). The figures vary for two reasons: the training run
(seed) and the speech that happens to be in the test set (clip). A conclusion should hold for a new seed *and* for
new clips, so each bootstrap replicate resamples both levels: ``S`` seeds with replacement, and ``C`` clips with
replacement; the statistic is the mean of ``d`` over the drawn seeds x drawn clips. The clips are drawn once per
replicate and used under every drawn seed, because the design is crossed -- every seed is scored on the *same*
clips. Drawing clips afresh within each seed (a nested bootstrap) would treat the seeds' clips as different videos
and shrink the clip term of the variance by a factor of ``S``: intervals too narrow whenever a clip is hard for one
cell and easy for the other. Resampling both levels of a crossed design this way errs slightly wide (Owen 2007,
"the pigeonhole bootstrap"), the safe side for a verdict. The interval is the 2.5 / 97.5 percentile of the
replicates. With 3-5 seeds the seed level is coarse; the tests check the coverage on made-up data of that size.

**Verdicts** (:func:`verdict`). Each metric has a direction and a *smallest difference that matters* ``delta``
(:data:`METRICS`; a protocol may override it under ``"smallest_differences"``). With the CI of the paired
difference oriented so that positive is better for the cell (``-d`` for metrics where lower is better):
``better`` when the whole CI lies above ``+delta``, ``worse`` when it lies below ``-delta``, and
``not distinguishable`` otherwise -- including a CI that excludes zero but not ``delta``: a real difference too
small to matter is not called better.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BASELINES = ("reference_pasted", "mean_mouth")
REAL = "ground_truth"  # the real videos' own sync figures under the same judge: a row to read sync against
FIXED_ROWS = (*BASELINES, REAL)  # rows that do not depend on the seed
FLAG_METRIC = "mouth_l1"  # a cell must beat both trivial baselines on this metric, or it is flagged
CSV_COLUMNS = (
    *("row", "group", "metric", "seeds", "mean", "mean_low", "mean_high"),
    *("difference_vs_reference", "difference_low", "difference_high", "smallest_difference", "verdict"),
    "beats_baselines",
)


@dataclass(frozen=True)
class Metric:
    label: str
    higher_is_better: bool
    smallest_difference: float  # the smallest difference that matters, in the metric's units
    why: str  # where that number comes from


METRICS = {
    "mouth_l1": Metric(
        "mouth L1",
        False,
        5e-4,
        "0.13/255 per pixel: 2-8% of the trivial baselines' error (GRID 0.022, synthetic 0.006)",
    ),
    "mouth_ssim": Metric("mouth SSIM", True, 2e-3, "a fifth of the gap between pasted reference and mean mouth"),
    "mouth_psnr": Metric("mouth PSNR (dB)", True, 0.1, "the smallest PSNR step lip-sync papers report as a gain"),
    "mouth_lpips": Metric("mouth LPIPS", False, 2e-3, "a fifth of the gap between pasted reference and mean mouth"),
    "lse_d": Metric("LSE-D", False, 0.01, "half the gap between generated and real video under facekit's experts"),
    "lse_c": Metric("LSE-C", True, 0.01, "half the gap between generated and real video under facekit's experts"),
    "offset_zero_share": Metric("share of clips at offset 0", True, 0.05, "about one clip in 20"),
}


def has_figure(figures: dict, metric: str) -> bool:
    return metric in figures or (metric == "offset_zero_share" and "offset" in figures)


def clip_value(figures: dict, metric: str) -> float:
    """One clip's figure from its ``per_clip`` entry (``offset_zero_share`` of one clip: 1 if its offset is 0)."""
    if metric == "offset_zero_share":
        return float(figures["offset"] == 0)
    return float(figures[metric])


# ---------------------------------------------------------------------------------------------------- scores


@dataclass
class Scores:
    """Per-clip figures: ``values[row][metric][seed]`` is an array (C,) over :attr:`clips`, the same clips in every
    row. Rows are cells and the trivial baselines (:data:`BASELINES`, which have the same values under every seed)."""

    clips: list[str]
    seeds: list[int]
    values: dict[str, dict[str, dict[int, np.ndarray]]]

    def seeds_of(self, row: str) -> list[int]:
        return [s for s in self.seeds if any(s in per_seed for per_seed in self.values[row].values())]

    def matrix(self, row: str, metric: str, seeds: list[int]) -> np.ndarray:
        """(S, C) figures of ``row`` for ``seeds``."""
        return np.stack([self.values[row][metric][s] for s in seeds])

    def metrics(self, row: str) -> list[str]:
        return [m for m in METRICS if m in self.values[row]]


def collect_scores(runs: list[dict], seeds: list[int]) -> Scores:
    """``runs``: one dict per finished run, ``{"cell", "seed", "per_clip"}`` (``per_clip`` as ``evaluate_generator``
    returns it). Every run must have been evaluated on the same clips, in the same order."""
    if not runs:
        raise ValueError("no finished runs to compare")
    clips = [c["clip"] for c in runs[0]["per_clip"]]
    values: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for run in runs:
        run_clips = [c["clip"] for c in run["per_clip"]]
        if run_clips != clips:
            raise ValueError(
                f"{run['cell']} seed {run['seed']} was evaluated on other clips ({run_clips[:3]}...) than "
                f"{runs[0]['cell']} seed {runs[0]['seed']} ({clips[:3]}...): evaluate every run on the same split "
                "and eval_clips (rerun the odd one into a fresh folder)"
            )
        for row in ("generated", *FIXED_ROWS):
            name = run["cell"] if row == "generated" else row
            for metric in (m for m in METRICS if all(has_figure(c.get(row, {}), m) for c in run["per_clip"])):
                vector = np.array([clip_value(c[row], metric) for c in run["per_clip"]])
                per_seed = values.setdefault(name, {}).setdefault(metric, {})
                if row in FIXED_ROWS and per_seed and not np.allclose(next(iter(per_seed.values())), vector):
                    raise ValueError(
                        f"{run['cell']} seed {run['seed']}: the {row} baseline differs from other runs' on the same "
                        "clips, so the runs saw different data; evaluate every run on the same prepared folder"
                    )
                per_seed[run["seed"]] = vector
    for row in FIXED_ROWS:  # these do not depend on the seed: one run's figures stand for every seed
        for per_seed in values.get(row, {}).values():
            per_seed.update(dict.fromkeys(seeds, next(iter(per_seed.values()))))
    return Scores(clips, list(seeds), values)


# ---------------------------------------------------------------------------------------------------- bootstrap


def bootstrap_means(x: np.ndarray, num_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(S, C) figures -> (num_boot,) means over S seeds and C clips drawn with replacement (one clip draw per
    replicate, shared by its seeds: the crossed design of the module docstring)."""
    s, c = x.shape
    seed_idx = rng.integers(0, s, size=(num_boot, s))
    clip_idx = rng.integers(0, c, size=(num_boot, c))
    return x[seed_idx[:, :, None], clip_idx[:, None, :]].mean(axis=(1, 2))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float


def mean_ci(x: np.ndarray, num_boot: int = 2000, seed: int = 0) -> Interval:
    """Mean of (S, C) figures with its 95% bootstrap CI."""
    boot = bootstrap_means(x, num_boot, np.random.default_rng(seed))
    return Interval(float(x.mean()), *np.percentile(boot, [2.5, 97.5]).tolist())


def difference_ci(a: np.ndarray, b: np.ndarray, paired: bool = True, num_boot: int = 2000, seed: int = 0) -> Interval:
    """``mean(a) - mean(b)`` of two (S, C) arrays with its 95% bootstrap CI.

    ``paired``: row ``s`` / column ``c`` of ``a`` and ``b`` are the same seed and clip, resampled together. Unpaired
    (for comparison, e.g. in the notebook), each array is resampled on its own, as if from unrelated runs."""
    if a.shape != b.shape:
        raise ValueError(f"paired figures must have the same (seeds, clips) shape, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    if paired:
        boot = bootstrap_means(a - b, num_boot, rng)
    else:
        boot = bootstrap_means(a, num_boot, rng) - bootstrap_means(b, num_boot, rng)
    return Interval(float(a.mean() - b.mean()), *np.percentile(boot, [2.5, 97.5]).tolist())


def verdict(ci: Interval, higher_is_better: bool, smallest_difference: float) -> str:
    """ "better" / "worse" / "not distinguishable" for the CI of ``cell - reference`` (see the module docstring)."""
    low, high = (ci.low, ci.high) if higher_is_better else (-ci.high, -ci.low)
    if low > smallest_difference:
        return "better"
    if high < -smallest_difference:
        return "worse"
    return "not distinguishable"


# ---------------------------------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Comparison:
    cell: str
    against: str  # the reference cell or a trivial baseline
    metric: str
    seeds: int
    clips: int
    difference: Interval  # cell - against, in the metric's units
    smallest_difference: float
    verdict: str


def smallest_differences(protocol: dict) -> dict[str, float]:
    """:data:`METRICS`' smallest differences, with the protocol's ``"smallest_differences"`` in their place."""
    out = {m: spec.smallest_difference for m, spec in METRICS.items()}
    overrides = protocol.get("smallest_differences", {})
    unknown = set(overrides) - set(METRICS)
    if unknown:
        raise ValueError(f"protocol smallest_differences names unknown metrics {sorted(unknown)}; known: {list(out)}")
    return {**out, **{m: float(v) for m, v in overrides.items()}}


def compare_rows(
    scores: Scores, cell: str, against: str, deltas: dict[str, float], paired: bool = True, num_boot: int = 2000
) -> list[Comparison]:
    """Paired comparisons of ``cell`` with ``against`` on every metric both have, over their common seeds."""
    seeds = [s for s in scores.seeds_of(cell) if s in scores.seeds_of(against)]
    out = []
    for m in scores.metrics(cell):
        if m not in scores.values[against] or not seeds:
            continue
        ci = difference_ci(scores.matrix(cell, m, seeds), scores.matrix(against, m, seeds), paired, num_boot)
        out.append(
            Comparison(cell, against, m, len(seeds), len(scores.clips), ci, deltas[m],
                       verdict(ci, METRICS[m].higher_is_better, deltas[m]))
        )  # fmt: skip
    return out


def beaten_on(scores: Scores, cell: str, deltas: dict[str, float], num_boot: int = 2000) -> list[str]:
    """The metrics on which ``cell`` is "better" than both trivial baselines (those the baselines have)."""
    better: dict[str, int] = {}
    for baseline in BASELINES:
        for c in compare_rows(scores, cell, baseline, deltas, num_boot=num_boot):
            better[c.metric] = better.get(c.metric, 0) + (c.verdict == "better")
    return [m for m in METRICS if better.get(m) == len(BASELINES)]


# ---------------------------------------------------------------------------------------------------- outputs


def fmt(x: float) -> str:
    return f"{x:.4g}"


def write_results(folder: str | Path, protocol: dict, scores: Scores, num_boot: int = 2000) -> dict:
    """``table.md`` / ``table.csv`` (every cell and the baselines: mean with 95% CI, the paired difference with the
    reference, its verdict, the baseline flag) and ``plots/<metric>.png`` / ``plots/<metric>_vs_reference.png``.

    Returns ``{"comparisons": [...], "flagged": [cells that do not beat both baselines], "plots": [paths]}``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    deltas = smallest_differences(protocol)
    ref = protocol["reference"]
    cells = [c for c in protocol["cells"] if c in scores.values]
    if ref not in cells:
        raise ValueError(f"the reference cell {ref!r} has no finished runs; run it first")
    groups = {c: protocol["cells"][c]["group"] for c in cells}
    groups.update({**dict.fromkeys(BASELINES, "trivial baseline"), REAL: "real video"})
    rows = [b for b in FIXED_ROWS if b in scores.values] + cells
    metrics = [m for m in METRICS if m in scores.values[ref]]
    means = {(r, m): mean_ci(scores.matrix(r, m, scores.seeds_of(r)), num_boot) for r in rows for m in
             scores.metrics(r) if m in metrics}  # fmt: skip
    comparisons = [
        c for cell in cells if cell != ref for c in compare_rows(scores, cell, ref, deltas, num_boot=num_boot)
    ]
    beaten = {cell: beaten_on(scores, cell, deltas, num_boot) for cell in cells}
    beats = {cell: FLAG_METRIC in beaten[cell] for cell in cells}
    by_key = {(c.cell, c.metric): c for c in comparisons}

    def seeds_shown(row: str) -> int | str:
        return "-" if row in FIXED_ROWS else len(scores.seeds_of(row))  # a baseline does not depend on the seed

    with (folder / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in rows:
            for m in metrics:
                if (r, m) not in means:
                    continue
                mean, c = means[r, m], by_key.get((r, m))
                diff = [fmt(c.difference.estimate), fmt(c.difference.low), fmt(c.difference.high)] if c else [""] * 3
                w.writerow([r, groups[r], m, seeds_shown(r), fmt(mean.estimate), fmt(mean.low),
                            fmt(mean.high), *diff, deltas[m], c.verdict if c else ("reference" if r == ref else ""),
                            beats.get(r, "")])  # fmt: skip

    labels = [METRICS[m].label for m in metrics]
    lines = [
        f"# Ablation: {protocol.get('name', '')}",
        "",
        f"Reference cell: **{ref}**. {len(scores.clips)} held-out clips; seeds {scores.seeds}. Means with 95% "
        f"bootstrap CIs ({num_boot} replicates, seeds and clips resampled; see `facekit.stats`). A difference is "
        "cell - reference, paired by seed and clip; **better** / **worse** when its whole CI lies beyond the smallest "
        "difference that matters in that direction, else *not distinguishable*. FLAG: the cell does not beat both "
        f"trivial baselines on {METRICS[FLAG_METRIC].label} on the held-out clips; *beats both on* lists every figure "
        "on which it does (better than each baseline by the same rule). The *real video* row is the held-out videos' "
        "own sync under the same judge.",
        "",
        "| metric | better when | smallest difference that matters | why |",
        "|---|---|---|---|",
        *[
            f"| {METRICS[m].label} | {'higher' if METRICS[m].higher_is_better else 'lower'} | {deltas[m]:g} | "
            f"{METRICS[m].why if deltas[m] == METRICS[m].smallest_difference else 'set by the protocol'} |"
            for m in metrics
        ],  # fmt: skip
        "",
        "## Every cell and the trivial baselines",
        "",
        "| row | group | seeds | beats both baselines | beats both on | " + " | ".join(labels) + " |",
        "|---" * (5 + len(metrics)) + "|",
    ]
    for r in rows:
        flag = "" if r in FIXED_ROWS else ("yes" if beats[r] else "**FLAG: no**")
        on = "" if r in FIXED_ROWS else ", ".join(METRICS[m].label for m in beaten[r]) or "none"
        name = f"**{r}**" if r == ref else r
        cols = [f"{fmt(means[r, m].estimate)} [{fmt(means[r, m].low)}, {fmt(means[r, m].high)}]" if (r, m) in means
                else "" for m in metrics]  # fmt: skip
        lines.append(f"| {name} | {groups[r]} | {seeds_shown(r)} | {flag} | {on} | " + " | ".join(cols) + " |")
    lines += ["", "## Against the reference, by question", ""]
    for group in dict.fromkeys(groups[c] for c in cells if c != ref):
        lines += [f"### {group}", "", "| cell | " + " | ".join(METRICS[m].label for m in metrics) + " |"]
        lines.append("|---" * (1 + len(metrics)) + "|")
        for cell in (c for c in cells if c != ref and groups[c] == group):
            cols = []
            for m in metrics:
                c = by_key.get((cell, m))
                d = c.difference if c else None
                cols.append(f"{fmt(d.estimate)} [{fmt(d.low)}, {fmt(d.high)}] {c.verdict}" if c and d else "")
            lines.append(f"| {cell} | " + " | ".join(cols) + " |")
        lines.append("")
    (folder / "table.md").write_text("\n".join(lines) + "\n")

    plots = []
    for m in metrics:
        figures = [(f"{m}.png", plot_means(means, rows, m, ref))]
        paired = [c for c in comparisons if c.metric == m]
        if paired:  # (only the reference has finished runs: nothing to compare yet)
            figures.append((f"{m}_vs_reference.png", plot_differences(paired, ref)))
        for name, fig in figures:
            (folder / "plots").mkdir(exist_ok=True)
            fig.savefig(folder / "plots" / name, dpi=110)
            plots.append(folder / "plots" / name)
    flagged = [c for c in cells if not beats[c]]
    return {"comparisons": comparisons, "flagged": flagged, "plots": [str(p) for p in plots]}


def plot_means(means: dict[tuple[str, str], Interval], rows: list[str], metric: str, reference: str):
    """Horizontal bars from zero: each row's mean of ``metric`` with its 95% CI; baselines grey, the reference red."""
    from matplotlib.figure import Figure

    shown = [r for r in rows if (r, metric) in means]
    est = np.array([means[r, metric].estimate for r in shown])
    err = np.array([[est[i] - means[r, metric].low, means[r, metric].high - est[i]] for i, r in enumerate(shown)]).T
    colors = ["0.6" if r in BASELINES else "0.2" if r == REAL else "tab:red" if r == reference else "tab:blue"
              for r in shown]  # fmt: skip
    fig = Figure(figsize=(7, 0.3 * len(shown) + 1.4))
    ax = fig.add_subplot()
    ax.barh(["real video" if r == REAL else r for r in shown], est, xerr=err, color=colors, capsize=3)
    ax.set_xlim(left=0)
    ax.invert_yaxis()
    spec = METRICS[metric]
    ax.set_xlabel(f"{spec.label} ({'higher' if spec.higher_is_better else 'lower'} is better); mean, 95% CI")
    ax.set_title(f"Ablation: {spec.label}\n(grey: trivial baselines; black: real video; red: reference)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_differences(comparisons: list[Comparison], reference: str):
    """Each cell's paired difference with the reference and its 95% CI, the +-smallest difference shaded; a point
    is green when better, red when worse, grey when not distinguishable."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 0.35 * len(comparisons) + 2.2))
    ax = fig.add_subplot()
    color = {"better": "tab:green", "worse": "tab:red", "not distinguishable": "0.5"}
    for i, c in enumerate(comparisons):
        d = c.difference
        ax.errorbar(d.estimate, i, xerr=[[d.estimate - d.low], [d.high - d.estimate]], fmt="o",
                    color=color[c.verdict], capsize=3)  # fmt: skip
    if comparisons:
        delta = comparisons[0].smallest_difference
        ax.axvspan(-delta, delta, color="0.9")
        spec = METRICS[comparisons[0].metric]
        ax.set_xlabel(f"{spec.label}: cell - {reference} ({'higher' if spec.higher_is_better else 'lower'} is better)")
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(comparisons)), [c.cell for c in comparisons])
    ax.set_ylim(len(comparisons) - 0.5, -0.5)  # first cell on top, half a row of space around
    ax.set_title(
        "Paired difference with the reference, 95% CI\ngrey band: below the smallest difference that matters\n"
        "green: better, red: worse, grey: not distinguishable",
        fontsize=9,
    )
    fig.tight_layout()
    return fig
