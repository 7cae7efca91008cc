"""``facekit fit``: one person's videos -> prepared clips -> sync expert -> generator, as one resumable run.

The recipe (``facekit/recipes/one_person.json``) is one config: the overrides shared by every stage, the expert's,
the generator's, and the generator curriculum as stages that each start from the last one's weights. A run folder::

    OUT/data/             prepared clips (facekit prepare)
    OUT/expert/           the sync expert's run (its last.pt trains the generator's sync loss)
    OUT/expert-seedK/     more training experts (seeds 2, 3, ...) with ``"training_experts": n`` in the recipe:
                          the generator's sync loss is then the mean of theirs, so no one expert's quirks are learnt
    OUT/judge/            the judge: another seed (1), never used in training; it scores the figures
    OUT/generator/K-NAME/ one run per curriculum stage
    OUT/fit.json          the recipe, the command, the budget and each stage's state and time
    OUT/MODEL.md, OUT/model_card.json   written at the end, with the held-out figures

Re-running the same command resumes: finished stages are skipped, an interrupted one resumes from its checkpoint.
Re-running it with a larger ``--hours`` (or a recipe whose only change is a smaller ``eval_reserve_minutes``)
continues a finished run: the last stage trains on from its checkpoint for the extra time, and the evaluation and
model card are made again.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path

from facekit.config import Config, ConfigError, apply_overrides, get_preset
from facekit.data.dataset import split_ids, split_line
from facekit.verdict import FIGURES, IMAGE_FIGURES, SYNC_FIGURES

DEFAULT_RECIPE = "one_person"
CARD_FIGURES = [*IMAGE_FIGURES, *SYNC_FIGURES]  # the held-out table's columns
JUDGE_SEED = 1  # the judge expert's train.seed; training experts never use it
CONTINUE_AFTER_S = 60  # a finished last stage trains on when a larger budget gives it at least this much more


def load_recipe(name_or_path: str = DEFAULT_RECIPE) -> dict:
    """A recipe by name (``facekit/recipes/NAME.json``) or path; checked for the fields :func:`stage_config` reads."""
    path = Path(name_or_path)
    try:
        if path.suffix == ".json" or path.exists():
            text = path.read_text()
        else:
            text = resources.files("facekit.recipes").joinpath(f"{name_or_path}.json").read_text()
    except OSError as exc:
        raise ConfigError(f"recipe {name_or_path!r}: cannot read it ({exc}); give a recipe JSON or a name") from exc
    try:
        recipe = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"recipe {name_or_path}: not valid JSON ({exc})") from exc
    missing = [k for k in ("preset", "common", "expert", "generator", "stages") if k not in recipe]
    if missing:
        raise ConfigError(f"recipe {name_or_path}: missing {', '.join(missing)}")
    shares = [s.get("share", 0) for s in recipe["stages"]]
    if not recipe["stages"] or min(shares) <= 0 or abs(sum(shares) - 1) > 1e-6:
        raise ConfigError(f"recipe {name_or_path}: each stage needs a share > 0 and the shares must add up to 1")
    for stage in recipe["stages"]:  # fail now on a bad key, not an hour into the run
        apply_overrides(get_preset(recipe["preset"]), recipe["common"] + recipe["generator"] + stage["set"])
    apply_overrides(get_preset(recipe["preset"]), recipe["common"] + recipe["expert"])
    return recipe


def expert_config(recipe: dict, extra: list[str] = ()) -> Config:
    return apply_overrides(get_preset(recipe["preset"]), [*recipe["common"], *recipe["expert"], *extra])


def stage_config(recipe: dict, index: int, minutes: float, init_from: str, extra: list[str] = ()) -> Config:
    """The generator config of curriculum stage ``index``: its budget in minutes and the weights it starts from."""
    stage = recipe["stages"][index]
    sets = [*recipe["common"], *recipe["generator"], *stage["set"], *extra]
    return apply_overrides(
        get_preset(recipe["preset"]),
        [*sets, f"train.max_minutes={minutes:.2f}", f"train.init_from={init_from}"],
    )


# ------------------------------------------------------------------------------------------------------ the run


BUDGET_KEYS = ("eval_reserve_minutes",)  # recipe keys a resumed run may change: they only move time between parts


def _training_part(recipe: dict) -> dict:
    return {k: v for k, v in recipe.items() if k not in BUDGET_KEYS}


class FitState:
    """``OUT/fit.json``: the recipe, the budget and each stage's state; written after every change."""

    def __init__(self, out: Path, recipe: dict, extra: list[str], command: str) -> None:
        self.path = out / "fit.json"
        self._lock = threading.Lock()
        fresh = {"recipe": recipe, "set": list(extra), "stages": {}, "commands": []}
        self.data = json.loads(self.path.read_text()) if self.path.is_file() else fresh
        stored = self.data["recipe"]
        if _training_part(stored) != _training_part(recipe) or self.data["set"] != list(extra):
            raise ConfigError(
                f"{out} was started with another recipe or --set ({self.path}); re-run with the same ones to "
                "resume, or give a new --out"
            )
        self.change = None
        if stored != recipe:  # only what is kept for the evaluation changed: the generator's budget follows
            self.change = {key: [stored.get(key), recipe.get(key)] for key in BUDGET_KEYS
                           if stored.get(key) != recipe.get(key)}  # fmt: skip
            self.data.setdefault("recipe_changes", []).append(self.change)
            self.data["recipe"] = recipe
        self.data["commands"].append(command)
        self.save()

    def stage(self, name: str) -> dict:
        return self.data["stages"].setdefault(name, {"done": False, "seconds": 0.0})

    def spent(self, *names: str) -> float:
        """Seconds the named stages took; with no names, the whole run so far."""
        stages = self.data["stages"]
        return sum(stages.get(n, {}).get("seconds", 0.0) for n in (names or stages))

    def save(self) -> None:
        with self._lock:  # the progress thread saves too
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.data, indent=2) + "\n")
            tmp.replace(self.path)


