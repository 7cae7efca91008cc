"""facekit generate: a checkpoint + a face + speech -> an mp4; paste-back without a seam; bad input named clearly."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from facekit.checkpoints import CheckpointError
from facekit.cli import main
from facekit.config import apply_overrides, tiny
from facekit.data import paste
from facekit.data.audio import save_wav
from facekit.data.text import SIL_ID, phoneme_track
from facekit.generate import GenerateError, generate
from facekit.inputs import loop_indices
from facekit.models.lipsync import LipSyncModel
from facekit.speech_alignment import approximate_alignment
from facekit.train.checkpoint import save_checkpoint


def save_png(path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path)


def tiny_model(order: str = "text,audio,mouth", bias=(0.3, -0.2, -0.2)):
    """The tiny preset's model with the generator's last bias set, so its mouth visibly differs from the face."""
    cfg = apply_overrides(tiny(), [f"model.cascade.order={order}"])
    torch.manual_seed(0)
    model = LipSyncModel(cfg)
    with torch.no_grad():
        model.generator.decoder.to_rgb.bias[:] = torch.tensor(bias)
    return model, cfg


def save_generator(path, model, cfg, kind: str = "generator"):
    """A checkpoint in the format ``facekit train`` writes."""
    opt = torch.optim.Adam(model.parameters())
    state = {"kind": kind, "config": cfg.to_dict(), "step": 0, "model": model.state_dict()}
    return save_checkpoint(path, {**state, "optimizer": opt.state_dict(), "rng": torch.get_rng_state()})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """One synthetic clip of the tiny preset as a user's files: a face crop, speech, its transcript, mouth images."""
    from facekit.data.synthetic.corpus import make_clip

    root = tmp_path_factory.mktemp("generate")
    clip = make_clip(tiny(), 0)
    save_png(root / "face.png", clip.frames[0])
    save_wav(root / "speech.wav", clip.audio / 32767)
    np.save(root / "mouth.npy", clip.mouth)
    lines = [f"{round(s * 25000)} {round(e * 25000)} {w}" for s, e, w in clip.info.extra["words"]]
    (root / "speech.align").write_text("\n".join(lines) + "\n")
    model, cfg = tiny_model()
    save_generator(root / "gen.pt", model, cfg)
    return {"root": root, "clip": clip, "checkpoint": root / "gen.pt", "model": model, "cfg": cfg}


def read_mp4(path) -> dict:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        fps = float(video.average_rate)
        audio = container.streams.audio[0] if container.streams.audio else None  # its length from the edit list:
        seconds = float(audio.duration * audio.time_base) if audio else None  # decoding pads to 1024-sample frames
    return {"frames": np.stack(frames), "fps": fps, "audio_seconds": seconds}


def test_aligned_face_with_audio_transcript_and_mouth_makes_an_mp4_with_sound(inputs, tmp_path):
    root, clip = inputs["root"], inputs["clip"]
    out = tmp_path / "out.mp4"
    summary = generate(
        inputs["checkpoint"],
        root / "face.png",
        audio=root / "speech.wav",
        align=root / "speech.align",
        mouth=root / "mouth.npy",
        out=out,
        aligned=True,
        return_frames=True,
        log=None,
    )
    n = math.floor(len(clip.audio) * 25 / 16000)
    assert summary["num_frames"] == n == 50 and summary["alignment"] == "time-aligned"
    assert summary["used"] == ["text", "audio", "mouth"] and summary["frames_per_s"] > 0
    json.dumps({k: v for k, v in summary.items() if k not in ("frames", "crops", "transforms")})  # the rest is JSON
    assert summary["crops"].shape == (n, 3, 32, 32) and "transforms" not in summary  # aligned: nothing pasted
    video = read_mp4(out)
    assert video["frames"].shape == (n, 32, 32, 3) and video["fps"] == 25.0
    assert abs(video["audio_seconds"] - n / 25) < 0.03
    # the model keeps the upper half of the face and paints the lower half
    frames = summary["frames"]
    assert np.array_equal(frames[:, :16], np.broadcast_to(clip.frames[0][:16], frames[:, :16].shape))
    assert np.abs(frames[:, 16:].astype(int) - clip.frames[0][16:]).mean() > 10


