"""Shipped models: trained checkpoints kept in the repository in compact form and found by name.

The zoo is a folder (``facekit/model_zoo/``, or ``$FACEKIT_ZOO``) holding ``registry.json`` (name -> file, sha256,
kind, one-line description) and one folder per model: ``weights.pt`` (the weights in fp16 with the config, kind, step,
data contract and data source; no optimizer or RNG state), ``card.json`` and ``MODEL.md`` (its model card).

- :func:`resolve` turns a registered name into its file after checking the file's sha256 against the registry;
  ``facekit.checkpoints.load_checkpoint`` calls it, so a name works wherever a checkpoint path does.
- :func:`export_model` (``facekit export``) writes a model from a training run's ``last.pt`` and registers it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import time
from pathlib import Path

import torch

from facekit.checkpoints import CheckpointError, load_checkpoint
from facekit.config import ConfigError
from facekit.data.dataset import split_ids, split_line

ZOO_ENV = "FACEKIT_ZOO"
MAX_BYTES = 10 * 2**20  # a shipped model's weights file: under 10 MB, so the repository stays small
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
LICENCES = {  # the data a model trained on -> its licence, as the card states it (other data: --card-notes licence)
    "grid": "GRID audio-visual corpus, CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/); cite M. Cooke, "
    "J. Barker, S. Cunningham, X. Shao, An audio-visual corpus for speech perception and automatic speech "
    "recognition, JASA 120(5) 2421-2424, 2006 (docs/GRID.md)",
    "synthetic": "facekit's synthetic corpus (rendered faces, formant speech), made by facekit: MIT, as the code",
}


def zoo_dir() -> Path:
    """The zoo folder: ``$FACEKIT_ZOO`` when set, else ``facekit/model_zoo`` inside the package."""
    return Path(os.environ.get(ZOO_ENV) or Path(__file__).parent / "model_zoo")


def read_registry(zoo: str | Path | None = None) -> dict[str, dict]:
    """{name: {"file", "sha256", "kind", "description"}} of the zoo (empty when it has no registry yet)."""
    path = Path(zoo or zoo_dir()) / "registry.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def resolve(name: str, zoo: str | Path | None = None) -> Path:
    """A shipped model's name -> its weights file, whose sha256 must be the registry's; else a CheckpointError."""
    zoo = Path(zoo or zoo_dir())
    registry = read_registry(zoo)
    if name not in registry:
        names = ", ".join(sorted(registry)) or "none shipped yet"
        raise CheckpointError(
            f"{name}: no such checkpoint; train one with `facekit train ...`, check the path, or name a shipped "
            f"model ({names}; see `facekit models`)"
        )
    path = zoo / registry[name]["file"]
    if not path.is_file():
        raise CheckpointError(
            f"{path}: the weights of shipped model {name!r} are missing; restore the file "
            f"(`git checkout -- {path}`) or re-export it (`facekit export --force`)"
        )
    if sha256_of(path) != registry[name]["sha256"]:
        raise CheckpointError(
            f"{path}: its sha256 is not the registry's for {name!r} (damaged or replaced); "
            f"restore it (`git checkout -- {path}`) or re-export it (`facekit export --force`)"
        )
    return path


def _training_seconds(log: Path, batch_size: int) -> float | None:
    """The training time estimated from ``log.jsonl``: each logged interval's windows over its windows_per_s."""
    if not log.is_file():
        return None
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    seconds, previous = 0.0, 0
    for r in records:
        if r.get("windows_per_s"):
            seconds += max(r["step"] - previous, 0) * batch_size / r["windows_per_s"]
        previous = r["step"]
    return round(seconds, 1) if records else None


def _training_record(state: dict, step: int, log: Path, batch_size: int) -> dict:
    """Steps and time: the trainer's own clock when the checkpoint keeps it (``elapsed_s``, summed over resumes),
    else an estimate from the log (checkpoints made before facekit kept it)."""
    if state.get("elapsed_s"):
        return {"steps": step, "seconds": round(float(state["elapsed_s"]), 1)}
    return {"steps": step, "seconds_estimated": _training_seconds(log, batch_size)}


def _read_notes(path: str | Path | None) -> dict:
    if path is None:
        return {}
    try:
        notes = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"--card-notes {path}: not a readable JSON file ({exc})") from exc
    if not isinstance(notes, dict):
        raise ConfigError(f'--card-notes {path}: give a JSON object, e.g. {{"figures": {{"auc": 0.9}}}}')
    return notes


