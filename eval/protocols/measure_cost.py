"""CPU seconds per training step (generator or sync expert) and per evaluated clip, for the ablation's compute plan.

CPU time (user + system of this process), not wall time, so a busy shared machine still gives the cost; run with
OMP_NUM_THREADS=1 to measure one core. A step's cost is (run of 1 + N steps) - (run of 1 step), after a warm-up run,
so imports, data loading and checkpoints cancel. Prints one JSON line. Examples (see README.md beside this file)::

    OMP_NUM_THREADS=1 python eval/protocols/measure_cost.py generator --data DIR --expert CKPT --steps 20 \\
        --set model.base_channels=8 --set model.feature_dim=64
    OMP_NUM_THREADS=1 python eval/protocols/measure_cost.py expert --data DIR --steps 10 --set train.batch_size=64
    OMP_NUM_THREADS=1 python eval/protocols/measure_cost.py eval --checkpoint RUN/last.pt --data DIR --expert CKPT
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from pathlib import Path

import torch

from facekit.config import apply_overrides, get_preset
from facekit.evaluation import evaluate_generator
from facekit.train.loop import train_expert, train_generator

# the ablation protocols' training recipe (eval/protocols/ablation_*.json "overrides" before the width)
RECIPE = ["data.num_frames=5", "train.batch_size=4", "train.lr=3e-4", "train.ssim_weight=1.0"]
QUIET = ["train.log_every=100000", "train.checkpoint_every=100000", "train.samples=0"]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def train_cost(kind: str, args: argparse.Namespace) -> float:
    """CPU seconds of one training step of ``kind``."""
    base = (RECIPE if kind == "generator" else []) + QUIET + args.set

    def run(folder: Path, steps: int) -> float:
        cfg = apply_overrides(get_preset(args.preset), [*base, f"train.steps={steps}"])
        start = cpu_seconds()
        if kind == "generator":
            train_generator(cfg, args.data, folder, expert_path=args.expert, progress=False)
        else:
            train_expert(cfg, args.data, folder, progress=False)
        return cpu_seconds() - start

    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp, "warm"), 1)
        return (run(Path(tmp, "long"), 1 + args.steps) - run(Path(tmp, "short"), 1)) / args.steps


def eval_cost(args: argparse.Namespace) -> float:
    """CPU seconds per evaluated clip (image figures, LPIPS when fetched, sync figures with ``--expert``)."""
    evaluate_generator(args.checkpoint, args.data, args.expert, max_clips=1)  # warm-up
    start = cpu_seconds()
    result = evaluate_generator(args.checkpoint, args.data, args.expert, split=args.split, max_clips=args.clips)
    return (cpu_seconds() - start) / result["clips"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=["generator", "expert", "eval"])
    parser.add_argument("--data", required=True, help="prepared clips")
    parser.add_argument("--expert", help="sync-expert checkpoint (the generator's sync loss; eval's sync figures)")
    parser.add_argument("--checkpoint", help="eval: the generator checkpoint")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--steps", type=int, default=20, help="steps measured (after one warm-up step)")
    parser.add_argument("--clips", type=int, default=6, help="eval: clips measured")
    parser.add_argument("--split", default="eval", help="eval: the split the clips come from")
    args = parser.parse_args()
    if args.kind == "eval" and not args.checkpoint:
        parser.error("eval needs --checkpoint (a generator's last.pt)")
    per = eval_cost(args) if args.kind == "eval" else train_cost(args.kind, args)
    unit = "cpu_s_per_clip" if args.kind == "eval" else "cpu_s_per_step"
    print(json.dumps({"kind": args.kind, unit: round(per, 3), "threads": torch.get_num_threads(), "set": args.set}))


if __name__ == "__main__":
    main()
