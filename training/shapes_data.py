"""Procedural dataset for the built-in shapes model.

Each sample is one shape (circle, square or triangle) of one palette colour on a plain
background of another palette colour, with the caption
``a {colour} {shape} on a {colour} background``. Everything is drawn with numpy from a
seeded generator, so a seed fixes the dataset exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

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
COLOURS: tuple[str, ...] = tuple(PALETTE)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")


@dataclass(frozen=True)
class Scene:
    """What one image shows; the caption is derived from it."""

    colour: str
    shape: str
    background: str

    @property
    def caption(self) -> str:
        return f"a {self.colour} {self.shape} on a {self.background} background"


def all_scenes() -> list[Scene]:
    """Every (shape colour, shape, background colour) combination, in a fixed order."""
    return [
        Scene(colour, shape, background)
        for colour, shape, background in itertools.product(COLOURS, SHAPES, COLOURS)
        if colour != background
    ]


def shape_mask(shape: str, size: int, centre: tuple[float, float], extent: float) -> np.ndarray:
    """Boolean mask of a shape of width ``extent`` pixels centred at ``centre`` (x, y)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    dx, dy = xs - centre[0], ys - centre[1]
    half = extent / 2.0
    if shape == "circle":
        return np.asarray(dx * dx + dy * dy <= half * half)
    if shape == "square":
        return np.asarray((np.abs(dx) <= half) & (np.abs(dy) <= half))
    if shape == "triangle":
        # Upright isosceles triangle filling its extent x extent box.
        rel_y = (dy + half) / extent
        return np.asarray((rel_y >= 0) & (rel_y <= 1) & (np.abs(dx) <= half * rel_y))
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def render_scene(scene: Scene, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """Draw a scene as an HxWx3 uint8 array with random shape size and position."""
    margin = size / 16.0
    extent = float(rng.uniform(0.38, 0.7) * size)
    low, high = margin + extent / 2.0, size - margin - extent / 2.0
    centre = (float(rng.uniform(low, high)), float(rng.uniform(low, high)))
    image = np.empty((size, size, 3), dtype=np.uint8)
    image[:] = PALETTE[scene.background]
    image[shape_mask(scene.shape, size, centre, extent)] = PALETTE[scene.colour]
    return image


def make_dataset(count: int, seed: int, size: int = 64) -> tuple[np.ndarray, np.ndarray, list[Scene]]:
    """``count`` images (N,H,W,3 uint8), their scene indices into ``all_scenes()``, and the scenes.

    Scenes are drawn class-balanced: every combination appears equally often (up to rounding),
    in a seeded random order.
    """
    rng = np.random.default_rng(seed)
    scenes = all_scenes()
    repeats = -(-count // len(scenes))
    indices = rng.permutation(np.tile(np.arange(len(scenes)), repeats))[:count]
    images = np.stack([render_scene(scenes[i], rng, size) for i in indices])
    return images, indices.astype(np.int64), scenes
