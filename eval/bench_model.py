"""Benchmark the generator (``LipSyncModel``): parameters, FLOPs per frame, inference and training speed on this CPU.

    .venv/bin/python eval/bench_model.py [--threads N] [--repeats 5] [--out eval/results/bench_model.json] [--quick]

Two rows: the ``cpu`` preset at the field's 96x96 (``data.image_size=96, data.mouth_size=48``) and at the preset's
own 64x64. Inputs are random tensors of the shapes ``FaceDataset`` gives (windows of K frames), flattened by
``flatten_windows`` as training does; speed does not depend on the values.

- FLOPs per frame: ``torch.utils.flop_counter.FlopCounterMode`` on one batch-1 forward. It counts matmul and
  convolution FLOPs only (a multiply-add = 2 FLOPs); element-wise ops, norms and activations are not counted.
- Inference frames/s: ``model.eval()`` under ``torch.inference_mode``, fp32, contiguous (NCHW) tensors, at batch 1 and
  batch 32; warm-up calls, then the median over ``--repeats`` timed repeats of several calls each.
- Training windows/s: one step = forward + mouth-region L1 (the training loop's loss with the ``cpu`` preset's
  other terms off: no sync expert, SSIM, LPIPS or GAN) + backward + gradient-norm clip + Adam step, on a batch of
  16 windows of 5 frames (80 frames; the preset's batch size with ``data.num_frames=5``, the windows the sync loss
  needs). windows/s = 16 / (seconds per step); frames/s = 5 x that.

Aims (issue 3): >= 25 frames/s at batch 1 (real time at 25 fps) and >= 100 frames/s batched, on 2 cores, at 96x96.
The 1-minute load average is recorded at start and end: another busy process cuts these figures by 1.4-2.8x
(docs/PERFORMANCE.md). ``--quick`` is a smoke run (small batches, one repeat): its figures are not measurements.
Nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

# isort: off
import facekit  # noqa: F401 -- before torch: sets GOMP_SPINCOUNT (else 2 threads on a busy machine ran 15x slower)

# isort: on
import torch
from torch import Tensor

from facekit.config import Config, apply_overrides, get_preset
from facekit.data.text import NUM_PHONEMES
from facekit.metrics.image import mouth_region
from facekit.models.encoders import flatten_windows
from facekit.models.lipsync import LipSyncModel

AIM_BATCH1_FPS = 25.0
AIM_BATCHED_FPS = 100.0
ROWS = {"cpu@96": ["data.image_size=96", "data.mouth_size=48"], "cpu@64": []}


def dummy_windows(cfg: Config, batch_size: int, num_frames: int, seed: int = 0) -> dict[str, Tensor]:
    """Random generator input shaped like a ``FaceDataset`` batch (B, K, ...), flattened to (B*K, ...).

    Images float in [0, 1] (``masked`` has its lower half zeroed), mel in [-4, 4], phoneme ids, all modalities present.
    """
    g = torch.Generator().manual_seed(seed)
    b, k = batch_size, num_frames
    s, m, p = cfg.data.image_size, cfg.data.mouth_size, cfg.data.phoneme_window
    target = torch.rand(b, k, 3, s, s, generator=g)
    masked = target.clone()
    masked[..., s // 2 :, :] = 0.0
    windows = {
        "target": target,
        "masked": masked,
        "reference": torch.rand(b, k, 3, s, s, generator=g),
        "mel": torch.rand(b, k, 1, 80, 16, generator=g) * 8 - 4,
        "phonemes": torch.randint(0, NUM_PHONEMES, (b, k, p), generator=g),
        "mouth": torch.rand(b, k, 3, m, m, generator=g),
        "has": torch.ones(b, 3, dtype=torch.bool),
    }
    return flatten_windows(windows)


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def parameter_counts(model: LipSyncModel) -> dict:
    """Total and per part: encoders (each modality), cascade, generator (face encoder, fusion, decoder)."""
    parts = {
        "total": count_parameters(model),
        "encoders": count_parameters(model.encoders),
        "encoders_by_modality": {name: count_parameters(e) for name, e in model.encoders.items()},
        "cascade": count_parameters(model.cascade) if hasattr(model, "cascade") else 0,
        "generator": count_parameters(model.generator),
        "generator_by_part": {
            "face_encoder": count_parameters(model.generator.encoder),
            "fusion": count_parameters(model.generator.fusion),
            "decoder": count_parameters(model.generator.decoder),
        },
    }
    other = parts["total"] - parts["encoders"] - parts["cascade"] - parts["generator"]
    if other:
        parts["other"] = other  # e.g. a GAN discriminator or the contrastive baseline's projections
    return parts


def flops_per_frame(model: LipSyncModel, cfg: Config) -> int:
    """Matmul + convolution FLOPs of one batch-1 forward (FlopCounterMode; a multiply-add counts 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    batch = dummy_windows(cfg, 1, 1)
    model.eval()
    with FlopCounterMode(display=False) as counter:  # grad mode on: its module hooks fail under no_grad/inference
        model(batch)  # forward only: nothing is counted for a backward that never runs
    return int(counter.get_total_flops())


def timed_rate(fn, items_per_call: int, calls: int, repeats: int, warmup: int) -> dict:
    """Items/s: ``warmup`` untimed calls, then ``repeats`` timings of ``calls`` calls each -> median, best, all."""
    for _ in range(warmup):
        fn()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        rates.append(items_per_call * calls / (time.perf_counter() - start))
    return {
        "median": round(statistics.median(rates), 2),
        "best": round(max(rates), 2),
        "repeats": [round(r, 2) for r in rates],
    }


def inference_rate(model: LipSyncModel, cfg: Config, batch_size: int, calls: int, repeats: int, warmup: int) -> dict:
    model.eval()
    batch = dummy_windows(cfg, batch_size, 1, seed=1)

    def forward() -> None:
        with torch.inference_mode():
            model(batch)

    rate = timed_rate(forward, batch_size, calls, repeats, warmup)
    return {
        "batch_size": batch_size,
        "frames_per_second": rate["median"],
        "best_of_repeats": rate["best"],
        "per_repeat": rate["repeats"],
        "calls_per_repeat": calls,
    }


def training_rate(
    model: LipSyncModel, cfg: Config, windows: int, frames: int, calls: int, repeats: int, warmup: int
) -> dict:
    """Training steps (forward + mouth L1 + backward + clip + Adam) -> windows/s and frames/s (median of repeats)."""
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=(0.5, 0.999))  # as facekit.train.loop
    batch = dummy_windows(cfg, windows, frames, seed=2)

    def step() -> None:
        image = model(batch)["image"]
        loss = (mouth_region(image) - mouth_region(batch["target"])).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()

    rate = timed_rate(step, windows, calls, repeats, warmup)
    return {
        "windows_per_step": windows,
        "frames_per_window": frames,
        "windows_per_second": rate["median"],
        "frames_per_second": round(rate["median"] * frames, 2),
        "best_of_repeats_windows_per_second": rate["best"],
        "per_repeat_windows_per_second": rate["repeats"],
        "steps_per_repeat": calls,
        "definition": "one step = forward + mouth-region L1 + backward + grad-norm clip + Adam step on "
        f"{windows} windows x {frames} frames; no sync-expert, SSIM, LPIPS or GAN term",
    }


