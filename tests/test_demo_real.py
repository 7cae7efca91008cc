"""The real-face main job (``facekit demo``): its shipped clips, its verdicts, its error without the generator, and one
run end to end on the shipped models (skipped until ``grid-s1`` is in the zoo)."""

import ast
import json
import math
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

from facekit.cli import main
from facekit.demo_real import DEMO_DATA, DUB_FIGURES, GENERATOR
from facekit.verdict import FIGURES, IMAGE_FIGURES, verdict, verdict_cells, verdict_rows
from facekit.zoo import ZOO_ENV, read_registry, zoo_dir

ROOT = Path(__file__).resolve().parents[1]
STEMS = sorted(p.stem for p in (DEMO_DATA / "s1" / "video").glob("*.mpg"))


def grid_cards() -> dict[str, dict]:
    cards = {name: json.loads((zoo_dir() / name / "card.json").read_text()) for name in read_registry()}
    return {name: card for name, card in cards.items() if card.get("data", {}).get("source") == "grid"}


def test_the_shipped_clips_are_held_out_by_every_shipped_grid_model():
    assert len(STEMS) == 3 and sorted(p.stem for p in (DEMO_DATA / "s1" / "align").glob("*.align")) == STEMS
    cards = grid_cards()
    assert {"grid-s1-expert", "grid-s1-judge"} <= set(cards)
    for name, card in cards.items():
        split = card["split"]
        for stem in STEMS:
            assert f"s1_{stem}" in split["eval"] and f"s1_{stem}" not in split["train"], (name, stem)
            assert stem not in split["train_keys"], (name, stem)  # the sentence is on no train side, any speaker


def test_the_shipped_clips_carry_their_attribution_and_are_packaged():
    text = (DEMO_DATA / "ATTRIBUTION.md").read_text()
    for needed in ("GRID", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/", "Cooke", "Barker",
                   "Cunningham", "Shao", "120(5)", "2421-2424", "2006", "unchanged"):  # fmt: skip
        assert needed in text, needed
    for stem in STEMS:
        assert f"s1/video/{stem}.mpg" in text and f"s1/align/{stem}.align" in text, stem
    data = (ROOT / "pyproject.toml").read_text().split("[tool.setuptools.package-data]")[1]
    patterns = ast.literal_eval(re.search(r"^facekit = (\[.*\])$", data, re.M).group(1))
    package = ROOT / "facekit"
    for path in DEMO_DATA.rglob("*"):
        if path.is_file():
            assert any(fnmatch(str(path.relative_to(package)), p) for p in patterns), f"{path} is not packaged"


@pytest.mark.parametrize(
    ("value", "baseline", "higher", "word"),
    [
        (0.30, 0.10, True, "beats"),  # LSE-C-like: higher is better
        (0.10, 0.30, True, "does not beat"),
        (0.80, 1.20, False, "beats"),  # LSE-D-like: lower is better
        (1.20, 0.80, False, "does not beat"),
        (0.123441, 0.123449, True, "ties"),  # equal at the 4 digits shown
        (0.123449, 0.123441, False, "ties"),
        (None, 0.5, True, "not measured"),
        (0.5, None, False, "not measured"),
        (0.5, float("nan"), True, "not measured"),
    ],
)
def test_verdict_words(value, baseline, higher, word):
    assert verdict(value, baseline, higher) == word


