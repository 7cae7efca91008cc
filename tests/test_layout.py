"""Tests use the library, never a script loaded by its path.

``eval/`` and ``datasets/`` are plain folders of scripts (no ``__init__.py``). Code a test needs from them belongs in
``facekit/``; a script itself is tested by running it (``subprocess``), the way a user runs it.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
# importing a file by its path: importlib's spec/loader calls, runpy, or putting a script folder on sys.path
LOAD_BY_PATH = re.compile(r"spec_from_file_location|exec_module|SourceFileLoader|runpy|sys\.path\.(?:insert|append)")


def test_no_test_loads_a_script_by_its_path():
    offenders = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(TESTS.glob("**/*.py"))
        if path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if LOAD_BY_PATH.search(line)
    ]
    assert not offenders, "move the code into facekit/ or run the script in a subprocess:\n" + "\n".join(offenders)