def bench_row(overrides: list[str], args: argparse.Namespace) -> dict:
    cfg = apply_overrides(get_preset("cpu"), overrides)
    torch.manual_seed(0)
    model = LipSyncModel(cfg)
    q = args.quick
    batched = 4 if q else 32
    train_windows, train_frames = (2, 5) if q else (cfg.train.batch_size, 5)
    warmup = 1 if q else 3
    return {
        "config": {
            "preset": "cpu",
            "overrides": overrides,
            "image_size": cfg.data.image_size,
            "mouth_size": cfg.data.mouth_size,
            "feature_dim": cfg.model.feature_dim,
            "base_channels": cfg.model.base_channels,
            "variant": cfg.model.variant,
            "cascade_order": list(cfg.model.cascade.order),
            "formula": cfg.model.cascade.formula,
        },
        "parameters": parameter_counts(model),
        "flops_per_frame": flops_per_frame(model, cfg),
        "inference": {
            "batch_1": inference_rate(model, cfg, 1, 2 if q else 20, args.repeats, warmup),
            "batched": inference_rate(model, cfg, batched, 1 if q else 3, args.repeats, warmup),
        },
        "training": training_rate(model, cfg, train_windows, train_frames, 1 if q else 3, args.repeats, warmup),
    }


def aims(row: dict) -> dict:
    batch1 = row["inference"]["batch_1"]["frames_per_second"]
    batched = row["inference"]["batched"]["frames_per_second"]
    return {
        "batch_1": {"aim_frames_per_second": AIM_BATCH1_FPS, "measured": batch1, "met": batch1 >= AIM_BATCH1_FPS},
        "batched": {
            "aim_frames_per_second": AIM_BATCHED_FPS,
            "measured": batched,
            "met": batched >= AIM_BATCHED_FPS,
            "batch_size": row["inference"]["batched"]["batch_size"],
        },
    }


