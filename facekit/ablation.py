"""The ablation study: a grid of configurations, several seeds each, trained on an equal budget and scored alike.

A protocol (a JSON file; ``default_protocol()`` is the built-in one, recorded as
``eval/protocols/ablation_synthetic.json``; the keys are documented in ``eval/protocols/README.md``):

- ``preset`` and ``overrides``: the config every cell starts from;
- ``steps``: the equal training budget of every cell, in optimizer steps;
- ``seeds``: the seeds of every cell (``train.seed``; the data split stays fixed, so seed ``k`` of two cells pair);
- ``eval_clips``: how many held-out clips each run is scored on (the same clips for every run);
- ``reference``: the cell the others are compared with (the method as claimed);
- ``expert_overrides``: the sync expert whose loss trains the generators;
- ``eval_expert_overrides``: the independent sync expert that judges sync (never used in training);
- ``cells``: ``{name: {"group": ..., "overrides": [...]}}``.

Each (cell, seed) trains in ``out/runs/<cell>/seed<k>/`` and writes ``result.json`` once scored: its per-clip
figures, the machine, and the wall and CPU seconds. A re-run skips finished runs, and a killed run resumes from its
``last.pt``. Several processes on one machine may work on the same folder at once (``facekit ablate`` started twice
runs two runs side by side): each run and expert is claimed by one process (:func:`claim`), and the others skip it.
``train.device=auto`` trains on a GPU when one is present, from the same protocol. At the end the statistics of
:mod:`facekit.stats` write ``table.md`` / ``table.csv`` (baselines as rows, 95% CIs, verdicts, flags) and
``plots/``; ``runs.json`` holds every run's record and ``budget.json`` the CPU time spent -- everything but ``runs/``
and the experts is small enough to record.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from facekit import stats
from facekit.config import MODALITIES, Config, apply_overrides, get_preset

QUESTIONS = {
    "order": "does the order of the cascade matter? every order against the claimed one",
    "subset": "what does each modality add? each modality alone and each pair (single modalities are ablations: the "
    "claims need two)",
    "fusion": "residual fusion (claim 12, the reference) against the second cascade (claims 13-15)",
    "modulation": "StyleGAN2 modulation (the reference) against FiLM and AdaIN",
    "contrastive": "the cascade against the contrastive prior art of [0017]",
    "wav2lip": "the method against the field's standard: a Wav2Lip-style generator (concatenation, no modulation) at "
    "the same parameter count and steps",
}
EXPERT = ["train.steps=1500", "train.batch_size=64", "train.lr=5e-4"]
EXPERT_POLL_S = 10.0  # how often a process waiting for another's expert looks again


def default_cells() -> dict[str, dict]:
    """Every order of the three modalities, each single modality and pair, the second cascade fusion, FiLM and AdaIN,
    the contrastive baseline and the Wav2Lip-style baseline. Each cell changes one factor from the method as claimed
    (order text, audio, mouth; residual fusion; StyleGAN2 modulation)."""
    cells: dict[str, dict] = {}
    for order in itertools.permutations(MODALITIES):
        cells["order_" + "_".join(order)] = {"group": "order", "overrides": [f"model.cascade.order={','.join(order)}"]}
    for size in (1, 2):
        for subset in itertools.combinations(MODALITIES, size):
            cells["subset_" + "_".join(subset)] = {
                "group": "subset",
                "overrides": [f"model.cascade.order={','.join(subset)}"],
            }
    cells["fusion_cascade"] = {"group": "fusion", "overrides": ["model.variant=cascade"]}
    for formula in ("film", "adain"):
        cells[f"modulation_{formula}"] = {"group": "modulation", "overrides": [f"model.cascade.formula={formula}"]}
    for variant in ("contrastive", "wav2lip"):
        cells[variant] = {"group": variant, "overrides": [f"model.variant={variant}"]}
    return cells


def default_corpus(cfg: Config) -> Path:
    """Where ``ablation_inputs`` makes the synthetic corpus of ``cfg`` when no data is given (its size in the name:
    protocols at two sizes must not share a corpus)."""
    return Path("data") / f"synthetic-{cfg.name}-{cfg.data.image_size}px-seed{cfg.synth.seed}"


def default_protocol(preset: str = "cpu") -> dict:
    """The built-in protocol: the synthetic corpus of ``preset`` (with its realistic mouth driver), at the widths and
    budget of the compute plan in ``eval/protocols/README.md``."""
    cfg = get_preset(preset)
    identities, per_identity = cfg.synth.num_identities, cfg.synth.clips_per_identity
    size = cfg.data.image_size
    return {
        "name": f"ablation-synthetic-{size}",
        "data": f"the synthetic corpus of the {preset} preset, made into {default_corpus(cfg)} when no --data is "
        f"given ({identities * per_identity} clips of {identities} identities, {size}x{size}; held out: "
        f"{round(identities * cfg.data.eval_fraction)} identities); the mouth modality is the corpus's realistic "
        "driver, not the target's own mouth",
        "preset": preset,
        "overrides": [
            *("data.num_frames=5", "train.batch_size=4", "train.lr=3e-4", "train.ssim_weight=1.0"),
            *("model.base_channels=8", "model.feature_dim=64"),
        ],
        "steps": 1400,
        "seeds": [0, 1, 2, 3, 4],
        "eval_clips": 24,
        "reference": "order_text_audio_mouth",
        "expert_overrides": EXPERT,
        "eval_expert_overrides": ["model.expert_loss=infonce", "train.seed=1", *EXPERT],
        "budget": "1400 steps per run (batch 4 windows x 5 frames): about 330 CPU s of training and 33 CPU s of "
        "evaluation per run; 8.6 CPU h for this study, 12.7 for both (eval/protocols/README.md)",
        "questions": QUESTIONS,
        "cells": default_cells(),
    }


def load_protocol(path: str | Path | None, seeds: int | None = None, steps: int | None = None) -> dict:
    """The protocol in the JSON file ``path`` (None: the built-in one); ``seeds`` replaces its seeds by 0..seeds-1,
    ``steps`` its training budget. A file that is not a protocol raises ValueError naming it and what it lacks."""
    protocol = default_protocol() if path is None else _read_protocol(Path(path))
    if seeds:
        protocol["seeds"] = list(range(seeds))
    if steps:
        protocol["steps"] = steps
    return protocol


def _read_protocol(path: Path) -> dict:
    try:
        protocol = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable ablation protocol ({exc})") from exc
    missing = {"preset", "steps", "seeds", "cells", "reference"} - set(protocol)
    if missing:
        raise ValueError(f"{path}: protocol lacks {sorted(missing)}; see eval/protocols/README.md")
    if protocol["reference"] not in protocol["cells"]:
        raise ValueError(f"{path}: reference cell {protocol['reference']!r} is not one of its cells")
    return protocol


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (data-loader workers), user + system."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def machine(device: str) -> dict:
    """What a run ran on: the CPU model and cores, torch's threads and version, and the training device."""
    import torch

    from facekit.runtime import cpu_name
    from facekit.train.loop import pick_device

    found = pick_device(device)
    record = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    record.update(torch=torch.__version__, device=str(found))
    if found.type == "cuda":
        record["gpu"] = torch.cuda.get_device_name(found)
    return record


