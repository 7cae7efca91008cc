"""Prove the CUDA path on a GPU machine: the CUDA tests, a few minutes of the paper preset, and DDP on every GPU.

    python eval/gpu_check.py [--minutes 3] [--data DIR] [--expert CKPT] [--runs runs/gpu-check]
                             [--out eval/results/gpu_check.json] [--dry-run [--gpus N]]

1. ``pytest -m cuda``: the tests that need a CUDA device (each skips without one).
2. ``facekit train generator --preset paper`` for ``--minutes`` on one GPU: bf16 autocast (``train.amp``) and a
   channels-last model, as the training loop runs on CUDA; 5-frame windows, mouth L1 + (1 - SSIM) (+ the sync loss
   with ``--expert``). Without ``--data`` a small synthetic corpus of the paper preset (96x96) is made first.
3. The same run under ``torchrun --nproc_per_node N`` on the N GPUs present (skipped with one GPU: nothing to prove).

Writes the commands, their exit codes, and each run's last logged record (steps, losses, ``windows_per_s``) to
``--out``. ``--dry-run`` prints the commands and writes nothing (it runs anywhere, e.g. to check the arguments on a
CPU); ``--gpus N`` plans them for N GPUs instead of those visible. Without a CUDA device and without ``--dry-run`` it
exits with status 2 and does nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

CORPUS = ["synth.num_identities=24", "synth.clips_per_identity=4"]  # a small paper-preset corpus: minutes to make
TRAINING = ["data.num_frames=5", "train.ssim_weight=1.0", "train.steps=1000000", "train.checkpoint_every=1000000"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-clock minutes per training run (default 3)")
    parser.add_argument("--data", help="prepared clips to train on (default: a small synthetic paper-preset corpus)")
    parser.add_argument("--expert", help="sync-expert checkpoint: adds the sync loss to the training runs")
    parser.add_argument("--runs", default="runs/gpu-check", help="folder for the run folders (default runs/gpu-check)")
    parser.add_argument("--out", default="eval/results/gpu_check.json")
    parser.add_argument("--dry-run", action="store_true", help="print the commands and exit; runs without a GPU")
    parser.add_argument("--gpus", type=int, help="with --dry-run: plan for N GPUs (default: the GPUs visible)")
    args = parser.parse_args(argv)
    if args.minutes <= 0:
        parser.error(f"--minutes {args.minutes}: give a positive number of minutes")
    if args.gpus is not None and not args.dry_run:
        parser.error("--gpus only applies with --dry-run: a real check runs on the GPUs it finds")
    if args.gpus is not None and args.gpus < 1:
        parser.error(f"--gpus {args.gpus}: give 1 or more GPUs to plan for")
    for flag, path in (("--data", args.data), ("--expert", args.expert)):
        if path is not None and not Path(path).exists():
            parser.error(f"{flag} {path}: no such file or folder")
    return args


def plan(args: argparse.Namespace, num_gpus: int) -> dict[str, list[str]]:
    """The commands to run, by name, for ``num_gpus`` visible GPUs."""
    runs = Path(args.runs)
    data = args.data or str(runs / "synth" / "corpus")  # where ``facekit synth --out runs/synth`` writes the clips
    sets = [f"train.max_minutes={args.minutes:g}", *TRAINING, *CORPUS]
    config = ["--preset", "paper", *[arg for s in sets for arg in ("--set", s)]]
    expert = ["--expert", args.expert] if args.expert else []
    steps = {"cuda_tests": [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "tests"]}
    if args.data is None:
        steps["corpus"] = [sys.executable, "-m", "facekit", "synth", "--preset", "paper", "--out", str(runs / "synth")]
        steps["corpus"] += [arg for s in CORPUS for arg in ("--set", s)]
    train = ["-m", "facekit", "train", "generator", "--data", data, *config, *expert]
    steps["train_1gpu"] = [sys.executable, *train, "--run-dir", str(runs / "paper-1gpu")]
    if num_gpus > 1:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={num_gpus}"]
        steps[f"train_ddp_{num_gpus}gpu"] = [*torchrun, *train, "--run-dir", str(runs / f"paper-ddp{num_gpus}")]
    return steps


def last_record(run_dir: Path) -> dict | None:
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return None
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    num_gpus = torch.cuda.device_count()
    steps = plan(args, args.gpus or max(num_gpus, 1))
    if args.dry_run:
        for name, cmd in steps.items():
            print(f"{name}: {shlex.join(cmd)}")  # quoted: each line can be pasted into a shell
        return 0
    if num_gpus == 0:
        print("gpu_check: no CUDA device is visible; nothing was run (use --dry-run to see the commands)")
        return 2
    results: dict = {
        "command": "python eval/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "gpus": [torch.cuda.get_device_name(i) for i in range(num_gpus)],
        "torch": torch.__version__,
        "steps": {},
    }
    if num_gpus == 1:
        results["ddp"] = "skipped: one GPU visible"
    for name, cmd in steps.items():
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        step = {"command": " ".join(cmd), "returncode": done.returncode, "seconds": round(time.perf_counter() - start)}
        step["output_tail"] = (done.stdout + done.stderr)[-2000:]
        run_dir = cmd[cmd.index("--run-dir") + 1] if "--run-dir" in cmd else None
        if run_dir is not None:
            step["last_record"] = last_record(Path(run_dir))
        results["steps"][name] = step
        print(f"{name}: exit {done.returncode} in {step['seconds']} s", flush=True)
    results["all_passed"] = all(s["returncode"] == 0 for s in results["steps"].values())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if results["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
