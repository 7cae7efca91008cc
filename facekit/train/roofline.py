"""Measuring the generator on this machine: its size and FLOPs, inference speed, the machine's fp32 peak and a
roofline of the training loop's own step (each phase timed alone, as a fraction of the peak).

Used by ``eval/bench_model.py``, which writes the figures to ``eval/results/bench_model.json``. Inputs are random
tensors of ``FaceDataset``'s shapes (:func:`dummy_windows`) except in the data phase. FLOPs are
``torch.utils.flop_counter.FlopCounterMode``'s: matmul and convolution only (a multiply-add = 2). Timings are medians
of wall-clock repeats after untimed warm-up calls; nothing here asserts on speed.
"""

from __future__ import annotations

import copy
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from facekit.config import Config, apply_overrides
from facekit.data.text import NUM_PHONEMES
from facekit.metrics.image import mouth_region, ssim
from facekit.models.encoders import flatten_windows
from facekit.models.lipsync import LipSyncModel
from facekit.models.sync_expert import SyncExpert, lower_half
from facekit.nn import ModulatedConv2d, modulated_conv2d
from facekit.train.objective import GeneratorObjective, build_optimizer, train_step

AIM_FRACTION_OF_PEAK = 0.6  # issue 19: the generator's convolution / matmul phases at 60% of the measured peak
STEPS = {"old": torch.contiguous_format, "new": torch.channels_last}  # the model's memory format


def dummy_windows(cfg: Config, batch_size: int, num_frames: int, seed: int = 0) -> dict[str, Tensor]:
    """Random generator input shaped like a ``FaceDataset`` batch of windows (B, K, ...) (``clip``/``frame`` left out).

    Images float in [0, 1] (``masked`` has its lower half zeroed), mel in [-4, 4], phoneme ids, all modalities present,
    every window with its ground truth (``recon`` 1).
    """
    g = torch.Generator().manual_seed(seed)
    b, k = batch_size, num_frames
    s, m, p = cfg.data.image_size, cfg.data.mouth_size, cfg.data.phoneme_window
    target = torch.rand(b, k, 3, s, s, generator=g)
    masked = target.clone()
    masked[..., s // 2 :, :] = 0.0
    return {
        "target": target,
        "masked": masked,
        "reference": torch.rand(b, k, 3, s, s, generator=g),
        "mel": torch.rand(b, k, 1, 80, 16, generator=g) * 8 - 4,
        "sync_mel": torch.rand(b, 1, 80, 16, generator=g) * 8 - 4,
        "phonemes": torch.randint(0, NUM_PHONEMES, (b, k, p), generator=g),
        "mouth": torch.rand(b, k, 3, m, m, generator=g),
        "has": torch.ones(b, 3, dtype=torch.bool),
        "recon": torch.ones(b),
    }


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
    batch = flatten_windows(dummy_windows(cfg, 1, 1))
    model.eval()
    # grad mode on: the counter's module hooks fail under no_grad/inference; forward only, so no backward is counted
    return counted_flops(lambda: model(batch))


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
    batch = flatten_windows(dummy_windows(cfg, batch_size, 1, seed=1))

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


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall-clock seconds of each ``fns[name]()`` over ``repeats`` rounds, the functions called in turn within a
    round, so a change in the machine's load falls on all of them alike (take medians of the lists)."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def counted_flops(fn: Callable[[], object]) -> int:
    """Matmul + convolution FLOPs of one call of ``fn`` (forward and any backward it runs)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_peak(repeats: int) -> dict:
    """The machine's fp32 GFLOP/s on the current threads: a 2048x2048 matmul and a 64-channel 3x3 convolution."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    x = torch.randn(32, 64, 48, 48).contiguous(memory_format=torch.channels_last)
    w = torch.randn(64, 64, 3, 3).contiguous(memory_format=torch.channels_last)
    cases = {"matmul_2048": (lambda: a @ b, 2 * 2048**3), "conv3x3_64ch": (lambda: F.conv2d(x, w, padding=1), None)}
    out = {}
    for name, (fn, flops) in cases.items():
        flops = flops or counted_flops(fn)
        out[f"{name}_gflops"] = round(flops / median_seconds(fn, max(3, repeats), warmup=2) / 1e9, 1)
    out["peak_gflops"] = max(out.values())
    out["definition"] = (
        "fp32 GFLOP/s, median of timed calls: a 2048x2048 @ 2048x2048 matmul, and a 3x3 convolution of 64 -> 64 "
        "channels on (32, 64, 48, 48) channels-last with padding 1; the peak is the faster"
    )
    return out


def training_setup(cfg: Config) -> tuple[LipSyncModel, GeneratorObjective, dict[str, Tensor]]:
    """The generator, the objective of ``train_generator`` (sync term with a random frozen expert) and a fixed batch."""
    torch.manual_seed(0)
    model = LipSyncModel(cfg).train()
    expert = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2).eval().requires_grad_(False)
    return model, GeneratorObjective(cfg.train, expert), dummy_windows(cfg, cfg.train.batch_size, 5, seed=2)