def _started(pid: int) -> str | None:
    """When process ``pid`` started (boot id and start tick, from /proc), so that a claim outlives no reuse of its pid;
    None where /proc does not say."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"  # field 22, after the command name in parentheses


def _alive(owner: dict) -> bool:
    """Whether the process that wrote a claim is still running (a claim from another machine counts as alive). A
    live process with the claim's pid but another start time took a dead claimant's pid: the claim is stale."""
    if owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        pass
    started = _started(int(owner["pid"]))
    return owner.get("started") is None or started is None or started == owner["started"]


@contextlib.contextmanager
def claim(folder: Path) -> Iterator[dict | None]:
    """Claim ``folder`` for this process while the block runs: yields None when claimed here, else the claim of the
    live process that holds it (``{"pid", "host", "started"}``). A claim left by a process that died is taken over."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".claim"
    mine = {"pid": os.getpid(), "host": socket.gethostname(), "started": _started(os.getpid())}
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):  # being written or removed right now
                time.sleep(0.1)
                continue
            if _alive(owner):
                yield owner
                return
            path.unlink(missing_ok=True)  # its process died: take the folder over
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        break
    try:
        yield None
    finally:
        path.unlink(missing_ok=True)


def _train_experts(cfg: Config, wanted: dict[Path, list[str]], data: Path, log: Callable[[str], None]) -> None:
    """Train each ``folder: overrides`` expert not yet evaluated (``folder/eval.json``), its cost in
    ``folder/cost.json``. One claimed by another process is left to it (this one trains the others meanwhile) and
    waited for at the end."""
    from facekit.train.loop import train_expert

    pending = [folder for folder in wanted if not (folder / "eval.json").is_file()]
    said = False
    while pending:
        for folder in list(pending):
            with claim(folder) as owner:
                if owner is None and not (folder / "eval.json").is_file():
                    log(f"facekit ablate: training the sync expert in {folder}/")
                    expert_cfg = apply_overrides(cfg, wanted[folder])
                    wall, cpu = time.perf_counter(), cpu_seconds()
                    train_expert(expert_cfg, data, folder, progress=False)
                    cost = {"wall_s": round(time.perf_counter() - wall, 1), "cpu_s": round(cpu_seconds() - cpu, 1)}
                    cost["machine"] = machine(expert_cfg.train.device)
                    (folder / "cost.json").write_text(json.dumps(cost, indent=2) + "\n")
            if (folder / "eval.json").is_file():
                pending.remove(folder)
        if pending and not said:
            log(f"facekit ablate: waiting for another process to finish {', '.join(map(str, pending))}")
            said = True
        if pending:
            time.sleep(EXPERT_POLL_S)


