"""Run every notebook top to bottom in JupyterLab in headless Chromium, as a student would, and record the proof.

For each ``notebooks/*.ipynb`` (copied to a scratch folder, so no output reaches the repository): open it in
JupyterLab, "Run All Cells", time it to the last cell, count error/stderr outputs and figures that reached the page as
text, then move the notebook's first widget control (a dropdown to its next option, a slider three steps, a checkbox)
and screenshot the control's output area before and after. Notebook 00's real-face video and 07's first chart are
screenshot too. Writes ``OUT/report.json`` and ``OUT/*.jpg``.

Needs what the tests do not: ``pip install playwright`` and a Chromium on PATH (Debian: ``apt-get install chromium``);
``--chromium`` names another binary. The notebooks run on their defaults (the tiny preset).

    python eval/notebooks_in_browser.py --out eval/results/notebooks_browser
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# JupyterLab settings for a scripted browser: every cell in the page (no windowing), no news pop-up over the cells
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
STATE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext.session) return null;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const kernel = panel.sessionContext.session.kernel;
  return {code_cells: cells.length, executed: cells.filter(c => c.model.executionCount !== null).length,
          status: kernel ? kernel.status : 'none'};
}"""
PROBLEMS_JS = """() => {
  const stderr = document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length;
  const errors = document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]').length;
  const texts = [...document.querySelectorAll('.jp-OutputArea-output pre')].map(p => p.textContent.trim());
  const undrawn = texts.filter(t => /^<Figure size [^>]*>$/.test(t)).length;
  const count = selector => document.querySelectorAll(selector).length;
  return {errors, stderr, figures_as_text: undrawn, images: count('.jp-OutputArea-output img'),
          videos: count('.jp-OutputArea-output video')};
}"""
CONTROLS = (  # the first one found is moved
    ("dropdown", ".jp-OutputArea .widget-dropdown select"),
    ("slider", ".jp-OutputArea .widget-slider .noUi-handle"),
    ("checkbox", ".jp-OutputArea .widget-checkbox input"),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(root: Path, settings: Path, port: int, token: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "JUPYTERLAB_SETTINGS_DIR": str(settings)}
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", f"--ServerApp.root_dir={root}",
           f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", "--allow-root"]  # fmt: skip
    lab = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
            return lab
        except OSError:
            time.sleep(0.5)
    lab.kill()
    raise SystemExit("notebooks_in_browser: JupyterLab did not start within 60 s")


def jpeg(png: bytes, path: Path) -> None:
    from PIL import Image

    Image.open(io.BytesIO(png)).convert("RGB").save(path, quality=70, optimize=True)


def changed_share(a: bytes, b: bytes) -> float:
    """The share of pixels that differ between two screenshots (different sizes: 1)."""
    import numpy as np
    from PIL import Image

    x, y = (np.asarray(Image.open(io.BytesIO(p)).convert("RGB"), dtype=np.int16) for p in (a, b))
    return 1.0 if x.shape != y.shape else float((np.abs(x - y).max(axis=2) > 8).mean())


def outputs_of(locator):
    """The output area of the cell holding ``locator`` (its code left out of the screenshot)."""
    return locator.locator("xpath=ancestor::div[contains(@class, 'jp-Cell-outputWrapper')][1]")


def run_notebook(page, base: str, name: str, out: Path, timeout_s: float) -> dict:
    opened = time.perf_counter()
    page.goto(f"{base}/lab/tree/notebooks/{name}")
    page.wait_for_function(f"({STATE_JS})() !== null && ({STATE_JS})().status === 'idle'", timeout=120_000)
    ready = time.perf_counter()
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    idle_since, state = None, None
    while time.perf_counter() - ready < timeout_s:
        time.sleep(0.5)
        state = page.evaluate(STATE_JS)
        if state["status"] != "idle":
            idle_since = None
            continue
        idle_since = idle_since or time.perf_counter()
        if state["executed"] == state["code_cells"] or time.perf_counter() - idle_since > 10:
            break  # every cell ran, or the kernel sat idle with cells left (a run-all stops at an error)
    finished = idle_since or time.perf_counter()  # when the kernel went idle for good
    row = {"notebook": name, "seconds_run_all": round(finished - ready, 1),
           "seconds_with_kernel_start": round(finished - opened, 1), **(state or {}),
           **page.evaluate(PROBLEMS_JS)}  # fmt: skip
    row["complete"] = bool(state) and state["executed"] == state["code_cells"]
    stem = name.removesuffix(".ipynb")
    row["widget"] = move_first_control(page, out, stem)
    if stem.startswith("00"):
        row["video_screenshot"] = shot_first(page, ".jp-OutputArea-output video", out / f"{stem}_video.jpg", video=True)
    if stem.startswith("07"):
        row["chart_screenshot"] = shot_first(page, ".jp-OutputArea-output img", out / f"{stem}_chart.jpg")
    return row


def move_first_control(page, out: Path, stem: str) -> dict:
    found = [(kind, page.locator(selector)) for kind, selector in CONTROLS]
    found = [(kind, loc) for kind, loc in found if loc.count()]
    if not found:
        return {"found": False}
    kind, control = found[0][0], found[0][1].first
    area = outputs_of(control)
    area.scroll_into_view_if_needed()
    time.sleep(1.0)
    before = area.screenshot()
    if kind == "dropdown":
        options = control.locator("option").all_inner_texts()
        values = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        now = values.index(control.input_value())
        following = (now + 1) % len(values)
        control.select_option(values[following])
        moved = f"{options[now]!r} -> {options[following]!r}"
    elif kind == "slider":
        control.focus()
        for _ in range(3):
            control.press("ArrowRight")
        moved = "three steps right"
    else:
        control.click()
        moved = "toggled"
    page.wait_for_timeout(1000)
    page.wait_for_function(f"({STATE_JS})().status === 'idle'", timeout=120_000)
    time.sleep(2.0)  # the Output widget's redraw
    after = area.screenshot()
    jpeg(before, out / f"{stem}_widget_before.jpg")
    jpeg(after, out / f"{stem}_widget_after.jpg")
    return {"found": True, "kind": kind, "moved": moved, "pixels_changed": round(changed_share(before, after), 4),
            "screenshots": [f"{stem}_widget_before.jpg", f"{stem}_widget_after.jpg"]}  # fmt: skip


def shot_first(page, selector: str, path: Path, video: bool = False) -> dict:
    element = page.locator(selector)
    if not element.count():
        return {"found": False}
    element = element.first
    element.scroll_into_view_if_needed()
    info = {"found": True, "file": path.name}
    if video:  # play a second so a frame other than the poster shows, and check the browser decodes it
        element.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_timeout(1500)
        info.update(element.evaluate("v => ({ready_state: v.readyState, current_time: v.currentTime, "
                                     "width: v.videoWidth, height: v.videoHeight})"))  # fmt: skip
        element.evaluate("v => v.pause()")
    jpeg(outputs_of(element).screenshot(), path)
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="eval/results/notebooks_browser", help="report folder")
    parser.add_argument("--notebooks", nargs="*", help="names (default: every notebooks/*.ipynb)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"),
                        help="the Chromium binary (default: chromium on PATH)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per notebook")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("notebooks_in_browser: needs playwright: pip install playwright", file=sys.stderr)
        return 2
    if not args.chromium:
        print("notebooks_in_browser: no chromium on PATH: apt-get install chromium, or give --chromium",
              file=sys.stderr)  # fmt: skip
        return 2
    names = args.notebooks or sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facekit-lab-") as tmp:
        root, settings = Path(tmp) / "root", Path(tmp) / "settings"
        (root / "notebooks").mkdir(parents=True)
        for name in names:
            shutil.copy(REPO / "notebooks" / name, root / "notebooks" / name)
        (root / "eval").symlink_to(REPO / "eval")  # the notebooks read ../eval/results
        for rel, value in SETTINGS.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        port, token = free_port(), secrets.token_hex(16)
        lab = start_lab(root, settings, port, token)
        rows = []
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
                page = browser.new_page(viewport={"width": 1400, "height": 1600})
                page.goto(f"http://127.0.0.1:{port}/lab?token={token}")
                page.wait_for_selector(".jp-LabShell", timeout=120_000)
                for name in names:
                    row = run_notebook(page, f"http://127.0.0.1:{port}", name, out, args.timeout)
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    page.evaluate("window.jupyterapp.commands.execute('kernelmenu:shutdown')")
                    page.evaluate("window.jupyterapp.commands.execute('application:close-all')")
                    page.wait_for_timeout(1000)
                version = browser.version
                browser.close()
        finally:
            lab.terminate()
            lab.wait(timeout=30)
    report = {
        "command": "python eval/notebooks_in_browser.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "browser": f"Chromium {version} (headless)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "definition": "seconds_run_all: 'Run All Cells' to the last cell done, the kernel already started; "
                      "seconds_with_kernel_start: from opening the notebook. errors/stderr/figures_as_text: outputs "
                      "on the page. widget: the first control moved after the run, pixels_changed between the "
                      "before and after screenshots of its output area.",
        "notebooks": rows,
    }  # fmt: skip
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    bad = [r["notebook"] for r in rows if not r["complete"] or r["errors"] or r["stderr"] or r["figures_as_text"]]
    print(f"notebooks_in_browser: {len(rows) - len(bad)}/{len(rows)} ran clean; report {out / 'report.json'}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