class Progress:
    """One bar over the whole run, in seconds of the budget: the stage, its step and loss, an ETA to the end."""

    def __init__(self, total_seconds: float, enabled: bool = True, done_seconds: float = 0.0) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            # ``initial``: a resumed run's earlier seconds count as done, not as this sitting's speed (the ETA)
            fmt = "{desc} {percentage:3.0f}%|{bar}| {elapsed} elapsed, ETA {remaining} {postfix}"
            total, done = round(total_seconds), min(round(done_seconds), round(total_seconds))
            self.bar = tqdm(total=total, initial=done, bar_format=fmt, desc="fit")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def follow(self, stage: str, log: Path | None, tick) -> None:
        """Until :meth:`stop`, every 2 s: ``tick()`` (the run's seconds so far) moves the bar; ``log`` its postfix."""
        self.stop()
        self._stop.clear()
        if self.bar is not None:
            self.bar.set_description(f"fit [{stage}]")
            self.bar.set_postfix_str("", refresh=False)  # the last stage's step and loss are not this one's

        def loop() -> None:
            while not self._stop.wait(2.0):
                done = tick()
                if self.bar is None:
                    continue
                self.bar.n = min(self.bar.total, round(done))
                last = _last_record(log) if log is not None and log.is_file() else None
                if last and "loss" in last:
                    self.bar.set_postfix_str(f"step {last['step']} loss {last['loss']:.4f}", refresh=False)
                self.bar.refresh()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self.bar is not None:
            self.bar.close()


def _last_record(log: Path) -> dict | None:
    lines = log.read_text().splitlines()
    for line in reversed(lines):
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            continue
    return None


@dataclass
class FitPaths:
    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def expert(self) -> Path:
        return self.out / "expert"

    def experts(self, recipe: dict) -> list[tuple[str, Path, int]]:
        """``(stage name, run folder, seed)`` of every training expert: ``expert`` (seed 0) and, for a recipe's
        ``"training_experts": n``, ``expert-seed<k>`` for seeds 2, 3, ... (seed 1 is the judge's)."""
        extra = [(f"expert-seed{seed}", self.out / f"expert-seed{seed}", seed)
                 for seed in range(2, 1 + recipe.get("training_experts", 1))]  # fmt: skip
        return [("expert", self.expert, 0), *extra]

    @property
    def judge(self) -> Path:
        return self.out / "judge"

    def stage(self, recipe: dict, index: int) -> Path:
        return self.out / "generator" / recipe["stages"][index]["name"]

    def final(self, recipe: dict) -> Path:
        return self.stage(recipe, len(recipe["stages"]) - 1) / "last.pt"


