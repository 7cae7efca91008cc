"""Synthetic identities and a vectorised renderer of a talking face.

A face is a handful of soft-edged ellipses (face, hair, eyes, brows, nose, lips, mouth cavity, teeth) over a
background gradient, in normalised crop coordinates (0..1), so any resolution renders the same face. The mouth is
driven per frame by the four controls of ``articulation.py`` (open, spread, round, teeth); the jaw drops with the
opening. Each clip adds a small head motion and blinks. :func:`landmarks_68` returns the 68-point landmarks of the
iBUG scheme (mouth = 48-67) for every frame, the same layout real preparation stores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic person (normalised units of the crop; colours RGB in 0..1)."""

    name: str
    background: tuple[np.ndarray, np.ndarray]
    skin: np.ndarray
    hair: np.ndarray
    lips: np.ndarray
    iris: np.ndarray
    center: tuple[float, float]  # face centre (x, y)
    size: tuple[float, float]  # face half-width, half-height
    hairline: float  # fraction of the face half-height covered by hair from the top
    eye_dy: float  # eyes above the face centre
    eye_dx: float  # half the distance between the eyes
    eye_size: tuple[float, float]
    mouth_dy: float  # mouth below the face centre
    mouth_width: float  # half-width of the neutral mouth
    lip_thickness: tuple[float, float]  # upper, lower
    max_gap: float  # lip gap when fully open


def sample_identity(name: str, rng: np.random.Generator) -> Identity:
    """A random identity: face shape, skin, hair, lip colour and background all vary."""
    tone = rng.uniform(0.25, 0.95)
    skin = np.array([0.45 + 0.5 * tone, 0.3 + 0.45 * tone, 0.2 + 0.4 * tone]) * rng.uniform(0.9, 1.05, 3)
    lips = np.clip(skin * np.array([1.0, 0.6, 0.6]) * rng.uniform(0.7, 0.95) + [0.12, 0.0, 0.02], 0, 1)
    bg = rng.uniform(0.05, 0.95, 3)
    return Identity(
        name=name,
        background=(bg, np.clip(bg + rng.uniform(-0.25, 0.25, 3), 0, 1)),
        skin=np.clip(skin, 0, 1),
        hair=rng.uniform(0.02, 0.6) * rng.uniform(0.6, 1.0, 3),
        lips=lips,
        iris=rng.uniform(0.05, 0.6, 3),
        center=(0.5 + rng.normal(0, 0.01), 0.5 + rng.normal(0, 0.01)),
        size=(rng.uniform(0.27, 0.34), rng.uniform(0.36, 0.42)),
        hairline=rng.uniform(0.55, 0.8),
        eye_dy=rng.uniform(0.10, 0.14),
        eye_dx=rng.uniform(0.10, 0.13),
        eye_size=(rng.uniform(0.035, 0.05), rng.uniform(0.017, 0.025)),
        mouth_dy=rng.uniform(0.20, 0.23),
        mouth_width=rng.uniform(0.075, 0.1),
        lip_thickness=(rng.uniform(0.011, 0.018), rng.uniform(0.015, 0.024)),
        max_gap=rng.uniform(0.085, 0.11),
    )


@dataclass(frozen=True)
class Motion:
    """Per-frame head offset (T, 2) and eye openness (T,) of one clip."""

    offset: np.ndarray
    eyes: np.ndarray


def sample_motion(num_frames: int, fps: float, rng: np.random.Generator) -> Motion:
    t = np.arange(num_frames) / fps
    amp = rng.uniform(0.0, 0.008, 2)
    freq = rng.uniform(0.2, 0.6, 2)
    phase = rng.uniform(0, 2 * np.pi, 2)
    offset = amp * np.sin(2 * np.pi * freq * t[:, None] + phase)
    eyes = np.ones(num_frames)
    blink = rng.uniform(0.3, 1.5)
    while blink < t[-1]:
        eyes *= 1 - 0.95 * np.exp(-0.5 * ((t - blink) / 0.04) ** 2)
        blink += rng.uniform(1.5, 4.0)
    return Motion(offset.astype(np.float32), eyes.astype(np.float32))


