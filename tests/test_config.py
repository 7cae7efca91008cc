import json

import pytest

from facekit.config import PRESETS, Config, ConfigError, apply_overrides, cpu, get_preset, tiny


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_json(name):
    cfg = get_preset(name)
    again = Config.from_json(cfg.to_json())
    assert again == cfg
    assert json.loads(again.to_json()) == json.loads(cfg.to_json())


def test_presets_differ_in_scale():
    assert tiny().data.image_size < cpu().data.image_size <= get_preset("paper").data.image_size
    assert tiny().train.steps < cpu().train.steps < get_preset("paper").train.steps


def test_dotted_overrides_parse_by_field_type():
    cfg = apply_overrides(
        cpu(),
        ["model.cascade.order=mouth,audio,text", "train.steps=7", "train.lr=1e-3", "model.variant=cascade"],
    )
    assert cfg.model.cascade.order == ("mouth", "audio", "text")
    assert cfg.train.steps == 7 and isinstance(cfg.train.steps, int)
    assert cfg.train.lr == 1e-3
    assert cfg.model.variant == "cascade"
    assert cpu().train.steps != 7, "overrides must not mutate the preset"


def test_dict_overrides_take_typed_values():
    cfg = apply_overrides(tiny(), {"model.cascade.order": ["audio", "text"], "data.num_frames": 5})
    assert cfg.model.cascade.order == ("audio", "text")
    assert cfg.data.num_frames == 5


@pytest.mark.parametrize(
    "override, words",
    [
        ("train.stepz=3", "unknown config key"),
        ("nope.steps=3", "unknown config key"),
        ("train.steps=three", "expected an integer"),
        ("train.steps=2.5", "expected an integer"),
        ("train.lr=fast", "expected a number"),
        ("model.cascade=x", "is a section"),
        ("train.steps.x=1", "is a value"),
        ("model.cascade.order=text,lips", "distinct modalities"),
        ("model.cascade.order=text,text", "distinct modalities"),
        ("model.cascade.formula=magic", "stylegan2, film or adain"),
        ("model.fusion_fc=last", "claims or every_stage"),
        ("data.image_size=50", "multiple of 16"),
        ("train.steps", "key=value"),
    ],
)
def test_bad_overrides_are_rejected_with_the_key(override, words):
    with pytest.raises(ConfigError, match=words):
        apply_overrides(cpu(), [override])


def test_unknown_key_in_json_is_rejected():
    data = tiny().to_dict()
    data["train"]["momentum"] = 0.9
    with pytest.raises(ConfigError, match="train.momentum"):
        Config.from_dict(data)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="tiny"):
        get_preset("huge")


def test_save_and_load(tmp_path):
    cfg = apply_overrides(tiny(), ["train.seed=3"])
    cfg.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == cfg
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json"):
        Config.load(tmp_path / "bad.json")


def test_stored_config_without_a_later_field_reads_as_it_was_made():
    """model.fusion_fc came after configs were stored: one without it had FC after every stage; new ones follow the
    claims."""
    assert tiny().model.fusion_fc == "claims"
    data = apply_overrides(tiny(), ["model.variant=cascade"]).to_dict()
    del data["model"]["fusion_fc"]
    assert Config.from_dict(data).model.fusion_fc == "every_stage"
    assert "fusion_fc" not in data["model"], "reading must not change the caller's dict"
    data["model"]["fusion_fc"] = "claims"
    assert Config.from_dict(data).model.fusion_fc == "claims"