def generator_minutes(recipe: dict, hours: float, state: FitState) -> float:
    """Minutes left to the generator stages: the budget less preparing, the experts and the final evaluation."""
    experts = [name for name, _, _ in FitPaths(state.path.parent).experts(recipe)]
    used = state.spent("prepare", *experts, "judge") / 60
    minutes = 60 * hours - used - recipe.get("eval_reserve_minutes", 0)
    if minutes <= 1:
        raise ConfigError(
            f"--hours {hours:g} leaves no time for the generator ({used:.1f} min went to preparing and the experts, "
            f"{recipe.get('eval_reserve_minutes', 0)} min are kept for the evaluation); give more --hours"
        )
    return minutes


def stage_minutes(recipe: dict, index: int, minutes: float, state: FitState) -> float:
    """Stage ``index``'s budget: its share of the generator's ``minutes``; the last stage takes all that the earlier
    stages left (their overheads included), so raising ``--hours`` on a finished run trains the last stage further."""
    stages = recipe["stages"]
    if index < len(stages) - 1:
        return minutes * stages[index]["share"]
    left = minutes - state.spent(*(f"generator/{s['name']}" for s in stages[:-1])) / 60
    return max(left, 0.01)  # never 0: train.max_minutes=0 means no limit


def _continue_if_more_time(state: FitState, recipe: dict, index: int, budget: float, log) -> None:
    """Re-open the finished last stage (and the evaluation after it) when its budget now exceeds the time it had by
    ``CONTINUE_AFTER_S`` or more: it resumes from its checkpoint (``train.max_minutes`` counts the time spent)."""
    name = f"generator/{recipe['stages'][index]['name']}"
    entry = state.data["stages"].get(name)
    more = 60 * budget - entry["seconds"] if entry else 0.0
    if index < len(recipe["stages"]) - 1 or not entry or not entry["done"] or more < CONTINUE_AFTER_S:
        return
    entry["done"] = False
    if "evaluate" in state.data["stages"]:
        state.data["stages"]["evaluate"]["done"] = False
    state.data.setdefault("continued", []).append(
        {"stage": name, "had_minutes": round(entry["seconds"] / 60, 2), "budget_minutes": round(budget, 2)}
    )
    state.save()
    log(f"fit: {name} was done after {entry['seconds'] / 60:.1f} min; the larger budget gives it {budget:.1f} min: "
        "it continues from its checkpoint, then the evaluation runs again")  # fmt: skip


