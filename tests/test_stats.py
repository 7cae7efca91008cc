"""The ablation statistics on made-up results whose answer is known: real differences are found with CIs that cover
them, no difference and a too-small difference are not called better, pairing by seed matters, and the table flags a
cell that does not beat the trivial baselines."""

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest

from facekit.ablation import cell_config, load_protocol
from facekit.config import MODALITIES
from facekit.stats import (
    METRICS,
    collect_scores,
    compare_rows,
    difference_ci,
    mean_ci,
    plot_means,
    smallest_differences,
    write_results,
)

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [0, 1, 2, 3, 4]
CLIPS = 16
DELTAS = {m: spec.smallest_difference for m, spec in METRICS.items()}


def made_up(rng, shift=0.0, seed_sd=0.0, clip_sd=0.002, noise_sd=0.001, base=0.02, seed_effects=None, clips=None):
    """(S, C) mouth-L1-like figures: base + shift + a seed effect + a clip effect + noise. Passing the same
    ``seed_effects`` / ``clips`` to two cells makes those effects shared (what pairing cancels)."""
    seeds = rng.normal(0, seed_sd, len(SEEDS)) if seed_effects is None else seed_effects
    clip = rng.normal(0, clip_sd, CLIPS) if clips is None else clips
    return base + shift + seeds[:, None] + clip[None, :] + rng.normal(0, noise_sd, (len(SEEDS), CLIPS))


def runs_from(cells: dict[str, np.ndarray], pasted: np.ndarray, mean_mouth: np.ndarray) -> list[dict]:
    """Runs as the ablation runner records them: per-clip figures of the generator and both baselines."""
    runs = []
    for cell, x in cells.items():
        for i, seed in enumerate(SEEDS):
            per_clip = [
                {
                    "clip": f"clip{c}",
                    "generated": {"mouth_l1": float(x[i, c]), "offset": int(c % 3 == 0)},
                    "reference_pasted": {"mouth_l1": float(pasted[c])},
                    "mean_mouth": {"mouth_l1": float(mean_mouth[c])},
                }
                for c in range(CLIPS)
            ]
            runs.append({"cell": cell, "seed": seed, "per_clip": per_clip})
    return runs


def l1_verdict(scores, cell, against="ref"):
    return next(c for c in compare_rows(scores, cell, against, DELTAS) if c.metric == "mouth_l1")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_a_real_difference_is_found_in_its_direction_with_a_ci_that_covers_it(rng):
    ref = made_up(rng)
    true = 10 * DELTAS["mouth_l1"]
    cells = {"ref": ref, "lower_l1": made_up(rng, -true), "higher_l1": made_up(rng, +true)}
    scores = collect_scores(runs_from(cells, ref[0], ref[0]), SEEDS)
    better, worse = l1_verdict(scores, "lower_l1"), l1_verdict(scores, "higher_l1")
    assert better.verdict == "better" and worse.verdict == "worse"  # L1: lower is better
    assert better.difference.low <= -true <= better.difference.high
    assert worse.difference.low <= true <= worse.difference.high
    assert better.seeds == len(SEEDS) and better.clips == CLIPS


def test_no_difference_is_not_distinguishable(rng):
    cells = {"ref": made_up(rng), "same": made_up(rng)}
    scores = collect_scores(runs_from(cells, cells["ref"][0], cells["ref"][0]), SEEDS)
    c = l1_verdict(scores, "same")
    assert c.verdict == "not distinguishable"
    assert c.difference.low <= 0 <= c.difference.high


def test_a_real_difference_smaller_than_the_smallest_that_matters_is_not_called_better(rng):
    clips = rng.normal(0, 0.002, CLIPS)
    true = 0.3 * DELTAS["mouth_l1"]
    ref = made_up(rng, clips=clips, noise_sd=1e-5)
    cells = {"ref": ref, "slightly_lower": made_up(rng, -true, clips=clips, noise_sd=1e-5)}
    c = l1_verdict(collect_scores(runs_from(cells, ref[0], ref[0]), SEEDS), "slightly_lower")
    assert c.difference.high < 0  # the difference is real (the CI excludes zero) ...
    assert c.verdict == "not distinguishable"  # ... but too small to matter


