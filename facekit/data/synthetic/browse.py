"""The synthetic corpus with a few clips to look at: what ``facekit synth`` writes."""

from __future__ import annotations

import json
import time
from pathlib import Path

from facekit.config import Config


def synthesise_and_show(cfg: Config, out: str | Path, show: int = 4, workers: int = 1) -> dict:
    """Write the corpus of ``cfg`` to ``out/corpus`` and ``show`` clips spread over it as mp4s (audio included) and a
    contact sheet to ``out/browse``; returns the summary, also written to ``out/summary.json``."""
    from facekit.data.audio import pcm_to_float
    from facekit.data.clips import load_clip
    from facekit.data.dataset import split_keys
    from facekit.data.synthetic.corpus import generate_corpus
    from facekit.data.video import write_video
    from facekit.viz import contact_sheet

    out = Path(out)
    start = time.perf_counter()
    infos = generate_corpus(cfg, out / "corpus", workers=workers)
    seconds = time.perf_counter() - start
    train, held = split_keys([i.identity for i in infos], cfg.data.eval_fraction, cfg.data.split_seed)
    browse = out / "browse"
    clips = [load_clip(out / "corpus", info) for info in infos[:: max(1, len(infos) // max(show, 1))][:show]]
    scale = max(1, 288 // cfg.data.image_size)
    videos = [
        str(write_video(browse / f"{c.info.id}.mp4", c.frames, cfg.data.fps, pcm_to_float(c.audio), scale=scale))
        for c in clips
    ]
    summary = {
        "corpus": str(out / "corpus"),
        "clips": len(infos),
        "identities": {"train": len(train), "eval": len(held), "eval_names": held},
        "seconds_to_generate": round(seconds, 2),
        "videos": videos,
        "contact_sheet": str(contact_sheet(clips, browse / "contact_sheet.png")) if clips else None,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
