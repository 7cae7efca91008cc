"""A run folder at the start of training: the checkpoint to resume, the run's fixed split, a log that agrees.

- A fresh run draws its split from the data's manifest (``data.split_by`` / ``eval_fraction`` / ``split_seed``) and
  writes it to ``split.json``; the training loop records it in every checkpoint. A resumed run takes the split its
  checkpoint recorded, so re-prepared data never moves a clip between sides: every training clip of it must still be
  in the data, and clips added since are left out (and said so).
- A resume may change only settings that do not alter the run's past (:data:`RESUMABLE`, e.g. a longer
  ``train.steps``); any other change, or other loss terms (a resume without the run's ``--expert``), is a
  ConfigError naming them.
- ``log.jsonl`` keeps only the records up to the checkpoint's step: steps a killed run logged after its last
  checkpoint are trained and logged again, never twice.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from facekit.checkpoints import checkpoint_config, load_checkpoint
from facekit.config import Config, ConfigError
from facekit.contract import read_contract
from facekit.data.clips import read_manifest
from facekit.data.dataset import Split

RESUMABLE = ("train.steps", "train.max_minutes", "train.checkpoint_every", "train.log_every", "train.num_workers")


@dataclass
class RunStart:
    state: dict | None  # the checkpoint to resume from (None: a fresh run)
    split: Split
    loss_terms: dict[str, float]  # {term: weight} of every active loss term
    notes: list[str] = field(default_factory=list)  # what the console should say about the resume


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value})
    return out


def config_changes(old: dict, new: dict) -> dict[str, tuple]:
    """{dotted key: (old value, new value)} for every setting that differs between two ``Config.to_dict()``."""
    a, b = _flat(old), _flat(new)
    return {k: (a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys()) if a.get(k) != b.get(k)}


def _step(line: str) -> float:
    """The step of a log line; infinite for a line a kill cut short (not JSON), so it is dropped."""
    try:
        return json.loads(line)["step"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return math.inf


def truncate_log(path: Path, step: int) -> None:
    """Keep the records of ``path`` (JSON lines) with ``step <= step``; rewritten atomically."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    kept = [line for line in lines if _step(line) <= step]
    if len(kept) != len(lines):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, path)


def start_run(
    cfg: Config, kind: str, data_root: str | Path, run_dir: str | Path, loss_terms: dict[str, float], main_process: bool
) -> RunStart:
    """Check a resume against ``run_dir/last.pt`` and fix the split; the main process writes ``config.json``,
    ``split.json`` and the truncated log. Raises ConfigError (before writing anything) when the run cannot resume."""
    run_dir, data_root = Path(run_dir), Path(data_root)
    _, infos = read_manifest(data_root)
    ckpt = run_dir / "last.pt"
    if not ckpt.is_file():
        start = RunStart(None, Split.draw(infos, cfg.data), loss_terms)
    else:
        start = _resume(cfg, kind, ckpt, data_root, {i.id for i in infos}, loss_terms)
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(run_dir / "config.json")
        (run_dir / "split.json").write_text(json.dumps(start.split.to_dict(), indent=2) + "\n")
        truncate_log(run_dir / "log.jsonl", start.state["step"] if start.state else 0)
    return start


def _resume(
    cfg: Config, kind: str, ckpt: Path, data_root: Path, present: set[str], loss_terms: dict[str, float]
) -> RunStart:
    state = load_checkpoint(ckpt, kind)
    if state.get("loss_terms", loss_terms) != loss_terms:
        raise ConfigError(f"{ckpt} trained with the loss terms {state['loss_terms']}, this resume has {loss_terms}: "
                          f"give the run's --expert, or use a new run folder")  # fmt: skip
    # a field added since the checkpoint was made takes the value it was made with, so it is no change
    changes = config_changes(checkpoint_config(state, ckpt).to_dict(), cfg.to_dict())
    refused = {k: v for k, v in changes.items() if k not in RESUMABLE}
    if refused:
        listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in ((k, *v) for k, v in refused.items()))
        raise ConfigError(f"{ckpt} was made with another config ({listed}); a resume may change only "
                          f"{', '.join(RESUMABLE)}: use a new run folder or the run's config")  # fmt: skip
    if state["step"] > cfg.train.steps:
        raise ConfigError(f"{ckpt} is at step {state['step']}, past train.steps={cfg.train.steps}; "
                          f"set train.steps to {state['step']} or more")  # fmt: skip
    notes = [f"resuming {ckpt} at step {state['step']}"]
    notes += [f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items()]
    split = read_contract(state, ckpt).split
    if split is None:
        _, infos = read_manifest(data_root)
        split = Split.draw(infos, cfg.data)
        notes.append(f"{ckpt} records no split (no contract recorded: made before facekit recorded one); "
                     f"drawn again from {data_root}'s manifest")  # fmt: skip
    missing = sorted(set(split.train) - present)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise ConfigError(f"{data_root}: {len(missing)} training clips of the run's split are missing ({shown}); "
                          f"resume on the data the run started with, or use a new run folder")  # fmt: skip
    added = present - set(split.train) - set(split.eval) - set(split.val)
    if added:
        notes.append(f"{len(added)} clips of {data_root} are not in the run's split (added since it began): left out")
    return RunStart(state, split, loss_terms, notes)
