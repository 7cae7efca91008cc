"""Benchmark SSIM throughput: facekit's batched torch SSIM against scikit-image on the same batch of images.

    .venv/bin/python eval/bench_metrics.py [--images 256] [--size 96] [--repeats 5] [--threads 1]
                                           [--out eval/results/bench_metrics.json]

Both compute the field's SSIM (Gaussian window sigma 1.5, K1 0.01, K2 0.03, population covariance, data range 1) on
float32 RGB images; scikit-image one image at a time (its API), facekit on the whole (N, 3, H, W) batch. Target: facekit
>= 10x scikit-image on 256 96x96 images. Reports the median over repeats; nothing here asserts on speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import skimage

# isort: off
import facekit  # noqa: F401 -- before torch: sets GOMP_SPINCOUNT (libgomp reads it when torch loads it)

# isort: on
import torch
from skimage.metrics import structural_similarity

from facekit.metrics.image import ssim


def images_per_second(fn, num_images: int, repeats: int) -> tuple[float, float]:
    """(median, best) images/s over ``repeats`` timed calls after one warm-up call."""
    fn()
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(num_images / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


def busy_note(before: tuple[float, ...], after: tuple[float, ...]) -> str:
    cpus = os.cpu_count() or 1
    load = max(before[0], after[0])
    if load < 0.5 * cpus:
        return "measured on an otherwise idle machine"
    return (
        f"measured while other work (a training job) kept the machine busy: 1-min load {load:.2f} on {cpus} CPUs; "
        "both figures are lower and noisier than on an idle machine, the ratio less so. With more torch threads "
        "than free cores, torch's thread pool stalls (use --threads 1 on a busy machine)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (scikit-image uses one)")
    parser.add_argument("--out", default="eval/results/bench_metrics.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()

    rng = np.random.default_rng(0)
    shape = (args.images, 3, args.size, args.size)
    x = rng.random(shape, dtype=np.float32)
    y = np.clip(x + 0.1 * rng.standard_normal(shape, dtype=np.float32), 0, 1)
    x_hwc, y_hwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)), np.ascontiguousarray(y.transpose(0, 2, 3, 1))
    settings = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1)

    def run_skimage() -> np.ndarray:
        return np.array([structural_similarity(a, b, **settings) for a, b in zip(x_hwc, y_hwc, strict=True)])

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def run_facekit() -> torch.Tensor:
        return ssim(tx, ty, reduction="none")

    max_diff = float(np.abs(run_facekit().numpy() - run_skimage()).max())
    sk_median, sk_best = images_per_second(run_skimage, args.images, args.repeats)
    fk_median, fk_best = images_per_second(run_facekit, args.images, args.repeats)
    load_after = os.getloadavg()

    results = {
        "command": (
            f"python eval/bench_metrics.py --images {args.images} --size {args.size} "
            f"--repeats {args.repeats} --threads {args.threads}"
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor(),
            "torch": torch.__version__,
            "scikit_image": skimage.__version__,
            "load_average_1min": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        },
        "batch": {"images": args.images, "shape": list(shape), "dtype": "float32", "device": "cpu"},
        "ssim": {
            "skimage_images_per_second": round(sk_median),
            "facekit_images_per_second": round(fk_median),
            "speedup": round(fk_median / sk_median, 2),
            "best_of_repeats": {
                "skimage_images_per_second": round(sk_best),
                "facekit_images_per_second": round(fk_best),
                "speedup": round(fk_best / sk_best, 2),
            },
            "torch_threads": args.threads,
            "repeats": args.repeats,
            "max_abs_diff_per_image": max_diff,
            "target": "facekit >= 10x scikit-image",
            "target_met": fk_median / sk_median >= 10,
        },
        "note": busy_note(load_before, load_after),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
