"""Training: the sync expert and the generator, resumable to the exact step and loss.

Both loops share one skeleton (:func:`run`): a seeded, epoch-wise shuffled order of windows, a progress bar, a JSONL
log (``log.jsonl``, whose first record also holds ``loss_terms``: every active loss term and its weight), an atomic
checkpoint every ``train.checkpoint_every`` steps and at the end (``last.pt``, with the run's data contract), and the
resolved config and fixed split written into the run folder (``facekit.train.resume``). Resuming rebuilds the same
batch order from (seed, epoch), skips the batches already seen and restores model, optimizer and RNG state -- so a
killed-and-resumed run continues from the same step with the same losses as an uninterrupted one. Ctrl-C or a plain
``kill`` (SIGTERM) lets the current step finish and saves it before the run stops, so such a stop loses nothing.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from facekit.checkpoints import CheckpointError, load_checkpoint, load_expert
from facekit.config import Config, ConfigError
from facekit.contract import check_expert_for_training, data_contract
from facekit.data.clips import data_source
from facekit.data.dataset import FaceDataset, Split, SyncDataset
from facekit.models.encoders import flatten_windows
from facekit.models.lipsync import LipSyncModel
from facekit.models.sync_expert import SyncExpert, bce, info_nce_sync
from facekit.runtime import configure_cpu
from facekit.train.checkpoint import save_checkpoint
from facekit.train.objective import GeneratorObjective, StepFn, build_optimizer, train_step
from facekit.train.resume import RunStart, start_run


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device=cuda but no CUDA device is visible; use train.device=cpu or auto")
    return torch.device(name)


def epoch_batches(num_items: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The shuffled batches of one epoch (full batches only), a pure function of (seed, epoch)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(num_items, generator=g).tolist()
    return [order[i : i + batch_size] for i in range(0, num_items - batch_size + 1, batch_size)]


def _to(batch: dict[str, Tensor], device: torch.device, channels_last: bool = False) -> dict[str, Tensor]:
    def move(v: Tensor) -> Tensor:
        v = v.to(device, non_blocking=True)
        return v.contiguous(memory_format=torch.channels_last) if channels_last and v.dim() == 4 else v

    return {k: move(v) for k, v in batch.items()}


def world() -> tuple[int, int]:
    """(rank, world size) of a ``torchrun`` job, (0, 1) otherwise."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> bool:
    """Join the process group when launched by ``torchrun`` (NCCL on GPUs, gloo on CPUs); True if distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_available() and dist.is_initialized()
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


class _Interrupt:
    """Whether SIGINT or SIGTERM arrived; a second one interrupts at once (the user insists)."""

    requested = False

    def __call__(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


@contextlib.contextmanager
def deferred_interrupts(enabled: bool = True) -> Iterator[_Interrupt]:
    """SIGINT (Ctrl-C) and SIGTERM (``kill``) only set a flag while a training loop runs, so the loop can finish its
    step, save a checkpoint of it and stop (a kill mid-step would leave the optimizer half-applied). Only in the main
    thread of a single process (not under ``torchrun``, whose processes must stop together)."""
    flag = _Interrupt()
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.signal(sig, flag) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run(
    cfg: Config,
    kind: str,
    model: nn.Module,
    dataset: Dataset,
    step_fn: StepFn,
    run_dir: Path,
    begin: RunStart,
    progress: bool = True,
    on_checkpoint: Callable[[nn.Module, int], None] | None = None,
    extra_state: dict | None = None,
) -> dict:
    """The shared training skeleton; ``step_fn(batch) -> {"loss": ..., other scalars}``. Returns the last record.

    ``begin``: the run folder's resume state, split and loss terms (:func:`facekit.train.resume.start_run`); the loss
    terms are stated on the console, in the log's first record and in the checkpoint. ``on_checkpoint(model, step)``
    runs on the main process after each checkpoint (e.g. to write sample grids); ``extra_state`` is stored in every
    checkpoint (e.g. the data source)."""
    configure_cpu()
    rank, world_size = world()
    main_process = rank == 0
    t = cfg.train
    loss_terms = begin.loss_terms
    if main_process:
        terms = " + ".join(f"{w:g} x {name}" for name, w in loss_terms.items())
        for note in begin.notes:
            print(f"train {kind}: {note}")
        print(f"train {kind}: loss = {terms}")
    if t.batch_size % world_size:
        raise ValueError(f"train.batch_size={t.batch_size} must be divisible by the {world_size} processes")
    device = pick_device(t.device)
    if device.type == "cuda" and world_size > 1:
        device = torch.device("cuda", torch.cuda.current_device())
    cuda = device.type == "cuda"
    model.to(device, memory_format=torch.channels_last)  # faster on CPUs too (eval/results/bench_model.json)
    opt = build_optimizer(model, t)
    step, ckpt = 0, run_dir / "last.pt"
    spent = 0.0  # wall seconds of training before this process: train.max_minutes is the run's budget, not a sitting's
    if begin.state is not None:
        state = begin.state
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["rng"])
        step = state["step"]
        spent = float(state.get("elapsed_s", 0.0))
    elif t.init_from:
        load_initial_weights(model, t.init_from, kind, begin.split)
    net = model
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    log = (run_dir / "log.jsonl").open("a") if main_process else None
    first_record = log is not None and log.tell() == 0
    per_epoch = len(epoch_batches(len(dataset), t.batch_size, t.seed, 0))
    if per_epoch == 0:
        raise ValueError(f"{len(dataset)} windows is less than one batch of {t.batch_size}; lower train.batch_size")
    bar = None
    if progress and main_process:
        from tqdm.auto import tqdm

        interactive = sys.stderr.isatty()
        bar = tqdm(
            total=t.steps, initial=step, desc=f"train {kind}", unit="step", mininterval=0.2 if interactive else 30
        )
    record: dict = {}
    model.train()
    start, seen = time.perf_counter(), 0
    over_budget = False

    def save() -> None:
        state = {"kind": kind, "config": cfg.to_dict(), "step": step, "model": model.state_dict()}
        state.update(optimizer=opt.state_dict(), rng=torch.get_rng_state(), loss_terms=loss_terms)
        state["elapsed_s"] = spent + time.perf_counter() - start
        state["contract"] = data_contract(cfg.data, begin.split).to_dict()
        state.update(extra_state or {})
        save_checkpoint(ckpt, state)
        if on_checkpoint is not None:
            on_checkpoint(model, step)

    with deferred_interrupts(world_size == 1) as interrupt:  # Ctrl-C / kill: finish the step, save it, stop
        while step < t.steps:
            epoch, position = divmod(step, per_epoch)
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            batches = epoch_batches(len(dataset), t.batch_size, t.seed, epoch)[position:]
            per_rank = t.batch_size // world_size  # each process takes its slice of the global batch
            batches = [b[rank * per_rank : (rank + 1) * per_rank] for b in batches]
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=t.num_workers, pin_memory=cuda)
            for batch in loader:
                if hasattr(step_fn, "step"):  # an objective whose terms depend on the step (the GAN warm-up)
                    step_fn.step = step
                out = train_step(net, opt, _to(batch, device, channels_last=cuda), step_fn, t.grad_clip, cuda and t.amp)
                step += 1
                seen += t.batch_size // world_size
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(out['loss'].detach()):.4f}", refresh=False)
                if step % t.log_every == 0 or step == t.steps:
                    values = torch.stack([v.detach().float() for v in out.values()])
                    if world_size > 1:  # log the global batch's figures, not one process's slice
                        dist.all_reduce(values)
                        values /= world_size
                    record = {"step": step, **{k: round(float(v), 6) for k, v in zip(out, values, strict=True)}}
                    record["windows_per_s"] = round(world_size * seen / (time.perf_counter() - start), 1)
                    record["elapsed_s"] = round(spent + time.perf_counter() - start, 1)
                    if log is not None:
                        log.write(json.dumps({**record, "loss_terms": loss_terms} if first_record else record) + "\n")
                        log.flush()
                        first_record = False
                over_budget = t.max_minutes > 0 and spent + time.perf_counter() - start > 60 * t.max_minutes
                if world_size > 1 and t.max_minutes > 0:  # every process stops at the same step
                    flag = torch.tensor(float(over_budget))
                    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                    over_budget = bool(flag)
                if main_process and (
                    step % t.checkpoint_every == 0 or step == t.steps or over_budget or interrupt.requested
                ):
                    save()
                if interrupt.requested:
                    if main_process:
                        (bar.write if bar is not None else print)(
                            f"train {kind}: interrupted; saved step {step} to {ckpt}"
                        )
                    raise KeyboardInterrupt
                if step >= t.steps or over_budget:
                    break
            if over_budget:
                if bar is not None:
                    bar.write(f"train {kind}: stopped at step {step}: train.max_minutes={t.max_minutes} reached")
                break
    if bar is not None:
        bar.close()
    if log is not None:
        log.close()
    if world_size > 1:
        dist.barrier()
    return record


def load_initial_weights(model: nn.Module, path: str | Path, kind: str, split: Split | None = None) -> None:
    """Start a new run from the weights of ``path`` (``train.init_from``): same architecture, any training settings.

    The optimizer starts fresh. A discriminator missing from (or extra in) the checkpoint is allowed -- it is started
    (or dropped) anew; any other mismatch is an error naming the checkpoint. So is a checkpoint that trained on any
    clip the new run's ``split`` holds out or sets aside for validation: its figures on them would flatter."""
    from facekit.contract import read_contract

    state = load_checkpoint(path, kind)
    known = read_contract(state, path).split
    if split is not None and known is not None:
        seen = sorted(set(known.train) & (set(split.eval) | set(split.val)))
        if seen:
            raise ConfigError(
                f"train.init_from={path} trained on {len(seen)} clips this run holds out or keeps for validation "
                f"({', '.join(seen[:3])}{', ...' if len(seen) > 3 else ''}); start from a run of the same split "
                f"(data.split_by / eval_fraction / val_fraction / split_seed) or from no checkpoint"
            )
    own, theirs = model.state_dict(), state["model"]
    bad = sorted(k for k in own.keys() ^ theirs.keys() if not k.startswith("discriminator."))
    bad += sorted(k for k in own.keys() & theirs.keys() if own[k].shape != theirs[k].shape)
    if bad:
        raise CheckpointError(
            f"train.init_from={path}: its weights do not fit this config's {kind} ({len(bad)} mismatched, e.g. "
            f"{', '.join(bad[:3])}); start from a checkpoint made with the same model.* settings and "
            f"data.image_size, or leave train.init_from empty"
        )
    model.load_state_dict(theirs, strict=False)


