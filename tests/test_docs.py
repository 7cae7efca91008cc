"""The documentation is self-contained: a user's clone has no ``../shared``, and every relative link resolves.

Rule 1. No file of the repository names the development-only folder beside the checkout (``../shared``,
``shared/docs``, ``shared/data``), except under the prefixes of :data:`ALLOWED`, each with its reason. Files are the
tracked ones plus new files git does not ignore (``git ls-files --cached --others --exclude-standard``).

Rule 2. Every relative link in README.md and docs/*.md points at a file or folder that exists, README.md links
every page of docs/, and every ``docs/<page>.md`` that a file names (outside :data:`ALLOWED`) exists.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("../shared", "shared/docs", "shared/data")
ALLOWED = {
    "tests/": "fixtures may fall back to the development copy of GRID and skip with a reason without it (conftest.py)",
    "eval/results/": "recorded runs keep their commands and file paths exactly as they were run",
}
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # http:, https:, mailto:, ...
DOC_NAME = re.compile(r"(?<![\w/.-])docs/([\w.-]+\.md)")  # docs/X.md, not shared/docs/X.md


def repository_files(root: Path = ROOT) -> list[str]:
    """Paths (relative, '/'-separated) of the tracked files and of new files git does not ignore."""
    try:
        done = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"{root} is not a git checkout, so its file list is unknown ({exc})")
    return [name for name in done.stdout.decode().split("\0") if name]


def shared_references(root: Path, names: list[str]) -> list[str]:
    """``file:line: text`` for every forbidden name in the files ``names`` under ``root``, allowed prefixes aside."""
    hits = []
    for name in names:
        path = root / name
        if name.startswith(tuple(ALLOWED)) or not path.is_file():  # not a file: deleted, not yet staged
            continue
        data = path.read_bytes()
        if not any(needle.encode() in data for needle in FORBIDDEN):
            continue
        for number, line in enumerate(data.decode(errors="replace").splitlines(), start=1):
            if any(needle in line for needle in FORBIDDEN):
                hits.append(f"{name}:{number}: {line.strip()[:140]}")
    return hits


def missing_doc_pages(root: Path, names: list[str]) -> list[str]:
    """``file: docs/X.md`` for every docs page named in the files ``names`` that does not exist under ``root``."""
    missing = []
    for name in names:
        path = root / name
        if name.startswith(tuple(ALLOWED)) or not path.is_file():
            continue
        for page in sorted(set(DOC_NAME.findall(path.read_bytes().decode(errors="replace")))):
            if not (root / "docs" / page).is_file():
                missing.append(f"{name}: docs/{page}")
    return missing


def link_targets(markdown: str) -> list[str]:
    """Targets of the inline and reference links of a Markdown text, code blocks and code spans left out."""
    text = CODE_SPAN.sub("", FENCE.sub("", markdown))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def broken_links(page: Path) -> list[str]:
    """``page: target (why)`` for every relative link of ``page`` that does not resolve to an existing path."""
    broken = []
    for target in link_targets(page.read_text(encoding="utf-8")):
        if URL.match(target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        if path.startswith("/"):
            broken.append(f"{page.name}: {target} (absolute path: link relative to the page)")
        elif not (page.parent / path).exists():
            broken.append(f"{page.name}: {target} (no such file)")
    return broken


def doc_pages() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md"))


def test_no_file_names_the_shared_folder():
    hits = shared_references(ROOT, repository_files())
    allowed = "; ".join(f"{prefix} ({why})" for prefix, why in ALLOWED.items())
    assert not hits, (
        "a user's clone has no ../shared: link into docs/ instead, and for GRID say 'your GRID download, see "
        f"docs/GRID.md' or use $FACEKIT_GRID. Allowed only under: {allowed}.\n" + "\n".join(hits)
    )


def test_shared_check_finds_a_reference_outside_the_allow_list(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "README.md").write_text("clips in `../shared/data/grid`\n")
    (tmp_path / "notes.txt").write_text("see /work/shared/docs/METRICS.md\n")
    (tmp_path / "tests" / "conftest.py").write_text('GRID = "../shared/data/grid"\n')
    (tmp_path / "clean.md").write_text("your GRID download, see docs/GRID.md\n")
    names = ["README.md", "notes.txt", "tests/conftest.py", "clean.md"]
    assert shared_references(tmp_path, names) == [
        "README.md:1: clips in `../shared/data/grid`",
        "notes.txt:1: see /work/shared/docs/METRICS.md",
    ]


def test_docs_pages_exist():
    assert doc_pages(), f"no Markdown pages in {ROOT / 'docs'}"


@pytest.mark.parametrize("page", ["README.md", *(f"docs/{p.name}" for p in doc_pages())])
def test_relative_links_resolve(page):
    broken = broken_links(ROOT / page)
    assert not broken, "\n".join(broken)


def test_readme_links_every_doc_page():
    targets = {t.split("#", 1)[0] for t in link_targets((ROOT / "README.md").read_text(encoding="utf-8"))}
    missing = [f"docs/{p.name}" for p in doc_pages() if f"docs/{p.name}" not in targets]
    assert not missing, f"README.md's Documentation list lacks {missing}"


def test_every_named_docs_page_exists():
    missing = missing_doc_pages(ROOT, repository_files())
    assert not missing, "pages named but absent from docs/:\n" + "\n".join(missing)


def test_named_page_check_finds_a_missing_page(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "METRICS.md").write_text("# Metrics\n")
    (tmp_path / "a.py").write_text('"""See docs/METRICS.md and docs/GONE.md; not shared/docs/OTHER.md."""\n')
    assert missing_doc_pages(tmp_path, ["a.py"]) == ["a.py: docs/GONE.md"]


def test_link_check_finds_broken_links(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "METRICS.md").write_text("# Metrics\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/METRICS.md#ssim) [web](https://example.org/x.md) [anchor](#set-up) ![img](docs/missing.png)\n"
        "[gone](docs/GONE.md) [abs](/work/shared/docs/METRICS.md) `[code](docs/no.md)`\n"
        "```\n[fenced](docs/no.md)\n```\n"
        "[ref]: docs/ALSO_GONE.md\n"
    )
    assert broken_links(page) == [
        "README.md: docs/missing.png (no such file)",
        "README.md: docs/GONE.md (no such file)",
        "README.md: /work/shared/docs/METRICS.md (absolute path: link relative to the page)",
        "README.md: docs/ALSO_GONE.md (no such file)",
    ]