def ablation_inputs(
    protocol: dict,
    out: str | Path,
    data: str | Path | None = None,
    expert: str | Path | None = None,
    eval_expert: str | Path | None = None,
    workers: int = 1,
    log: Callable[[str], None] = print,
) -> tuple[Path, Path | None, Path | None]:
    """The clips and the two sync experts an ablation runs with: ``(data, expert, eval_expert)``.

    ``data``, or else the synthetic corpus of the protocol's preset and overrides (:func:`default_corpus`; made if
    missing, with ``workers`` processes). ``expert`` (its sync loss trains the generators), or else one trained with
    the protocol's ``expert_overrides`` into ``out/expert``; ``eval_expert`` (it alone judges sync), or else one
    trained with ``eval_expert_overrides`` into ``out/eval_expert``. Either is None when neither is given: no sync
    loss, or no sync figures. The same expert in both roles is a ValueError: sync would be judged by its trainer.
    """
    from facekit.data.synthetic.corpus import generate_corpus

    cfg = apply_overrides(get_preset(protocol["preset"]), protocol.get("overrides", []))
    if data is None:
        data = default_corpus(cfg)
        log(f"facekit ablate: no --data given; using the synthetic corpus in {data}/")
        generate_corpus(cfg, data, workers=workers)
    data, out = Path(data), Path(out)
    wanted = {}
    if expert is None and protocol.get("expert_overrides"):
        expert = out / "expert" / "last.pt"
        wanted[expert.parent] = protocol["expert_overrides"]
    if eval_expert is None and protocol.get("eval_expert_overrides"):
        eval_expert = out / "eval_expert" / "last.pt"
        wanted[eval_expert.parent] = protocol["eval_expert_overrides"]
    _train_experts(cfg, wanted, data, log)
    if expert is not None and eval_expert is not None and Path(expert).resolve() == Path(eval_expert).resolve():
        raise ValueError(
            f"{expert} is both the training and the judging sync expert; sync must be judged by an independent "
            "one: give another --eval-expert or the protocol's eval_expert_overrides"
        )
    for path, what in ((expert, "no sync loss in training"), (eval_expert, "no sync figures")):
        if path is None:
            log(f"facekit ablate: {what} (no expert given and none in the protocol)")
    return data, Path(expert) if expert else None, Path(eval_expert) if eval_expert else None


def cell_config(protocol: dict, cell: str, seed: int) -> Config:
    cfg = apply_overrides(get_preset(protocol["preset"]), protocol.get("overrides", []))
    spec = protocol["cells"][cell]
    return apply_overrides(cfg, [*spec["overrides"], f"train.steps={protocol['steps']}", f"train.seed={seed}"])