def busy_note(before: tuple[float, ...], after: tuple[float, ...], threads: int) -> str:
    cpus = os.cpu_count() or 1
    load = max(before[0], after[0])
    if load < 0.5 * cpus:
        return "measured on an otherwise idle machine (1-min load below half the CPUs at start and end)"
    return (
        f"measured while other work kept the machine busy: 1-min load up to {load:.2f} on {cpus} CPUs with "
        f"{threads} torch threads; figures are lower and noisier than on an idle machine (by 1.4-2.8x, "
        "docs/PERFORMANCE.md); re-run on an idle machine before quoting them"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice; 1 with --quick)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="timed repeats per figure (default 5; 1 if --quick)")
    parser.add_argument("--out", default="eval/results/bench_model.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: small batches, one repeat (not a measurement)")
    args = parser.parse_args(argv)
    if args.threads is None and args.quick:
        args.threads = 1  # a smoke run: light on a machine that is busy with real work
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.repeats = args.repeats or (1 if args.quick else 5)
    threads = torch.get_num_threads()
    load_before = os.getloadavg()
    start = time.perf_counter()
    rows = {}
    for name, overrides in ROWS.items():
        rows[name] = bench_row(overrides, args)
        rows[name]["aims"] = aims(rows[name])
    load_after = os.getloadavg()
    command = "python eval/bench_model.py" + (f" --threads {args.threads}" if args.threads is not None else "")
    command += f" --repeats {args.repeats}" + (" --quick" if args.quick else "")
    results = {
        "command": command,
        "quick": args.quick,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "torch_threads": threads,
            "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
            "load_average_1min": {"start": round(load_before[0], 2), "end": round(load_after[0], 2)},
            "load_average_5min": {"start": round(load_before[1], 2), "end": round(load_after[1], 2)},
        },
        "settings": {
            "dtype": "float32",
            "device": "cpu",
            "memory_format": "contiguous (NCHW)",
            "inference": "model.eval() under torch.inference_mode; median frames/s over timed repeats after warm-up",
            "flops": "torch.utils.flop_counter.FlopCounterMode, batch-1 forward: matmul and convolution FLOPs only "
            "(multiply-add = 2), element-wise ops not counted",
            "training": "windows/s of forward + mouth L1 + backward + grad-norm clip + Adam step (see each row)",
            "aims": f">= {AIM_BATCH1_FPS:g} frames/s at batch 1 and >= {AIM_BATCHED_FPS:g} frames/s batched, "
            "on 2 cores, at 96x96 (issue 3)",
        },
        "rows": rows,
        "aims_met_at_96": rows["cpu@96"]["aims"],
        "seconds": round(time.perf_counter() - start, 1),
        "note": ("--quick smoke run: tiny batches and one repeat, not a measurement. " if args.quick else "")
        + busy_note(load_before, load_after, threads),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("machine", "aims_met_at_96", "seconds", "note")}, indent=2))
    return results


if __name__ == "__main__":
    main()
