"""The generator's training objective and one optimisation step: the code the training loop and the benchmark share.

:class:`GeneratorObjective` turns a batch of windows into the weighted loss of ``train_generator`` (every term and
weight is documented there); :func:`train_step` runs one step of it (autocast, backward, gradient clip, the Adam
of :func:`build_optimizer`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from facekit.config import TrainConfig
from facekit.data.crop import mouth_box
from facekit.metrics.image import mouth_region, ssim
from facekit.models.encoders import flatten_windows
from facekit.models.sync_expert import SyncExpert, bce, lower_half

StepFn = Callable[[nn.Module, dict[str, Tensor]], dict[str, Tensor]]


class GeneratorObjective:
    """``objective(net, batch) -> {"loss": weighted sum, one detached scalar per term}``.

    ``batch``: ``FaceDataset`` windows (B, K, ...) with ``recon`` (B,); per-frame terms are averaged over the frames
    that have a ground truth (recon 1). ``expert``: the frozen sync expert, or a list of them whose losses are averaged
    (several experts: no one expert's blind spots can be learnt); None: no sync term. An expert's audio embedding of
    a window does not depend on the generator, so it is computed once per batch without a graph, and only the image
    branch is back-propagated. ``perceptual``: an LPIPS network (None: no LPIPS term). ``step``: the run's
    step, set by the training loop; before ``train.gan_warmup_steps`` the discriminator trains but the generator's
    adversarial term has weight 0 (it is still recorded).
    """

    def __init__(
        self,
        train: TrainConfig,
        expert: SyncExpert | list[SyncExpert] | None = None,
        perceptual: nn.Module | None = None,
    ):
        self.weights = train
        self.experts = [] if expert is None else list(expert) if isinstance(expert, list | tuple) else [expert]
        self.perceptual = perceptual
        self.step = 0

    def __call__(self, net: nn.Module, b: dict[str, Tensor]) -> dict[str, Tensor]:
        t = self.weights
        flat = flatten_windows(b)
        out = net(flat)
        image = out["image"].float()
        mouth, real = mouth_region(image), mouth_region(flat["target"])
        # per-frame losses averaged over the frames with a ground truth (0 in an other_face_prob window: sync only)
        weight = torch.repeat_interleave(b["recon"], b["target"].shape[1]).to(image)

        def mean(per_frame: Tensor) -> Tensor:
            return (per_frame * weight).sum() / weight.sum().clamp(min=1.0)

        l1 = mean((mouth - real).abs().mean((1, 2, 3)))
        loss = t.l1_weight * l1 + t.aux_weight * out["aux_loss"]
        record = {"l1": l1.detach(), "aux": out["aux_loss"].detach()}
        if t.mouth_box_weight > 0:
            box_l1 = mean((mouth_box(image) - mouth_box(flat["target"])).abs().mean((1, 2, 3)))
            loss = loss + t.mouth_box_weight * box_l1
            record["box_l1"] = box_l1.detach()
        if t.ssim_weight > 0:
            dssim = mean(1 - ssim(mouth, real, reduction="none"))
            loss = loss + t.ssim_weight * dssim
            record["dssim"] = dssim.detach()
        if self.perceptual is not None:
            lp = mean(self.perceptual(mouth, real).flatten())
            loss = loss + t.perceptual_weight * lp
            record["lpips"] = lp.detach()
        if "d_loss" in out:
            gan_weight = t.gan_weight if self.step >= t.gan_warmup_steps else 0.0
            loss = loss + out["d_loss"] + gan_weight * out["g_adv"]
            record.update(d_loss=out["d_loss"].detach(), g_adv=out["g_adv"].detach())
        if self.experts:
            sync = self.sync_loss(
                lower_half(image).unflatten(0, b["target"].shape[:2]), b["sync_mel"]
            )  # the expert's own window of these frames
            loss = loss + t.sync_weight * sync
            record["sync"] = sync.detach()
        return {"loss": loss, **record}

    def sync_loss(self, frames: Tensor, mel: Tensor) -> Tensor:
        """Wav2Lip's expert loss on generated windows (B, K, 3, S/2, S) against their own audio (in sync: label 1),
        averaged over the experts."""
        losses = []
        for expert in self.experts:
            with torch.no_grad():
                audio = expert.embed_audio(mel)
            prob = expert.similarity(expert.embed_face(frames), audio)
            losses.append(bce(prob, torch.ones_like(prob)))
        return torch.stack(losses).mean()


def players(net: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """The parameters of ``net`` (DDP-wrapped or not) but its GAN discriminator's, and the discriminator's."""
    generator, discriminator = [], []
    for name, p in net.named_parameters():
        is_d = name.startswith("discriminator.") or name.startswith("module.discriminator.")
        (discriminator if is_d else generator).append(p)
    return generator, discriminator


def build_optimizer(model: nn.Module, train: TrainConfig) -> torch.optim.Optimizer:
    """The training loop's optimizer: Adam over the trainable parameters at ``train.lr``, betas (0.5, 0.999)."""
    return torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=train.lr, betas=(0.5, 0.999))


def train_step(
    net: nn.Module,
    opt: torch.optim.Optimizer,
    batch: dict[str, Tensor],
    step_fn: StepFn,
    grad_clip: float = 0.0,
    autocast: bool = False,
) -> dict[str, Tensor]:
    """One step: ``step_fn`` (under bf16 autocast if asked), backward, clip the gradient norm to ``grad_clip`` (0: no
    clip; the norm is added to the record), then the optimizer step -- skipped when the loss is not finite, instead of
    poisoning the weights. A GAN's two players are clipped apart (``grad_norm`` the generator's, ``d_grad_norm`` the
    discriminator's): one norm over both would let the discriminator's gradient shrink the generator's step.
    ``batch`` is already on the model's device. Returns ``step_fn``'s record."""
    device = next(iter(batch.values())).device
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
        out = step_fn(net, batch)
    opt.zero_grad(set_to_none=True)
    out["loss"].backward()
    if grad_clip > 0:
        generator, discriminator = players(net)
        out["grad_norm"] = torch.nn.utils.clip_grad_norm_(generator, grad_clip)
        if discriminator:
            out["d_grad_norm"] = torch.nn.utils.clip_grad_norm_(discriminator, grad_clip)
    if torch.isfinite(out["loss"]):
        opt.step()
    return out