def step_comparison(cfg: Config, repeats: int, warmup: int) -> dict:
    """Old and new step: equal losses over two steps on one fixed batch, then seconds per step, interleaved."""
    model, objective, batch = training_setup(cfg)
    nets = {name: copy.deepcopy(model).to(memory_format=fmt) for name, fmt in STEPS.items()}
    opts = {name: build_optimizer(net, cfg.train) for name, net in nets.items()}

    def step(name: str) -> dict[str, Tensor]:
        out = train_step(nets[name], opts[name], batch, objective, cfg.train.grad_clip)
        return {k: v.detach() for k, v in out.items()}

    records = {name: [step(name), step(name)] for name in STEPS}
    diffs = {
        key: max(abs(float(o[key]) - float(n[key])) for o, n in zip(records["old"], records["new"], strict=True))
        for key in records["old"][0]
    }
    for _ in range(max(0, warmup - 2)):
        for name in STEPS:
            step(name)
    times = interleaved_times({name: partial(step, name) for name in STEPS}, repeats)
    windows = cfg.train.batch_size
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {
        "windows_per_step": windows,
        "frames_per_window": 5,
        "old": {
            "memory_format": "contiguous (NCHW)",
            "seconds_per_step": round(seconds["old"], 4),
            "windows_per_second": round(windows / seconds["old"], 2),
            "per_repeat_seconds": [round(t, 4) for t in times["old"]],
        },
        "new": {
            "memory_format": "channels-last",
            "seconds_per_step": round(seconds["new"], 4),
            "windows_per_second": round(windows / seconds["new"], 2),
            "per_repeat_seconds": [round(t, 4) for t in times["new"]],
        },
        "speedup": round(seconds["old"] / seconds["new"], 2),
        "equal_losses": {
            "steps_compared": 2,
            "losses_step_1": {k: round(float(v), 6) for k, v in records["new"][0].items()},
            "max_abs_diff_old_vs_new": {k: float(f"{v:.3g}") for k, v in diffs.items()},
            "equal_within_1e-4": all(v <= 1e-4 for v in diffs.values()),
        },
        "definition": "facekit.train.objective.train_step(GeneratorObjective): forward, mouth L1 + (1 - SSIM) + "
        "sync loss, backward, grad-norm clip, Adam step; old and new timed in turn after two steps each",
        "_seconds": seconds["new"],
    }


def data_seconds(cfg: Config, data_dir: str | None, repeats: int) -> dict:
    """Seconds to load one batch of windows as the loop does (``FaceDataset`` through a ``DataLoader``, no workers)."""
    from facekit.data.dataset import FaceDataset

    with tempfile.TemporaryDirectory() as tmp:
        root = data_dir
        if root is None:
            from facekit.data.synthetic.corpus import generate_corpus

            small = apply_overrides(cfg, ["synth.num_identities=2", "synth.clips_per_identity=2", "synth.seconds=3"])
            generate_corpus(small, tmp, workers=1, progress=False)
            root = tmp
        dataset = FaceDataset(root, cfg.data, "all", seed=0)
        g = torch.Generator().manual_seed(0)
        batches = iter(torch.randint(0, len(dataset), (repeats + 1, cfg.train.batch_size), generator=g).tolist())
        seconds = median_seconds(lambda: next(iter(DataLoader(dataset, batch_sampler=[next(batches)]))), repeats)
    return {"seconds": seconds, "source": data_dir or "a synthetic corpus of 4 clips made here"}