def export_model(
    checkpoint: str | Path,
    name: str,
    card_notes: str | Path | None = None,
    force: bool = False,
    zoo: str | Path | None = None,
) -> dict:
    """Write ``checkpoint`` (a run's ``last.pt``) into the zoo as ``name``: weights.pt, card.json, MODEL.md and its
    registry entry; returns the card.

    ``card_notes``: a JSON object whose ``figures`` join the run's ``eval.json``, ``description`` replaces the
    one-line summary, ``data_source`` / ``licence`` state the data when the checkpoint does not, ``notes`` is kept.
    Refused (CheckpointError): a checkpoint without a data contract, an export over MAX_BYTES, a taken name (unless
    ``force``)."""
    zoo, source = Path(zoo or zoo_dir()), Path(checkpoint)
    if not NAME.match(name):
        raise ConfigError(f"--name {name!r}: use lower-case letters, digits, '.', '-' or '_' (e.g. grid-s1-expert)")
    registry = read_registry(zoo)
    if (name in registry or (zoo / name).exists()) and not force:
        raise CheckpointError(f"{zoo / name}: a shipped model {name!r} exists; choose another --name or pass --force")
    if not source.is_file():
        raise CheckpointError(f"{source}: no such checkpoint; give the last.pt of a run (`facekit train ...`)")
    notes = _read_notes(card_notes)
    state = load_checkpoint(source)
    contract = state.get("contract")
    if not contract or not contract.get("split"):
        raise CheckpointError(
            f"{source}: records no data contract (made before facekit recorded one), so the "
            "clips it trained on are unknown and it cannot ship; re-train it with this facekit"
        )
    data_source = notes.get("data_source", state.get("data_source"))
    licence = notes.get("licence") or LICENCES.get(data_source)
    if licence is None:
        raise CheckpointError(
            f"{source}: the data it trained on ({data_source or 'not recorded'}) has no known "
            'licence; state it with --card-notes (e.g. {"data_source": "grid"} or '
            '{"data_source": "...", "licence": "..."})'
        )

    compact = {key: state[key] for key in ("kind", "config", "step")}
    compact["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    compact.update(contract=contract, data_source=data_source)
    buffer = io.BytesIO()
    torch.save(compact, buffer)
    weights = buffer.getvalue()
    if len(weights) > MAX_BYTES:
        raise CheckpointError(
            f"{source}: its export is {len(weights) / 2**20:.1f} MB, over the "
            f"{MAX_BYTES / 2**20:g} MB a shipped model may take; ship a smaller model"
        )

    run_dir, split, step = source.parent, contract["split"], state["step"]
    eval_json = run_dir / "eval.json"
    figures = {**(json.loads(eval_json.read_text()) if eval_json.is_file() else {}), **notes.get("figures", {})}
    description = notes.get("description") or (
        f"{state['kind']} trained {step} steps on {data_source} ({len(split['train'])} train / "
        f"{len(split['eval'])} held-out clips)"
    )
    batch_size = state["config"]["train"]["batch_size"]
    card = {
        "name": name,
        "kind": state["kind"],
        "description": description,
        "data": {"source": data_source, "licence": licence},
        "split": split,
        "config": state["config"],
        "training": _training_record(state, step, run_dir / "log.jsonl", batch_size),
        "figures": figures,
        "notes": notes.get("notes"),
        "source_checkpoint": {"file": f"{run_dir.name}/{source.name}", "sha256": sha256_of(source)},
        "sha256": hashlib.sha256(weights).hexdigest(),
        "size_bytes": len(weights),
        "exported": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    folder = zoo / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weights.pt").write_bytes(weights)
    (folder / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (folder / "MODEL.md").write_text(model_markdown(card))
    registry[name] = {"file": f"{name}/weights.pt", "sha256": card["sha256"], "kind": card["kind"],
                      "description": description}  # fmt: skip
    (zoo / "registry.json").write_text(json.dumps(dict(sorted(registry.items())), indent=2) + "\n")
    return card


def model_markdown(card: dict) -> str:
    """The model card as a page to read (MODEL.md)."""
    split, training = card["split"], card["training"]
    seconds = training.get("seconds") or training.get("seconds_estimated")
    took = ""
    if seconds:
        took = f", {seconds / 60:.1f} min" if seconds >= 60 else f", {seconds} s"
        clock = "the trainer's clock, over every resume" if training.get("seconds") else "estimated from log.jsonl"
        took += f" ({clock})"
    lines = [
        f"# {card['name']}",
        "",
        card["description"],
        "",
        f"- kind: {card['kind']}; use it by name: `--checkpoint {card['name']}` or `--expert {card['name']}`",
        f"- data: {card['data']['source']} -- {card['data']['licence']}",
        f"- {split_line(split)}",
        f"- training: {training['steps']} steps{took}",
        f"- file: weights.pt, {card['size_bytes'] / 2**20:.2f} MB (fp16), sha256 `{card['sha256']}`",
        f"- exported {card['exported']} from {card['source_checkpoint']['file']} "
        f"(sha256 `{card['source_checkpoint']['sha256']}`)",
        "",
        "## Figures",
        "",
        *([f"- {k}: {v}" for k, v in card["figures"].items()] or ["none recorded"]),
        "",
    ]
    if card["notes"]:
        lines += ["## Notes", "", str(card["notes"]), ""]
    lines += split_ids(split)
    lines += ["## Config", "", "```json", json.dumps(card["config"], indent=2), "```", ""]
    return "\n".join(lines)


def list_models(zoo: str | Path | None = None) -> list[str]:
    """One line per shipped model: name, kind, size and its card's one-line summary."""
    zoo = Path(zoo or zoo_dir())
    rows = []
    for name, entry in read_registry(zoo).items():
        path = zoo / entry["file"]
        size = f"{path.stat().st_size / 2**20:.1f} MB" if path.is_file() else "missing"
        rows.append(f"{name:<24} {entry['kind']:<10} {size:>8}  {entry['description']}")
    return rows or [f"no shipped models yet in {zoo} (`facekit export` adds one)"]