def run_cell(
    cfg: Config,
    data: Path,
    run_dir: Path,
    expert: str | Path | None,
    eval_expert: str | Path | None,
    eval_clips: int | None,
) -> dict:
    """Train (or resume) one run with ``expert``'s sync loss, score it on the held-out split with ``eval_expert``
    judging sync, and write the record (per-clip figures, machine, seconds) to ``run_dir/result.json``."""
    from facekit.checkpoints import load_checkpoint
    from facekit.evaluation import evaluate_generator
    from facekit.train.loop import train_generator

    ckpt = run_dir / "last.pt"
    resumed_from = load_checkpoint(ckpt, "generator")["step"] if ckpt.is_file() else 0
    wall, cpu = time.perf_counter(), cpu_seconds()
    train_generator(cfg, data, run_dir, expert_path=expert, progress=False)
    trained_wall, trained_cpu = time.perf_counter(), cpu_seconds()
    result = evaluate_generator(ckpt, data, eval_expert, max_clips=eval_clips)
    record = {
        "config": cfg.to_dict(),
        "machine": machine(cfg.train.device),
        "resumed_from_step": resumed_from,
        "train_wall_s": round(trained_wall - wall, 1),
        "train_cpu_s": round(trained_cpu - cpu, 1),
        "eval_wall_s": round(time.perf_counter() - trained_wall, 1),
        "eval_cpu_s": round(cpu_seconds() - trained_cpu, 1),
        "train_expert": str(expert) if expert else None,
        "eval_expert": str(eval_expert) if eval_expert else None,
        "eval_expert_id": result["summary"].get("expert_id"),
        "clips": result["clips"],
        "mouth_modality": result["mouth_modality"],
        "generated": result["summary"]["generated"],
        "baselines": {k: result["summary"][k] for k in stats.BASELINES},
        "per_clip": result["per_clip"],
    }
    (run_dir / "result.json").write_text(json.dumps(record, indent=1) + "\n")
    return record


