"""``facekit fit``: the whole recipe as one resumable run (tiny recipe on the tiny synthetic corpus)."""

from __future__ import annotations

import json

import pytest

from facekit import fit as fitmod
from facekit.cli import main
from facekit.config import ConfigError


def tiny_recipe() -> dict:
    return {
        "preset": "tiny",
        "common": [],
        "expert": ["train.steps=4", "train.batch_size=8", "train.log_every=1"],
        "generator": [
            "data.num_frames=5",
            "train.steps=6",
            "train.log_every=1",
            "train.checkpoint_every=2",
            "data.still_face_prob=0.5",
            "data.other_reference_prob=0.5",
        ],  # fmt: skip
        "stages": [
            {"name": "1-speech", "share": 0.5, "set": ["train.lr=3e-4", "train.seed=0"]},
            {"name": "2-dub", "share": 0.5, "set": ["train.lr=1e-4", "train.seed=1", "data.other_face_prob=0.5"]},
        ],
        "eval_reserve_minutes": 0,
    }


def _log(run) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_a_killed_fit_resumes_to_the_same_losses_as_an_uninterrupted_one(corpus, tmp_path, monkeypatch):
    recipe = tiny_recipe()
    card = fitmod.fit(tmp_path / "full", 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)

    # kill the second run inside stage 2, just after its step-4 checkpoint
    import facekit.train.loop as loop

    save = loop.save_checkpoint

    def killed(path, state):
        save(path, state)
        if "2-dub" in str(path) and state["step"] == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt):
        fitmod.fit(tmp_path / "cut", 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)
    state = json.loads((tmp_path / "cut" / "fit.json").read_text())
    assert state["stages"]["generator/1-speech"]["done"] and not state["stages"]["generator/2-dub"]["done"]
    assert "evaluate" not in state["stages"] and not (tmp_path / "cut" / "MODEL.md").exists()
    monkeypatch.setattr(loop, "save_checkpoint", save)
    fitmod.fit(tmp_path / "cut", 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)

    for stage in ("expert", "judge", "generator/1-speech", "generator/2-dub"):
        full, cut = _log(tmp_path / "full" / stage), _log(tmp_path / "cut" / stage)
        assert [r["step"] for r in cut] == [r["step"] for r in full], stage
        for a, b in zip(full, cut, strict=True):
            assert b["loss"] == pytest.approx(a["loss"], rel=1e-5, abs=1e-6), (stage, a["step"])
    assert [r["step"] for r in _log(tmp_path / "cut" / "generator/2-dub")] == [1, 2, 3, 4, 5, 6]

    # each stage starts from the last one's weights; the judge is the expert recipe with another seed
    second = json.loads((tmp_path / "full" / "generator/2-dub/config.json").read_text())
    assert second["train"]["init_from"] == str(tmp_path / "full" / "generator/1-speech/last.pt")
    assert second["data"]["other_face_prob"] == 0.5
    assert json.loads((tmp_path / "full" / "judge/config.json").read_text())["train"]["seed"] == 1

    # the model card: split, config, time per stage, held-out figures judged by the judge
    assert card["split"]["eval"] and set(card["split"]["eval"]).isdisjoint(card["split"]["train"])
    assert all(s["done"] and s["seconds"] > 0 for s in card["stages"].values()), card["stages"]
    held = card["figures"]["held_out"]
    assert held["clips"] == len(card["split"]["eval"]) and "lse_c" in held["generated"]
    assert "reference_pasted" in held and "mean_mouth" in held
    assert "skipped" in card["figures"]["cross_dub"]  # synthetic clips have no videos to dub
    text = (tmp_path / "full" / "MODEL.md").read_text()
    assert "Held-out clips" in text and card["split"]["eval"][0] in text and "| generated |" in text
    exported = json.loads((tmp_path / "full" / "generator/2-dub/eval.json").read_text())
    assert exported["held_out generated mouth_l1"] == pytest.approx(held["generated"]["mouth_l1"], abs=1e-4)


def test_a_fit_refuses_another_recipe_in_its_folder_and_a_budget_with_no_room(corpus, tmp_path):
    recipe = tiny_recipe()
    recipe["stages"][0]["set"] = ["train.lr=3e-4", "train.steps=1"]
    recipe["stages"][1]["set"] = ["train.lr=1e-4", "train.steps=1"]
    fitmod.fit(tmp_path / "run", 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)
    other = {**recipe, "expert": [*recipe["expert"], "train.lr=1e-3"]}
    with pytest.raises(ConfigError, match="another recipe"):
        fitmod.fit(tmp_path / "run", 1.0, data=corpus, recipe=other, progress=False)
    with pytest.raises(ConfigError, match="leaves no time for the generator"):
        fitmod.fit(tmp_path / "small", 0.001, data=corpus, recipe={**recipe, "eval_reserve_minutes": 5},
                   progress=False)  # fmt: skip


