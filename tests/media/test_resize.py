from __future__ import annotations

import pytest
from PIL import Image

from dgenerate.errors import UsageError
from dgenerate.media import fit_size, resize_image, round_to_multiple


@pytest.mark.parametrize(
    ("source", "requested", "expected"),
    [
        ((512, 512), None, (512, 512)),
        ((500, 333), None, (504, 336)),  # nearest multiple of 8
        ((3, 2), None, (8, 8)),  # never below one multiple
        ((1024, 768), (512, None), (512, 384)),  # width fixed, height from the aspect ratio
        ((640, 480), (500, None), (504, 376)),  # 500 -> 504, 480 * 504 / 640 = 378 -> 376
        ((1920, 1080), (512, None), (512, 288)),
        ((640, 480), (512, 512), (512, 512)),  # explicit: exactly that
    ],
)
def test_fit_size(source: tuple[int, int], requested: tuple[int, int | None] | None, expected: tuple[int, int]) -> None:
    assert fit_size(*source, requested) == expected


def test_other_multiples() -> None:
    assert fit_size(1000, 1000, (1000, None), multiple=64) == (1024, 1024)
    assert round_to_multiple(12, 8) == 16 and round_to_multiple(11, 8) == 8


@pytest.mark.parametrize("requested", [(500, 512), (512, 0), (-8, 8)])
def test_explicit_sizes_must_be_multiples(requested: tuple[int, int]) -> None:
    with pytest.raises(UsageError, match="multiple of 8"):
        fit_size(640, 480, requested)


def test_resize_image() -> None:
    image = Image.new("RGB", (64, 48), (1, 2, 3))
    assert resize_image(image, (64, 48)) is image
    assert resize_image(image, (32, 24)).size == (32, 24)
