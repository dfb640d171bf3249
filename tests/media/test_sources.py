from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dgenerate.errors import MediaError, UsageError
from dgenerate.media import open_media

Identify = Callable[[Image.Image], int]


def read_all(path: Path, start: int | None = None, end: int | None = None) -> list[Image.Image]:
    with open_media(path, start, end) as source:
        return list(source)


@pytest.mark.parametrize(
    ("name", "fps", "count"),
    [
        ("mp4", Fraction(30000, 1001), 40),
        ("webm", Fraction(12), 30),
        ("mp4_12", Fraction(12), 30),
        ("gif", Fraction(10), 20),
        ("webp", Fraction(25, 2), 16),
        ("apng", Fraction(20), 15),
    ],
)
def test_animated_inputs_report_exact_fps_and_count(
    media: dict[str, Path], identify_frame: Identify, name: str, fps: Fraction, count: int
) -> None:
    with open_media(media[name]) as source:
        assert (source.info.fps, source.info.frame_count, source.info.animated) == (fps, count, True)
        assert source.info.size == (64, 48)
        frames = list(source)
    assert [identify_frame(frame) for frame in frames] == list(range(count))
    assert all(frame.mode == "RGB" and frame.size == (64, 48) for frame in frames)


@pytest.mark.parametrize(("name", "index"), [("png", 5), ("jpg", 9)])
def test_still_images_are_one_frame(media: dict[str, Path], identify_frame: Identify, name: str, index: int) -> None:
    with open_media(media[name], frame_start=3, frame_end=7) as source:
        assert (source.info.animated, source.info.frame_count, source.info.fps) == (False, 1, None)
        assert [identify_frame(frame) for frame in source] == [index]


@pytest.mark.parametrize("name", ["mp4", "webm", "mp4_12", "gif", "webp", "apng"])
@pytest.mark.parametrize(("start", "end"), [(7, 12), (13, None), (None, 4), (11, 11), (0, 99)])
def test_slices_match_full_decode(
    media: dict[str, Path], identify_frame: Identify, name: str, start: int | None, end: int | None
) -> None:
    full = read_all(media[name])
    with open_media(media[name], start, end) as source:
        sliced = list(source)
        expected = full[(start or 0) : (len(full) if end is None else end + 1)]
        assert source.info.frame_count == len(expected)
        assert source.info.animated == (len(expected) > 1)
    assert [identify_frame(frame) for frame in sliced] == [identify_frame(frame) for frame in expected]
    assert [frame.tobytes() for frame in sliced] == [frame.tobytes() for frame in expected]


