"""The command line: subcommands, synth output a person can open, clear errors."""

import json
import subprocess
import sys

import numpy as np

from facekit.cli import main
from facekit.data.video import read_video


def test_module_entry_point_lists_subcommands():
    out = subprocess.run([sys.executable, "-m", "facekit", "--help"], capture_output=True, text=True, check=True)
    for cmd in ("demo", "synth", "config"):
        assert cmd in out.stdout


def test_import_runs_nothing():
    code = "import sys, facekit, facekit.cli, facekit.config; print('torch' in sys.modules, 'librosa' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_config_prints_resolved_json(capsys):
    assert main(["config", "--preset", "tiny", "--set", "train.steps=3"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["steps"] == 3


def test_bad_override_is_a_clear_error(capsys):
    assert main(["config", "--set", "train.stepz=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown config key 'train.stepz'" in err and "Traceback" not in err


def test_synth_writes_corpus_videos_and_contact_sheet(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--preset", "tiny", "--show", "2", "--workers", "1"]
    assert main([*args, "--set", "synth.num_identities=3", "--set", "synth.clips_per_identity=1"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and len(summary["videos"]) == 2
    frames, fps = read_video(summary["videos"][0])
    assert fps == 25 and frames.shape[0] == 50 and frames.shape[1] >= 256  # enlarged to be watchable
    import av

    with av.open(summary["videos"][0]) as container:
        assert container.streams.audio, "browse videos carry the speech"
    sheet = out / "browse" / "contact_sheet.png"
    assert sheet.stat().st_size > 10_000
    assert np.asarray(__import__("matplotlib.image").image.imread(sheet)).std() > 0.05


def test_synth_without_samples_writes_the_corpus_only(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["synth", "--out", str(out), "--preset", "tiny", "--show", "0", "--workers", "1"]
    assert main([*args, "--set", "synth.num_identities=3", "--set", "synth.clips_per_identity=1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == json.loads((out / "summary.json").read_text())
    assert summary["clips"] == 3 and summary["videos"] == [] and summary["contact_sheet"] is None