def test_pairing_by_seed_decides_what_shared_seed_noise_hides_when_unpaired(rng):
    seed_effects = rng.normal(0, 0.01, len(SEEDS))  # a lucky or unlucky seed moves both cells alike
    clips = rng.normal(0, 0.002, CLIPS)
    true = 4 * DELTAS["mouth_l1"]
    ref = made_up(rng, seed_effects=seed_effects, clips=clips, noise_sd=2e-4)
    cell = made_up(rng, -true, seed_effects=seed_effects, clips=clips, noise_sd=2e-4)
    scores = collect_scores(runs_from({"ref": ref, "cell": cell}, ref[0], ref[0]), SEEDS)
    paired = next(c for c in compare_rows(scores, "cell", "ref", DELTAS, paired=True) if c.metric == "mouth_l1")
    unpaired = next(c for c in compare_rows(scores, "cell", "ref", DELTAS, paired=False) if c.metric == "mouth_l1")
    assert paired.verdict == "better" and paired.difference.low <= -true <= paired.difference.high
    assert unpaired.verdict == "not distinguishable"
    assert unpaired.difference.high - unpaired.difference.low > 5 * (paired.difference.high - paired.difference.low)


def test_the_ci_covers_the_true_difference_about_95_percent_of_the_time_when_clips_disagree():
    """Clips that are hard for one cell and easy for the other (a clip x cell effect, the same under every seed):
    resampling clips once per replicate covers the truth; drawing them afresh per seed would shrink the interval."""
    rng = np.random.default_rng(7)
    true, hits, trials = 0.003, 0, 200
    for _ in range(trials):
        seed_effects = rng.normal(0, 0.01, len(SEEDS))
        ref = made_up(rng, seed_effects=seed_effects, clip_sd=0.0, noise_sd=1e-4)
        cell = made_up(rng, true, seed_effects=seed_effects, clip_sd=0.004, noise_sd=1e-4)
        ci = difference_ci(cell, ref, num_boot=500, seed=int(rng.integers(1 << 30)))
        hits += ci.low <= true <= ci.high
    assert 0.88 <= hits / trials <= 1.0


def test_smallest_differences_come_from_the_protocol_when_it_sets_them():
    assert smallest_differences({"smallest_differences": {"lse_d": 0.5}})["lse_d"] == 0.5
    assert smallest_differences({})["lse_d"] == METRICS["lse_d"].smallest_difference
    with pytest.raises(ValueError, match="unknown metrics"):
        smallest_differences({"smallest_differences": {"fid": 1.0}})


def test_runs_scored_on_other_clips_or_data_are_refused_with_the_fix(rng):
    runs = runs_from({"ref": made_up(rng)}, np.zeros(CLIPS), np.zeros(CLIPS))
    runs[-1]["per_clip"][0]["clip"] = "another"
    with pytest.raises(ValueError, match="same split and eval_clips"):
        collect_scores(runs, SEEDS)
    runs = runs_from({"ref": made_up(rng)}, np.zeros(CLIPS), np.zeros(CLIPS))
    runs[-1]["per_clip"][0]["mean_mouth"]["mouth_l1"] = 0.5  # a baseline must not change between runs
    with pytest.raises(ValueError, match="saw different data"):
        collect_scores(runs, SEEDS)


