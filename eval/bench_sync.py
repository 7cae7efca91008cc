"""Benchmark the lip-sync metric: wall time of one clip's LSE-D / LSE-C / AV offset under the facekit sync expert.

    .venv/bin/python eval/bench_sync.py [--expert runs/expert-cpu/last.pt] [--threads 2] [--out PATH.json]

A 3 s (75-frame) synthetic clip of a held-out identity at the cpu preset's 64 px. Timed: mel spectrogram + 71 window
embeddings + the 31-offset search (``SyncEvaluator.evaluate`` on int16 audio), the median of 5 runs after a warm-up;
loading the expert is timed apart. The CPU seconds the process used per evaluation are recorded too: on a shared
machine they are steadier than wall time (divided by the thread count, they bound the quiet wall time from below).
Uses the trained expert when the file exists, else a randomly initialised SyncExpert of the cpu preset's size (same
timing, meaningless figures). Target: < 0.5 s on 2 cores. Writes a JSON of the figures; nothing asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

# isort: off
import facekit  # noqa: F401 -- before torch: sets GOMP_SPINCOUNT (libgomp reads it when torch loads it)

# isort: on
import torch

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.config import get_preset
from facekit.data.dataset import split_keys
from facekit.data.synthetic.corpus import make_clip
from facekit.metrics.sync import SyncEvaluator, checkpoint_id, sync_scores
from facekit.models.sync_expert import SyncExpert
from facekit.runtime import cpu_name


def other_training_jobs() -> list[str]:
    """Command lines of running `facekit train` processes (other than this one), read from /proc."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if int(pid) != os.getpid() and "facekit" in cmd and " train " in f" {cmd} ":
            found.append(cmd)
    return found


def contention_note(jobs: list[str], load: float) -> str:
    cpus = os.cpu_count() or 1
    parts = [f"{len(jobs)} `facekit train` process(es) used the CPU during the measurement: {jobs[0]}"] if jobs else []
    if load > 0.5 * cpus:
        parts.append(f"1-min load average {load:.1f} on {cpus} CPUs: other processes shared the cores, so the times "
                     "are pessimistic")  # fmt: skip
    return "; ".join(parts) or "no training job and little other load during the measurement"


def timed(fn, runs: int, cpu: list[float] | None = None) -> list[float]:
    """Wall seconds of ``runs`` calls after one warm-up; this process's CPU seconds per call appended to ``cpu``."""
    fn()  # warm-up
    out = []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.process_time() - start_cpu)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expert", default="runs/expert-cpu/last.pt")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default="eval/results/bench_sync.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    jobs_before, load_before = other_training_jobs(), os.getloadavg()[0]
    trained = Path(args.expert).is_file()
    start = time.perf_counter()
    if trained:
        state = load_checkpoint(args.expert, "expert")
        cfg = checkpoint_config(state, args.expert)
        evaluator = SyncEvaluator(args.expert)
        expert_desc = {"source": args.expert, "expert_id": evaluator.expert_id, "step": state["step"]}
    else:
        cfg = get_preset("cpu")
        torch.manual_seed(0)
        model = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2)
        evaluator = SyncEvaluator(model, image_size=cfg.data.image_size)
        expert_desc = {"source": "random init (no checkpoint found)", "expert_id": None}
    load_seconds = time.perf_counter() - start
    expert_desc["parameters"] = sum(p.numel() for p in evaluator.model.parameters())
    expert_desc["image_size"] = evaluator.image_size

    held_out = split_keys([f"id{i:04d}" for i in range(cfg.synth.num_identities)], cfg.data.eval_fraction)[1]
    clip = make_clip(cfg, int(held_out[0][2:]) * cfg.synth.clips_per_identity)
    mel = clip.mel
    result = evaluator.evaluate(clip.frames, clip.audio)
    total_cpu: list[float] = []
    total = timed(lambda: evaluator.evaluate(clip.frames, clip.audio), args.runs, total_cpu)
    embed = timed(lambda: evaluator.embeddings(clip.frames, mel), args.runs)
    video_emb, audio_emb = evaluator.embeddings(clip.frames, mel)
    score = timed(lambda: sync_scores(video_emb, audio_emb), args.runs)
    jobs, load_after = other_training_jobs() or jobs_before, os.getloadavg()[0]
    results = {
        "command": f"python eval/bench_sync.py --threads {args.threads}",
        "machine": {
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "processor": cpu_name(),
            "torch": torch.__version__,
            "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)},
            "training_job_running": bool(jobs),
            "note": contention_note(jobs, max(load_before, load_after)),
        },
        "expert": expert_desc,
        "clip": {
            "frames": int(clip.info.num_frames),
            "seconds": cfg.synth.seconds,
            "fps": cfg.data.fps,
            "image_size": cfg.data.image_size,
            "windows": result.num_windows,
            "id": clip.info.id,
        },  # fmt: skip
        "seconds": {
            "evaluate_median": round(statistics.median(total), 4),
            "evaluate_runs": [round(t, 4) for t in total],
            "evaluate_cpu_seconds_median": round(statistics.median(total_cpu), 4),
            "embeddings_median": round(statistics.median(embed), 4),
            "scores_median": round(statistics.median(score), 4),
            "mel_and_rest_median": round(statistics.median(total) - statistics.median(embed), 4),
            "load_expert_once": round(load_seconds, 4),
            "checkpoint_sha256_id": round(timed(lambda: checkpoint_id(args.expert), 1)[0], 4) if trained else None,
        },
        "target": "evaluate < 0.5 s on 2 cores (median of runs after a warm-up)",
        "figures_of_this_clip": {
            "lse_d": round(result.lse_d, 4),
            "lse_c": round(result.lse_c, 4),
            "offset": result.offset,
        },  # fmt: skip
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