@dataclass(frozen=True)
class MouthGeometry:
    """Per-frame mouth shape (arrays of shape (T,)), normalised units."""

    x: np.ndarray
    y: np.ndarray
    width: np.ndarray  # half-width of the lips
    gap: np.ndarray  # opening between the lips
    upper: np.ndarray  # upper lip thickness
    lower: np.ndarray  # lower lip thickness
    teeth: np.ndarray  # visible height of the upper teeth


def mouth_geometry(identity: Identity, controls: np.ndarray, offset: np.ndarray) -> MouthGeometry:
    """Mouth shape from controls (T, 4) = open, spread, round, teeth and head offset (T, 2)."""
    open_, spread, round_, teeth = controls.T
    cx, cy = identity.center
    thick = 1 + 0.35 * round_
    return MouthGeometry(
        x=cx + offset[:, 0],
        y=cy + identity.mouth_dy + offset[:, 1] + 0.25 * open_ * identity.max_gap,
        width=identity.mouth_width * (1 + 0.3 * spread - 0.35 * round_),
        gap=open_ * identity.max_gap,
        upper=identity.lip_thickness[0] * thick,
        lower=identity.lip_thickness[1] * thick,
        teeth=(0.004 + 0.012 * teeth) * (teeth > 0.05),
    )


def _ellipse(x, y, cx, cy, a, b, px):
    """Soft coverage (0..1) of an ellipse; anti-aliased over one pixel ``px``."""
    r = np.sqrt(((x - cx) / a) ** 2 + ((y - cy) / b) ** 2)
    return np.clip(0.5 - (r - 1) * np.minimum(a, b) / px, 0.0, 1.0)


def _paint(img, alpha, colour):
    img += alpha[..., None] * (np.asarray(colour, np.float32) - img)


