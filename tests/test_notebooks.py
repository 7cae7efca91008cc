"""The student notebooks: committed without outputs, and each runs top to bottom headless on the tiny preset.

Every ``notebooks/*.ipynb`` is picked up automatically. In the run test the notebook's ``parameters`` cell gets
overrides appended so that it runs small and writes only into pytest's ``tmp_path``. The kernel is ``python3``: in a
virtual environment its kernelspec is ipykernel's own (``sys.prefix/share/jupyter/kernels``), which jupyter_client
starts with this interpreter. It starts with a clean environment, as JupyterLab would start it for a student: only
``PATH``, ``HOME``, the locale and the temporary folder, plus ``PYTHONPATH`` set to this checkout so that the kernel
imports the facekit under test (not another editable install). A run fails on any error, on anything written to
stderr (warnings included), and on a figure that reaches the page as text (``<Figure size ...>``: the figure never
drew), in a cell's outputs and inside a widget's.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import grid_root

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
KERNEL_ENV_PASSED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")  # the rest of the test's environment stays out
LEAK_SENTINEL = "FACEKIT_TEST_PROCESS_ONLY"
# an object's default repr, the only form an undrawn matplotlib figure (or a display object) has in text/plain
TEXT_ONLY_OBJECT = re.compile(r"^<(Figure size [^>]*|[\w.]+ object( at 0x[0-9a-f]+)?)>$")


def parameter_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert cells, "no cell tagged 'parameters' (so the notebook cannot be run small)"
    assert cells[0].cell_type == "code", "the 'parameters' cell must be a code cell"
    return cells[0]


def kernel_env() -> dict[str, str]:
    env = {key: os.environ[key] for key in KERNEL_ENV_PASSED if key in os.environ}
    env["PYTHONPATH"] = str(REPO)
    return env


def output_problems(outputs: list[dict], where: str) -> list[str]:
    """What is wrong with a list of nbformat outputs: errors, stderr, figures rendered as text."""
    problems = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "error":
            problems.append(f"{where}: {output.get('ename')}: {output.get('evalue')}")
        elif kind == "stream" and output.get("name") == "stderr":
            problems.append(f"{where} wrote to stderr: {''.join(output.get('text', ''))[:300]!r}")
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {})
            text = "".join(data.get("text/plain", ""))
            if set(data) == {"text/plain"} and TEXT_ONLY_OBJECT.match(text.strip()):
                problems.append(f"{where} shows {text.strip()!r} as text: the object was never drawn")
    return problems


def notebook_problems(nb: nbformat.NotebookNode) -> list[str]:
    """Problems in every code cell's outputs and in every ipywidgets Output's stored outputs."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            problems += output_problems(cell.outputs, f"cell {i}")
    widgets = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model_id, model in widgets.get("state", {}).items():
        problems += output_problems(model.get("state", {}).get("outputs", []), f"widget {model_id[:8]}")
    return problems


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing"
    parameter_cell(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_teaches(path):
    """A claim map, a widget, 3-5 exercises each calling a check of facekit.exercises, and a summary."""
    from facekit import exercises

    nb = nbformat.read(path, as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    assert any("| section" in m and "claim" in m for m in markdown), f"{path.name}: no map from sections to claims"
    assert any("ipywidgets." in c and ".observe(" in c for c in code), f"{path.name}: no widget that redraws"
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Exercises")]
    assert len(headings) == 1, f"{path.name}: needs one '## Exercises' section"
    after = nb.cells[headings[0] + 1 :]
    calls = [re.search(r"^(check_\w+)\(", c.source, re.M) for c in after if c.cell_type == "code"]
    names = [m.group(1) for m in calls if m]
    assert 3 <= len(names) <= 5, f"{path.name}: {len(names)} exercise checks"
    known = {check.__name__ for check in exercises.CHECKS}
    assert set(names) <= known, f"{path.name}: {set(names) - known} are not checks of facekit.exercises"
    assert any(c.cell_type == "markdown" and c.source.startswith("## Summary") for c in after), f"{path.name}: summary"


def test_output_problems_are_found():
    """The checks of the run test catch each kind of failure, and pass a figure that drew."""
    figure_as_text = {"output_type": "display_data", "data": {"text/plain": "<Figure size 700x300 with 1 Axes>"}}
    drawn = {
        "output_type": "display_data",
        "data": {"text/plain": "<Figure size 700x300 with 1 Axes>", "image/png": ""},
    }
    markdown_as_text = {"output_type": "display_data", "data": {"text/plain": "<IPython.core.display.Markdown object>"}}
    warning = {"output_type": "stream", "name": "stderr", "text": "UserWarning: something\n"}
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    printed = {"output_type": "stream", "name": "stdout", "text": "a table\n"}
    value = {"output_type": "execute_result", "data": {"text/plain": "{'a': 1}"}, "execution_count": 1, "metadata": {}}
    for bad in (figure_as_text, markdown_as_text, warning, error):
        assert len(output_problems([bad], "cell")) == 1, bad
    assert output_problems([drawn, printed, value], "cell") == []

    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {"abcdef0123": {"state": {"outputs": [figure_as_text]}}}}
    }
    assert notebook_problems(nb) == [
        "widget abcdef01 shows '<Figure size 700x300 with 1 Axes>' as text: the object was never drawn"
    ]


def kernel_report_cell() -> nbformat.NotebookNode:
    """A last cell that prints what the kernel ran: its interpreter, the facekit it imported, its environment, and the
    CPU seconds it used (which, unlike the wall time, hardly grows while other jobs share the machine)."""
    return nbformat.v4.new_code_cell(
        "import json, os, sys, facekit\n"
        "cpu = sum(os.times()[:4])  # user + system seconds of the kernel and its children\n"
        "report = {'python': sys.executable, 'facekit': facekit.__file__, 'env': dict(os.environ), 'cpu': cpu}\n"
        "print(json.dumps(report), end='')"
    )


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, record_property, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv(LEAK_SENTINEL, "set in the test process only")  # must not reach the kernel

    nb = nbformat.read(path, as_version=4)
    cell = parameter_cell(nb)
    cell.source += f'\n\n# injected by tests/test_notebooks.py\npreset = "tiny"\nout_dir = {str(tmp_path / "out")!r}\n'
    if (grid_root() / "s1").is_dir():  # 01_modalities shows a real GRID clip when the tests have one
        cell.source += f"grid_root = {str(grid_root())!r}\n"
    nb.cells.append(kernel_report_cell())
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    start = time.perf_counter()
    client.execute(env=kernel_env())
    seconds = time.perf_counter() - start
    report = json.loads(nb.cells.pop().outputs[0]["text"])
    record_property("wall_seconds", round(seconds, 1))
    record_property("kernel_cpu_seconds", round(report["cpu"], 1))
    print(f"{path.name}: {seconds:.1f} s wall, {report['cpu']:.1f} s CPU in the kernel")
    assert Path(report["python"]).resolve() == Path(sys.executable).resolve(), (
        f"the python3 kernel ran {report['python']}, not this interpreter {sys.executable}; "
        f"install one with `{sys.executable} -m ipykernel install --sys-prefix`"
    )
    assert Path(report["facekit"]).resolve().is_relative_to(REPO), f"the kernel imported {report['facekit']}"
    assert LEAK_SENTINEL not in report["env"], "the kernel inherited the test process's environment"
    assert report["env"].get("PYTHONPATH") == str(REPO), report["env"].get("PYTHONPATH")
    problems = notebook_problems(nb)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)