def test_a_sentence_is_aligned_approximately_to_the_speech(inputs, tmp_path):
    clip = inputs["clip"]
    sentence = clip.info.extra["sentence"]
    spans, segments = approximate_alignment(sentence, clip.audio / 32767)
    track = phoneme_track(spans, clip.info.num_frames)
    truth = clip.phonemes
    assert np.mean((track == SIL_ID) == (truth == SIL_ID)) >= 0.85  # speech where the speech is
    assert np.mean(track == truth) >= 0.5  # and mostly the right phoneme
    logged: list[str] = []
    root = inputs["root"]
    summary = generate(
        inputs["checkpoint"],
        root / "face.png",
        audio=root / "speech.wav",
        text=sentence,
        mouth=root / "mouth.npy",
        out=tmp_path / "out.mp4",
        aligned=True,
        log=logged.append,
    )
    assert summary["alignment"] == "approximate" and summary["speech_segments"]
    assert any("approximate" in line for line in logged)


def test_no_sentence_is_placed_on_silence(inputs):
    """Room noise at -70 dBFS has loud and quiet 10 ms frames too; the energy segmentation alone would call its louder
    frames speech. Silent audio (facekit.data.audio.is_silent) holds no speech."""
    from facekit.speech_alignment import NoSpeechError

    hiss = (np.random.default_rng(0).normal(0, 1, 32000) * 10 ** (-70 / 20)).astype(np.float32)
    with pytest.raises(NoSpeechError, match="no speech found"):
        approximate_alignment("bin blue at f two now", hiss)
    spans, _ = approximate_alignment("bin blue at f two now", inputs["clip"].audio / 32767)
    assert spans


