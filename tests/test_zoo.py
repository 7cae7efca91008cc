"""Shipped models (facekit.zoo): export a trained run into a temporary zoo, load it by name everywhere a checkpoint
path is accepted, and check what ships in the package's own zoo."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from facekit import zoo
from facekit.checkpoints import CheckpointError, load_checkpoint, load_expert, load_generator
from facekit.cli import main
from facekit.config import Config
from facekit.contract import read_contract
from facekit.data.dataset import SyncDataset
from facekit.models.encoders import flatten_windows
from facekit.train.loop import sample_windows

EXPERT_NOTES = {"data_source": "synthetic", "figures": {"note_figure": 1.5}, "notes": "a test export"}


@pytest.fixture(scope="module")
def shipped(runs, tmp_path_factory):
    """A zoo with the tiny generator (``tiny-gen``) and sync expert (``tiny-expert``) of the ``runs`` fixture."""
    root = tmp_path_factory.mktemp("zoo")
    notes = root / "notes.json"
    notes.write_text(json.dumps(EXPERT_NOTES))
    zoo.export_model(runs / "gen" / "last.pt", "tiny-gen", zoo=root)
    zoo.export_model(runs / "expert" / "last.pt", "tiny-expert", card_notes=notes, zoo=root)
    return root


@pytest.fixture
def use_zoo(shipped, monkeypatch):
    monkeypatch.setenv(zoo.ZOO_ENV, str(shipped))
    return shipped


def test_the_export_is_fp16_weights_with_config_and_contract_and_nothing_else(runs, shipped):
    state = torch.load(shipped / "tiny-gen" / "weights.pt", weights_only=True)
    assert set(state) == {"kind", "config", "step", "model", "contract", "data_source"}
    floats = [v for v in state["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    original = load_checkpoint(runs / "gen" / "last.pt")
    ints = [k for k, v in original["model"].items() if not v.is_floating_point()]
    assert all(state["model"][k].dtype == original["model"][k].dtype for k in ints)
    assert state["contract"] == original["contract"] and state["data_source"] == "synthetic"


def test_models_load_by_name_as_float32_and_match_the_originals(runs, corpus, use_zoo):
    state = load_checkpoint("tiny-gen", "generator")
    assert all(v.dtype == torch.float32 for v in state["model"].values() if v.is_floating_point())

    model, cfg = load_generator("tiny-gen")
    original, _ = load_generator(runs / "gen" / "last.pt")
    split = read_contract(load_checkpoint(runs / "gen" / "last.pt"), "gen").split
    batch = flatten_windows(sample_windows(corpus, cfg, 4, split))
    with torch.no_grad():
        ours, theirs = model(batch)["image"], original(batch)["image"]
    assert torch.allclose(ours, theirs, atol=1e-2), float((ours - theirs).abs().max())

    expert, reference = load_expert("tiny-expert"), load_expert(runs / "expert" / "last.pt")
    data_cfg = Config.from_dict(load_checkpoint("tiny-expert")["config"]).data
    windows = SyncDataset(corpus, data_cfg, "eval", seed=0, fixed=split)
    items = [windows[i] for i in range(4)]
    frames, mel = torch.stack([i["frames"] for i in items]), torch.stack([i["mel"] for i in items])
    assert torch.allclose(expert(frames, mel), reference(frames, mel), atol=1e-2)


def test_a_corrupted_byte_fails_the_sha256_check(shipped, tmp_path, monkeypatch):
    import shutil

    copy = tmp_path / "zoo"
    shutil.copytree(shipped, copy)
    weights = copy / "tiny-expert" / "weights.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    monkeypatch.setenv(zoo.ZOO_ENV, str(copy))
    with pytest.raises(CheckpointError, match="sha256 is not the registry's for 'tiny-expert'") as error:
        load_expert("tiny-expert")
    assert str(weights) in str(error.value) and "\n" not in str(error.value)


def test_an_unknown_name_lists_the_shipped_models(use_zoo):
    with pytest.raises(CheckpointError, match=r"no such checkpoint.*\(tiny-expert, tiny-gen; see `facekit models`\)"):
        load_checkpoint("grid-s9")


def test_the_card_holds_split_licence_figures_training_and_hashes(runs, shipped):
    card = json.loads((shipped / "tiny-expert" / "card.json").read_text())
    split = load_checkpoint(runs / "expert" / "last.pt")["contract"]["split"]
    assert card["split"] == split and card["split"]["train"] and card["split"]["eval"]
    assert card["data"] == {"source": "synthetic", "licence": zoo.LICENCES["synthetic"]}
    eval_json = json.loads((runs / "expert" / "eval.json").read_text())
    assert card["figures"] == {**eval_json, "note_figure": 1.5} and "auc" in card["figures"]
    elapsed = load_checkpoint(runs / "expert" / "last.pt")["elapsed_s"]  # the trainer's clock, kept across resumes
    assert card["training"] == {"steps": 3, "seconds": pytest.approx(elapsed, abs=0.1)} and elapsed > 0
    assert card["source_checkpoint"]["sha256"] == zoo.sha256_of(runs / "expert" / "last.pt")
    assert card["sha256"] == zoo.sha256_of(shipped / "tiny-expert" / "weights.pt")
    assert card["sha256"] == zoo.read_registry(shipped)["tiny-expert"]["sha256"]
    page = (shipped / "tiny-expert" / "MODEL.md").read_text()
    assert all(cid in page for cid in split["eval"]) and zoo.LICENCES["synthetic"] in page
    assert "(the trainer's clock, over every resume)" in page
    grid = json.loads((shipped / "tiny-gen" / "card.json").read_text())
    assert grid["data"]["source"] == "synthetic"  # the generator records its data source itself


def export(args, capsys) -> tuple[int, str]:
    code = main(["export", *map(str, args)])
    return code, capsys.readouterr().err


def test_refused_without_contract_over_the_size_limit_or_a_taken_name(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(zoo.ZOO_ENV, str(tmp_path / "zoo"))
    state = load_checkpoint(runs / "gen" / "last.pt")
    del state["contract"]
    torch.save(state, tmp_path / "old.pt")
    code, err = export(["--checkpoint", tmp_path / "old.pt", "--name", "old"], capsys)
    assert code == 2 and "records no data contract" in err and len(err.strip().splitlines()) == 1

    unrecorded = {k: v for k, v in load_checkpoint(runs / "expert" / "last.pt").items() if k != "data_source"}
    torch.save(unrecorded, tmp_path / "unrecorded.pt")  # made before checkpoints recorded their data
    code, err = export(["--checkpoint", tmp_path / "unrecorded.pt", "--name", "e"], capsys)
    assert code == 2 and "no known licence" in err and "--card-notes" in err

    monkeypatch.setattr(zoo, "MAX_BYTES", 1000)
    code, err = export(["--checkpoint", runs / "gen" / "last.pt", "--name", "big"], capsys)
    assert code == 2 and "over the" in err and not (tmp_path / "zoo").exists()

    monkeypatch.undo()
    monkeypatch.setenv(zoo.ZOO_ENV, str(tmp_path / "zoo"))
    assert export(["--checkpoint", runs / "gen" / "last.pt", "--name", "g"], capsys)[0] == 0
    code, err = export(["--checkpoint", runs / "gen" / "last.pt", "--name", "g"], capsys)
    assert code == 2 and "exists" in err and "--force" in err
    assert export(["--checkpoint", runs / "gen" / "last.pt", "--name", "g", "--force"], capsys)[0] == 0


def test_the_cli_resolves_names_for_eval_generate_and_lists_them(runs, corpus, use_zoo, tmp_path, capsys):
    from PIL import Image

    from facekit.data.audio import save_wav
    from facekit.data.synthetic.corpus import make_clip

    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "tiny-expert" in listing and "tiny-gen" in listing and "held-out clips" in listing

    args = ["eval", "--checkpoint", "tiny-gen", "--data", corpus, "--expert", "tiny-expert", "--max-clips", "1"]
    assert main([*map(str, args), "--out", str(tmp_path / "r.json")]) == 0
    result = json.loads((tmp_path / "r.json").read_text())
    expert_id = zoo.read_registry(use_zoo)["tiny-expert"]["sha256"][:12]
    assert result["summary"]["expert_id"] == expert_id and np.isfinite(result["summary"]["ground_truth"]["lse_c"])

    cfg = Config.from_dict(load_checkpoint("tiny-gen")["config"])
    clip = make_clip(cfg, 0)
    Image.fromarray(clip.frames[0]).save(tmp_path / "face.png")
    save_wav(tmp_path / "speech.wav", clip.audio / 32767)
    np.save(tmp_path / "mouth.npy", clip.mouth)
    lines = [f"{round(s * 25000)} {round(e * 25000)} {w}" for s, e, w in clip.info.extra["words"]]
    (tmp_path / "speech.align").write_text("\n".join(lines) + "\n")
    args = ["generate", "--checkpoint", "tiny-gen", "--face", tmp_path / "face.png", "--aligned"]
    args += [
        "--audio",
        tmp_path / "speech.wav",
        "--align",
        tmp_path / "speech.align",
        "--mouth",
        tmp_path / "mouth.npy",
    ]
    assert main([*map(str, args), "--out", str(tmp_path / "out.mp4")]) == 0
    assert (tmp_path / "out.mp4").stat().st_size > 0


def test_every_shipped_model_loads_matches_its_sha256_and_is_small(monkeypatch):
    """The package's own zoo: passes with an empty registry, checks each entry once models ship."""
    monkeypatch.delenv(zoo.ZOO_ENV, raising=False)
    root = zoo.zoo_dir()
    assert (root / "registry.json").is_file(), "the package's zoo has no registry.json"
    for name, entry in zoo.read_registry(root).items():
        path = root / entry["file"]
        assert path.stat().st_size <= zoo.MAX_BYTES, f"{name}: {path} is over {zoo.MAX_BYTES} bytes"
        assert zoo.sha256_of(path) == entry["sha256"], f"{name}: {path} does not match the registry"
        assert load_checkpoint(name, entry["kind"])["kind"] == entry["kind"]
        card = json.loads((root / name / "card.json").read_text())
        assert card["sha256"] == entry["sha256"] and card["split"]["eval"] and card["data"]["licence"]
        assert (root / name / "MODEL.md").is_file()