def train_expert(cfg: Config, data_root: str | Path, run_dir: str | Path, progress: bool = True) -> dict:
    """Train the sync expert on ``data_root``'s train split; evaluates on the held-out split at the end.

    ``model.expert_loss``: ``bce`` -- Wav2Lip's in-sync / off-sync pairs (off-sync audio from the same clip) and a BCE
    on the cosine similarity; ``infonce`` -- in-sync windows only, every other window of the batch a negative."""
    start = start_run(cfg, "expert", data_root, run_dir, {cfg.model.expert_loss: 1.0}, world()[0] == 0)
    torch.manual_seed(cfg.train.seed)
    expert = SyncExpert(cfg.data.sync_frames, channels=cfg.model.base_channels * 2)
    contrastive = cfg.model.expert_loss == "infonce"
    split = start.split
    dataset = SyncDataset(data_root, cfg.data, "train", seed=cfg.train.seed, negatives=not contrastive, fixed=split)

    def step_fn(net: nn.Module, b: dict[str, Tensor]) -> dict[str, Tensor]:
        if contrastive:
            loss, acc = info_nce_sync(*net(b["frames"], b["mel"], embeddings=True))
            return {"loss": loss, "acc": acc.detach()}
        prob = net(b["frames"], b["mel"]).float()
        loss = bce(prob, b["label"])
        return {"loss": loss, "acc": ((prob > 0.5).float() == b["label"]).float().mean().detach()}

    source = {"data_source": data_source(data_root)}  # recorded like the generator's (model cards, warnings)
    record = run(cfg, "expert", expert, dataset, step_fn, Path(run_dir), start, progress=progress, extra_state=source)
    if world()[0] == 0:
        held_out = SyncDataset(data_root, cfg.data, "eval", seed=12345, fixed=split)
        record["eval"] = evaluate_expert(expert, held_out)
        Path(run_dir, "eval.json").write_text(json.dumps(record["eval"], indent=2) + "\n")
    return record