def test_cli_generate_prints_the_summary(inputs, tmp_path, capsys):
    root = inputs["root"]
    args = ["generate", "--checkpoint", str(inputs["checkpoint"]), "--face", str(root / "face.png")]
    args += ["--audio", str(root / "speech.wav"), "--align", str(root / "speech.align"), "--aligned"]
    assert main([*args, "--drop", "mouth", "--out", str(tmp_path / "cli.mp4")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dropped"] == ["mouth"] and summary["used"] == ["text", "audio"]
    assert read_mp4(tmp_path / "cli.mp4")["frames"].shape[0] == summary["num_frames"] == 50


def test_a_missing_modality_names_its_flag(inputs, tmp_path):
    root = inputs["root"]
    with pytest.raises(GenerateError, match="--mouth.*--drop mouth"):
        generate(inputs["checkpoint"], root / "face.png", audio=root / "speech.wav", align=root / "speech.align",
                 out=tmp_path / "x.mp4", aligned=True, log=None)  # fmt: skip
    with pytest.raises(GenerateError, match="--text SENTENCE .* or --align"):
        generate(inputs["checkpoint"], root / "face.png", audio=root / "speech.wav", mouth=root / "mouth.npy",
                 out=tmp_path / "x.mp4", aligned=True, log=None)  # fmt: skip
    assert not (tmp_path / "x.mp4").exists()


def test_loop_indices_go_back_and_forth():
    assert loop_indices(4, 10).tolist() == [0, 1, 2, 3, 2, 1, 0, 1, 2, 3]
    assert loop_indices(1, 3).tolist() == [0, 0, 0]
    assert loop_indices(5, 3).tolist() == [0, 1, 2]


# ------------------------------------------------------------------------------------------------------- bad input


def run_cli(args, capsys) -> str:
    assert main(["generate", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "\nfacekit generate: error:" in "\n" + err
    return err


def test_a_face_image_without_a_face_is_named(inputs, tmp_path, capsys):
    blank = tmp_path / "blank.png"
    save_png(blank, np.full((120, 160, 3), 128, np.uint8))
    root = inputs["root"]
    args = ["--checkpoint", inputs["checkpoint"], "--face", blank, "--audio", root / "speech.wav"]
    err = run_cli([*args, "--align", root / "speech.align", "--drop", "mouth", "--out", tmp_path / "x.mp4"], capsys)
    assert f"no face found in {blank}" in err and "--aligned" in err


def test_audio_shorter_than_one_window_is_named(inputs, tmp_path, capsys):
    short = tmp_path / "short.wav"
    save_wav(short, np.zeros(1600, np.float32))  # 0.1 s
    root = inputs["root"]
    args = ["--checkpoint", inputs["checkpoint"], "--face", root / "face.png", "--audio", short, "--aligned"]
    err = run_cli([*args, "--drop", "text,mouth", "--out", tmp_path / "x.mp4"], capsys)
    assert str(short) in err and "0.2 s" in err


def test_text_without_alignment_or_audio_is_named(inputs, tmp_path, capsys):
    root = inputs["root"]
    args = ["--checkpoint", inputs["checkpoint"], "--face", root / "face.png", "--text", "bin blue at f two now"]
    err = run_cli([*args, "--aligned", "--out", tmp_path / "x.mp4"], capsys)
    assert "--align FILE.align" in err and "--audio" in err


def test_every_input_problem_is_reported_at_once_before_the_model_is_built(inputs, tmp_path, capsys, monkeypatch):
    """A missing face, unreadable audio, a malformed transcript and a missing modality: one error listing all four,
    exit 2, and the model never built (its loading is the slow set-up)."""
    import facekit.generate

    def build(*args, **kwargs):
        raise AssertionError("the model was built before the inputs were checked")

    monkeypatch.setattr(facekit.generate, "load_model", build)
    (tmp_path / "noise.wav").write_bytes(b"RIFF not really a wav file" * 10)
    (tmp_path / "bad.align").write_text("0 1000\n")
    args = ["--checkpoint", inputs["checkpoint"], "--face", tmp_path / "missing.png", "--audio", tmp_path / "noise.wav"]
    err = run_cli([*args, "--align", tmp_path / "bad.align", "--aligned", "--out", tmp_path / "x.mp4"], capsys)
    assert "4 problems" in err
    for named in ("missing.png", "noise.wav", "bad.align:1", "--mouth"):
        assert named in err, named
    assert not (tmp_path / "x.mp4").exists()


def test_silent_speech_is_a_warning(inputs, tmp_path):
    """Audio whose RMS is under -60 dBFS (here: digital silence, and room noise at -70 dBFS) makes a video whose
    mouth cannot speak: a warning names the file; the real speech of the same length gets none."""
    root, clip = inputs["root"], inputs["clip"]
    rng = np.random.default_rng(0)
    n = len(clip.audio)
    save_wav(tmp_path / "zeros.wav", np.zeros(n, np.float32))
    save_wav(tmp_path / "hiss.wav", (rng.normal(0, 1, n) * 10 ** (-70 / 20)).astype(np.float32))
    found = {}
    for wav in (tmp_path / "zeros.wav", tmp_path / "hiss.wav", root / "speech.wav"):
        summary = generate(inputs["checkpoint"], root / "face.png", audio=wav, align=root / "speech.align",
                           mouth=root / "mouth.npy", out=tmp_path / "x.mp4", aligned=True, log=None)  # fmt: skip
        found[wav.name] = [w for w in summary["warnings"] if "silent" in w]
    assert found["speech.wav"] == []
    for name in ("zeros.wav", "hiss.wav"):
        assert len(found[name]) == 1 and name in found[name][0] and "-60 dBFS" in found[name][0]


@pytest.mark.parametrize("case", ["expert", "truncated", "other_weights", "image_size"])
def test_an_incompatible_checkpoint_is_named(case, inputs, tmp_path, capsys):
    root, ckpt = inputs["root"], tmp_path / f"{case}.pt"
    model, cfg = inputs["model"], inputs["cfg"]
    face = root / "face.png"
    if case == "expert":
        save_generator(ckpt, model, cfg, kind="expert")
    elif case == "truncated":
        data = inputs["checkpoint"].read_bytes()
        ckpt.write_bytes(data[: len(data) // 2])
    elif case == "other_weights":  # the stored config does not describe the stored weights
        save_generator(ckpt, model, apply_overrides(cfg, ["model.base_channels=16"]))
    else:  # a 48x48 checkpoint given the 32x32 crop with --aligned
        big = apply_overrides(cfg, ["data.image_size=48"])
        save_generator(ckpt, LipSyncModel(big), big)
    args = ["--checkpoint", ckpt, "--face", face, "--audio", root / "speech.wav", "--align", root / "speech.align"]
    err = run_cli([*args, "--mouth", root / "mouth.npy", "--aligned", "--out", tmp_path / "x.mp4"], capsys)
    if case == "image_size":
        assert str(face) in err and "32x32" in err and "48x48" in err
    else:
        assert str(ckpt) in err
    with pytest.raises((CheckpointError, GenerateError)):
        generate(ckpt, face, audio=root / "speech.wav", align=root / "speech.align", mouth=root / "mouth.npy",
                 out=tmp_path / "x.mp4", aligned=True, log=None)  # fmt: skip


# ------------------------------------------------------------------------------------------------------- paste-back


def test_blend_mask_covers_the_mouth_and_is_soft():
    mask = paste.mouth_blend_mask(96)
    assert mask.min() == 0 and mask.max() == 1
    assert not mask[:48].any()  # the generator changes only the lower half
    assert mask[int(0.71 * 96), 48] == 1 and mask[int(0.71 * 96), int(0.4 * 96)] == 1  # mouth centre and corner
    # GRID's jaw lines (landmarks 4 and 12 at x 0.26 / 0.72, y 0.73) and lowest chin (0.5, 0.91) are painted too
    assert mask[int(0.73 * 96), int(0.26 * 96)] == 1 and mask[int(0.73 * 96), int(0.72 * 96)] == 1
    assert mask[int(0.91 * 96), 48] == 1
    assert mask[-1].max() < 0.05 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0  # fades out inside the crop
    assert ((mask > 0) & (mask < 1)).sum() > 0.3 * (mask > 0).sum()  # a wide soft edge


def test_paste_back_changes_only_pixels_under_the_mask():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 90, 120, 3), dtype=np.uint8)
    alpha = np.full(3, 1.6 * np.exp(0.2j))
    beta = np.array([20 + 5j, 22 + 6j, 18 + 4j])
    crops = torch.rand(3, 3, 48, 48)
    out = paste.paste_back(frames, crops, alpha, beta)
    weights, (x0, y0, x1, y1) = paste.frame_weights(alpha, beta, 48, 90, 120)
    full = np.zeros((3, 90, 120), np.float32)
    full[:, y0:y1, x0:x1] = weights
    changed = (out != frames).any(-1)
    assert changed.any() and not changed[full == 0].any()
    assert np.array_equal(out[full == 0], frames[full == 0])


def grad(image: np.ndarray) -> np.ndarray:
    """Largest absolute forward difference of the grey image, (H - 1, W - 1)."""
    g = image.astype(np.float32).mean(-1)
    return np.maximum(np.abs(np.diff(g, axis=1))[:-1], np.abs(np.diff(g, axis=0))[:, :-1])


@pytest.mark.grid
def test_paste_back_on_a_grid_frame_leaves_no_seam(grid):
    """A generated mouth 20% brighter than the face: outside the mask the frame is untouched; along the mask's
    boundary the pasted frame's gradient is no larger than the face's own (a hard paste makes a 10x step there)."""
    from facekit.data.video import read_video
    from facekit.inputs import align_face

    frame = read_video(grid / "s1/video/bbaf2n.mpg")[0][:1]
    face = align_face(frame, 96, "bbaf2n.mpg", "image")
    crop = torch.from_numpy(face.crops).permute(0, 3, 1, 2).float() / 255
    crop[..., 48:, :] = (crop[..., 48:, :] + 0.2).clamp(0, 1)
    out = paste.paste_back(frame, crop, face.alpha, face.beta)
    weights, (x0, y0, x1, y1) = paste.frame_weights(face.alpha, face.beta, 96, *frame.shape[1:3])
    w = np.zeros(frame.shape[1:3], np.float32)
    w[y0:y1, x0:x1] = weights[0]
    assert np.array_equal(out[0][w == 0], frame[0][w == 0])
    assert (out[0][w == 1].astype(int) - frame[0][w == 1]).mean() > 20  # the mouth was pasted
    inside = w > 0.5
    boundary = np.zeros_like(inside)
    boundary[:-1] |= inside[:-1] != inside[1:]
    boundary[:, :-1] |= inside[:, :-1] != inside[:, 1:]
    boundary, box = boundary[:-1, :-1], np.zeros_like(inside[:-1, :-1])
    box[y0:y1, x0:x1] = True
    face_gradient = grad(frame[0])[box].mean()
    assert grad(out[0])[boundary].mean() <= 1.25 * face_gradient
    # the same check catches a hard (box-like) paste of the same mouth
    sampled = frame[0] + (out[0].astype(np.float32) - frame[0]) / np.maximum(w, 1e-3)[..., None]
    hard = np.where(inside[..., None], sampled, frame[0]).clip(0, 255).astype(np.uint8)
    assert grad(hard)[boundary].mean() > 3 * face_gradient


@pytest.mark.grid
def test_generate_on_a_grid_face_with_other_audio_pastes_only_the_mouth(grid, tmp_path):
    from facekit.data.video import read_video
    from facekit.inputs import align_face

    frame = read_video(grid / "s1/video/bbaf2n.mpg")[0][0]
    save_png(tmp_path / "face.png", frame)
    model, cfg = tiny_model("text,audio")
    audio, align = grid / "s1/video/bbal8p.mpg", grid / "s1/align/bbal8p.align"
    summary = generate(
        (model, cfg), tmp_path / "face.png", audio=audio, align=align, out=tmp_path / "out.mp4", return_frames=True
    )
    frames = summary["frames"]
    assert summary["pasted_back"] and frames.shape[1:] == frame.shape and summary["num_frames"] in (74, 75)
    face = align_face(frame[None], cfg.data.image_size, "face.png", "image")
    weights, (x0, y0, x1, y1) = paste.frame_weights(face.alpha, face.beta, cfg.data.image_size, *frame.shape[:2])
    w = np.zeros(frame.shape[:2], np.float32)
    w[y0:y1, x0:x1] = weights[0]
    assert np.array_equal(frames[:, w == 0], np.broadcast_to(frame[w == 0], frames[:, w == 0].shape))
    assert np.abs(frames[:, w == 1].astype(int) - frame[w == 1]).mean() > 10  # the mouth was painted
    video = read_mp4(tmp_path / "out.mp4")
    assert video["frames"].shape == frames.shape and abs(video["audio_seconds"] - len(frames) / 25) < 0.03


@pytest.mark.grid
def test_generate_on_a_grid_video_with_a_driver_mouth(grid, tmp_path):
    """A face video (its own frames, aligned per frame) and a driver video drawn as a lip sketch, as prepare does."""
    from facekit.data.video import read_video
    from facekit.inputs import align_face

    video = grid / "s1/video/bbaf2n.mpg"
    model, cfg = tiny_model("text,audio,mouth")
    audio, align = grid / "s1/video/bbal8p.mpg", grid / "s1/align/bbal8p.align"
    summary = generate((model, cfg), video, audio=audio, align=align, mouth=grid / "multi/lbax4n.mpg",
                       out=tmp_path / "out.mp4", return_frames=True, log=None)  # fmt: skip
    assert summary["face_input"] == "video" and "lip sketch" in summary["mouth"]
    frames, n = summary["frames"], summary["num_frames"]
    source = read_video(video)[0][:n]
    face = align_face(source, cfg.data.image_size, video)
    weights, (x0, y0, x1, y1) = paste.frame_weights(face.alpha, face.beta, cfg.data.image_size, *source.shape[1:3])
    w = np.zeros(source.shape[:3], np.float32)
    w[:, y0:y1, x0:x1] = weights
    assert np.array_equal(frames[w == 0], source[w == 0])  # frame t of the output is frame t of the face video
    assert np.abs(frames[w == 1].astype(int) - source[w == 1]).mean() > 10


@pytest.mark.grid
def test_approximate_alignment_on_grid_speech(grid):
    """GRID sentences placed on their own audio by energy agree with the forced alignment (.align) they come with."""
    from facekit.data.audio import load_audio
    from facekit.data.text import read_align, words_to_phoneme_spans

    speech, same = [], []
    for name in ("bbaf2n", "bbas3a", "bbal8p"):
        words = read_align(grid / f"s1/align/{name}.align")
        wav = load_audio(grid / f"s1/video/{name}.mpg")
        n = math.floor(len(wav) * 25 / 16000)
        truth = phoneme_track(words_to_phoneme_spans(words), n)
        spans, _ = approximate_alignment(" ".join(w.word for w in words if w.word != "sil"), wav)
        track = phoneme_track(spans, n)
        speech.append(np.mean((track == SIL_ID) == (truth == SIL_ID)))
        same.append(np.mean(track == truth))
    assert min(speech) >= 0.8 and np.mean(same) >= 0.5, (speech, same)


@pytest.mark.grid
def test_a_synthetic_corpus_checkpoint_on_a_real_face_warns(grid, runs, inputs, tmp_path):
    """Training records its data source in the checkpoint; generate warns when a synthetic-corpus model paints a
    real face (found by the detector), and not on the synthetic face crop it was made for."""
    from facekit.data.video import read_video

    checkpoint = runs / "gen" / "last.pt"
    assert torch.load(checkpoint, weights_only=True)["data_source"] == "synthetic"
    save_png(tmp_path / "face.png", read_video(grid / "s1/video/bbaf2n.mpg")[0][0])
    speech = {"audio": grid / "s1/video/bbal8p.mpg", "align": grid / "s1/align/bbal8p.align", "drop": ["mouth"]}
    real = generate(checkpoint, tmp_path / "face.png", out=tmp_path / "real.mp4", log=None, **speech)
    warned = [w for w in real["warnings"] if "trained on the synthetic corpus" in w]
    assert len(warned) == 1 and "not how well it lip-syncs" in warned[0]
    root = inputs["root"]
    own = generate(checkpoint, root / "face.png", out=tmp_path / "own.mp4", aligned=True, log=None, **speech)
    assert not any("synthetic corpus" in w for w in own["warnings"])