def test_table_has_the_baselines_as_rows_flags_a_cell_that_does_not_beat_them_and_draws_bars_from_zero(rng, tmp_path):
    pasted, mean_mouth = 0.02 + rng.normal(0, 0.002, CLIPS), 0.019 + rng.normal(0, 0.002, CLIPS)
    learned = made_up(rng, base=0.012)
    stuck = np.tile(pasted, (len(SEEDS), 1))  # never left "paste the reference"
    protocol = {
        "name": "made-up",
        "reference": "learned",
        "cells": {"learned": {"group": "order"}, "stuck": {"group": "subset"}},
    }
    scores = collect_scores(runs_from({"learned": learned, "stuck": stuck}, pasted, mean_mouth), SEEDS)
    out = write_results(tmp_path, protocol, scores, num_boot=500)
    assert out["flagged"] == ["stuck"]
    table = (tmp_path / "table.md").read_text()
    assert "| stuck | subset | 5 | **FLAG: no** | none |" in table  # no figure better than both baselines
    assert "| **learned** | order | 5 | yes | mouth L1 |" in table  # the figures on which it beats both
    rows = list(csv.DictReader((tmp_path / "table.csv").open()))
    assert {r["row"] for r in rows} == {"reference_pasted", "mean_mouth", "learned", "stuck"}
    stuck_l1 = next(r for r in rows if r["row"] == "stuck" and r["metric"] == "mouth_l1")
    assert stuck_l1["verdict"] == "worse" and stuck_l1["beats_baselines"] == "False"
    assert (tmp_path / "plots" / "mouth_l1.png").is_file()
    assert (tmp_path / "plots" / "offset_zero_share_vs_reference.png").is_file()
    means = {(r, "mouth_l1"): mean_ci(scores.matrix(r, "mouth_l1", SEEDS)) for r in ("learned", "stuck")}
    assert plot_means(means, ["learned", "stuck"], "mouth_l1", "learned").axes[0].get_xlim()[0] == 0


@pytest.mark.parametrize(
    ("corpus", "modalities", "min_seeds"), [("synthetic", MODALITIES, 5), ("grid", ("text", "audio"), 3)]
)
def test_recorded_protocols_ask_every_question_with_enough_seeds(corpus, modalities, min_seeds):
    protocol = load_protocol(ROOT / "eval" / "protocols" / f"ablation_{corpus}.json")
    assert len(protocol["seeds"]) >= min_seeds and protocol["steps"] > 0
    configs = {cell: cell_config(protocol, cell, protocol["seeds"][0]) for cell in protocol["cells"]}
    method = {c: cfg for c, cfg in configs.items() if cfg.model.variant == "residual" and cfg.model.cascade.formula ==
              "stylegan2"}  # fmt: skip
    orders = {cfg.model.cascade.order for cfg in method.values()}
    assert set(itertools.permutations(modalities)) <= orders  # every order
    assert {s for n in range(1, len(modalities)) for s in itertools.combinations(modalities, n)} <= orders  # subsets
    variants = {(cfg.model.variant, cfg.model.cascade.formula) for cfg in configs.values()}
    assert {("cascade", "stylegan2"), ("residual", "film"), ("residual", "adain")} <= variants
    assert {"contrastive", "wav2lip"} <= {v for v, _ in variants}
    assert all(set(cfg.model.cascade.order) <= set(modalities) for cfg in configs.values())  # GRID: no oracle mouth
    assert set(protocol["questions"]) == {spec["group"] for spec in protocol["cells"].values()}
    smallest_differences(protocol)  # valid metric names, if it sets any


def test_evaluate_generators_per_clip_figures_feed_the_table(corpus, runs, tmp_path):
    """The contract with the runner: ``evaluate_generator(...)["per_clip"]`` of each run is all the statistics need."""
    from facekit.evaluation import evaluate_generator

    per_clip = evaluate_generator(runs / "gen" / "last.pt", corpus, runs / "expert" / "last.pt", max_clips=2)[
        "per_clip"
    ]
    recorded = [{"cell": cell, "seed": seed, "per_clip": per_clip} for cell in ("ref", "other") for seed in (0, 1)]
    protocol = {"reference": "ref", "cells": {"ref": {"group": "order"}, "other": {"group": "order"}}}
    scores = collect_scores(recorded, [0, 1])
    assert {"mouth_l1", "mouth_ssim", "mouth_psnr", "lse_d", "lse_c", "offset_zero_share"} <= set(scores.metrics("ref"))
    assert set(scores.metrics("reference_pasted")) >= {"mouth_l1", "mouth_ssim", "mouth_psnr"}
    out = write_results(tmp_path, protocol, scores, num_boot=200)
    same = [c for c in out["comparisons"] if c.cell == "other"]
    assert same and all(c.verdict == "not distinguishable" and c.difference.estimate == 0 for c in same)
    assert (tmp_path / "plots" / "lse_d_vs_reference.png").is_file()
