"""Output sizes for image seeds: the README's "width fixed, height from the aspect ratio" rule."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from dgenerate.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image


def round_to_multiple(value: Fraction | int, multiple: int) -> int:
    """Nearest multiple of ``multiple`` (halves round up), never below one multiple."""
    return max(multiple, int((Fraction(value) / multiple + Fraction(1, 2)) // 1) * multiple)


def fit_size(src_w: int, src_h: int, requested: tuple[int, int | None] | None, multiple: int = 8) -> tuple[int, int]:
    """The size to generate at for a ``src_w`` x ``src_h`` seed.

    ``None``: the seed's size rounded to the nearest multiple. ``(w, None)``: width ``w`` rounded to the nearest
    multiple and the height that keeps the seed's aspect ratio, rounded the same way. ``(w, h)``: exactly that,
    which must already be multiples.
    """
    if requested is None:
        return round_to_multiple(src_w, multiple), round_to_multiple(src_h, multiple)
    width, height = requested
    if height is not None:
        _check_explicit(width, height, multiple)
        return width, height
    if width <= 0:
        raise UsageError(f"output width {width} must be positive; give a width such as 512")
    fitted_w = round_to_multiple(width, multiple)
    return fitted_w, round_to_multiple(Fraction(src_h * fitted_w, src_w), multiple)


def _check_explicit(width: int, height: int, multiple: int) -> None:
    for value in (width, height):
        if value <= 0 or value % multiple:
            low = max(multiple, value // multiple * multiple)
            raise UsageError(
                f"output size {width}x{height}: {value} is not a positive multiple of {multiple}; "
                f"use {low} or {low + multiple}"
            )


def resize_image(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` at ``size`` (Lanczos), or ``image`` itself when it already has that size."""
    from PIL import Image

    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)