class CountingContainer:
    """Wraps a PyAV input container and counts the frames it decodes and the seeks it makes."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.decoded = 0
        self.seeks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._container, name)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()

    def seek(self, *args: Any, **kwargs: Any) -> None:
        self.seeks += 1
        self._container.seek(*args, **kwargs)

    def decode(self, *args: Any) -> Iterator[Any]:
        for frame in self._container.decode(*args):
            self.decoded += 1
            yield frame


@pytest.mark.parametrize(("name", "gop"), [("mp4", 10), ("webm", 8)])
def test_slicing_seeks_instead_of_decoding_from_the_start(
    media: dict[str, Path], identify_frame: Identify, monkeypatch: pytest.MonkeyPatch, name: str, gop: int
) -> None:
    import av

    opened: list[CountingContainer] = []
    real_open = av.open

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        opened.append(CountingContainer(real_open(*args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(av, "open", counting_open)
    with open_media(media[name], 25, 26) as source:
        assert [identify_frame(frame) for frame in source] == [25, 26]
    decoder = opened[0]
    assert decoder.seeks == 1 and decoder.decoded <= gop + 3


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [
        (40, None, ["--frame-start 40", "40 frames", "below 40"]),
        (-1, None, ["--frame-start -1", "negative"]),
        (None, -2, ["--frame-end -2", "negative"]),
        (9, 3, ["--frame-start 9", "--frame-end 3"]),
    ],
)
def test_bad_slices_name_the_option_and_value(
    media: dict[str, Path], start: int | None, end: int | None, words: list[str]
) -> None:
    with pytest.raises(UsageError) as caught:  # a slice the input cannot give is an argument error (exit 2)
        open_media(media["mp4"], start, end)
    message = str(caught.value)
    assert "\n" not in message and all(word in message for word in words)


def test_bad_slice_on_gif_names_the_file(media: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match=r"--frame-start 25 .*anim\.gif.* 20 frames"):
        open_media(media["gif"], 25)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"nope\.mp4' does not exist"):
        open_media(tmp_path / "nope.mp4")


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"this is not a video at all" * 20)
    with pytest.raises(MediaError, match=r"junk\.mp4") as caught:
        open_media(path)
    assert "\n" not in str(caught.value)


def test_video_without_frames(tmp_path: Path) -> None:
    import av

    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=24)
        stream.width, stream.height = 64, 48
    with pytest.raises(MediaError, match=r"empty\.mp4"):
        read_all(path)


def test_opening_media_does_not_import_av_for_images() -> None:
    import subprocess
    import sys

    code = "import sys, dgenerate.media as m; print('av' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("name", ["mp4", "webm", "gif", "webp", "apng"])
def test_one_frame_slice_is_a_still(media: dict[str, Path], identify_frame: Identify, name: str) -> None:
    with open_media(media[name], frame_start=14, frame_end=14) as source:
        assert (source.info.animated, source.info.frame_count, source.info.fps) == (False, 1, None)
        assert [identify_frame(frame) for frame in source] == [14]


def test_end_past_the_last_frame_is_clamped(media: dict[str, Path]) -> None:
    with open_media(media["gif"], frame_start=18, frame_end=500) as source:
        assert source.info.frame_count == 2 and len(list(source)) == 2


def test_a_seek_that_lands_past_the_start_falls_back_to_decoding_from_the_top(
    media: dict[str, Path], identify_frame: Identify, monkeypatch: pytest.MonkeyPatch
) -> None:
    import av

    real_open = av.open

    class OvershootingContainer(CountingContainer):
        def seek(self, offset: int, **kwargs: Any) -> None:
            self.seeks += 1
            # The first seek lands on the keyframe at frame 30 instead of one at or before frame 25.
            self._container.seek(offset + (5 * 1001 if self.seeks == 1 else 0), **kwargs)

    opened: list[OvershootingContainer] = []

    def overshooting_open(*args: Any, **kwargs: Any) -> Any:
        opened.append(OvershootingContainer(real_open(*args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(av, "open", overshooting_open)
    with open_media(media["mp4"], 25, 27) as source:
        assert [identify_frame(frame) for frame in source] == [25, 26, 27]
    assert opened[0].seeks == 2


def test_apng_default_image_is_not_an_animation_frame(tmp_path: Path, identify_frame: Identify) -> None:
    path = tmp_path / "default.png"
    frames = [Image.new("RGB", (64, 48), colour) for colour in [(255, 255, 255), (0, 0, 0), (85, 0, 0), (170, 0, 0)]]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, default_image=True)
    with open_media(path) as source:
        assert (source.info.frame_count, source.info.fps) == (3, Fraction(25))
        assert [identify_frame(frame) for frame in source] == [0, 1, 2]


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "LA", "CMYK"])
def test_still_images_of_any_mode_come_out_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / ("still.jpg" if mode == "CMYK" else "still.png")
    Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode).save(path)
    with open_media(path) as source:
        (frame,) = list(source)
    assert frame.mode == "RGB" and frame.size == (16, 8)


def test_gif_with_transparency_and_zero_delays(tmp_path: Path) -> None:
    path = tmp_path / "zero.gif"
    frames = [Image.new("P", (16, 16), index) for index in range(4)]
    for frame in frames:
        frame.putpalette([value for index in range(256) for value in (index, 255 - index, 0)])
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=0, transparency=0, disposal=2)
    with open_media(path) as source:
        assert source.info.fps == Fraction(10) and source.info.delays is None  # no duration at all: read at 10 fps
        assert all(frame.mode == "RGB" for frame in source)


def test_truncated_gif_gives_a_media_error(media: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "cut.gif"
    path.write_bytes(media["gif"].read_bytes()[:300])
    with pytest.raises(MediaError, match=r"cut\.gif"):
        read_all(path)


def test_truncated_mp4_gives_a_media_error(media: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "cut.mp4"
    path.write_bytes(media["mp4"].read_bytes()[:500])
    with pytest.raises(MediaError, match=r"cut\.mp4"):
        read_all(path)


def test_truncated_webp_gives_a_media_error(media: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "cut.webp"
    data = media["webp"].read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError, match=r"cut\.webp"):
        read_all(path)


def _cut(data: bytes, share: float) -> bytes:
    return data[: int(len(data) * share)]


@pytest.mark.parametrize(("name", "make", "says"), [
    ("zeros.png", lambda _: b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
     "is not a readable image: it has a PNG signature but the data is damaged"),
    ("cut.png", lambda media: _cut(media["png"].read_bytes(), 0.6),
     "is not a readable image: it has a PNG signature but the data is damaged"),
    ("cut.jpg", lambda media: _cut(media["jpg"].read_bytes(), 0.1),
     "is not a readable image: it has a JPEG signature but the data is damaged"),
    ("named-as-a-video.mp4", lambda _: b"GIF89a" + bytes(range(40)),
     "is not a readable image: it has a GIF signature but the data is damaged"),
    ("junk.mp4", lambda _: b"\x00\x00\x00\x18ftypmp42" + bytes(range(200)),
     "is not a readable video: it has an MP4 signature but the data is damaged"),
    ("photo.heic", lambda _: b"\x00\x00\x00\x18ftypheic" + bytes(64),
     "is not a readable image: it has a HEIF signature, which this installation does not decode"),
    ("notes.png", lambda _: b"hello, these are my notes\n",
     "is neither an image nor a video: its first bytes b'hello, these are' are no image or video format's"),
    ("empty.gif", lambda _: b"", "is neither an image nor a video: it is empty (0 bytes)"),
])
def test_an_unreadable_input_is_named_for_what_its_first_bytes_say(
        media: dict[str, Path], tmp_path: Path, name: str, make: Callable[[dict[str, Path]], bytes], says: str) -> None:
    path = tmp_path / name
    path.write_bytes(make(media))
    with pytest.raises(MediaError) as caught:
        read_all(path)
    assert str(caught.value).startswith(f"--image-seeds '{path}' {says}"), str(caught.value)
    assert "\n" not in str(caught.value)