def fit(
    out: str | Path,
    hours: float,
    *,
    videos: str | Path | None = None,
    aligns: str | Path | None = None,
    data: str | Path | None = None,
    recipe: dict | None = None,
    extra: list[str] = (),
    workers: int = 1,
    progress: bool = True,
    command: str = "",
    log=print,
) -> dict:
    """Run (or resume) the whole recipe in ``out``; returns the model card. See the module docstring.

    The clips come from ``videos`` (prepared into ``out/data``; GRID when ``aligns`` is given, else a folder of one
    person's videos with optional ``<stem>.txt`` / ``.align`` transcripts) or, already prepared, from ``data``."""
    from facekit.train.loop import train_expert, train_generator

    recipe = recipe or load_recipe()
    out = Path(out)
    if (videos is None) == (data is None):
        raise ConfigError("facekit fit takes --videos DIR (raw videos to prepare) or --data DIR (prepared clips)")
    paths = FitPaths(out)
    state = FitState(out, recipe, list(extra), command)
    if state.change:
        said = ", ".join(f"{key} {was} -> {now}" for key, (was, now) in state.change.items())
        log(f"fit: the recipe's {said} (recorded in fit.json and the model card): the generator stages not finished "
            "yet, or a finished last stage, get the time it frees")  # fmt: skip
    data_root = Path(data) if data is not None else paths.data
    bar = Progress(3600 * hours, progress, state.spent())
    try:
        if videos is not None:
            _timed(state, "prepare", bar, None, lambda: _prepare(videos, aligns, paths.data, recipe, workers))
        experts = paths.experts(recipe)
        for name, run_dir, seed in [*experts, ("judge", paths.judge, JUDGE_SEED)]:
            cfg = expert_config(recipe, [*extra, f"train.seed={seed}"])
            _timed(state, name, bar, run_dir / "log.jsonl", partial(train_expert, cfg, data_root, run_dir, False))
        minutes = generator_minutes(recipe, hours, state)
        init, expert = "", [str(run_dir / "last.pt") for _, run_dir, _ in experts]
        for k, stage in enumerate(recipe["stages"]):
            run_dir = paths.stage(recipe, k)
            budget = stage_minutes(recipe, k, minutes, state)
            _continue_if_more_time(state, recipe, k, budget, log)
            cfg = stage_config(recipe, k, budget, init, extra)
            work = partial(train_generator, cfg, data_root, run_dir, expert_path=expert, progress=False)
            _timed(state, f"generator/{stage['name']}", bar, run_dir / "log.jsonl", work)
            init = str(run_dir / "last.pt")
        _timed(state, "evaluate", bar, None, lambda: _evaluate(paths, recipe, data_root, state, log))
    finally:
        bar.close()
    card = write_card(paths, recipe, data_root, state, hours)
    log(f"fit: done. model card: {out / 'MODEL.md'}; generator: {paths.final(recipe)}")
    return card


def _timed(state: FitState, name: str, bar: Progress, log: Path | None, work) -> None:
    """Run ``work`` unless stage ``name`` is done; its wall time is added to the stage even when interrupted."""
    entry = state.stage(name)
    if entry["done"]:
        return
    base, start = entry["seconds"], time.perf_counter()

    def tick() -> float:  # saved every few seconds: a kill loses at most that much of the stage's recorded time
        entry["seconds"] = round(base + time.perf_counter() - start, 1)
        state.save()
        return state.spent()

    bar.follow(name, log, tick)
    try:
        work()
        entry["done"] = True
    finally:
        bar.stop()
        tick()


def _prepare(videos, aligns, out: Path, recipe: dict, workers: int) -> None:
    from facekit.data.grid import find_videos, prepare_grid
    from facekit.data.prepare import prepare_folder
    from facekit.data.transcripts import find_transcript

    size = recipe.get("image_size", 96)
    if aligns is not None:
        summary = prepare_grid(videos, out, aligns, size, workers, progress=False)
    else:
        found = find_videos(videos, (".mp4", ".mpg", ".mpeg", ".mov", ".mkv"))  # raises, naming the folder, if none
        transcripts = {str(v): find_transcript(v) for v in found}
        summary = prepare_folder(found, out, size, transcripts, workers, progress=False)
    if not summary["prepared"]:
        reasons = ", ".join(f"{n} {why}" for why, n in summary["skipped_by_reason"].items())
        raise ConfigError(f"--videos {videos}: no clip could be prepared ({reasons}); see {out}/summary.json")


def _evaluate(paths: FitPaths, recipe: dict, data_root: Path, state: FitState, log) -> None:
    """The final generator on the held-out clips (in the crop, beside the baselines) and, where the held-out clips
    have transcripts, cross-dubbed (each sentence on another clip's face video): both judged by the judge expert.
    A run with validation clips (``data.val_fraction``) is scored on them the same way (``OUT/eval/val``), to compare
    settings on them rather than on the held-out clips."""
    from facekit.contract import load_contract

    final = paths.final(recipe)
    figures = _score(final, paths.judge / "last.pt", data_root, "eval", paths.out / "eval", recipe)
    if load_contract(final, "generator").split.val:
        figures["validation"] = _score(final, paths.judge / "last.pt", data_root, "val", paths.out / "eval" / "val",
                                       recipe)  # fmt: skip
    state.data["figures"] = figures
    (final.parent / "eval.json").write_text(json.dumps(card_figures(figures), indent=2) + "\n")  # for export's card


