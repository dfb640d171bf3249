"""Videos stand the way players display them: rotations and flips of the display matrix, on files PyAV writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.media import open_media
from dgenerate.media._display import UPRIGHT, display_transform

# The picture as it should be seen: portrait, a different colour in each quarter.
QUARTERS = {"top left": (255, 0, 0), "top right": (0, 255, 0), "bottom left": (0, 0, 255),
            "bottom right": (255, 255, 255)}
SHOWN = (32, 48)


def upright() -> Image.Image:
    image = Image.new("RGB", SHOWN)
    half_w, half_h = SHOWN[0] // 2, SHOWN[1] // 2
    for (row, column), fill in zip([(0, 0), (0, 1), (1, 0), (1, 1)], QUARTERS.values(), strict=True):
        image.paste(fill, (column * half_w, row * half_h, (column + 1) * half_w, (row + 1) * half_h))
    return image


def quarter_colours(image: Image.Image) -> dict[str, tuple[int, ...]]:
    """The mean colour of the middle of each quarter, away from the edges the codec blurs."""
    pixels = np.asarray(image.convert("RGB")).astype(float)
    h, w = pixels.shape[0] // 2, pixels.shape[1] // 2
    centres = {"top left": (h // 2, w // 2), "top right": (h // 2, w + w // 2),
               "bottom left": (h + h // 2, w // 2), "bottom right": (h + h // 2, w + w // 2)}
    return {name: tuple(int(v) for v in pixels[y - 2:y + 3, x - 2:x + 3].mean(axis=(0, 1)))
            for name, (y, x) in centres.items()}


def assert_stands_upright(image: Image.Image) -> None:
    assert image.size == SHOWN
    for name, seen in quarter_colours(image).items():
        assert max(abs(a - b) for a, b in zip(seen, QUARTERS[name], strict=True)) < 40, (name, seen)


def write_displayed(path: Path, stored: Image.Image, degrees: float, hflip: bool = False, vflip: bool = False,
                    count: int = 3) -> Path:
    """A video whose frames are ``stored`` and whose display matrix says to turn them by ``degrees``."""
    import av

    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream("libx264", rate=12)
        stream.width, stream.height = stored.size
        stream.pix_fmt = "yuv444p"
        stream.set_display_rotation(degrees, hflip=hflip, vflip=vflip)
        for index in range(count):
            frame: Any = av.VideoFrame.from_image(stored)
            frame.pts, frame.time_base = index, Fraction(1, 12)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


# What a camera stores for each display rotation: the picture turned back (FFmpeg's rotation is counterclockwise).
STORED = {90: Image.Transpose.ROTATE_270, -90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180}


@pytest.mark.parametrize("container", ["mp4", "mov"])
@pytest.mark.parametrize("degrees", [90, -90, 180])
def test_rotated_videos_are_read_as_they_are_displayed(tmp_path: Path, container: str, degrees: int) -> None:
    stored = upright().transpose(STORED[degrees])
    assert stored.size != SHOWN or degrees == 180
    path = write_displayed(tmp_path / f"turned.{container}", stored, degrees)
    with open_media(path) as source:
        assert source.info.size == SHOWN and source.info.frame_count == 3
        frames = list(source)
    assert len(frames) == 3
    for frame in frames:
        assert_stands_upright(frame)


def test_a_slice_of_a_rotated_video_is_turned_too(tmp_path: Path) -> None:
    path = write_displayed(tmp_path / "turned.mp4", upright().transpose(STORED[-90]), -90, count=30)
    with open_media(path, 20, 21) as source:
        assert source.info.size == SHOWN
        for frame in source:
            assert_stands_upright(frame)


@pytest.mark.parametrize(("hflip", "vflip", "stored_as"), [
    (True, False, Image.Transpose.FLIP_LEFT_RIGHT),
    (False, True, Image.Transpose.FLIP_TOP_BOTTOM),
    (True, True, Image.Transpose.ROTATE_180),
])
def test_mirrored_display_matrices_are_undone(tmp_path: Path, hflip: bool, vflip: bool, stored_as: Any) -> None:
    path = write_displayed(tmp_path / "mirrored.mp4", upright().transpose(stored_as), 0, hflip=hflip, vflip=vflip)
    with open_media(path) as source:
        assert_stands_upright(next(source))


def test_a_video_without_a_display_matrix_is_left_alone(tmp_path: Path) -> None:
    import av

    path = tmp_path / "plain.mp4"
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = SHOWN[0], SHOWN[1], "yuv444p"
        frame: Any = av.VideoFrame.from_image(upright())
        frame.pts, frame.time_base = 0, Fraction(1, 12)
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with open_media(path) as source:
        assert_stands_upright(next(source))


def test_matrices_are_read_as_ffmpeg_reads_them() -> None:
    one = 65536
    assert display_transform(None) is UPRIGHT
    assert display_transform((one, 0, 0, 0, one, 0, 0, 0, 1 << 30)) is UPRIGHT
    assert display_transform((0, 0, 0, 0, 0, 0, 0, 0, 1 << 30)) is UPRIGHT  # degenerate: nothing to apply
    quarter_turn = display_transform((0, one, 0, -one, 0, 0, 0, 0, 1 << 30))  # an iPhone's portrait video
    assert quarter_turn.swaps_sides and quarter_turn.size(568, 320) == (320, 568)
    stored = upright().transpose(STORED[-90])
    assert np.array_equal(np.asarray(quarter_turn.apply(stored)), np.asarray(upright()))


def test_an_odd_angle_turns_the_picture_inside_its_frame() -> None:
    import math

    one, angle = 65536, math.radians(30)
    # FFmpeg's display matrix for a rotation of 30 degrees clockwise on screen.
    matrix = (round(math.cos(angle) * one), round(math.sin(angle) * one), 0,
              round(-math.sin(angle) * one), round(math.cos(angle) * one), 0, 0, 0, 1 << 30)
    turn = display_transform(matrix)
    assert not turn.swaps_sides
    square = Image.new("RGB", (40, 40), "black")
    square.paste((255, 0, 0), (18, 0, 22, 20))  # a bar from the centre up
    turned = np.asarray(turn.apply(square))
    assert turned.shape == (40, 40, 3)
    assert turned[8, 26, 0] > 128 and turned[8, 20, 0] < 128  # the bar now leans right, clockwise


SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "media"


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not here")
@pytest.mark.parametrize(("name", "shown", "turn"), [
    ("jsonize-ffmpeg-task__iphone_rotated.mov", (320, 568), Image.Transpose.ROTATE_270),
    ("androidx-media__portrait_4k60.mp4", (2160, 3840), Image.Transpose.ROTATE_270),
    ("androidx-media__dolbyVision-hdr.MOV", (720, 1280), Image.Transpose.ROTATE_270),
    ("moviepy__fire2.mp4", (1280, 720), Image.Transpose.ROTATE_180),
    ("androidx-media__sample.mp4", (1080, 720), None),
])
def test_real_phone_videos_stand_up(name: str, shown: tuple[int, int], turn: Any) -> None:
    import av

    path = SAMPLES / name
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0)).to_image()
    with open_media(path, 0, 1) as source:
        assert source.info.size == shown
        first = next(source)
    expected = stored if turn is None else stored.transpose(turn)
    assert first.size == shown and np.array_equal(np.asarray(first), np.asarray(expected))