def phase_table(cfg: Config, step_seconds: float, data_dir: str | None, repeats: int) -> dict:
    """Each phase of the new step, timed alone: seconds, share of the step, GFLOP counted, fraction of the peak.

    The peak is measured right before and right after the phases and the higher one is used: on a shared machine
    the speed on offer drifts within a run."""
    model, objective, batch = training_setup(cfg)
    model.to(memory_format=STEPS["new"])
    opt = build_optimizer(model, cfg.train)
    flat = flatten_windows(batch)
    grad = torch.rand(flat["target"].shape)
    image = torch.rand(flat["target"].shape, requires_grad=True)
    frames = lambda: lower_half(image).unflatten(0, batch["target"].shape[:2])  # noqa: E731
    real = mouth_region(flat["target"])

    def generator_forward() -> None:
        model(flat)

    def generator_forward_backward() -> None:
        model(flat)["image"].backward(grad)

    def expert() -> None:
        objective.sync_loss(frames(), batch["mel"][:, 0]).backward()

    def ssim_term() -> None:
        (1 - ssim(mouth_region(image), real)).backward()

    generator_forward_backward()  # gradients exist for the optimizer phase

    def optimizer() -> None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
        opt.step()

    cases = {
        "generator_forward": generator_forward,
        "generator_forward_backward": generator_forward_backward,
        "expert_forward_backward": expert,
        "ssim_forward_backward": ssim_term,
        "optimizer": optimizer,
    }
    peaks = [measure_peak(repeats)]
    seconds = {name: median_seconds(fn, repeats) for name, fn in cases.items()}
    peaks.append(measure_peak(repeats))
    peak_gflops = max(p["peak_gflops"] for p in peaks)
    flops = {name: counted_flops(fn) for name, fn in cases.items() if name != "optimizer"}
    seconds["generator_backward"] = seconds.pop("generator_forward_backward") - seconds["generator_forward"]
    flops["generator_backward"] = flops.pop("generator_forward_backward") - flops["generator_forward"]
    seconds["data"] = data_seconds(cfg, data_dir, repeats)["seconds"]
    seconds["other"] = step_seconds + seconds["data"] - sum(seconds.values())
    order = ["data", "generator_forward", "generator_backward", "expert_forward_backward", "ssim_forward_backward"]
    table = {}
    for name in [*order, "optimizer", "other"]:
        row = {
            "seconds": round(seconds[name], 4),
            "share_of_step": round(seconds[name] / (step_seconds + seconds["data"]), 3),
        }
        if name in flops:
            gflops = flops[name] / max(seconds[name], 1e-9) / 1e9
            row.update(
                gflop=round(flops[name] / 1e9, 3),
                gflops=round(gflops, 1),
                fraction_of_peak=round(gflops / peak_gflops, 3),
            )
        table[name] = row
    gen = {k: table[k] for k in ("generator_forward", "generator_backward")}
    return {
        "peak_gflops": peak_gflops,
        "peaks_before_and_after": peaks,
        "phases": table,
        "step_seconds_with_data": round(step_seconds + seconds["data"], 4),
        "generator_aim": {
            "aim_fraction_of_peak": AIM_FRACTION_OF_PEAK,
            "measured": {k: v["fraction_of_peak"] for k, v in gen.items()},
            "met": all(v["fraction_of_peak"] >= AIM_FRACTION_OF_PEAK for v in gen.values()),
        },
    }


def modulated_layer_lever(repeats: int) -> dict:
    """The decoder's upsampling modulated layer at 96x96, batch 80, forward + backward: the module (modulation before
    the resize, demodulation + bias + activation in two passes) against the same layer composed of the library's
    pure op as before (resize, modulate, convolve, demodulate, add bias, activation, gain: one pass each)."""
    torch.manual_seed(0)
    layer = ModulatedConv2d(32, 16, 96, upsample=True).to(memory_format=torch.channels_last)
    x = torch.randn(80, 32, 48, 48).contiguous(memory_format=torch.channels_last).requires_grad_()
    cond = torch.randn(80, 96)

    def composed() -> Tensor:
        resized = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        y = modulated_conv2d(resized, layer.weight * layer.gain, layer.affine(cond))
        return F.leaky_relu(y + layer.bias[None, :, None, None], 0.2) * 2**0.5

    fns = {"module": lambda: layer(x, cond), "composed": composed}
    max_diff = float((fns["module"]() - composed()).detach().abs().max())
    seconds = {name: median_seconds(lambda fn=fn: fn().sum().backward(), repeats) for name, fn in fns.items()}
    return {
        "seconds_forward_backward": {k: round(v, 4) for k, v in seconds.items()},
        "speedup": round(seconds["composed"] / seconds["module"], 2),
        "max_abs_diff": float(f"{max_diff:.3g}"),
    }