def _score(final: Path, judge: Path, data_root: Path, split: str, out: Path, recipe: dict) -> dict:
    """``final`` on ``split``'s clips in the crop and cross-dubbed, judged by ``judge``; reports under ``out``."""
    from facekit.crossdub import cross_dub
    from facekit.evaluation import evaluate_generator
    from facekit.report import write_outputs

    figures: dict = {}
    result = evaluate_generator(final, data_root, judge, split, details=True)
    write_outputs(result, out / "held_out")
    figures["held_out"] = {"clips": result["clips"], **result["summary"]}
    try:
        dubbed = cross_dub(final, data_root, judge, out / "cross_dub", recipe.get("cross_dub_pairs", 10),
                           log=lambda _: None, split=split)  # fmt: skip
    except ValueError as exc:
        figures["cross_dub"] = {"skipped": str(exc)}
    else:
        write_outputs(dubbed, out / "cross_dub" / "eval")
        s = dubbed["summary"]
        figures["cross_dub"] = {"pairs": len(dubbed["pairs"]), "generated": s["generated"],
                                "ground_truth": s["ground_truth"], "expert_id": s.get("expert_id")}  # fmt: skip
        real, made = s["ground_truth"].get("lse_c"), s["generated"].get("lse_c")
        if real and made is not None:
            figures["cross_dub"]["lse_c_share_of_real"] = round(made / real, 4)
    return figures


def card_figures(figures: dict) -> dict:
    """The flat ``{"held_out generated mouth_l1": ...}`` figures a model card lists. A cross-dub has sync figures
    only: its real video shows another face, so image figures against it would measure nothing."""
    flat = {f"held_out {k}": v for k, v in _headline(figures["held_out"], CARD_FIGURES).items()}
    if "generated" in figures.get("cross_dub", {}):
        flat.update({f"cross_dub {k}": v for k, v in _headline(figures["cross_dub"], SYNC_FIGURES).items()})
        if "lse_c_share_of_real" in figures["cross_dub"]:
            flat["cross_dub lse_c_share_of_real"] = figures["cross_dub"]["lse_c_share_of_real"]
    return flat


def _headline(summary: dict, figures) -> dict:
    keep = (*figures, "offset_zero_share")
    return {f"{who} {k}": round(v, 4) for who in ("generated", "reference_pasted", "mean_mouth", "ground_truth")
            for k, v in summary.get(who, {}).items() if k in keep and v is not None}  # fmt: skip


