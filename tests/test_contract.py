"""The data contract: fixed splits, expert vs generator checks, one model loader, honest checkpoint errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facekit.cli import main
from facekit.config import ConfigError, apply_overrides
from facekit.data.clips import read_manifest, write_manifest
from facekit.data.dataset import select_split
from facekit.train.loop import train_expert, train_generator


def _cfg(tiny_cfg, **over):
    return apply_overrides(tiny_cfg, {"train.steps": 2, "train.batch_size": 4, "train.log_every": 1, **over})


def _log(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def _without(corpus: Path, root: Path, clip_id: str) -> Path:
    """A 're-prepared' copy of ``corpus`` that lost one clip (the others' files shared through a symlink)."""
    settings, infos = read_manifest(corpus)
    root.mkdir()
    (root / "clips").symlink_to(corpus / "clips")
    settings = {k: v for k, v in settings.items() if k not in ("format", "version")}
    write_manifest(root, [i for i in infos if i.id != clip_id], **settings)
    return root


def _edited(src: Path, dst: Path, edit) -> Path:
    """A copy of checkpoint ``src`` with ``edit(state)`` applied."""
    state = torch.load(src, weights_only=True)
    edit(state)
    torch.save(state, dst)
    return dst


def _trained_on(runs: Path, tmp_path: Path, clip_ids: list[str]) -> Path:
    """The test expert, its contract saying it trained on ``clip_ids``."""
    return _edited(
        runs / "expert" / "last.pt", tmp_path / "e.pt", lambda s: s["contract"]["split"].update(train=clip_ids)
    )


# ---------------------------------------------------------------------------------------------------- one loader


def test_metrics_do_not_import_train():
    code = (
        "import pkgutil, importlib, sys, facekit.metrics as m\n"
        "for mod in pkgutil.iter_modules(m.__path__): importlib.import_module(f'facekit.metrics.{mod.name}')\n"
        "print(sorted(k for k in sys.modules if k.startswith('facekit.train')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("kind", ["random", "truncated", "tensor"])
@pytest.mark.parametrize("command", ["eval", "generate"])
def test_a_file_that_is_not_a_checkpoint_is_one_line_through_the_cli(runs, corpus, tmp_path, capsys, kind, command):
    bad = tmp_path / f"{kind}.pt"
    if kind == "random":
        bad.write_bytes(bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).tolist()))
    elif kind == "truncated":
        whole = (runs / "gen" / "last.pt").read_bytes()
        bad.write_bytes(whole[: len(whole) // 2])
    else:
        torch.save(torch.zeros(3), bad)
    if command == "eval":
        args = ["eval", "--checkpoint", str(bad), "--data", str(corpus)]
    else:
        args = [
            "generate",
            "--checkpoint",
            str(bad),
            "--face",
            str(tmp_path / "f.png"),
            "--out",
            str(tmp_path / "o.mp4"),
        ]
    assert main(args) == 2
    err = capsys.readouterr().err
    # generate lists every bad input at once (here also the missing face and speech): the checkpoint's is one line
    lines = err.strip().splitlines() if command == "eval" else [ln for ln in err.splitlines() if str(bad) in ln]
    assert len(lines) == 1 and str(bad) in lines[0] and "not a facekit checkpoint" in lines[0]
    assert "Traceback" not in err and "weights_only" not in err


# ---------------------------------------------------------------------------------------------------- item 1


def test_an_expert_with_one_frame_windows_is_a_config_error(runs, corpus, tiny_cfg, tmp_path, capsys):
    """The README's `facekit train generator --expert E` with default data settings: the sync loss cannot run on
    1-frame windows, so it stops before doing anything (no run folder), naming the setting to change."""
    args = ["train", "generator", "--run-dir", str(tmp_path / "gen"), "--data", str(corpus), "--preset", "tiny"]
    assert main([*args, "--expert", str(runs / "expert" / "last.pt")]) == 2
    assert "--set data.num_frames=5" in capsys.readouterr().err
    assert not (tmp_path / "gen").exists()
    cfg = _cfg(tiny_cfg, **{"data.num_frames": 5, "train.sync_weight": 0.0})
    with pytest.raises(ConfigError, match="train.sync_weight > 0"):
        train_generator(cfg, corpus, tmp_path / "g0", expert_path=runs / "expert" / "last.pt", progress=False)


def test_the_first_log_record_and_the_console_state_every_active_loss_term(runs, corpus, tiny_cfg, tmp_path, capsys):
    cfg = _cfg(tiny_cfg, **{"data.num_frames": 5, "train.ssim_weight": 0.5})
    train_generator(cfg, corpus, tmp_path / "gen", expert_path=runs / "expert" / "last.pt", progress=False)
    log = _log(tmp_path / "gen")
    assert log[0]["loss_terms"] == {"l1": 1.0, "dssim": 0.5, "sync": cfg.train.sync_weight}
    assert all("sync" in r for r in log) and "loss_terms" not in log[1]
    assert f"loss = 1 x l1 + 0.5 x dssim + {cfg.train.sync_weight:g} x sync" in capsys.readouterr().out
    # resuming it without the expert would quietly drop the sync term
    with pytest.raises(ConfigError, match="trained with the loss terms .* give the run's --expert"):
        train_generator(apply_overrides(cfg, {"train.steps": 3}), corpus, tmp_path / "gen", progress=False)


def test_an_expert_of_another_crop_size_is_refused_for_training(runs, corpus, tiny_cfg, tmp_path):
    expert = _edited(runs / "expert" / "last.pt", tmp_path / "e.pt", lambda s: s["contract"].update(image_size=64))
    cfg = _cfg(tiny_cfg, **{"data.num_frames": 5})
    with pytest.raises(ConfigError, match="image size 64 vs data.image_size=32"):
        train_generator(cfg, corpus, tmp_path / "gen", expert_path=expert, progress=False)


# ---------------------------------------------------------------------------------------------------- item 2


def test_every_checkpoint_records_its_data_contract(runs, corpus, tiny_cfg):
    from facekit.data import audio

    for kind in ("gen", "expert"):
        state = torch.load(runs / kind / "last.pt", weights_only=True)
        contract = state["contract"]
        assert (contract["image_size"], contract["mouth_size"], contract["fps"]) == (32, 16, 25.0)
        assert contract["mel"]["hop"] == audio.HOP and contract["mel"]["num_mels"] == audio.NUM_MELS
        split = json.loads((runs / kind / "split.json").read_text())
        assert contract["split"] == split and split["by"] == tiny_cfg.data.split_by
        infos = read_manifest(corpus)[1]
        assert split["eval"] == [i.id for i in select_split(infos, "eval", tiny_cfg.data)]
        assert sorted(split["train"] + split["eval"]) == sorted(i.id for i in infos)


def test_an_expert_that_trained_on_held_out_clips_is_refused_unless_allowed(runs, corpus, tiny_cfg, tmp_path, capsys):
    """An expert trained on another split of the same data (another data.split_seed) knows some held-out clips."""
    other = _cfg(tiny_cfg, **{"data.split_seed": 1})
    train_expert(other, corpus, tmp_path / "expert", progress=False)
    infos = read_manifest(corpus)[1]
    held = {i.id for i in select_split(infos, "eval", tiny_cfg.data)}
    known = held & {i.id for i in select_split(infos, "train", other.data)}
    assert known, "split_seed=1 holds out the same clips here: pick another seed"
    args = ["eval", "--checkpoint", str(runs / "gen" / "last.pt"), "--data", str(corpus)]
    args += ["--expert", str(tmp_path / "expert" / "last.pt")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"trained on {len(known)} of these {len(held)} clips" in err and "--allow-expert-overlap" in err
    out = tmp_path / "report"
    assert main([*args, "--allow-expert-overlap", "--out-dir", str(out)]) == 0
    result = json.loads((out / "results.json").read_text())
    assert next(iter(result["summary"])) == "warning" and f"on {len(known)} of these" in result["summary"]["warning"]
    assert (out / "report.md").read_text().splitlines()[0].startswith("# WARNING: the sync expert")


def test_an_expert_without_a_contract_is_scored_under_a_warning(runs, corpus, tmp_path):
    from facekit.evaluation import evaluate_generator

    old = _edited(runs / "expert" / "last.pt", tmp_path / "old.pt", lambda s: s.pop("contract"))
    result = evaluate_generator(runs / "gen" / "last.pt", corpus, old, max_clips=1, lpips=False, details=True)
    warning = result["summary"]["warning"]
    assert next(iter(result["summary"])) == "warning" and "no contract recorded" in warning
    assert result["title"].startswith(warning)


def test_an_expert_of_another_frame_rate_is_refused_and_another_size_is_a_stated_resize(runs, corpus, tmp_path):
    from facekit.evaluation import evaluate_generator

    gen = runs / "gen" / "last.pt"
    fps = _edited(runs / "expert" / "last.pt", tmp_path / "fps.pt", lambda s: s["contract"].update(fps=30.0))
    with pytest.raises(ConfigError, match="fps 30 vs 25"):
        evaluate_generator(gen, corpus, fps, max_clips=1, lpips=False)
    edit = lambda s: (s["contract"].update(image_size=64), s["config"]["data"].update(image_size=64))  # noqa: E731
    size = _edited(runs / "expert" / "last.pt", tmp_path / "size.pt", edit)
    result = evaluate_generator(gen, corpus, size, max_clips=1, lpips=False)
    assert any("resized to 64 px" in n for n in result["notes"])


def test_expert_overlap_matches_clip_ids_and_video_stems(runs, tmp_path):
    from facekit.contract import expert_overlap

    train = ["s1_bbaf2n", "s1_lgbs5a"]
    expert = _edited(
        runs / "expert" / "last.pt", tmp_path / "e.pt", lambda s: s["contract"]["split"].update(train=train)
    )
    assert expert_overlap(expert, ["bbaf2n", "s1_lgbs5a", "pgak2n", "s2_pgak2n"]) == ["bbaf2n", "s1_lgbs5a"]


def test_the_folder_benchmark_refuses_an_overlapping_expert(runs, tmp_path, capsys):
    train = ["s1_bbaf2n"]
    expert = _edited(
        runs / "expert" / "last.pt", tmp_path / "e.pt", lambda s: s["contract"]["split"].update(train=train)
    )
    for folder in ("gen", "gt"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "bbaf2n.mp4").write_bytes(b"")
    args = ["eval", "--generated", str(tmp_path / "gen"), "--ground-truth", str(tmp_path / "gt"), "--aligned"]
    assert main([*args, "--expert", str(expert)]) == 2
    assert "trained on 1 of these 1 clips (bbaf2n)" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- item 3


def test_a_re_prepared_folder_moves_no_clip_between_sides(corpus, tiny_cfg, tmp_path, capsys):
    """Split by sentence (one per clip): drawing the split again after a held-out clip is gone would move a training
    clip into the held-out side; the run's stored split keeps every other clip where it was."""
    cfg = _cfg(tiny_cfg, **{"data.split_by": "sentence"})
    train_generator(cfg, corpus, tmp_path / "gen", progress=False)
    infos = read_manifest(corpus)[1]
    held = [i.id for i in select_split(infos, "eval", cfg.data)]
    train = [i.id for i in select_split(infos, "train", cfg.data)]
    gone = held[0]
    smaller = _without(corpus, tmp_path / "reprepared", gone)
    redrawn = {i.id for i in select_split(read_manifest(smaller)[1], "eval", cfg.data)}
    assert redrawn & set(train), "this corpus no longer shows the problem: pick another clip to remove"
    out = tmp_path / "eval.json"
    assert (
        main(["eval", "--checkpoint", str(tmp_path / "gen" / "last.pt"), "--data", str(smaller), "--out", str(out)])
        == 0
    )
    scored = [c["clip"] for c in json.loads(out.read_text())["per_clip"]]
    assert scored == held[1:]
    assert f"1 of the checkpoint's {len(held)} eval clips are missing from {smaller}: {gone}" in capsys.readouterr().err
    # resuming on it: the same split (a lost held-out clip is no loss to training)
    train_generator(apply_overrides(cfg, {"train.steps": 3}), smaller, tmp_path / "gen", progress=False)
    assert json.loads((tmp_path / "gen" / "split.json").read_text())["train"] == train


def test_a_resume_without_a_training_clip_is_refused(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg)
    train_generator(cfg, corpus, tmp_path / "gen", progress=False)
    gone = select_split(read_manifest(corpus)[1], "train", cfg.data)[0].id
    smaller = _without(corpus, tmp_path / "reprepared", gone)
    with pytest.raises(ConfigError, match=f"1 training clips of the run's split are missing \\({gone}\\)"):
        train_generator(apply_overrides(cfg, {"train.steps": 3}), smaller, tmp_path / "gen", progress=False)


def test_an_expert_trains_and_evaluates_on_its_stored_split(corpus, tiny_cfg, tmp_path):
    cfg = _cfg(tiny_cfg)
    train_expert(cfg, corpus, tmp_path / "expert", progress=False)
    shutil.copy(tmp_path / "expert" / "split.json", tmp_path / "first.json")
    record = train_expert(apply_overrides(cfg, {"train.steps": 3}), corpus, tmp_path / "expert", progress=False)
    assert (tmp_path / "expert" / "split.json").read_text() == (tmp_path / "first.json").read_text()
    assert record["eval"]["windows"] > 0
