"""Training speed of a process that imports torch before facekit, against one that imports facekit first.

    .venv/bin/python eval/bench_import_order.py [--steps 40] [--repeats 3] [--busy] [--out eval/results/...json]

Each run is a fresh Python process that imports the two in one order and trains the ``tiny`` preset's generator for
``--steps`` steps on a tiny synthetic corpus (made once); only ``train_generator`` is timed. The two orders alternate
(which goes first flips every repeat), so a change in the machine's load falls on both; the medians and their ratio
(torch first / facekit first) are reported, with the load average around every run. ``--busy`` repeats everything
with a busy-looping process beside it (one core taken, the case where OpenMP's spinning threads cost most).
``GOMP_SPINCOUNT`` is removed from the children's environment, so only the import order decides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, tempfile, time
if sys.argv[1] == "torch_first":
    import torch
    import facekit
else:
    import facekit
    import torch
from facekit.config import apply_overrides, get_preset
from facekit.runtime import spin_in_effect
from facekit.train.loop import train_generator

cfg = apply_overrides(get_preset("tiny"), [f"train.steps={sys.argv[3]}"])
with tempfile.TemporaryDirectory() as run_dir:
    start = time.perf_counter()
    train_generator(cfg, sys.argv[2], run_dir, progress=False)
    seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "threads": torch.get_num_threads(), "spin_in_effect": spin_in_effect()}))
"""

ORDERS = ("facekit_first", "torch_first")


def run_child(order: str, data: Path, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    load_before = os.getloadavg()[0]
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", CHILD, order, str(data), str(steps)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    record = json.loads(out.stdout.strip().splitlines()[-1])
    return {"order": order, **record, "load_1min_before": load_before, "load_1min_after": os.getloadavg()[0]}


def measure(data: Path, steps: int, repeats: int, busy: bool) -> dict:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        runs = []
        for r in range(repeats):
            for order in ORDERS if r % 2 == 0 else ORDERS[::-1]:
                runs.append(run_child(order, data, steps) | {"repeat": r})
                print(f"{'busy' if busy else 'as is'} repeat {r} {order}: {runs[-1]['seconds']:.2f} s", flush=True)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    median = {o: statistics.median(x["seconds"] for x in runs if x["order"] == o) for o in ORDERS}
    return {
        "median_seconds": {o: round(v, 2) for o, v in median.items()},
        "ratio_torch_first_over_facekit_first": round(median["torch_first"] / median["facekit_first"], 3),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", action="store_true", help="also measure with a busy-looping process beside it")
    parser.add_argument("--out", default="eval/results/bench_import_order.json")
    args = parser.parse_args()

    from facekit.config import get_preset
    from facekit.data.synthetic.corpus import generate_corpus

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        generate_corpus(get_preset("tiny"), tmp, workers=1, progress=False)
        conditions = {"as_is": measure(Path(tmp), args.steps, args.repeats, busy=False)}
        if args.busy:
            conditions["one_core_busy"] = measure(Path(tmp), args.steps, args.repeats, busy=True)
    result = {
        "command": " ".join(["python", *sys.argv]),
        "what": f"seconds of train_generator, tiny preset, {args.steps} steps, in a fresh process per run",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": __import__("torch").__version__,
            "note": "a shared machine: other users' load is in each run's load_1min_before / _after",
        },
        "conditions": conditions,
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, c in conditions.items():
        ratio = c["ratio_torch_first_over_facekit_first"]
        print(f"{name}: medians {c['median_seconds']}, torch first / facekit first {ratio}")


if __name__ == "__main__":
    main()