def write_card(paths: FitPaths, recipe: dict, data_root: Path, state: FitState, hours: float) -> dict:
    """``OUT/model_card.json`` and ``OUT/MODEL.md``: data and licence, split, config, time per stage, figures."""
    from facekit.checkpoints import checkpoint_config, load_checkpoint
    from facekit.data.clips import data_source
    from facekit.zoo import LICENCES

    final = paths.final(recipe)
    ckpt = load_checkpoint(final, "generator")
    source = data_source(data_root)
    stages = {name: {**entry} for name, entry in state.data["stages"].items()}
    for k, stage in enumerate(recipe["stages"]):
        last = _last_record(paths.stage(recipe, k) / "log.jsonl") or {}
        saved = paths.stage(recipe, k) / "last.pt"
        steps = load_checkpoint(saved, "generator")["step"] if saved.is_file() else last.get("step")
        stages[f"generator/{stage['name']}"].update(
            steps=steps, final_loss=last.get("loss"), training_seconds=last.get("elapsed_s")
        )
    card = {
        "generator": str(final),
        "expert": str(paths.expert / "last.pt"),
        "experts": [str(run_dir / "last.pt") for _, run_dir, _ in paths.experts(recipe)],
        "judge": str(paths.judge / "last.pt"),
        "data": {
            "folder": str(data_root),
            "source": source,
            "licence": LICENCES.get(source, "not known to facekit: state your videos' licence"),
        },  # fmt: skip
        "split": ckpt["contract"]["split"],
        "config": checkpoint_config(ckpt, final).to_dict(),
        "recipe": recipe,
        "set": state.data["set"],
        "budget_hours": hours,
        "stages": stages,
        "wall_seconds": round(sum(e["seconds"] for e in stages.values()), 1),
        "figures": state.data.get("figures", {}),
        "commands": state.data["commands"],
        "continued": state.data.get("continued", []),
        "recipe_changes": state.data.get("recipe_changes", []),
    }
    (paths.out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    (paths.out / "MODEL.md").write_text(card_markdown(card))
    return card


def card_markdown(card: dict) -> str:
    split, figs = card["split"], card["figures"]
    lines = [
        "# facekit fit: model card",
        "",
        f"- generator: `{card['generator']}`; sync expert(s) (trained the generator): "
        f"{', '.join(f'`{e}`' for e in card.get('experts', [card['expert']]))}; judge "
        f"(another seed, never used in training; scores the figures below): `{card['judge']}`",
        f"- data: `{card['data']['folder']}` ({card['data']['source']}): {card['data']['licence']}",
        f"- {split_line(split)}",
        f"- budget {card['budget_hours']:g} h; wall time {card['wall_seconds'] / 60:.1f} min in all",
        "",
        "Minutes: the wall time each stage took in `facekit fit` (setup included); training: the trainer's own clock, "
        "kept across resumes (it decides the stage's budget).",
        "",
        "| stage | done | minutes | training minutes | steps |",
        "|---|---|---|---|---|",
        *[_stage_row(name, entry) for name, entry in card["stages"].items()],
        "",
    ]
    lines += _figure_tables(figs, "held-out")
    if figs.get("validation"):
        lines += _figure_tables(figs["validation"], "validation")
    history = [f"- {c['stage']} continued: it had {c['had_minutes']} min, then a budget of {c['budget_minutes']} min"
               for c in card.get("continued", [])]  # fmt: skip
    history += [f"- a resume changed the recipe's {key} from {was} to {now}"
                for change in card.get("recipe_changes", []) for key, (was, now) in change.items()]  # fmt: skip
    if history:
        lines += ["## Resumes that changed the budget", "", *history, ""]
    lines += split_ids(split)
    lines += ["## Commands", "", *[f"    {c}" for c in card["commands"]], ""]
    return "\n".join(lines)


def _figure_tables(figs: dict, which: str) -> list[str]:
    """MODEL.md's tables of ``figs`` (one split's ``held_out`` and ``cross_dub`` figures): ``which`` names the split."""
    lines = []
    held = figs.get("held_out")
    if held:
        lines += [f"## {which.capitalize()} clips ({held['clips']}), in the crop, judged by the judge expert", "",
                  _header(CARD_FIGURES), "|---" * (len(CARD_FIGURES) + 1) + "|"]  # fmt: skip
        for who in ("generated", "reference_pasted", "mean_mouth", "ground_truth"):
            cells = [_cell(held.get(who, {}).get(k)) for k in CARD_FIGURES]
            lines.append(f"| {who.replace('_', ' ')} | " + " | ".join(cells) + " |")
        lines.append("")
    dub = figs.get("cross_dub", {})
    if "generated" in dub:
        lines += [f"## Cross-dub: {dub['pairs']} {which} sentences, each on another {which} clip's face video", "",
                  _header(SYNC_FIGURES)[:-1] + "| offset 0 |", "|---|---|---|---|"]  # fmt: skip
        for who in ("generated", "ground_truth"):
            cells = [_cell(dub[who].get(k)) for k in (*SYNC_FIGURES, "offset_zero_share")]
            lines.append(f"| {who.replace('_', ' ')} | " + " | ".join(cells) + " |")
        if "lse_c_share_of_real" in dub:
            lines += ["", f"Generated LSE-C is {dub['lse_c_share_of_real']:.1%} of the real videos'."]
        lines.append("")
    elif dub:
        lines += [f"Cross-dub ({which}): skipped ({dub['skipped']}).", ""]
    return lines


def _stage_row(name: str, entry: dict) -> str:
    trained = entry.get("training_seconds")
    trained = f"{trained / 60:.1f}" if trained is not None else ""
    done = "yes" if entry["done"] else "no"
    return f"| {name} | {done} | {entry['seconds'] / 60:.1f} | {trained} | {entry.get('steps') or ''} |"


def _header(keys) -> str:
    return "| | " + " | ".join(f"{FIGURES[k].label} ({FIGURES[k].direction})" for k in keys) + " |"


def _cell(value) -> str:
    return "" if value is None else f"{value:.4f}"
