"""Does the model beat each baseline? One row per figure, said in words, for the reports of ``facekit demo``.

A figure's row holds which direction is better and what the figure means (:data:`FIGURES`), the model's value, each
baseline's value and a verdict per baseline: "beats", "does not beat", "ties" (equal at the 4 significant digits the
tables show) or "not measured" (a value missing or not finite). The figures themselves come from the kit's
evaluation and benchmark; nothing here computes one.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from facekit.stats import METRICS

SYNC_PROTOCOL = "SyncNet protocol, 5-frame windows, offsets -15..15 frames"


@dataclass(frozen=True)
class Figure:
    label: str
    higher_is_better: bool
    meaning: str

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


MOUTH = "in the mouth region (the lower half of the face crop, what the generator paints) against the real frames"
MEANINGS = {  # what each figure means; its label and direction are the statistics' (facekit.stats.METRICS)
    "lse_c": "sync confidence: median minus minimum of the audio-video embedding distance over offsets "
    f"({SYNC_PROTOCOL})",
    "lse_d": f"sync distance: the minimum over offsets of that distance ({SYNC_PROTOCOL})",
    "mouth_l1": f"mean absolute pixel difference (pixels in [0, 1]) {MOUTH}",
    "mouth_ssim": f"structural similarity (1 = identical) {MOUTH}",
    "mouth_psnr": f"peak signal-to-noise ratio, per frame capped at 100 dB, {MOUTH}",
    "mouth_lpips": f"learned perceptual distance (LPIPS alex v0.1) {MOUTH}",
}
FIGURES = {key: Figure(METRICS[key].label, METRICS[key].higher_is_better, meaning) for key, meaning in MEANINGS.items()}
FIGURES["lmd"] = Figure("LMD", False, "distance of the 20 mouth landmarks to the real video's, in crop pixels")


# the figures and trivial baselines of ``facekit.evaluation`` that both demos judge
SYNC_FIGURES = ["lse_c", "lse_d"]
IMAGE_FIGURES = ["mouth_l1", "mouth_ssim", "mouth_psnr", "mouth_lpips"]
IMAGE_BASELINES = {"reference_pasted": "reference frame pasted", "mean_mouth": "mean mouth"}


def _value(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


def show(x) -> str:
    """A figure as the tables show it: 4 significant digits, "--" when missing."""
    x = _value(x)
    return "--" if x is None else f"{x:.4g}"


def verdict(value, baseline, higher_is_better: bool) -> str:
    """ "beats", "does not beat", "ties" (equal as shown, :func:`show`) or "not measured" (either value missing)."""
    if _value(value) is None or _value(baseline) is None:
        return "not measured"
    if show(value) == show(baseline):
        return "ties"
    return "beats" if (value > baseline) == higher_is_better else "does not beat"


def verdict_rows(values: dict[str, dict], keys: list[str], baselines: dict[str, str], subject: str = "generated"):
    """One row per figure ``key`` (of :data:`FIGURES`): ``values[subject][key]`` against ``values[b][key]`` for every
    baseline ``b`` of ``baselines`` ({method: label}). A figure none of the methods has is left out."""
    rows = []
    for key in keys:
        if all(_value(values.get(m, {}).get(key)) is None for m in (subject, *baselines)):
            continue
        figure, mine = FIGURES[key], values.get(subject, {}).get(key)
        row = {"figure": figure.label, "key": key, "better": figure.direction, "meaning": figure.meaning}
        row[subject] = _value(mine)
        row["baselines"] = {
            label: {
                "value": _value(values.get(method, {}).get(key)),
                "verdict": verdict(mine, values.get(method, {}).get(key), figure.higher_is_better),
            }
            for method, label in baselines.items()
        }
        rows.append(row)
    return rows


def verdict_cells(rows: list[dict], subject: str = "generated") -> tuple[list[str], list[list[str]]]:
    """(header, body) of a verdict table: figure and direction, the subject's value, each baseline's value, then the
    verdict against each baseline ("generated beats real videos")."""
    labels = list(rows[0]["baselines"]) if rows else []
    header = ["figure", "which is better", subject, *labels, *(f"{subject} vs {b}" for b in labels)]
    body = [
        [row["figure"], row["better"], show(row[subject]),
         *(show(row["baselines"][b]["value"]) for b in labels),
         *(row["baselines"][b]["verdict"] for b in labels)]
        for row in rows
    ]  # fmt: skip
    return header, body


def meanings(rows: list[dict]) -> list[str]:
    """ "LSE-C: what it means" for every row."""
    return [f"{row['figure']}: {row['meaning']}" for row in rows]


def verdict_text(verdicts: dict[str, list[dict]]) -> str:
    """Every verdict table as markdown under its name, for the terminal."""
    return "\n".join(
        f"\n{name}:\n" + "\n".join(markdown_table(*verdict_cells(rows))) for name, rows in verdicts.items()
    )


def markdown_table(header: list[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in body]


def html_table(header: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><tr>{head}</tr>{rows}</table>"
