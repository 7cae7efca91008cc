"""Library figures leave matplotlib's global state alone: a notebook's backend and pyplot's figures are its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Runs in a fresh interpreter, as a notebook would: its backend chosen first, then every facekit module imported and
# every figure the library draws written to a file.
SCRIPT = """
import importlib, pkgutil, sys
from pathlib import Path

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt
import numpy as np

import facekit

for module in pkgutil.walk_packages(facekit.__path__, "facekit."):
    if module.name != "facekit.__main__":  # the command line itself: importing it runs a command
        importlib.import_module(module.name)

from facekit.data.clips import load_clip, read_manifest
from facekit.demo import plot_training
from facekit.report import plot_confidence, plot_samples, plot_sync_curves
from facekit.stats import Interval, plot_means
from facekit.viz import contact_sheet

corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
drawn = [contact_sheet([load_clip(corpus, read_manifest(corpus)[1][0])], out / "sheet.png")]
means = {(c, "mouth_l1"): Interval(0.1, 0.09, 0.12) for c in ("a", "b")}
plot_means(means, ["a", "b"], "mouth_l1", "a").savefig(out / "means.png")
drawn.append(out / "means.png")
curve = {"clip": "a", "offsets": list(range(-2, 3)), "mdist": {"generated": [3, 2, 1, 2, 3]},
         "confidence": {"generated": [1.0, 2.0, 1.5]}}
drawn += [plot_sync_curves([curve], "expert", out / "curves.png"), plot_confidence([curve], "expert", out / "conf.png")]
sample = {"clip": "a", "frames": [0, 1], "generated": np.zeros((2, 3, 8, 8), np.float32)}
drawn.append(plot_samples(sample, ["generated"], out / "samples.png"))
drawn.append(plot_training(out, out / "training.png"))
assert all(Path(p).stat().st_size > 0 for p in drawn), drawn
print(len(drawn), matplotlib.get_backend(), plt.get_fignums())
"""


def test_drawing_library_figures_keeps_the_backend_and_pyplot_state(corpus, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(corpus), str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert run.returncode == 0, run.stderr
    count, backend, figures = run.stdout.split(maxsplit=2)
    assert int(count) == 6
    assert backend == "svg", f"a library figure switched the notebook's backend to {backend}"
    assert figures.strip() == "[]", f"library figures were left open in pyplot: {figures}"


def test_a_notebook_plot_after_a_library_figure_still_shows_inline(tmp_path):
    """The ablation notebook's case: a library figure written to a file, then the notebook's own pyplot figure."""
    import nbformat
    from nbclient import NotebookClient

    code = f"""
%matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
from facekit.stats import Interval, plot_means

means = {{("a", "mouth_l1"): Interval(0.1, 0.09, 0.12)}}
plot_means(means, ["a"], "mouth_l1", "a").savefig(Path({str(tmp_path)!r}) / "means.png")
fig, ax = plt.subplots()
ax.plot([0, 1])
plt.show()
"""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    shown = [o.get("data", {}) for o in nb.cells[0].outputs]
    assert any("image/png" in d for d in shown), f"the figure was not drawn inline: {shown}"