@torch.no_grad()
def evaluate_expert(expert: SyncExpert, dataset: SyncDataset, batch_size: int = 64) -> dict:
    """On a (held-out) sync dataset of in-sync / off-sync pairs: mean BCE of the sync probability, accuracy at 0.5,
    and the threshold-free AUC (the chance that an in-sync pair scores above an off-sync one; a tie counts one half)."""
    was = expert.training
    expert.eval()
    device = next(expert.parameters()).device
    probs, labels = [], []
    for b in DataLoader(dataset, batch_size=batch_size):
        b = _to(b, device)
        probs.append(expert(b["frames"], b["mel"]).float().cpu())
        labels.append(b["label"].cpu())
    expert.train(was)
    p, y = torch.cat(probs), torch.cat(labels)
    _, tie_group, tie_count = torch.unique(p, return_inverse=True, return_counts=True)  # sorted distinct scores
    last_rank = tie_count.cumsum(0).double()
    ranks = (last_rank - (tie_count - 1) / 2)[tie_group]  # 1-based ranks, tied scores share their mean rank
    n_pos, n_neg = float(y.sum()), float((1 - y).sum())
    auc = (float(ranks[y == 1].sum()) - n_pos * (n_pos + 1) / 2) / max(1.0, n_pos * n_neg)
    return {
        "loss": float(bce(p, y)),
        "accuracy": float(((p > 0.5).float() == y).float().mean()),
        "auc": auc,
        "windows": len(p),
        "plateau_ln2": math.log(2),
    }


