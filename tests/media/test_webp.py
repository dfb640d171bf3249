"""The streaming animated WebP reader draws exactly what Pillow (libwebp's WebPAnimDecoder) draws."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.media import open_media


def moving_square(count: int, mode: str) -> list[Image.Image]:
    background = (30, 60, 90, 255) if mode == "RGB" else (0, 0, 0, 0)
    frames = []
    for index in range(count):
        frame = Image.new("RGBA", (80, 60), background)
        frame.paste((200, 50 + index * 10, 20, 255 if mode == "RGB" else 128), (5 + index * 4, 10, 25 + index * 4, 30))
        if index % 3 == 0:
            frame.paste((255, 255, 255, 255), (60, 40, 70, 50))
        frames.append(frame.convert(mode))
    return frames


def frame_rectangles(path: Path) -> list[tuple[int, int]]:
    data, offset, sizes = path.read_bytes(), 12, []
    while offset + 8 <= len(data):
        fourcc, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        if fourcc == b"ANMF":
            payload = data[offset + 8 :]
            sizes.append((int.from_bytes(payload[6:9], "little") + 1, int.from_bytes(payload[9:12], "little") + 1))
        offset += 8 + size + (size & 1)
    return sizes


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("RGB", {"lossless": True}),
        ("RGB", {"quality": 70}),
        ("RGBA", {"lossless": True}),
        ("RGBA", {"quality": 60, "allow_mixed": True}),
        ("RGB", {"kmin": 2, "kmax": 3, "quality": 80}),
    ],
)
def test_frames_match_pillow(tmp_path: Path, mode: str, options: dict[str, Any]) -> None:
    path = tmp_path / "square.webp"
    frames = moving_square(12, mode)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=70, **options)
    assert any(size != (80, 60) for size in frame_rectangles(path))  # sub-rectangles: compositing is exercised
    with Image.open(path) as reference:
        expected = []
        for index in range(reference.n_frames):
            reference.seek(index)
            expected.append(np.asarray(reference.convert("RGB")))
    with open_media(path) as source:
        assert source.info.frame_count == 12
        ours = [np.asarray(frame) for frame in source]
    assert len(ours) == len(expected)
    for index, (mine, theirs) in enumerate(zip(ours, expected, strict=True)):
        assert np.array_equal(mine, theirs), f"frame {index} differs"