def test_verdict_rows_per_figure_and_baseline():
    values = {
        "generated": {"lse_c": 0.2, "lse_d": 1.0, "lmd": 3.0},
        "ground_truth": {"lse_c": 0.3, "lse_d": 0.8},  # no LMD: the real video is the landmarks' reference
        "face_unchanged": {"lse_c": 0.1, "lse_d": 1.0, "lmd": 4.0},
    }
    rows = verdict_rows(
        values, ["lse_c", "lse_d", "lmd", "mouth_ssim"], {"ground_truth": "real", "face_unchanged": "still"}
    )
    assert [r["figure"] for r in rows] == ["LSE-C", "LSE-D", "LMD"]  # a figure no method has is left out
    words = {r["figure"]: {b: v["verdict"] for b, v in r["baselines"].items()} for r in rows}
    assert words == {
        "LSE-C": {"real": "does not beat", "still": "beats"},
        "LSE-D": {"real": "does not beat", "still": "ties"},
        "LMD": {"real": "not measured", "still": "beats"},
    }
    assert rows[0]["better"] == "higher is better" and rows[1]["better"] == "lower is better"
    header, body = verdict_cells(rows)
    assert header[-2:] == ["generated vs real", "generated vs still"]
    assert body[2] == ["LMD", "lower is better", "3", "--", "4", "not measured", "beats"]


def test_every_demo_figure_states_its_direction():
    for key in DUB_FIGURES + IMAGE_FIGURES:
        assert FIGURES[key].meaning and FIGURES[key].direction.endswith("is better")


def _zoo_without(tmp_path: Path, name: str) -> Path:
    registry = {k: v for k, v in read_registry().items() if k != name}
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    (zoo / "registry.json").write_text(json.dumps(registry))
    return zoo


def test_demo_without_the_shipped_generator_names_the_alternative(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ZOO_ENV, str(_zoo_without(tmp_path, GENERATOR)))
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert GENERATOR in err and "facekit demo --from-scratch" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_training_flags_belong_to_the_from_scratch_demo(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "out"), "--retrain"]) == 2
    assert "--from-scratch" in capsys.readouterr().err


def _numbers(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _numbers(v)
    elif isinstance(x, list):
        for v in x:
            yield from _numbers(v)
    elif isinstance(x, (int, float)) and not isinstance(x, bool):
        yield x


@pytest.mark.skipif(GENERATOR not in read_registry(), reason=f"the shipped generator {GENERATOR} is not in the zoo yet")
def test_real_demo_end_to_end(tmp_path):
    from facekit.demo_real import run_real_demo

    out = tmp_path / "demo"
    lines: list[str] = []
    summary = run_real_demo(out, log=lines.append)  # without --training-expert: 60-85 s on 2 busy cores
    assert [line[:5] for line in lines if line.startswith("[") and line[2] == "/"] == [
        "[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"
    ]  # fmt: skip
    saved = json.loads((out / "summary.json").read_text())
    assert all(math.isfinite(x) for x in _numbers(saved)), "a figure in summary.json is not finite"
    assert [c["id"] for c in saved["clips"]] == STEMS
    assert list(saved["verdicts"]) == ["lip_sync_grid-s1-judge", "image"]
    sync, image = saved["verdicts"]["lip_sync_grid-s1-judge"], saved["verdicts"]["image"]
    assert [r["key"] for r in sync][:2] == ["lse_c", "lse_d"] and [r["key"] for r in image][:3] == IMAGE_FIGURES[:3]
    report = Path(summary["report"]["md"]).read_text()
    page = Path(summary["report"]["html"]).read_text()
    sections = {part.split("\n", 1)[0]: part for part in report.split("\n## ")}
    headings = {f"lip_sync_{e}": f"judged by {e}" for e in ("grid-s1-judge", "grid-s1-expert")} | {
        "image": "image figures"
    }
    for key, rows in saved["verdicts"].items():  # every figure's row says, per baseline, whether the generator beats it
        section = next(text for heading, text in sections.items() if headings[key] in heading)
        for row in rows:
            shown = [line for line in section.splitlines() if line.startswith(f"| {row['figure']} |")]
            words = [b["verdict"] for b in row["baselines"].values()]
            assert all(w in ("beats", "does not beat", "ties", "not measured") for w in words)
            assert len(shown) == 1 and [c.strip() for c in shown[0].strip("| ").split("|")][-len(words) :] == words
    assert "real videos" in report and "face unchanged" in report and "never used in training" in report
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):  # every video and figure the page shows exists
        assert (out / ref).is_file(), ref
