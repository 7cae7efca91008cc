"""Cross-dub sync of three generators on the same 10 held-out pairs, under the judge: the `fit` model (4-dub at step
14,250) and two fine-tunes of it, 2000 steps each from the same start and seed, one against its own training expert
(seed 0), one against the mean sync loss of two training experts (seeds 0 and 2). Paired differences by pair, with
facekit.stats' 95% bootstrap interval and verdict (one seed, 10 pairs: a (1, 10) array).

    python eval/results/fit_two_experts/compare.py START_PER_CLIP ONE_PER_CLIP TWO_PER_CLIP > summary.md
"""

import csv
import sys

import numpy as np

from facekit import stats


def read(path: str) -> dict[str, dict[str, float]]:
    with open(path) as f:
        return {r["clip"]: {k: float(r[k]) for k in ("generated.lse_c", "generated.lse_d", "generated.offset",
                                                     "ground_truth.lse_c", "ground_truth.lse_d")}
                for r in csv.DictReader(f) if r["status"] == "scored"}  # fmt: skip


def main(start: str, one: str, two: str) -> None:
    first, single, double = "start (fit, 4-dub)", "+2000 steps, one expert", "+2000 steps, two experts"
    runs = {first: read(start), single: read(one), double: read(two)}
    clips = sorted(set.intersection(*(set(r) for r in runs.values())))
    real = np.array([runs[first][c]["ground_truth.lse_c"] for c in clips])
    real_d = np.array([runs[first][c]["ground_truth.lse_d"] for c in clips])
    print(f"{len(clips)} pairs; real videos under the judge: LSE-C {real.mean():.4f}, LSE-D {real_d.mean():.4f}\n")
    print("| generator | LSE-C | % of real | LSE-D | offset 0 |")
    print("|---|---|---|---|---|")
    values = {}
    for name, r in runs.items():
        c = np.array([r[k]["generated.lse_c"] for k in clips])
        d = np.array([r[k]["generated.lse_d"] for k in clips])
        zero = np.mean([r[k]["generated.offset"] == 0 for k in clips])
        values[name] = (c, d)
        print(f"| {name} | {c.mean():.4f} | {100 * c.mean() / real.mean():.0f}% | {d.mean():.4f} | {zero:.0%} |")
    deltas = stats.smallest_differences({})
    print("\n| comparison | LSE-C difference [95% CI] | verdict | LSE-D difference [95% CI] | verdict |")
    print("|---|---|---|---|---|")
    for a, b in ((double, single), (single, first), (double, first)):
        cells = []
        for i, metric in enumerate(("lse_c", "lse_d")):
            ci = stats.difference_ci(values[a][i][None], values[b][i][None])
            v = stats.verdict(ci, stats.METRICS[metric].higher_is_better, deltas[metric])
            cells += [f"{ci.estimate:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]", v]
        print(f"| {a} - {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:4])
