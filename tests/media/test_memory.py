"""The writers and readers keep no per-frame state: Python allocations do not grow with the frame count."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.media import AnimationWriter, open_media


def peak_python_bytes(action: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_frames(path: Path, fmt: str, count: int) -> None:
    with AnimationWriter(path, fmt, Fraction(24), (64, 64)) as writer:  # type: ignore[arg-type]
        for index in range(count):
            writer.write(Image.new("RGB", (64, 64), (index * 5 % 256, index * 11 % 256, 90)))


def read_frames(path: Path) -> None:
    with open_media(path) as source:
        for _ in source:
            pass


@pytest.mark.parametrize("fmt", ["mp4", "gif", "webp"])
def test_writing_and_reading_400_frames_needs_no_more_python_memory_than_50(tmp_path: Path, fmt: str) -> None:
    write_frames(tmp_path / f"warm.{fmt}", fmt, 5)
    short = peak_python_bytes(lambda: write_frames(tmp_path / f"short.{fmt}", fmt, 50))
    long = peak_python_bytes(lambda: write_frames(tmp_path / f"long.{fmt}", fmt, 400))
    assert long <= short * 1.25 + 64 * 1024, (short, long)
    short = peak_python_bytes(lambda: read_frames(tmp_path / f"short.{fmt}"))
    long = peak_python_bytes(lambda: read_frames(tmp_path / f"long.{fmt}"))
    assert long <= short * 1.25 + 64 * 1024, (short, long)
