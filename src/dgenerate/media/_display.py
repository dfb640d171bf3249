"""How a video is meant to stand: its display matrix turned into the Pillow operations that show it that way.

Phones store portrait video as landscape frames plus a display matrix (rotation -90, and -180 for a phone held upside
down). The matrix is read the way FFmpeg's own players apply it (``fftools``: transpose for 90 and 270 degrees, flips
for 180 and mirrored matrices, a rotation for any other angle), so a frame comes out as every player shows it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

Matrix = tuple[int, ...]


@dataclass(frozen=True)
class DisplayTransform:
    """Pillow operations, in order, that turn a stored frame into the displayed one."""

    steps: tuple[Callable[[Image.Image], Image.Image], ...] = ()
    swaps_sides: bool = False

    def apply(self, image: Image.Image) -> Image.Image:
        for step in self.steps:
            image = step(image)
        return image

    def size(self, width: int, height: int) -> tuple[int, int]:
        return (height, width) if self.swaps_sides else (width, height)


UPRIGHT = DisplayTransform()


def first_frame_matrix(path: Path) -> Matrix | None:
    """The display matrix of the first decoded frame of ``path``'s first video stream (FFmpeg puts the stream's
    matrix on every frame); None when it has none or nothing decodes."""
    import av

    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            return frame_matrix(frame)
    return None


def frame_matrix(frame: Any) -> Matrix | None:
    from av.sidedata.sidedata import Type

    # Looked up by type: iterating the container gives the side data up to PyAV 18.1.0 but their types from 18.1.1.
    side_data = frame.side_data.get(Type.DISPLAYMATRIX)
    if side_data is None:
        return None
    data = bytes(side_data)
    return struct.unpack("<9i", data) if len(data) == 36 else None


def display_transform(matrix: Matrix | None) -> DisplayTransform:
    """What FFmpeg's autorotate does for ``matrix`` (nine 16.16 / 2.30 fixed-point numbers, row major)."""
    from PIL import Image

    if matrix is None:
        return UPRIGHT
    theta = _clockwise_degrees(matrix)
    if theta is None:
        return UPRIGHT
    flip = Image.Transpose
    if abs(theta - 90) < 1:
        return DisplayTransform((_transposed(flip.TRANSPOSE if matrix[3] > 0 else flip.ROTATE_270),), swaps_sides=True)
    if abs(theta - 270) < 1:
        return DisplayTransform((_transposed(flip.TRANSVERSE if matrix[3] < 0 else flip.ROTATE_90),), swaps_sides=True)
    if abs(theta - 180) < 1:
        mirrors = ((flip.FLIP_LEFT_RIGHT, matrix[0] < 0), (flip.FLIP_TOP_BOTTOM, matrix[4] < 0))
        return DisplayTransform(tuple(_transposed(op) for op, mirrored in mirrors if mirrored))
    if abs(theta) < 1:
        return DisplayTransform((_transposed(flip.FLIP_TOP_BOTTOM),)) if matrix[4] < 0 else UPRIGHT
    return DisplayTransform((_turned_clockwise(theta),))


def _transposed(op: Image.Transpose) -> Callable[[Image.Image], Image.Image]:
    return lambda image: image.transpose(op)


def _turned_clockwise(degrees: float) -> Callable[[Image.Image], Image.Image]:
    """FFmpeg's rotate filter for angles that are not quarter turns: the picture turns inside the same frame."""
    from PIL import Image

    return lambda image: image.rotate(-degrees, resample=Image.Resampling.BILINEAR)


def _clockwise_degrees(matrix: Matrix) -> float | None:
    """FFmpeg's get_rotation: the clockwise angle a player turns the frame by, in [0, 360)."""
    a, b, _, c, d, *_ = (value / 65536 for value in matrix)
    scale_x, scale_y = math.hypot(a, c), math.hypot(b, d)
    if scale_x == 0 or scale_y == 0:
        return None
    theta = float(round(math.degrees(math.atan2(b / scale_y, a / scale_x))))
    return theta - 360 * math.floor(theta / 360 + 0.9 / 360)
