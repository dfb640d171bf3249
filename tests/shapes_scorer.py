"""Reads a shapes picture back: (background colour, shape colour, shape), with numpy only.

The palette is written out here again on purpose: the scorer is the arbiter of the
built-in model and must not share code with the training data it judges.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (30, 70, 225),
    "yellow": (245, 225, 40),
    "orange": (245, 135, 20),
    "purple": (135, 45, 180),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
}
_NAMES = tuple(PALETTE)
_COLOURS = np.array([PALETTE[name] for name in _NAMES], dtype=np.float32)
_SHAPE_THRESHOLD = 90.0


class Reading(NamedTuple):
    background: str
    colour: str
    shape: str


def nearest_colour(rgb: np.ndarray) -> str:
    """Palette name nearest to one RGB triple."""
    distances = np.linalg.norm(_COLOURS - rgb.astype(np.float32), axis=1)
    return _NAMES[int(np.argmin(distances))]


def _border(pixels: np.ndarray) -> np.ndarray:
    width = max(1, pixels.shape[0] // 32)
    return np.concatenate(
        [
            pixels[:width].reshape(-1, 3),
            pixels[-width:].reshape(-1, 3),
            pixels[:, :width].reshape(-1, 3),
            pixels[:, -width:].reshape(-1, 3),
        ]
    )


def _bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """Rows and columns holding at least 2 shape pixels, so stray pixels do not stretch it."""
    rows = np.flatnonzero(mask.sum(axis=1) >= 2)
    cols = np.flatnonzero(mask.sum(axis=0) >= 2)
    if rows.size < 3 or cols.size < 3:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def classify_mask(mask: np.ndarray) -> str:
    """circle, square or triangle from how the shape fills its bounding box."""
    box = _bounding_box(mask)
    if box is None:
        return "none"
    top, bottom, left, right = box
    inner = mask[top:bottom, left:right].astype(np.float32)
    half = inner.shape[0] // 2
    top_fill = float(inner[:half].mean()) if half else 0.0
    bottom_fill = float(inner[inner.shape[0] - half :].mean()) if half else 0.0
    if top_fill < 0.6 * bottom_fill:
        return "triangle"
    return "square" if float(inner.mean()) > 0.89 else "circle"


def read_pixels(pixels: np.ndarray) -> Reading:
    """Reading of an HxWx3 uint8 array."""
    pixels = pixels.astype(np.float32)
    background_rgb = np.median(_border(pixels), axis=0)
    distance = np.linalg.norm(pixels - background_rgb, axis=2)
    mask = distance > _SHAPE_THRESHOLD
    background = nearest_colour(background_rgb)
    if int(mask.sum()) < 4:
        return Reading(background, "none", "none")
    colour = nearest_colour(np.median(pixels[mask], axis=0))
    return Reading(background, colour, classify_mask(mask))


def read_image(image: Image.Image) -> Reading:
    """Reading of a PIL image (converted to RGB)."""
    return read_pixels(np.asarray(image.convert("RGB")))