def test_a_generator_trains_with_a_shipped_expert_by_name(corpus, tiny_cfg, use_zoo, tmp_path):
    from facekit.config import apply_overrides
    from facekit.train.loop import train_generator

    cfg = apply_overrides(tiny_cfg, {"data.num_frames": 5, "train.steps": 1, "train.batch_size": 4})
    train_generator(cfg, corpus, tmp_path / "gen", expert_path="tiny-expert", progress=False)
    first = json.loads((tmp_path / "gen" / "log.jsonl").read_text().splitlines()[0])
    assert first["loss_terms"]["sync"] > 0 and np.isfinite(first["sync"])


def test_shipped_models_of_one_corpus_share_one_split(monkeypatch):
    """A shipped judge must never have trained on a clip a shipped generator (or the expert it trained with) holds
    out: models of the same data record the same train / held-out clip ids (cards made before validation splits
    lack the empty ``val`` fields)."""
    from facekit.data.dataset import Split

    monkeypatch.delenv(zoo.ZOO_ENV, raising=False)
    root = zoo.zoo_dir()
    by_source: dict[str, dict[str, dict]] = {}
    for name in zoo.read_registry(root):
        card = json.loads((root / name / "card.json").read_text())
        by_source.setdefault(card["data"]["source"], {})[name] = Split.from_dict(card["split"]).to_dict()
    for source, splits in by_source.items():
        first, *others = splits.items()
        for name, split in others:
            assert split == first[1], f"{name} and {first[0]} ({source}) were trained on different splits"
            assert not set(split["train"]) & set(split["eval"]), f"{name}: a clip on both sides of its split"
