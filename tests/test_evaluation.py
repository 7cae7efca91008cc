"""Generator evaluation beside the trivial baselines, through the library and the CLI."""

import json

import torch

from facekit.cli import main
from facekit.config import apply_overrides
from facekit.evaluation import baselines


def test_baselines_are_what_they_say():
    target = torch.rand(6, 3, 8, 8)
    masked = target.clone()
    masked[..., 4:, :] = 0
    reference = torch.rand(1, 3, 8, 8).expand(6, -1, -1, -1)
    read = torch.rand(1, 3, 8, 8).expand(6, -1, -1, -1)  # what a clip_mean model reads: never pasted
    out = baselines({"target": target, "masked": masked, "reference": read, "reference_frame": reference})
    assert torch.equal(out["reference_pasted"][..., 4:, :], reference[..., 4:, :])
    assert torch.equal(out["reference_pasted"][..., :4, :], target[..., :4, :])
    assert torch.allclose(out["mean_mouth"][0, :, 4:], target[:, :, 4:].mean(0))


def test_eval_cli_writes_per_clip_and_summary(runs, corpus, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["eval", "--checkpoint", str(runs / "gen" / "last.pt"), "--data", str(corpus)]
    assert main([*args, "--expert", str(runs / "expert" / "last.pt"), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["clips"] == len(result["per_clip"]) > 0
    summary = result["summary"]
    for name in ("generated", "reference_pasted", "mean_mouth"):
        assert 0 < summary[name]["mouth_l1"] < 1 and -1 <= summary[name]["mouth_ssim"] <= 1
    for name in ("generated", "ground_truth"):
        assert {"lse_d", "lse_c", "offset", "offset_zero_share"} <= set(summary[name])
    assert len(summary["expert_id"]) == 12
    # held-out identities only
    held = {c["identity"] for c in result["per_clip"]}
    from facekit.data.clips import read_manifest
    from facekit.data.dataset import select_split

    cfg = apply_overrides(__import__("facekit.config").config.tiny(), {})
    assert held == {i.identity for i in select_split(read_manifest(corpus)[1], "eval", cfg.data)}


def test_eval_of_a_broken_checkpoint_is_a_clear_error(corpus, tmp_path, capsys):
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["eval", "--checkpoint", str(bad), "--data", str(corpus)]) == 2
    assert "last.pt" in capsys.readouterr().err


def test_still_face_eval_animates_the_reference_frame(runs, corpus, tmp_path, capsys):
    args = ["eval", "--checkpoint", str(runs / "gen" / "last.pt"), "--data", str(corpus), "--max-clips", "2"]
    assert main([*args, "--out", str(tmp_path / "video.json")]) == 0
    assert main([*args, "--still-face", "--out", str(tmp_path / "still.json")]) == 0
    video, still = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("video", "still"))
    assert still["still_face"] and not video["still_face"]
    # same targets and baselines, another face input: only the generated mouth figures change (a baseline's upper
    # half is the face input, so its whole-face figures change too)
    pasted = [{k: v for k, v in r["summary"]["reference_pasted"].items() if "mouth" in k} for r in (still, video)]
    assert pasted[0] == pasted[1] and "mouth_l1" in pasted[0]
    assert still["summary"]["generated"]["mouth_l1"] != video["summary"]["generated"]["mouth_l1"]
    folders = ["eval", "--generated", str(tmp_path), "--ground-truth", str(tmp_path), "--still-face"]
    assert main(folders) == 2 and "--still-face applies to the checkpoint mode" in capsys.readouterr().err


def test_checkpoint_eval_scores_every_method_alike_and_judges_the_expert_on_the_real_clips(runs, corpus, tmp_path):
    """Every method gets the same face and mouth figures (one scoring function); every clip says whether the expert
    finds its real video in sync, and the summary counts them (the tiny run's expert, 3 steps old, finds few)."""
    from facekit.evaluation import evaluate_generator

    result = evaluate_generator(runs / "gen" / "last.pt", corpus, runs / "expert" / "last.pt", details=True)
    figures = {f"{region}_{m}" for region in ("face", "mouth") for m in ("l1", "ssim", "psnr")}
    for clip in result["per_clip"]:
        for name in ("generated", "reference_pasted", "mean_mouth"):
            assert figures <= set(clip[name])
        curve = next(c for c in result["sync"] if c["clip"] == clip["clip"])
        real = clip["ground_truth"]
        assert isinstance(real["in_sync"], bool) and {"offset", "lse_c"} <= set(real)
        assert len(curve["mdist"]["ground_truth"]) == 31
        assert real["in_sync"] == (not clip["warnings"])
    missed = sum(not c["ground_truth"]["in_sync"] for c in result["per_clip"])
    total = len(result["per_clip"])
    assert result["summary"]["ground_truth_in_sync"].startswith(f"{total - missed} of {total} real videos found in")
    assert any("say nothing about lip sync" in w for w in result["warnings"]) == (missed > total / 2)


def test_a_synthetic_corpus_generator_scored_on_real_clips_says_what_its_figures_are_worth(runs, corpus, tmp_path):
    import shutil

    from facekit.evaluation import training_data_warnings

    state = torch.load(runs / "gen" / "last.pt", weights_only=True)
    for source in ("synthetic", "grid"):
        torch.save({**state, "data_source": source}, tmp_path / f"{source}.pt")
    torch.save({k: v for k, v in state.items() if k != "data_source"}, tmp_path / "unrecorded.pt")
    real = tmp_path / "real"  # the same clips, its manifest saying they are GRID's
    shutil.copytree(corpus, real)
    manifest = json.loads((real / "manifest.json").read_text())
    (real / "manifest.json").write_text(json.dumps({**manifest, "source": "grid"}))
    assert training_data_warnings(tmp_path / "synthetic.pt", corpus) == []  # its own kind of data
    assert training_data_warnings(tmp_path / "grid.pt", real) == []
    (warning,) = training_data_warnings(tmp_path / "synthetic.pt", real)
    assert "trained on the synthetic corpus" in warning and "real clips (grid)" in warning
    (unrecorded,) = training_data_warnings(tmp_path / "unrecorded.pt", real)
    assert "does not record the data it was trained on" in unrecorded
    out = tmp_path / "eval.json"
    argv = ["eval", "--checkpoint", str(tmp_path / "synthetic.pt"), "--data", str(real), "--max-clips", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads(out.read_text())["warnings"][0] == warning


def test_a_run_with_validation_clips_never_trains_on_them_and_eval_scores_them(
    runs, corpus, tiny_cfg, tmp_path, capsys, monkeypatch
):
    from facekit.contract import load_contract
    from facekit.crossdub import held_out_clips
    from facekit.train import loop

    built = []  # every dataset the training builds: the windows it learns from

    class Recorded(loop.FaceDataset):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    monkeypatch.setattr(loop, "FaceDataset", Recorded)
    cfg = apply_overrides(tiny_cfg, {"train.steps": 2, "train.batch_size": 4, "data.val_fraction": 0.17})
    loop.train_generator(cfg, corpus, tmp_path / "gen", progress=False)
    split = load_contract(tmp_path / "gen" / "last.pt", "generator").split
    assert split.val and not set(split.val) & set(split.train) and not set(split.val) & set(split.eval)
    val_identities = set(split.val_keys)
    trained_on = {clip.info.identity for dataset in built for clip in dataset.data.clips}
    assert trained_on and not trained_on & val_identities, "a validation clip was in a training dataset"
    clips = held_out_clips(corpus, tmp_path / "gen" / "last.pt", 10, split="val")  # cross-dub's pairs on them
    assert {c.identity for c in clips} == val_identities
    capsys.readouterr()
    loop.train_generator(apply_overrides(cfg, {"train.steps": 3}), corpus, tmp_path / "gen", progress=False)
    resumed = capsys.readouterr().out
    assert "resuming" in resumed and "not in the run's split" not in resumed, "a resume took the val clips for new ones"

    out = tmp_path / "val.json"
    args = ["eval", "--checkpoint", str(tmp_path / "gen" / "last.pt"), "--data", str(corpus), "--split", "val"]
    assert main([*args, "--out", str(out)]) == 0
    assert {c["identity"] for c in json.loads(out.read_text())["per_clip"]} == val_identities
    # the expert of `runs` trained with no validation split, so on these clips; its sync figures would flatter
    assert main([*args, "--expert", str(runs / "expert" / "last.pt")]) == 2
    assert "trained on" in capsys.readouterr().err
    # a run that set none aside says so
    plain = ["eval", "--checkpoint", str(runs / "gen" / "last.pt"), "--data", str(corpus), "--split", "val"]
    assert main(plain) == 2
    assert "data.val_fraction=0" in capsys.readouterr().err