def render(
    identity: Identity,
    controls: np.ndarray,
    motion: Motion,
    size: int,
    window: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """Render frames -> uint8 (T, size, size, 3) RGB.

    ``controls`` (T, 4) are the mouth controls at each frame; ``window`` = (x0, y0, side) selects the square of the
    normalised face to draw (the whole crop by default; a mouth crop for the mouth-image modality).
    """
    n = controls.shape[0]
    x0, y0, side = window
    px = side / size
    coords = (np.arange(size, dtype=np.float32) + 0.5) * px
    x = (x0 + coords)[None, None, :]
    y = (y0 + coords)[None, :, None]
    col = lambda v: np.asarray(v, np.float32)[:, None, None]  # noqa: E731 -- (T,) -> (T, 1, 1)
    ox, oy = col(motion.offset[:, 0]), col(motion.offset[:, 1])
    cx, cy = identity.center[0] + ox, identity.center[1] + oy
    a, b = identity.size
    m = mouth_geometry(identity, controls, motion.offset)

    top, bottom = identity.background
    grad = np.clip((y - y0) / side, 0, 1)
    img = np.broadcast_to((top + (bottom - top) * grad[..., None]).astype(np.float32), (n, size, size, 3)).copy()
    jaw = b + 0.3 * col(m.gap)  # the chin drops as the mouth opens
    face = _ellipse(x, y, cx, cy, a, np.where(y > cy, jaw, b), px)
    _paint(img, face, identity.skin)
    hair = _ellipse(x, y, cx, cy - 0.02, a + 0.02, b + 0.04, px) * np.clip(
        (cy - b * (1 - identity.hairline) - y) / px + 0.5, 0, 1
    )
    _paint(img, hair, identity.hair)
    _paint(img, _ellipse(x, y, cx, cy + 0.03, 0.025, 0.04, px) * 0.25, identity.skin * 0.6)  # nose shade
    ew, eh = identity.eye_size
    for side_sign in (-1, 1):
        ex, ey = cx + side_sign * identity.eye_dx, cy - identity.eye_dy
        _paint(img, _ellipse(x, y, ex, ey - 2.2 * eh, ew * 1.1, 0.3 * eh + px, px), identity.hair * 0.8)
        lid = eh * col(np.maximum(motion.eyes, 0.08))
        _paint(img, _ellipse(x, y, ex, ey, ew, lid, px), (0.95, 0.95, 0.93))
        _paint(img, _ellipse(x, y, ex, ey, 0.45 * ew, np.minimum(lid, 0.9 * eh), px), identity.iris)
        _paint(img, _ellipse(x, y, ex, ey, 0.2 * ew, np.minimum(lid, 0.4 * eh), px), (0.03, 0.03, 0.03))

    mx, my, w, gap = col(m.x), col(m.y), col(m.width), col(m.gap)
    half = gap / 2
    outer = _ellipse(x, y, mx, my, w, np.where(y < my, half + col(m.upper), half + col(m.lower)), px)
    _paint(img, outer, identity.lips)
    cavity = _ellipse(x, y, mx, my, 0.85 * w, half + 0.15 * px, px) * np.clip(gap / px, 0, 1)
    _paint(img, cavity, (0.25, 0.06, 0.08))
    teeth_top = my - half - 0.004
    teeth = np.clip((y - teeth_top) / px, 0, 1) * np.clip((teeth_top + 0.004 + col(m.teeth) - y) / px, 0, 1)
    teeth = teeth * np.clip((0.55 * w - np.abs(x - mx)) / px, 0, 1) * np.maximum(cavity, outer * (gap < 0.03))
    _paint(img, teeth, (0.93, 0.92, 0.86))
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def landmarks_68(identity: Identity, controls: np.ndarray, motion: Motion, size: int) -> np.ndarray:
    """The 68 iBUG landmarks of every frame -> float32 (T, 68, 2) as (x, y) pixels of a ``size`` crop."""
    n = controls.shape[0]
    m = mouth_geometry(identity, controls, motion.offset)
    cx = identity.center[0] + motion.offset[:, 0:1]
    cy = identity.center[1] + motion.offset[:, 1:2]
    a, b = identity.size
    pts = np.zeros((n, 68, 2), np.float32)
    theta = np.linspace(np.pi - 0.15, 0.15, 17)[None]
    pts[:, 0:17] = np.stack([cx + a * np.cos(theta), cy + (b + 0.3 * m.gap[:, None]) * np.sin(theta)], -1)
    ew, eh = identity.eye_size
    for k, side in enumerate((-1, 1)):
        ex, ey = cx + side * identity.eye_dx, cy - identity.eye_dy
        bx = np.linspace(-1.1, 1.1, 5)[None] * ew
        pts[:, 17 + 5 * k : 22 + 5 * k] = np.stack([ex + bx, ey - 2.2 * eh + 0 * bx], -1)
        ang = np.array([np.pi, 2 * np.pi / 3, np.pi / 3, 0, -np.pi / 3, -2 * np.pi / 3])[None]
        lid = eh * np.maximum(motion.eyes, 0.08)[:, None]
        pts[:, 36 + 6 * k : 42 + 6 * k] = np.stack([ex + ew * np.cos(ang), ey - lid * np.sin(ang)], -1)
    nose_y = np.linspace(-identity.eye_dy, 0.06, 4)[None]
    pts[:, 27:31] = np.stack([cx + 0 * nose_y, cy + nose_y], -1)
    nx = np.linspace(-0.03, 0.03, 5)[None]
    pts[:, 31:36] = np.stack([cx + nx, cy + 0.065 + 0 * nx], -1)
    mx, my, w, half = m.x[:, None], m.y[:, None], m.width[:, None], m.gap[:, None] / 2
    up = np.linspace(np.pi, 0, 7)[None]
    pts[:, 48:55] = np.stack([mx + w * np.cos(up), my - (half + m.upper[:, None]) * np.sin(up)], -1)
    low = np.linspace(np.pi / 6, 5 * np.pi / 6, 5)[None]
    pts[:, 55:60] = np.stack([mx + w * np.cos(low), my + (half + m.lower[:, None]) * np.sin(low)], -1)
    inner = np.array([np.pi, 3 * np.pi / 4, np.pi / 2, np.pi / 4, 0])[None]
    pts[:, 60:65] = np.stack([mx + 0.85 * w * np.cos(inner), my - half * np.sin(inner)], -1)
    inner_low = np.array([np.pi / 4, np.pi / 2, 3 * np.pi / 4])[None]
    pts[:, 65:68] = np.stack([mx + 0.85 * w * np.cos(inner_low), my + half * np.sin(inner_low)], -1)
    return pts * size


def mouth_window(identity: Identity, side: float = 0.34) -> tuple[float, float, float]:
    """The square (x0, y0, side) of normalised face coordinates that the mouth-image modality shows."""
    x, y = identity.center[0], identity.center[1] + identity.mouth_dy + 0.01
    return (x - side / 2, y - side / 2, side)