def inplace_activation_lever(cfg: Config, repeats: int) -> dict:
    """The generator's forward + backward on 4 windows with its leaky ReLUs out of place (as built) against the same
    model with them in place: seconds and whether every gradient is identical."""
    out_of_place = training_setup(cfg)[0].to(memory_format=STEPS["new"])
    model = copy.deepcopy(out_of_place)
    for module in model.modules():
        if isinstance(module, torch.nn.LeakyReLU):
            module.inplace = True
    flat = flatten_windows(dummy_windows(cfg, 4, 5, seed=3))
    grad = torch.rand(flat["target"].shape)
    nets = {"in_place": model, "out_of_place": out_of_place}

    def forward_backward(net: torch.nn.Module) -> None:
        net.zero_grad(set_to_none=True)
        net(flat)["image"].backward(grad)

    for net in nets.values():
        forward_backward(net)
    same = all(torch.equal(p.grad, q.grad) for p, q in zip(model.parameters(), out_of_place.parameters(), strict=True))
    times = interleaved_times({name: partial(forward_backward, net) for name, net in nets.items()}, repeats)
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {
        "seconds_forward_backward": {k: round(v, 4) for k, v in seconds.items()},
        "speedup": round(seconds["out_of_place"] / seconds["in_place"], 2),
        "identical_gradients": same,
        "definition": "generator forward + backward on 4 windows x 5 frames, interleaved repeats (medians)",
    }


INDUCTOR_CACHE = "TORCHINDUCTOR_CACHE_DIR"
COMPILE_PAYS = 1.2  # a per-step gain worth a compile that takes minutes on 2 cores, again on every config change


def compile_lever(cfg: Config, repeats: int) -> dict:
    """The training step with ``torch.compile`` on the generator against the eager step (both channels-last, from the
    same weights, on one fixed batch): the first two steps' losses compared, the seconds the first compiled step took
    (compilation included), then seconds per step timed interleaved (medians)."""
    with tempfile.TemporaryDirectory() as cache:
        previous = os.environ.get(INDUCTOR_CACHE)
        os.environ[INDUCTOR_CACHE] = cache  # an empty cache: the first compiled step pays the whole compilation
        try:
            return _compile_lever(cfg, repeats)
        finally:
            if previous is None:
                os.environ.pop(INDUCTOR_CACHE)
            else:
                os.environ[INDUCTOR_CACHE] = previous


def _compile_lever(cfg: Config, repeats: int) -> dict:
    model, objective, batch = training_setup(cfg)
    nets = {name: copy.deepcopy(model).to(memory_format=STEPS["new"]) for name in ("eager", "compiled")}
    opts = {name: build_optimizer(net, cfg.train) for name, net in nets.items()}
    forward = {"eager": nets["eager"], "compiled": torch.compile(nets["compiled"])}

    def step(name: str) -> dict[str, float]:
        out = train_step(forward[name], opts[name], batch, objective, cfg.train.grad_clip)
        return {k: float(v.detach()) for k, v in out.items()}

    records: dict[str, list[dict[str, float]]] = {}
    first_step: dict[str, float] = {}
    for name in forward:
        start = time.perf_counter()
        records[name] = [step(name)]
        first_step[name] = time.perf_counter() - start
        records[name].append(step(name))
    diffs = {
        key: max(abs(e[key] - c[key]) for e, c in zip(records["eager"], records["compiled"], strict=True))
        for key in records["eager"][0]
    }
    times = interleaved_times({name: partial(step, name) for name in forward}, repeats)
    seconds = {name: statistics.median(t) for name, t in times.items()}
    return {
        "seconds_per_step": {k: round(v, 4) for k, v in seconds.items()},
        "speedup": round(seconds["eager"] / seconds["compiled"], 2),
        "first_step_seconds": {k: round(v, 1) for k, v in first_step.items()},
        "max_abs_diff_eager_vs_compiled": {k: float(f"{v:.3g}") for k, v in diffs.items()},
        "equal_within_1e-4": all(v <= 1e-4 for v in diffs.values()),
        "definition": "train_step(GeneratorObjective) with the generator wrapped in torch.compile (default mode, "
        "inductor, an empty compile cache) against the eager step, two steps each on one fixed batch, then timed in "
        "turn (medians)",
    }


def compile_entry(compiled: dict | None) -> dict:
    """The torch.compile lever: adopted only if it pays clearly (1.2x) at equal losses."""
    if compiled is None:
        return {"adopted": False, "measured": None, "why": "not measured in this run (pass --compile: minutes)"}
    pays = compiled["speedup"] >= COMPILE_PAYS and compiled["equal_within_1e-4"]
    first = compiled["first_step_seconds"]
    why = (
        f"{compiled['speedup']}x per step at 96x96 after a first step of {first['compiled']} s (eager "
        f"{first['eager']} s); adopted when at least {COMPILE_PAYS}x at equal losses"
    )
    return {"adopted": pays, "measured": compiled, "why": why}


def other_load(before: tuple[float, ...], after: tuple[float, ...], threads: int) -> float:
    """The 1-min load of other work: the load at the start, or at the end less this benchmark's own threads."""
    return max(before[0], after[0] - threads)
