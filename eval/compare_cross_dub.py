"""Cross-dub sync of generators on the same held-out pairs under one judge: each generator against every one listed
before it and against the real videos, paired by pair, with facekit.stats' 95% bootstrap interval and verdict (one
seed per generator: a (1, pairs) array).

    python eval/compare_cross_dub.py "NAME=PER_CLIP_CSV" "NAME=PER_CLIP_CSV" ... > summary.md

Each PER_CLIP_CSV is the per_clip.csv of one `eval/cross_dub.py` report; only the pairs every report scored count.
The real videos are the first report's (the same sentences' real videos in every report). A generated video shows
another face than its sentence's real video, so the pairing with the real videos is loose and its interval wide.
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


def main(named: list[str]) -> int:
    if not named or any("=" not in arg for arg in named):
        print(__doc__, file=sys.stderr)
        print("compare_cross_dub: error: give NAME=PER_CLIP_CSV for each generator", file=sys.stderr)
        return 2
    runs = {}
    for name, path in (arg.split("=", 1) for arg in named):
        try:
            runs[name] = read(path)
        except (OSError, KeyError, ValueError) as exc:
            print(f"compare_cross_dub: error: {path}: not a cross-dub per_clip.csv ({exc!r})", file=sys.stderr)
            return 2
    first = next(iter(runs))
    clips = sorted(set.intersection(*(set(r) for r in runs.values())))
    if len(clips) < 2:
        print(f"compare_cross_dub: error: {len(clips)} pair(s) scored in every report; two or more are needed",
              file=sys.stderr)  # fmt: skip
        return 2
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
    values["real videos"] = (real, real_d)
    names = list(runs)
    comparisons = [(later, earlier) for i, later in enumerate(names) for earlier in names[:i]]
    comparisons += [(name, "real videos") for name in names]
    for name, other in comparisons:
        cells = []
        for i, metric in enumerate(("lse_c", "lse_d")):
            ci = stats.difference_ci(values[name][i][None], values[other][i][None])
            v = stats.verdict(ci, stats.METRICS[metric].higher_is_better, deltas[metric])
            cells += [f"{ci.estimate:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]", v]
        print(f"| {name} - {other} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
