"""The library's one image conversion (uint8 HWC frames <-> float NCHW images) and one int16 audio scale."""

import numpy as np
import pytest
import torch

from facekit.data.audio import PCM_SCALE, AudioError, float_to_pcm, pcm_to_float
from facekit.data.images import to_frames, to_images


def test_every_uint8_value_survives_the_image_round_trip():
    frames = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=-1)
    frames[..., 1] = frames[..., 0][:, ::-1]  # channels differ: the layout must not mix them
    images = to_images(frames)
    assert images.dtype == torch.float32 and images.shape == (1, 3, 16, 16)
    assert torch.equal(images[0, 1], torch.from_numpy(frames[0, ..., 1]).float() * np.float32(1 / 255))
    assert float(images.min()) == 0 and float(images.max()) == 1
    np.testing.assert_array_equal(to_frames(images), frames)
    clip = np.random.default_rng(0).integers(0, 256, (2, 5, 8, 8, 3), dtype=np.uint8)  # any leading dims
    np.testing.assert_array_equal(to_frames(to_images(torch.from_numpy(clip))), clip)


def test_to_frames_rounds_and_clips():
    images = torch.tensor([-0.5, 0.0, 0.5 / 255, 1.5 / 255, 0.999, 2.0]).reshape(1, 1, 1, 6).expand(1, 3, 1, 6)
    assert to_frames(images)[0, 0, :, 0].tolist() == [0, 0, 0, 2, 255, 255]  # round half to even, as np.round


def test_conversions_refuse_the_other_layout():
    with pytest.raises(ValueError, match=r"uint8 \(\.\.\., H, W, 3\)"):
        to_images(np.zeros((2, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"uint8 \(\.\.\., H, W, 3\)"):
        to_images(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"float \(\.\.\., 3, H, W\)"):
        to_frames(torch.zeros(2, 8, 8, 3))


def test_int16_audio_has_one_scale_both_ways():
    pcm = np.array([-32768, -32767, -1, 0, 1, 16384, 32767], np.int16)
    wav = pcm_to_float(pcm)
    assert wav.dtype == np.float32 and wav[-1] == 1.0 and wav[1] == -1.0 and PCM_SCALE == 32767
    np.testing.assert_array_equal(float_to_pcm(wav[1:]), pcm[1:])  # exact round trip
    assert float_to_pcm(np.array([-2.0, 2.0], np.float32)).tolist() == [-32767, 32767]  # clipped to [-1, 1]
    with pytest.raises(AudioError, match="int16"):
        pcm_to_float(wav)
    with pytest.raises(AudioError, match="float"):
        float_to_pcm(pcm)


def test_a_prepared_clips_mel_is_the_mel_of_its_stored_audio(corpus):
    from facekit.data.audio import melspectrogram
    from facekit.data.clips import load_clip, read_manifest

    clip = load_clip(corpus, read_manifest(corpus)[1][0])
    np.testing.assert_array_equal(melspectrogram(pcm_to_float(clip.audio)), clip.mel)
