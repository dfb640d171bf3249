"""Inputs for the media tests, generated once per session: every frame is a distinct solid colour."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

SIZE = (64, 48)
LEVELS = (0, 85, 170, 255)
FPS_NTSC = Fraction(30000, 1001)


def colour(index: int) -> tuple[int, int, int]:
    """Frame ``index`` (0..63) as a colour at least 85 levels from every other frame's in some channel."""
    return LEVELS[index % 4], LEVELS[index // 4 % 4], LEVELS[index // 16 % 4]


def solid(index: int, size: tuple[int, int] = SIZE) -> Image.Image:
    return Image.new("RGB", size, colour(index))


def identify(image: Image.Image) -> int:
    """The frame number whose colour is nearest to the centre of ``image``."""
    pixel = np.asarray(image.convert("RGB"))[image.height // 2, image.width // 2].astype(int)
    distances = [np.abs(pixel - np.array(colour(i))).sum() for i in range(64)]
    return int(np.argmin(distances))


def write_video(path: Path, codec: str, fps: Fraction, count: int, gop: int = 10, first: int = 0) -> Path:
    import av

    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        for index in range(count):
            frame_type: Any = av.VideoFrame
            frame = frame_type.from_image(solid(first + index))
            frame.pts, frame.time_base = index, 1 / fps
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_pillow_animation(path: Path, count: int, duration_ms: int, first: int = 0, **options: Any) -> Path:
    frames = [solid(first + index) for index in range(count)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, **options)
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Named input files: videos, animations, stills and masks."""
    root = tmp_path_factory.mktemp("media")
    files = {
        "mp4": write_video(root / "ntsc.mp4", "libx264", FPS_NTSC, 40),
        "webm": write_video(root / "twelve.webm", "libvpx-vp9", Fraction(12), 30, gop=8),
        "mp4_12": write_video(root / "twelve.mp4", "libx264", Fraction(12), 30, gop=250),
        "gif": write_pillow_animation(root / "anim.gif", 20, 100),
        "webp": write_pillow_animation(root / "anim.webp", 16, 80, lossless=True),
        "apng": write_pillow_animation(root / "anim.png", 15, 50),
        "png": _save(solid(5), root / "still.png"),
        "jpg": _save(solid(9), root / "still.jpg"),
        "mask_png": _save(Image.new("L", SIZE, 255), root / "mask.png"),
        "mask_gif": write_pillow_animation(root / "mask.gif", 12, 100, first=20),
        "mask_webp": write_pillow_animation(root / "mask.webp", 14, 100, first=20, lossless=True),
        "mask_mp4": write_video(root / "mask.mp4", "libx264", Fraction(25), 25, first=20),
        "small_png": _save(solid(1, (32, 32)), root / "small.png"),
    }
    return files


def _save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


@pytest.fixture
def identify_frame() -> Callable[[Image.Image], int]:
    return identify


@pytest.fixture
def solid_frame() -> Callable[..., Image.Image]:
    return solid
