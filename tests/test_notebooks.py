"""The student notebooks: committed without outputs, and each runs top to bottom headless on the tiny preset.

Every ``notebooks/*.ipynb`` is picked up automatically. In the run test the notebook's ``parameters`` cell gets
overrides appended so that it runs small and writes only into pytest's ``tmp_path``. The kernel is ``python3``: in a
virtual environment its kernelspec is ipykernel's own (``sys.prefix/share/jupyter/kernels``), which jupyter_client
starts with this interpreter; the test checks that the kernel really ran ``sys.executable``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from tests.conftest import grid_root

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def parameter_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert cells, "no cell tagged 'parameters' (so the notebook cannot be run small)"
    assert cells[0].cell_type == "code", "the 'parameters' cell must be a code cell"
    return cells[0]


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_clean(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing"
    parameter_cell(nb)


@pytest.mark.notebooks
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    cell = parameter_cell(nb)
    cell.source += f'\n\n# injected by tests/test_notebooks.py\npreset = "tiny"\nout_dir = {str(tmp_path / "out")!r}\n'
    if (grid_root() / "s1").is_dir():  # 01_modalities shows a real GRID clip when the tests have one
        cell.source += f"grid_root = {str(grid_root())!r}\n"
    nb.cells.append(nbformat.v4.new_code_cell("import sys\nprint(sys.executable, end='')"))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute()
    kernel_python = nb.cells[-1].outputs[0]["text"]
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), (
        f"the python3 kernel ran {kernel_python}, not this interpreter {sys.executable}; "
        f"install one with `{sys.executable} -m ipykernel install --sys-prefix`"
    )
