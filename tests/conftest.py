"""Shared fixtures: a tiny synthetic corpus made once per test session, and the optional GRID folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facekit.config import Config, apply_overrides, tiny


def grid_root() -> Path:
    """``../shared/data/grid`` beside the checkout, or $FACEKIT_GRID."""
    return Path(os.environ.get("FACEKIT_GRID", Path(__file__).resolve().parents[2] / "shared/data/grid"))


@pytest.fixture(scope="session")
def grid() -> Path:
    root = grid_root()
    if not (root / "s1").is_dir():
        pytest.skip(f"real GRID clips not found at {root} (a user's machine has none; set FACEKIT_GRID to use them)")
    return root


@pytest.fixture(scope="session")
def tiny_cfg() -> Config:
    return apply_overrides(tiny(), ["synth.num_identities=6", "synth.clips_per_identity=2"])


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, tiny_cfg) -> Path:
    from facekit.data.synthetic.corpus import generate_corpus

    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(tiny_cfg, root, workers=1, progress=False)
    return root


@pytest.fixture(scope="session")
def runs(corpus, tiny_cfg, tmp_path_factory) -> Path:
    """A generator and a sync expert trained a few steps on ``corpus`` (``runs/gen``, ``runs/expert``)."""
    from facekit.train.loop import train_expert, train_generator

    root = tmp_path_factory.mktemp("runs")
    cfg = apply_overrides(tiny_cfg, {"train.steps": 3, "train.batch_size": 4})
    train_generator(cfg, corpus, root / "gen", progress=False)
    train_expert(cfg, corpus, root / "expert", progress=False)
    return root
