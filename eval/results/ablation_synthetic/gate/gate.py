"""The ablation's budget gate: train the reference cell (seed 0) of the synthetic protocol at a given budget and
print its held-out mouth figures beside the two trivial baselines (no sync expert: image figures only).

    python eval/results/ablation_synthetic/gate/gate.py STEPS [--size 64] [--corpus-seed 0] [KEY=VALUE ...]

The corpus is made in data/synthetic-cpu-<size>px-seed<corpus-seed>/ if missing; --corpus-seed 1 is the development
corpus (other identities and clips than the study's). The run goes to runs/gate/.
"""

import argparse
import json
import time
from pathlib import Path

from facekit.ablation import cell_config, default_corpus, default_protocol, run_cell
from facekit.config import apply_overrides, get_preset
from facekit.data.synthetic.corpus import generate_corpus

parser = argparse.ArgumentParser()
parser.add_argument("steps", type=int)
parser.add_argument("--size", type=int, default=64)
parser.add_argument("--corpus-seed", type=int, default=0)
parser.add_argument("overrides", nargs="*")
args = parser.parse_args()

protocol = {**default_protocol(), "steps": args.steps}
extra = [f"data.image_size={args.size}", f"data.mouth_size={args.size // 2}", f"synth.seed={args.corpus_seed}"]
protocol["overrides"] = [*protocol["overrides"], *extra, *args.overrides]
cfg = cell_config(protocol, protocol["reference"], 0)
data = default_corpus(cfg)
if not data.exists():
    generate_corpus(apply_overrides(get_preset("cpu"), protocol["overrides"]), data, workers=2)
name = f"{args.size}px-corpus{args.corpus_seed}-{args.steps}" + "".join(f"-{o}" for o in args.overrides)
start = time.time()
record = run_cell(cfg, data, Path("runs/gate") / name, None, None, protocol["eval_clips"])
figures = {"generated": record["generated"], **record["baselines"]}
mouth = {k: {m: round(v, 5) for m, v in f.items() if m.startswith("mouth")} for k, f in figures.items()}
print(json.dumps({"run": name, "wall_s": round(time.time() - start), "train_cpu_s": record["train_cpu_s"], **mouth}))
