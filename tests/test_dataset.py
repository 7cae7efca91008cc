"""Training windows from prepared clips."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from facekit.config import ConfigError, apply_overrides
from facekit.data.audio import mel_window
from facekit.data.clips import load_clip, read_manifest
from facekit.data.dataset import FaceDataset, SyncDataset, select_split, split_keys
from facekit.data.text import PAD_ID, phoneme_window


def test_split_keys_is_reproducible_disjoint_and_covers():
    keys = [f"id{i:04d}" for i in range(50)]
    train, held = split_keys(keys, 0.2, seed=0)
    assert (train, held) == split_keys(list(reversed(keys)), 0.2, seed=0)
    assert not set(train) & set(held) and sorted(train + held) == keys
    assert len(held) == 10
    assert split_keys(keys, 0.2, seed=1)[1] != held
    assert len(split_keys(["a", "b"], 0.01)[1]) == 1, "two keys always give one to each side"


def test_eval_identities_never_in_train(corpus, tiny_cfg):
    _, infos = read_manifest(corpus)
    train = {i.identity for i in select_split(infos, "train", tiny_cfg.data)}
    held = {i.identity for i in select_split(infos, "eval", tiny_cfg.data)}
    assert train and held and not train & held
    assert train | held == {i.identity for i in infos}


def test_face_window_contents(corpus, tiny_cfg):
    ds = FaceDataset(corpus, tiny_cfg.data, split="train")
    s, m, p = tiny_cfg.data.image_size, tiny_cfg.data.mouth_size, tiny_cfg.data.phoneme_window
    item = ds[7]
    assert item["target"].shape == (1, 3, s, s) and item["target"].dtype == torch.float32
    assert 0.0 <= item["target"].min() and item["target"].max() <= 1.0
    assert item["mel"].shape == (1, 1, 80, 16)
    assert item["phonemes"].shape == (1, p) and item["phonemes"].dtype == torch.int64
    assert item["mouth"].shape == (1, 3, m, m)
    assert item["has"].tolist() == [True, True, True]
    # masked = target with the lower half zeroed; the upper half untouched
    assert torch.equal(item["masked"][..., : s // 2, :], item["target"][..., : s // 2, :])
    assert item["masked"][..., s // 2 :, :].abs().sum() == 0
    # the windows are the library's own per-frame windows of that clip and frame
    c, t = int(item["clip"]), int(item["frame"])
    clip = ds.data.clips[c]
    assert np.allclose(item["mel"][0, 0].numpy(), mel_window(clip.mel, t, offset_frames=-2))  # centred on frame t
    assert np.allclose(item["sync_mel"][0].numpy(), mel_window(clip.mel, t))  # the expert's window of frames t..t+4
    assert np.array_equal(item["phonemes"][0].numpy(), phoneme_window(clip.phonemes, t, p))
    assert np.allclose(item["target"][0].permute(1, 2, 0).numpy() * 255, clip.frames[t], atol=1e-3)


def test_reference_frame_is_from_the_same_clip_and_far_enough(corpus, tiny_cfg):
    ds = FaceDataset(corpus, tiny_cfg.data, split="train")
    for i in range(0, len(ds), 17):
        item = ds[i]
        clip = ds.data.clips[int(item["clip"])]
        ref = (item["reference"][0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        matches = [j for j in range(clip.info.num_frames) if np.array_equal(clip.frames[j], ref)]
        assert matches, "reference frame does not come from the target's clip"
        assert any(abs(j - int(item["frame"])) >= tiny_cfg.data.reference_min_gap for j in matches)


def test_windows_are_deterministic_per_epoch(corpus, tiny_cfg):
    ds = FaceDataset(corpus, tiny_cfg.data)
    a, b = ds[3]["reference"], ds[3]["reference"]
    assert torch.equal(a, b)
    refs = []
    for epoch in range(6):
        ds.set_epoch(epoch)
        refs.append(ds[3]["reference"])
    assert any(not torch.equal(refs[0], r) for r in refs[1:])


def test_multi_frame_windows(corpus, tiny_cfg):
    """A window of 5 frames holds, frame by frame, the library's own per-frame windows of frames t .. t+4."""
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=5"]).data
    ds = FaceDataset(corpus, cfg)
    assert len(ds) == sum(c.info.num_frames - 4 for c in ds.data.clips)
    for i in (0, len(ds) // 2, len(ds) - 1):  # a clip's first window, one inside, the last one's end
        item = ds[i]
        assert item["target"].shape[0] == 5 and item["mel"].shape == (5, 1, 80, 16)
        c, t = int(item["clip"]), int(item["frame"])
        clip = load_clip(corpus, ds.data.infos[c])
        assert clip.phonemes is not None
        for k in range(5):
            assert np.allclose(
                item["mel"][k, 0].numpy(), mel_window(clip.mel, t + k, offset_frames=cfg.audio_offset_frames)
            )
            assert np.array_equal(item["phonemes"][k].numpy(), phoneme_window(clip.phonemes, t + k, cfg.phoneme_window))
            assert np.allclose(item["target"][k].permute(1, 2, 0).numpy() * 255, clip.frames[t + k], atol=1e-3)
    first = ds[0]
    assert int(first["frame"]) == 0 and (first["phonemes"][0, : cfg.phoneme_window // 2] == PAD_ID).all()


def test_sync_pairs(corpus, tiny_cfg):
    ds = SyncDataset(corpus, tiny_cfg.data, split="train")
    s = tiny_cfg.data.image_size
    labels, offsets = [], []
    for i in range(len(ds)):
        item = ds[i]
        labels.append(float(item["label"]))
        offsets.append(int(item["offset"]))
        assert item["frames"].shape == (5, 3, s // 2, s)
        assert (item["label"] == 1) == (item["offset"] == 0)
    assert 0.4 < np.mean(labels) < 0.6
    assert min(abs(o) for o in offsets if o != 0) >= 3
    c, t = ds.index[0]
    clip = ds.data.clips[c]
    assert np.allclose(ds[0]["frames"][0].permute(1, 2, 0).numpy() * 255, clip.frames[t, s // 2 :], atol=1e-3)


def test_loader_batches(corpus, tiny_cfg):
    batch = next(iter(DataLoader(FaceDataset(corpus, tiny_cfg.data), batch_size=4, shuffle=True)))
    assert batch["target"].shape[:2] == (4, 1)


def test_image_size_mismatch_is_a_clear_error(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.image_size=64"]).data
    with pytest.raises(ValueError, match="data.image_size=32"):
        FaceDataset(corpus, cfg)


def test_not_a_dataset_names_the_fix(tmp_path, tiny_cfg):
    from facekit.data.clips import ClipFormatError

    with pytest.raises(ClipFormatError, match="facekit synth"):
        FaceDataset(tmp_path, tiny_cfg.data)


def test_split_by_sentence_keeps_sentences_apart(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.split_by=sentence", "data.eval_fraction=0.3"]).data
    _, infos = read_manifest(corpus)
    train = {i.extra["sentence"] for i in select_split(infos, "train", cfg)}
    held = {i.extra["sentence"] for i in select_split(infos, "eval", cfg)}
    assert train and held and not train & held


def test_validation_split_comes_out_of_training_and_leaves_the_held_out_clips_alone(corpus, tiny_cfg):
    from facekit.data.dataset import Split

    _, infos = read_manifest(corpus)
    base = ["data.split_by=sentence", "data.eval_fraction=0.3"]
    plain = Split.draw(infos, apply_overrides(tiny_cfg, base).data)
    small = Split.draw(infos, apply_overrides(tiny_cfg, [*base, "data.val_fraction=0.2"]).data)
    large = Split.draw(infos, apply_overrides(tiny_cfg, [*base, "data.val_fraction=0.4"]).data)
    assert small.eval == plain.eval and large.eval == plain.eval, "the held-out clips do not depend on val_fraction"
    assert small.val and set(small.val) < set(large.val), "a larger val_fraction sets aside a superset"
    for split in (small, large):
        assert set(split.train) | set(split.val) == set(plain.train) and not set(split.train) & set(split.val)
        assert not set(split.train_keys) & set(split.val_keys) and not set(split.val_keys) & set(split.eval_keys)
        assert [i.id for i in select_split(infos, "val", tiny_cfg.data, split)] == list(split.val)
    sentences = len({i.extra["sentence"] for i in infos})
    assert len(small.val_keys) == round(0.2 * sentences)
    old = {k: v for k, v in plain.to_dict().items() if k not in ("val", "val_keys", "val_fraction")}
    assert plain.val == () and Split.from_dict(old) == plain, "a split recorded before validation splits loads"


def test_model_cards_list_validation_clips_only_when_there_are_some(corpus, tiny_cfg):
    from facekit.data.dataset import Split, split_ids, split_line

    _, infos = read_manifest(corpus)
    base = ["data.split_by=sentence", "data.eval_fraction=0.3"]
    plain = Split.draw(infos, apply_overrides(tiny_cfg, base).data).to_dict()
    with_val = Split.draw(infos, apply_overrides(tiny_cfg, [*base, "data.val_fraction=0.2"]).data).to_dict()
    assert "validation" not in split_line(plain) and "## Validation clips" not in split_ids(plain)
    assert f"{len(with_val['val'])} validation clips" in split_line(with_val)
    listed = split_ids(with_val)
    assert listed[listed.index("## Validation clips") + 2] == ", ".join(with_val["val"])


def test_val_fraction_must_leave_keys_to_train(tiny_cfg):
    from facekit.config import ConfigError

    with pytest.raises(ConfigError, match="data.val_fraction=0.8"):
        apply_overrides(tiny_cfg, ["data.eval_fraction=0.2", "data.val_fraction=0.8"])


def _frame_index(clip, image: torch.Tensor) -> list[int]:
    pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return [j for j in range(clip.info.num_frames) if np.array_equal(clip.frames[j], pixels)]


def test_still_face_windows_repeat_one_frame_of_the_clip(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=3", "data.still_face_prob=1.0"]).data
    ds = FaceDataset(corpus, cfg)
    half = cfg.image_size // 2
    for i in range(0, len(ds), 23):
        item = ds[i]
        upper = item["masked"][..., :half, :]
        assert all(torch.equal(upper[0], upper[k]) for k in range(3)), "the mouthless face is one frame, repeated"
        assert item["masked"][..., half:, :].abs().sum() == 0
        clip = ds.data.clips[int(item["clip"])]
        pixels = (upper[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert any(np.array_equal(frame[:half], pixels) for frame in clip.frames), "a frame of the target's own clip"


def test_other_reference_comes_from_another_clip_of_the_identity(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.other_reference_prob=1.0"]).data
    ds = FaceDataset(corpus, cfg)
    for i in range(0, len(ds), 29):
        item = ds[i]
        c = int(item["clip"])
        own = ds.data.clips[c]
        sources = [o for o in ds.same_identity[c] if _frame_index(ds.data.clips[o], item["reference"][0])]
        assert ds.same_identity[c] and sources, "reference is a frame of another clip"
        assert all(ds.data.clips[o].info.identity == own.info.identity for o in sources)
        assert not _frame_index(own, item["reference"][0])


def test_other_face_windows_paint_the_speech_onto_another_clip_and_have_no_target(corpus, tiny_cfg):
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=3", "data.other_face_prob=1.0"]).data
    ds = FaceDataset(corpus, cfg)
    half = cfg.image_size // 2
    for i in range(0, len(ds), 31):
        item = ds[i]
        c = int(item["clip"])
        assert item["recon"] == 0.0, "no ground truth for a face the speech was not recorded with"
        upper = item["masked"][..., :half, :]
        assert all(torch.equal(upper[0], upper[k]) for k in range(3)) and item["masked"][..., half:, :].abs().sum() == 0
        pixels = (upper[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        face_sources = [
            o for o in ds.same_identity[c] if any(np.array_equal(f[:half], pixels) for f in ds.data.clips[o].frames)
        ]
        ref_sources = [
            o for o in ds.same_identity[c] if all(_frame_index(ds.data.clips[o], r) for r in item["reference"])
        ]
        assert set(face_sources) & set(ref_sources), "face and reference are frames of one other clip"
        assert not any(np.array_equal(f[:half], pixels) for f in ds.data.clips[c].frames), "not the speech's own clip"
        assert torch.equal(item["mel"], torch.from_numpy(ds.data.mels[c][item["frame"] : item["frame"] + 3]))
    plain = FaceDataset(corpus, apply_overrides(tiny_cfg, ["data.num_frames=3"]).data)
    assert all(plain[i]["recon"] == 1.0 for i in range(0, len(plain), 31))


def test_probabilities_outside_0_1_are_config_errors(tiny_cfg):
    for key in ("data.still_face_prob", "data.other_reference_prob", "data.other_face_prob"):
        with pytest.raises(ConfigError, match=key.split(".")[1]):
            apply_overrides(tiny_cfg, [f"{key}=1.5"])


def test_clip_windows_still_face(corpus, tiny_cfg):
    from facekit.data.dataset import clip_windows

    _, infos = read_manifest(corpus)
    clip = load_clip(corpus, infos[0])
    s = tiny_cfg.data.image_size
    moving = clip_windows(clip, tiny_cfg.data, reference_index=2)
    still = clip_windows(clip, tiny_cfg.data, reference_index=2, still_face=True)
    assert torch.equal(still["target"], moving["target"]) and torch.equal(still["reference"], moving["reference"])
    assert torch.equal(still["masked"][:, :, : s // 2], moving["reference"][:, :, : s // 2])
    assert still["masked"][..., s // 2 :, :].abs().sum() == 0
    assert not torch.equal(still["masked"], moving["masked"])


@pytest.mark.parametrize("overrides", [[], ["data.other_reference_prob=1.0"], ["data.other_face_prob=1.0"]])
def test_clip_mean_reference_is_the_mean_of_the_source_clip_and_changes_nothing_else(corpus, tiny_cfg, overrides):
    """With data.reference=clip_mean a window's reference is the mean of the clip its reference frames came from (the
    own clip, or the other clip of other_reference / other_face); the random draws are unchanged, so every other
    field equals the data.reference=frame window's."""
    from facekit.data.dataset import clip_mean

    frame_ds = FaceDataset(corpus, apply_overrides(tiny_cfg, ["data.num_frames=2", *overrides]).data)
    mean_ds = FaceDataset(corpus, apply_overrides(tiny_cfg, ["data.num_frames=2", "data.reference=clip_mean",
                                                             *overrides]).data)  # fmt: skip
    for i in range(0, len(frame_ds), 37):
        by_frame, by_mean = frame_ds[i], mean_ds[i]
        assert set(by_frame) == set(by_mean)
        for key in set(by_frame) - {"reference"}:
            assert torch.equal(by_frame[key], by_mean[key]), key
        sources = [
            o for o in range(len(frame_ds.data.clips)) if _frame_index(frame_ds.data.clips[o], by_frame["reference"][0])
        ]
        means = [clip_mean(frame_ds.data.clips[o].frames) for o in sources]
        assert any(torch.allclose(by_mean["reference"][0], m, atol=1e-6) for m in means), "the source clip's mean"
        assert torch.equal(by_mean["reference"][0], by_mean["reference"][1])


def test_clip_mean_reference_of_a_still_face_is_its_frame(corpus, tiny_cfg):
    """A still-face window stands for animating a still image, whose mean (at generation) is the image itself."""
    cfg = apply_overrides(tiny_cfg, ["data.num_frames=2", "data.still_face_prob=1.0", "data.reference=clip_mean"])
    ds = FaceDataset(corpus, cfg.data)
    half = cfg.data.image_size // 2
    for i in range(0, len(ds), 41):
        item = ds[i]
        assert torch.equal(item["reference"][:, :, :half], item["masked"][:, :, :half])
        assert _frame_index(ds.data.clips[int(item["clip"])], item["reference"][0]), "a whole frame of the clip"


def test_clip_windows_reference_modes(corpus, tiny_cfg):
    """clip_windows: ``reference`` is what the model reads (the frame, or the clip's mean); ``reference_frame`` is
    always the frame, so the pasted baseline pastes a real frame in both modes."""
    from facekit.data.dataset import clip_windows
    from facekit.evaluation import baselines

    _, infos = read_manifest(corpus)
    clip = load_clip(corpus, infos[0])
    by_frame = clip_windows(clip, tiny_cfg.data, reference_index=3)
    by_mean = clip_windows(clip, apply_overrides(tiny_cfg, ["data.reference=clip_mean"]).data, reference_index=3)
    assert torch.equal(by_frame["reference"], by_frame["reference_frame"])
    assert torch.equal(by_mean["reference_frame"], by_frame["reference_frame"])
    mean = by_frame["target"].mean(0, keepdim=True)
    assert torch.allclose(by_mean["reference"], mean.expand_as(by_mean["reference"]), atol=1e-6)
    for name, frames in baselines(by_frame).items():
        assert torch.equal(frames, baselines(by_mean)[name]), name
    mean_cfg = apply_overrides(tiny_cfg, ["data.reference=clip_mean"]).data
    still = clip_windows(clip, mean_cfg, reference_index=3, still_face=True)
    assert torch.equal(still["reference"], by_frame["reference_frame"]), "a still face's mean is its frame"
    looped = clip_windows(clip, mean_cfg, reference_index=3, face_frames=clip.frames[:4])  # generate's loop
    assert torch.allclose(looped["reference"][0], by_frame["target"][:4].mean(0), atol=1e-6)
    with pytest.raises(ConfigError, match="data.reference"):
        apply_overrides(tiny_cfg, ["data.reference=median"])


def _burst_clip(fps: float = 25.0):
    """A 3 s clip whose speech is one 1 kHz burst at 1.00-1.20 s (mel columns 80..96) and whose transcript says AA
    exactly then (frames 25..29, whose moments 1.02 .. 1.18 s lie inside the burst)."""
    from facekit.data.audio import melspectrogram
    from facekit.data.clips import Clip, ClipInfo
    from facekit.data.text import PhonemeSpan, phoneme_track

    n = 75
    wav = np.zeros(3 * 16000, np.float32)
    wav[16000:19200] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(3200) / 16000)
    spans = [PhonemeSpan(0.0, 1.0, "sil"), PhonemeSpan(1.0, 1.2, "AA"), PhonemeSpan(1.2, 3.0, "sil")]
    return Clip(
        info=ClipInfo(id="burst", identity="burst", num_frames=n, modalities=["text", "audio"]),
        frames=np.zeros((n, 32, 32, 3), np.uint8),
        audio=(wav * 32767).astype(np.int16),
        mel=melspectrogram(wav),
        landmarks=np.zeros((n, 68, 2), np.float32),
        phonemes=phoneme_track(spans, n, fps),
    )


@pytest.mark.parametrize(("offset", "audio_peak"), [(None, 27), (0, 25)])
def test_audio_and_phoneme_windows_of_a_frame_describe_the_same_moment(tiny_cfg, offset, audio_peak):
    """With the default offset the frame whose audio window is fullest of the burst is the frame whose phoneme window
    is fullest of its AA (frame 27: phonemes 25..29, columns 80..95); the sync expert's offset 0 puts the audio
    window 2 frames late, so frame 25's window holds the burst."""
    from facekit.data.dataset import clip_windows
    from facekit.data.text import phoneme_id

    cfg = tiny_cfg.data if offset is None else apply_overrides(tiny_cfg, [f"data.audio_offset_frames={offset}"]).data
    windows = clip_windows(_burst_clip(), cfg)
    loud = (windows["mel"][:, 0].amax(dim=1) > 0).float().mean(dim=1)  # share of the window's columns in the burst
    said = (windows["phonemes"] == phoneme_id("AA")).float().mean(dim=1)
    assert int(torch.argmax(said)) == 27 and said[27] == 1.0
    assert int(torch.argmax(loud)) == audio_peak and loud[audio_peak] == 1.0


def test_training_windows_refuse_mouth_images_of_another_driver(corpus, tiny_cfg):
    """The corpus holds re-timed renditions; asking for the oracle (or reading oracle data, such as a prepared
    video's sketch, with the default) is an error naming the fix, not a silent switch."""
    from facekit.config import ConfigError
    from facekit.data.clips import ClipInfo
    from facekit.data.dataset import check_mouth_driver

    _, infos = read_manifest(corpus)
    assert {i.extra["mouth_driver"] for i in infos} == {"rendition"}
    with pytest.raises(ConfigError, match="data.mouth_driver=rendition to use them"):
        FaceDataset(corpus, apply_overrides(tiny_cfg, ["data.mouth_driver=oracle"]).data)
    video = ClipInfo("v", "p", 75, ["audio", "mouth"], {"mouth_driver": "oracle"})
    with pytest.raises(ConfigError, match="v: its mouth images are oracle .* data.mouth_driver=oracle"):
        check_mouth_driver("v", [video], tiny_cfg.data)
    check_mouth_driver("v", [video], apply_overrides(tiny_cfg, ["data.mouth_driver=oracle"]).data)


def test_mouth_label_comes_from_the_clips_record():
    from facekit.data.clips import ClipInfo
    from facekit.data.dataset import mouth_label

    def clip(driver: str | None, modalities=("text", "audio", "mouth")) -> ClipInfo:
        return ClipInfo("c", "p", 75, list(modalities), {} if driver is None else {"mouth_driver": driver})

    order = ("text", "audio", "mouth")
    assert mouth_label([clip("rendition")], order) == "rendition mouth"
    assert mouth_label([clip("rendition"), clip("oracle")], order) == "oracle mouth"
    assert mouth_label([clip(None)], order) == "oracle mouth", "written before the record: every mouth was the oracle"
    assert mouth_label([clip("oracle")], ("text", "audio")) == "no mouth modality"
    assert mouth_label([clip(None, ("text", "audio"))], order) == "no mouth modality"


def test_a_saved_config_without_the_new_data_keys_is_rebuilt_as_it_was_made():
    """A checkpoint saved before data.audio_offset_frames / data.mouth_driver existed was trained on windows at
    offset 0 and oracle mouths; rebuilding it with today's defaults would silently feed it other windows."""
    from facekit.config import Config, tiny

    saved = tiny().to_dict()
    for key in ("audio_offset_frames", "mouth_driver"):
        del saved["data"][key]
    old = Config.from_dict(saved)
    assert (old.data.audio_offset_frames, old.data.mouth_driver) == (0, "oracle")
    assert Config.from_dict(tiny().to_dict()).data.audio_offset_frames == -2


def test_a_model_without_the_mouth_modality_trains_on_any_mouth_driver(corpus, tiny_cfg):
    """GRID's oracle sketch must not block a text + audio generator: the driver check is for models that read it."""
    from facekit.config import ConfigError

    cfg = apply_overrides(tiny_cfg, ["data.mouth_driver=oracle"])
    with pytest.raises(ConfigError, match="data.mouth_driver"):
        FaceDataset(corpus, cfg.data)
    assert len(FaceDataset(corpus, cfg.data, uses_mouth=False)) > 0
