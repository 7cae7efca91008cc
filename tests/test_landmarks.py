"""Landmark distance (LMD): closed forms on known landmark arrays; dlib on a real GRID frame when both are present."""

import numpy as np
import pytest
import torch

from facekit.data import face
from facekit.metrics.landmarks import JAW, LMD, detect_landmarks, lmd


def _landmarks(n: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 96, (n, 68, 2))


def test_a_shift_of_the_mouth_by_3_4_gives_5():
    target = _landmarks()
    pred = target.copy()
    pred[:, 48:68] += [3.0, 4.0]
    pred[:, :48] += 50.0  # eyes, brows, jaw, nose: not the mouth, not counted
    assert lmd(pred, target) == pytest.approx(5.0, abs=1e-12)
    assert np.allclose(lmd(pred, target, reduction="none"), 5.0)
    assert lmd(target, target) == 0.0


def test_the_jaw_distance_counts_the_outer_jaw_line_only():
    target = _landmarks()
    pred = target.copy()
    pred[:, JAW] += [6.0, 8.0]
    pred[:, 5:12] += [0.0, 40.0]  # the chin moves with the mouth: not part of the jaw line
    pred[:, 17:] += [0.0, 40.0]
    assert lmd(pred, target, points=JAW) == pytest.approx(10.0, abs=1e-12)
    assert lmd(pred, target) == pytest.approx(40.0)  # the mouth figure sees the mouth only
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        lmd(pred[:, 48:68], target[:, 48:68], points=JAW)  # mouth-only arrays have no jaw


def test_per_point_distances_are_averaged():
    target = _landmarks(n=1)
    pred = target.copy()
    pred[0, 48:68, 0] += np.arange(20)  # point 48 + i moved i pixels to the right
    assert lmd(pred, target) == pytest.approx(9.5)  # mean of 0..19
    # the frame figure is the mean over points, then the mean over frames: frames weigh equally
    two = np.concatenate([target, target])
    moved = np.concatenate([pred, target])
    assert lmd(moved, two) == pytest.approx(9.5 / 2)


def test_mouth_only_arrays_and_torch_tensors_are_accepted():
    target = _landmarks()
    pred = target + 1.0
    expected = np.sqrt(2.0)
    assert lmd(pred[:, 48:68], target[:, 48:68]) == pytest.approx(expected)
    assert lmd(torch.from_numpy(pred), torch.from_numpy(target)) == pytest.approx(expected)


def test_frames_without_a_face_are_left_out_and_counted():
    target = _landmarks(n=4)
    pred = target.copy()
    pred[:, 48:68, 1] += 2.0
    pred[1] = np.nan  # no face found in the generated frame 1
    assert np.isnan(lmd(pred, target, reduction="none")[1])
    assert lmd(pred, target) == pytest.approx(2.0)
    metric = LMD()
    metric.update(pred, target)
    assert metric.compute() == pytest.approx(2.0) and metric.missing == 1 and metric.count == 3
    assert np.isnan(lmd(pred[1:2], target[1:2]))


def test_batch_accumulated_equals_one_shot():
    target, pred = _landmarks(n=10, seed=1), _landmarks(n=10, seed=2)
    metric = LMD()
    for i in range(0, 10, 3):
        metric.update(pred[i : i + 3], target[i : i + 3])
    assert metric.compute() == pytest.approx(lmd(pred, target), abs=1e-12)
    metric.reset()
    with pytest.raises(RuntimeError, match="before any update"):
        metric.compute()


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 68, 2\)"):
        lmd(np.zeros((3, 5, 2)), np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match="differ in shape"):
        lmd(np.zeros((3, 68, 2)), np.zeros((4, 68, 2)))
    with pytest.raises(ValueError, match="reduction"):
        lmd(np.zeros((1, 68, 2)), np.zeros((1, 68, 2)), reduction="sum")


@pytest.fixture(scope="module")
def grid_frame(grid):
    if not face.available():
        pytest.skip(f"dlib (the optional faces extra) is not installed: {face.EXTRA_HINT}")
    from facekit.data.video import read_video

    frames, _ = read_video(grid / "s1" / "video" / "bbaf2n.mpg")
    return frames[30]


def test_real_grid_frame_against_itself_is_zero_and_a_shift_is_measured(grid_frame):
    frame = grid_frame
    shifted = np.pad(frame, ((0, 0), (4, 0), (0, 0)), mode="edge")[:, : frame.shape[1]]  # 4 px to the right
    landmarks = detect_landmarks(np.stack([frame, frame, shifted]), every=1)
    assert np.isfinite(landmarks).all()
    assert lmd(landmarks[:1], landmarks[1:2]) == 0.0
    # dlib follows a 4-pixel move of the whole face: LMD ~ 4 px, the mouth moved along x
    assert lmd(landmarks[2:], landmarks[:1]) == pytest.approx(4.0, abs=1.0)
    assert (landmarks[2, 48:68] - landmarks[0, 48:68]).mean(0) == pytest.approx([4.0, 0.0], abs=1.0)