def test_the_shipped_recipe_loads_and_every_stage_config_is_valid():
    recipe = fitmod.load_recipe()
    assert sum(s["share"] for s in recipe["stages"]) == pytest.approx(1.0)
    configs = [fitmod.stage_config(recipe, k, 10.0, "") for k in range(len(recipe["stages"]))]
    assert all(c.data.num_frames == c.data.sync_frames for c in configs)  # every stage has the sync loss
    assert configs[-1].data.other_face_prob > 0 and configs[0].data.other_face_prob == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--data", "no/such/folder"], "--data no/such/folder: no such folder"),
        (["--data", ".", "--hours", "0"], "--hours 0"),
        (["--data", ".", "--recipe", "no_such_recipe"], "recipe 'no_such_recipe'"),
    ],
)
def test_fit_command_line_errors_name_the_fix(argv, message, tmp_path, capsys):
    assert main(["fit", *argv, "--out", str(tmp_path / "run")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_fit_on_a_folder_without_videos_says_so(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["fit", "--videos", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    assert "empty: no video files" in capsys.readouterr().err


def test_a_larger_hours_on_a_finished_fit_trains_the_last_stage_further(corpus, tmp_path, monkeypatch):
    recipe = tiny_recipe()
    recipe["generator"] = [s for s in recipe["generator"] if not s.startswith("train.steps")] + ["train.steps=100000"]
    minutes = {1.0: 0.05, 2.0: 0.25}  # the generator's budget for --hours 1 and 2: time decides the steps
    monkeypatch.setattr(fitmod, "generator_minutes", lambda recipe, hours, state: minutes[hours])
    monkeypatch.setattr(fitmod, "CONTINUE_AFTER_S", 1.0)
    run, said = tmp_path / "run", []
    fitmod.fit(run, 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)
    first_speech, first_dub = _log(run / "generator/1-speech"), _log(run / "generator/2-dub")
    before = json.loads((run / "fit.json").read_text())["stages"]

    card = fitmod.fit(run, 2.0, data=corpus, recipe=recipe, progress=False, log=said.append)
    after = json.loads((run / "fit.json").read_text())
    assert _log(run / "generator/1-speech") == first_speech  # a finished earlier stage is not touched
    dub = _log(run / "generator/2-dub")
    assert dub[: len(first_dub)] == first_dub and len(dub) > len(first_dub)  # the last stage went on from its step
    assert [r["step"] for r in dub] == list(range(1, len(dub) + 1))
    assert after["continued"][0]["stage"] == "generator/2-dub" and any("continues" in line for line in said)
    assert after["stages"]["evaluate"]["seconds"] > before["evaluate"]["seconds"]  # the evaluation ran again
    assert card["stages"]["generator/2-dub"]["seconds"] > before["generator/2-dub"]["seconds"]

    fitmod.fit(run, 2.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)  # nothing more to do
    assert _log(run / "generator/2-dub") == dub


def test_a_smaller_evaluation_reserve_on_a_finished_fit_gives_the_last_stage_the_time(corpus, tmp_path, monkeypatch):
    recipe = tiny_recipe()
    recipe["generator"] = [s for s in recipe["generator"] if not s.startswith("train.steps")] + ["train.steps=100000"]
    minutes = {5.2: 0.05, 5.0: 0.25}  # the generator's budget under each reserve (the real one would be 0.2 min more)
    monkeypatch.setattr(fitmod, "generator_minutes", lambda recipe, h, state: minutes[recipe["eval_reserve_minutes"]])
    monkeypatch.setattr(fitmod, "CONTINUE_AFTER_S", 1.0)
    run, hours = tmp_path / "run", 1.0
    fitmod.fit(run, hours, data=corpus, recipe={**recipe, "eval_reserve_minutes": 5.2}, progress=False,
               log=lambda _: None)  # fmt: skip
    first = _log(run / "generator/2-dub")
    fitmod.fit(run, hours, data=corpus, recipe={**recipe, "eval_reserve_minutes": 5.0}, progress=False,
               log=lambda _: None)  # fmt: skip
    after = json.loads((run / "fit.json").read_text())
    assert len(_log(run / "generator/2-dub")) > len(first), "the freed minutes went to the last stage"
    assert after["recipe_changes"] == [{"eval_reserve_minutes": [5.2, 5.0]}]
    assert after["recipe"]["eval_reserve_minutes"] == 5.0
    card = json.loads((run / "model_card.json").read_text())
    assert card["recipe_changes"] == after["recipe_changes"] and card["continued"][0]["stage"] == "generator/2-dub"
    assert "changed the recipe's eval_reserve_minutes from 5.2 to 5.0" in (run / "MODEL.md").read_text()


def test_a_resumed_fit_bar_counts_earlier_seconds_as_done_not_as_speed():
    bar = fitmod.Progress(3600, True, done_seconds=1800)
    try:
        assert bar.bar.n == 1800 and bar.bar.format_dict["initial"] == 1800  # the ETA's rate counts this sitting only
    finally:
        bar.close()


def test_a_cross_dub_lists_sync_figures_only_on_the_card():
    from facekit.fit import card_figures

    image = {"mouth_l1": 0.1, "mouth_ssim": 0.4, "mouth_psnr": 15.8, "mouth_lpips": 0.16}
    sync = {"lse_d": 0.93, "lse_c": 0.24, "offset_zero_share": 1.0}
    figures = {
        "held_out": {"clips": 3, "generated": {**image, **sync}, "mean_mouth": image, "ground_truth": sync},
        "cross_dub": {"pairs": 2, "generated": {**image, **sync}, "ground_truth": {**image, **sync},
                      "lse_c_share_of_real": 0.85},
    }  # fmt: skip
    flat = card_figures(figures)
    assert flat["held_out generated mouth_l1"] == 0.1 and flat["held_out mean_mouth mouth_ssim"] == 0.4
    dub = {k for k in flat if k.startswith("cross_dub")}
    assert dub == {f"cross_dub {who} {k}" for who in ("generated", "ground_truth") for k in sync} | {
        "cross_dub lse_c_share_of_real"
    }, "a dub's real video shows another face: no image figure may be listed against it"
    assert card_figures({"held_out": figures["held_out"], "cross_dub": {"skipped": "no transcripts"}}).keys() == {
        k for k in flat if k.startswith("held_out")
    }


def test_several_training_experts_train_with_their_own_seeds_never_the_judges(corpus, tmp_path):
    recipe = {**tiny_recipe(), "training_experts": 2}
    card = fitmod.fit(tmp_path / "fit", 1.0, data=corpus, recipe=recipe, progress=False, log=lambda _: None)
    seeds = {name: json.loads((tmp_path / "fit" / name / "config.json").read_text())["train"]["seed"]
             for name in ("expert", "expert-seed2", "judge")}  # fmt: skip
    assert seeds == {"expert": 0, "expert-seed2": 2, "judge": 1}
    assert card["experts"] == [str(tmp_path / "fit" / n / "last.pt") for n in ("expert", "expert-seed2")]
    assert card["stages"]["expert-seed2"]["done"] and card["stages"]["expert-seed2"]["seconds"] > 0
    assert "expert-seed2/last.pt" in (tmp_path / "fit" / "MODEL.md").read_text()
    first = _log(tmp_path / "fit" / "generator" / "1-speech")[0]
    assert "sync" in first  # the generator trained with the (mean) sync loss


def test_a_fit_with_validation_clips_keeps_them_from_every_expert_and_stage(corpus, tmp_path):
    from facekit.contract import load_contract

    run = tmp_path / "val"
    extra = ["data.val_fraction=0.17", "data.reference=clip_mean"]
    card = fitmod.fit(run, 1.0, data=corpus, recipe=tiny_recipe(), extra=extra, progress=False, log=lambda _: None)
    val = set(card["split"]["val"])
    assert val and not val & set(card["split"]["train"]) and not val & set(card["split"]["eval"])
    for part in ("expert", "judge", "generator/1-speech", "generator/2-dub"):
        split = load_contract(run / part / "last.pt").split
        assert set(split.val) == val and not val & set(split.train), part
    assert card["config"]["data"]["reference"] == "clip_mean"
    scored = card["figures"]["validation"]["held_out"]  # settings are compared on these, not on the held-out clips
    assert scored["clips"] == len(val) and "mean_mouth" in scored and "lse_c" in scored["generated"]
    text = (run / "MODEL.md").read_text()
    assert f"## Validation clips ({len(val)}), in the crop" in text and "## Validation clips\n" in text
    assert (run / "eval" / "val" / "held_out" / "report.md").is_file()