def train_generator(
    cfg: Config,
    data_root: str | Path,
    run_dir: str | Path,
    expert_path: str | Path | list[str | Path] | None = None,
    progress=True,
) -> dict:
    """Train the lip-sync generator. The loss, every weight in ``train``:

    - ``l1_weight``         x L1 on the mouth region (the lower half: the only part that differs), over the frames
      that have a ground truth (all but ``data.other_face_prob``'s windows, which only the sync loss trains);
    - ``mouth_box_weight``  x L1 on the box around the aligned mouth (``data.crop.mouth_box``: lips and teeth);
    - ``ssim_weight``       x (1 - SSIM) on the mouth region;
    - ``sync_weight``       x the frozen expert's sync loss (several ``expert_path``: the mean of their losses): with
      ``expert_path``, which then needs windows of
      ``data.sync_frames`` frames (``data.num_frames``), sync_weight > 0 and the expert's data contract (crop size,
      fps, sync window, mel settings) -- else a ConfigError, never a silently absent term;
    - ``perceptual_weight`` x LPIPS-alex on the mouth region (needs ``facekit weights lpips``);
    - ``gan_weight``        x the hinge adversarial loss of a patch discriminator (trained alongside; for the first
      ``gan_warmup_steps`` steps the discriminator trains alone);
    - ``aux_weight``        x the contrastive baseline's InfoNCE term.

    At each checkpoint a sample grid of ``train.samples`` held-out windows is written to ``samples/step_XXXXXX.png``.
    """
    t = cfg.train
    expert_paths = [expert_path] if isinstance(expert_path, str | Path) else list(expert_path or [])
    use_sync = bool(expert_paths)
    needs = []
    if cfg.data.num_frames != cfg.data.sync_frames:
        needs.append(f"windows of the expert's data.sync_frames={cfg.data.sync_frames} frames (data.num_frames is "
                     f"{cfg.data.num_frames}: add --set data.num_frames={cfg.data.sync_frames})")  # fmt: skip
    if t.sync_weight <= 0:
        needs.append(f"train.sync_weight > 0 (it is {t.sync_weight:g})")
    if use_sync and needs:
        named = ", ".join(map(str, expert_paths))
        raise ConfigError(f"--expert {named} is given but its sync loss needs {' and '.join(needs)}; "
                          f"or leave out --expert")  # fmt: skip
    if cfg.data.other_face_prob > 0 and not use_sync:
        raise ConfigError(
            f"data.other_face_prob={cfg.data.other_face_prob}: those windows have no ground truth and are trained by "
            "the sync expert alone; give --expert, train.sync_weight > 0 and data.num_frames=data.sync_frames, or 0"
        )
    if t.perceptual_weight > 0 and cfg.data.image_size // 2 < 31:
        raise ConfigError(
            f"train.perceptual_weight needs a mouth region of at least 31 px (AlexNet's smallest input); "
            f"data.image_size={cfg.data.image_size} gives {cfg.data.image_size // 2}: use 64 or more, or weight 0"
        )
    for path in expert_paths:
        check_expert_for_training(path, cfg.data)
    start = start_run(cfg, "generator", data_root, run_dir, generator_loss_terms(cfg, use_sync), world()[0] == 0)
    torch.manual_seed(cfg.train.seed)
    model = LipSyncModel(cfg)
    uses_mouth = "mouth" in cfg.model.cascade.order
    dataset = FaceDataset(data_root, cfg.data, "train", seed=cfg.train.seed, uses_mouth=uses_mouth, fixed=start.split)
    device = pick_device(cfg.train.device)
    experts = [load_expert(path, device) for path in expert_paths]
    perceptual = None
    if t.perceptual_weight > 0:
        from facekit.metrics.lpips import LPIPSMetric

        perceptual = LPIPSMetric().to(device)

    step_fn = GeneratorObjective(t, experts or None, perceptual)
    samples = sample_windows(data_root, cfg, t.samples, start.split)

    def write_samples(net: nn.Module, step: int) -> None:
        if samples is not None:
            save_sample_grid(net, samples, Path(run_dir, "samples", f"step_{step:06d}.png"))

    source = {"data_source": data_source(data_root)}  # what it trained on: generate warns on data it never saw
    return run(cfg, "generator", model, dataset, step_fn, Path(run_dir), start, progress, write_samples, source)