def run_ablation(
    protocol: dict,
    data: str | Path,
    out: str | Path,
    expert: str | Path | None = None,
    eval_expert: str | Path | None = None,
    cells: list[str] | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Run every (cell, seed) not yet finished under ``out`` -- ``cells`` (default all) and always the reference,
    first -- then write the table and plots of every finished run (:func:`write_outputs`)."""
    out, data = Path(out), Path(data)
    ref = protocol["reference"]
    unknown = [c for c in cells or [] if c not in protocol["cells"]]
    if unknown:
        raise ValueError(f"unknown cell(s) {unknown}; the protocol has {', '.join(protocol['cells'])}")
    names = list(dict.fromkeys([ref, *(cells or protocol["cells"])]))
    out.mkdir(parents=True, exist_ok=True)
    (out / "protocol.json").write_text(json.dumps(protocol, indent=2) + "\n")
    todo = [(c, s) for c in names for s in protocol["seeds"]]
    start = time.perf_counter()
    for i, (cell, seed) in enumerate(todo, 1):
        run_dir = out / "runs" / cell / f"seed{seed}"
        cfg = cell_config(protocol, cell, seed)
        done = run_dir / "result.json"
        if done.is_file():
            made_with = Config.from_dict(json.loads(done.read_text())["config"])  # later fields: the value it had
            if made_with.to_dict() != cfg.to_dict():
                raise ValueError(f"{done} was made with another config; use a new --out or delete {run_dir}")
            log(f"[{i}/{len(todo)}] {cell} seed {seed}: done earlier, skipped")
            continue
        r = None
        with claim(run_dir) as owner:
            if owner is None and not done.is_file():  # (another process may have finished it since the check)
                r = run_cell(cfg, data, run_dir, expert, eval_expert, protocol.get("eval_clips"))
        if r is None:
            who = f"being run by process {owner['pid']}" if owner else "finished by another process"
            log(f"[{i}/{len(todo)}] {cell} seed {seed}: {who}, skipped")
            continue
        g = r["generated"]
        log(
            f"[{i}/{len(todo)}] {cell} seed {seed}: steps {r['resumed_from_step']}-{cfg.train.steps} on "
            f"{r['machine']['device']} in {r['train_wall_s']} s ({r['train_cpu_s']} CPU s); mouth L1 "
            f"{g['mouth_l1']:.5f}" + (f", LSE-D {g['lse_d']:.3f}" if "lse_d" in g else "")
            + f"  ({(time.perf_counter() - start) / 60:.1f} min so far)"
        )  # fmt: skip
    return write_outputs(protocol, out)


def finished_runs(protocol: dict, out: Path) -> list[dict]:
    """The record of every finished (cell, seed) under ``out``, with ``cell`` and ``seed``, in protocol order."""
    records = []
    for cell in protocol["cells"]:
        for seed in protocol["seeds"]:
            path = out / "runs" / cell / f"seed{seed}" / "result.json"
            if path.is_file():
                record = {k: v for k, v in json.loads(path.read_text()).items() if k != "config"}
                records.append({"cell": cell, "seed": seed, **record})
    return records


def write_outputs(protocol: dict, out: Path) -> dict:
    """``runs.json`` (every finished run's record), ``budget.json`` (the CPU time spent) and the statistics'
    table and plots (:func:`facekit.stats.write_results`) over every finished run under ``out``; a cell that read
    an oracle mouth (the target's own mouth) is labelled so in its row name.

    A cell with fewer finished seeds than the protocol's (a study still running) is left out of the statistics --
    its interval would miss the spread over the seeds it lacks -- and listed at the end of ``table.md``; the reference
    is always in.

    Returns stats' ``{"comparisons", "flagged", "plots"}`` with ``"budget"``, ``"unfinished"`` (``{cell: seeds
    finished}``) and ``"table"``: ``{cell: {metric: [the mean over clips of each finished seed]}}``."""
    records = finished_runs(protocol, out)
    (out / "runs.json").write_text("[\n" + ",\n".join(json.dumps(r) for r in records) + "\n]\n")
    budget = write_budget(out, records)
    seeds_done = collections.Counter(r["cell"] for r in records)
    unfinished = {c: k for c, k in seeds_done.items() if c != protocol["reference"] and k < len(protocol["seeds"])}
    oracle = {r["cell"] for r in records if r["mouth_modality"] == "oracle mouth"}
    label = {c: f"{c} (oracle mouth)" if c in oracle else c for c in protocol["cells"]}  # the table's row names
    shown = {**protocol, "reference": label[protocol["reference"]]}
    shown["cells"] = {label[c]: spec for c, spec in protocol["cells"].items()}
    runs = [{"cell": label[r["cell"]], "seed": r["seed"], "per_clip": r["per_clip"]} for r in records
            if r["cell"] not in unfinished]  # fmt: skip
    result = stats.write_results(out, shown, stats.collect_scores(runs, protocol["seeds"]), num_boot=2000)
    if unfinished:
        n = len(protocol["seeds"])
        lines = [f"- {c}: {k} of {n} seeds finished" for c, k in unfinished.items()]
        with (out / "table.md").open("a") as f:
            f.write("\n## Unfinished cells, left out of the statistics\n\n" + "\n".join(lines) + "\n")
    table: dict[str, dict[str, list[float]]] = {}
    for r in records:
        for metric in (m for m in stats.METRICS if m in r["generated"]):
            table.setdefault(r["cell"], {}).setdefault(metric, []).append(float(r["generated"][metric]))
    return {**result, "budget": budget, "unfinished": unfinished, "table": table}


def write_budget(out: Path, records: list[dict]) -> dict:
    """``budget.json``: the CPU and wall seconds the finished runs and the experts trained here took, and where."""
    experts = {p.parent.name: json.loads(p.read_text()) for p in sorted(out.glob("*/cost.json"))}
    budget = {
        "runs": len(records),
        "run_cpu_s": round(sum(r["train_cpu_s"] + r["eval_cpu_s"] for r in records), 1),
        "run_wall_s": round(sum(r["train_wall_s"] + r["eval_wall_s"] for r in records), 1),
        "expert_cpu_s": round(sum(e["cpu_s"] for e in experts.values()), 1),
        "experts": experts,
        "machines": sorted({json.dumps(r["machine"], sort_keys=True) for r in records}),
        "note": "CPU seconds of the runs' last invocation: a run resumed after a kill counts from its resume",
    }
    budget["machines"] = [json.loads(m) for m in budget["machines"]]
    budget["total_cpu_h"] = round((budget["run_cpu_s"] + budget["expert_cpu_s"]) / 3600, 3)
    (out / "budget.json").write_text(json.dumps(budget, indent=2) + "\n")
    return budget
