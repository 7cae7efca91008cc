"""Figures a person looks at: the contact sheet of prepared clips, and the two helpers every library figure is drawn
with. Library figures are ``matplotlib.figure.Figure`` objects made outside pyplot, so drawing one never changes
matplotlib's backend or pyplot's current figure (a notebook's inline plots keep working)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facekit.data.clips import Clip
from facekit.data.text import PHONEMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float) -> Figure:
    """An empty ``width`` x ``height`` inch figure, not registered with pyplot (no backend chosen, none changed)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Lay ``fig`` out tightly and write it to ``path`` (a PNG by its suffix; folders made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap per frame (distance of landmarks 62 and 66), pixels; (T, 68, 2) -> (T,)."""
    return np.linalg.norm(landmarks[:, 62] - landmarks[:, 66], axis=-1)


def contact_sheet(clips: Sequence[Clip], path: str | Path, num_frames: int = 5) -> Path:
    """One row per clip: frames with landmarks, the masked face, the mouth image, the mel with the phoneme track."""
    cols = num_frames + 3
    fig = new_figure(1.9 * cols + 2.5, 2.1 * len(clips))
    axes = fig.subplots(len(clips), cols, squeeze=False)
    for row, clip in zip(axes, clips, strict=True):
        n = clip.info.num_frames
        picks = np.linspace(n * 0.15, n * 0.85, num_frames).astype(int)
        for ax, t in zip(row[:num_frames], picks, strict=True):
            ax.imshow(clip.frames[t])
            ax.plot(*clip.landmarks[t, 48:68].T - 0.5, ".", ms=1.5, color="cyan")
            ph = PHONEMES[clip.phonemes[t]] if clip.phonemes is not None else ""
            ax.set_title(f"frame {t} {ph}", fontsize=8)
        masked = np.array(clip.frames[picks[0]])
        masked[masked.shape[0] // 2 :] = 0
        row[num_frames].imshow(masked)
        row[num_frames].set_title("mouthless face", fontsize=8)
        if clip.mouth is not None:
            row[num_frames + 1].imshow(clip.mouth[picks[0]])
        row[num_frames + 1].set_title("mouth image (driver)", fontsize=8)
        for ax in row[: num_frames + 2]:
            ax.set_xticks([])
            ax.set_yticks([])
        ax = row[-1]
        ax.imshow(clip.mel, origin="lower", aspect="auto", cmap="magma", extent=(0, n, 0, 80))
        ax2 = ax.twinx()
        ax2.plot(np.arange(n) + 0.5, mouth_opening(clip.landmarks), color="cyan", lw=1)
        ax2.set_yticks([])
        ax.set_xlabel("video frame", fontsize=7)
        ax.set_ylabel("mel band", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f"{clip.info.id}: {clip.info.extra.get('sentence', '')}\nlog-mel + lip gap", fontsize=7)
    fig.suptitle("facekit prepared clips: frames, mouthless face, mouth image, audio", fontsize=10)
    return save_figure(fig, path)


def plot_mel_track(
    ax,
    mel: np.ndarray,
    track: np.ndarray | None = None,
    opening: np.ndarray | None = None,
    fps: float = 25.0,
    mel_fps: float = 80.0,
):
    """Draw a (80, M) log-mel over time (s) on ``ax``, the (T,) phoneme-id track as labels, a (T,) lip gap (px).

    Labels sit at the middle of each run of equal ids; the lip gap goes on a twin axis, which is returned (or None).
    """
    ax.imshow(mel, origin="lower", aspect="auto", cmap="magma", extent=(0, mel.shape[1] / mel_fps, 0, mel.shape[0]))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    if track is not None and len(track):
        box = {"facecolor": "black", "alpha": 0.45, "pad": 1, "linewidth": 0}  # readable on bright mel
        edges = np.flatnonzero(np.diff(track)) + 1
        for k, (a, b) in enumerate(zip(np.r_[0, edges], np.r_[edges, len(track)], strict=True)):
            ax.axvline(a / fps, color="white", lw=0.4, alpha=0.5)
            y = mel.shape[0] * (0.93 if k % 2 == 0 else 0.84)
            ax.text(
                (a + b) / 2 / fps, y, PHONEMES[track[a]], color="white", ha="center", va="center", fontsize=7, bbox=box
            )
    if opening is None:
        return None
    twin = ax.twinx()
    twin.plot((np.arange(len(opening)) + 0.5) / fps, opening, color="cyan", lw=1.2)
    twin.set_ylabel("lip opening (px)", color="cyan")
    return twin


def show_in(output, content) -> None:
    """Replace what an ipywidgets ``Output`` shows with ``content`` (a matplotlib figure -- one made with pyplot is
    then closed, so the cell does not show it a second time -- or anything displayable), set as the widget's state.

    ``ipywidgets.interact`` captures with ``with output:`` instead, which can stall a headless notebook run (nbclient,
    as in the tests) until the cell timeout under CPU load.
    """
    from matplotlib.figure import Figure

    if isinstance(content, Figure) and getattr(content.canvas, "manager", None) is not None:  # a pyplot figure
        import matplotlib.pyplot as plt

        plt.close(content)
    output.outputs = ()
    output.append_display_data(content)