def generator_loss_terms(cfg: Config, use_sync: bool) -> dict[str, float]:
    """{term: weight} of every term the generator's loss has under ``cfg`` (the names of its log records)."""
    t = cfg.train
    terms = {"l1": t.l1_weight}
    if cfg.model.variant == "contrastive":
        terms["aux"] = t.aux_weight
    optional = {
        "box_l1": t.mouth_box_weight,
        "dssim": t.ssim_weight,
        "lpips": t.perceptual_weight,
        "g_adv": t.gan_weight,
    }
    terms.update({name: weight for name, weight in optional.items() if weight > 0})
    if use_sync:
        terms["sync"] = t.sync_weight
    return terms


def sample_windows(data_root: str | Path, cfg: Config, count: int, split: Split) -> dict[str, Tensor] | None:
    """``count`` fixed windows spread over the held-out clips of ``split`` (the training clips if none is held out)."""
    if count <= 0:
        return None
    uses_mouth = "mouth" in cfg.model.cascade.order
    dataset = FaceDataset(data_root, cfg.data, "eval", seed=0, uses_mouth=uses_mouth, fixed=split)
    if len(dataset) == 0:
        dataset = FaceDataset(data_root, cfg.data, "train", seed=0, uses_mouth=uses_mouth, fixed=split)
    picks = torch.linspace(0, len(dataset) - 1, min(count, len(dataset))).long().tolist()
    items = [dataset[i] for i in picks]
    return {k: torch.stack([torch.as_tensor(item[k]) for item in items]) for k in items[0]}


@torch.no_grad()
def save_sample_grid(model: nn.Module, windows: dict[str, Tensor], path: Path) -> Path:
    """Rows of (masked input | generated | real) for the first frame of each window, written as a PNG."""
    from torchvision.utils import save_image

    was = model.training
    model.eval()
    device = next(model.parameters()).device
    flat = flatten_windows(_to(windows, device))
    image = model(flat)["image"].float().clamp(0, 1)
    model.train(was)
    per_window = windows["target"].shape[1]
    rows = [torch.stack([flat["masked"][i], image[i], flat["target"][i]]) for i in range(0, len(image), per_window)]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(torch.cat(rows).cpu(), path, nrow=3, padding=2, pad_value=1.0)
    return path
