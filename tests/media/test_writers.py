from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from dgenerate.errors import MediaError, OutputError
from dgenerate.media import AnimationWriter, open_media, write_png

Identify = Callable[[Image.Image], int]
Solid = Callable[..., Image.Image]
FORMATS = ["mp4", "gif", "webp"]
# The container's unit of time: MP4 keeps the exact rate, GIF rounds to 1/100 s, WebP to 1/1000 s (once, overall).
UNIT = {"mp4": Fraction(0), "gif": Fraction(1, 100), "webp": Fraction(1, 1000)}


def copy_through_writer(
    source_path: Path, target: Path, fmt: str, start: int | None = None, end: int | None = None
) -> tuple[Fraction, int]:
    with open_media(source_path, start, end) as source:
        assert source.info.fps is not None
        with AnimationWriter(target, fmt, source.info.fps, source.info.size) as writer:  # type: ignore[arg-type]
            for frame in source:
                writer.write(frame)
        return source.info.fps, writer.frames_written


def read_back(path: Path) -> tuple[Fraction | None, list[Image.Image]]:
    with open_media(path) as source:
        return source.info.fps, list(source)


def duration_of(path: Path) -> Fraction:
    """Seconds the written file lasts, as its container stores it."""
    import av

    from dgenerate.media._delays import read_delays

    if path.suffix == ".mp4":
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.duration is not None and stream.time_base is not None
            seconds: Fraction = Fraction(stream.duration) * stream.time_base
            return seconds
    return sum(read_delays(path, {".gif": "GIF", ".webp": "WEBP"}[path.suffix]), Fraction(0))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("name", "start", "end"),
    [("mp4", None, None), ("webm", None, None), ("mp4", 5, 34), ("gif", 3, None), ("webp", None, None)],
)
def test_round_trip_keeps_frames_fps_and_duration(
    media: dict[str, Path],
    tmp_path: Path,
    identify_frame: Identify,
    fmt: str,
    name: str,
    start: int | None,
    end: int | None,
) -> None:
    target = tmp_path / f"out.{fmt}"
    fps, written = copy_through_writer(media[name], target, fmt, start, end)
    read_fps, frames = read_back(target)
    with open_media(media[name], start, end) as source:
        expected = [identify_frame(frame) for frame in source]
    assert [identify_frame(frame) for frame in frames] == expected and len(frames) == written
    assert abs(duration_of(target) - written / fps) <= UNIT[fmt] / 2
    if fmt == "mp4" or fps in (Fraction(12), Fraction(10), Fraction(25, 2)) or written % 1001 == 0:
        assert read_fps == fps
    else:  # 30000/1001 in 1/100 s or 1/1000 s: the nearest common rate within the rounding
        assert read_fps in (Fraction(30000, 1001), Fraction(30))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_ntsc_rate_survives_exactly_in_mp4_and_webp(tmp_path: Path, solid_frame: Solid, fmt: str) -> None:
    fps = Fraction(30000, 1001)
    target = tmp_path / f"ntsc.{fmt}"
    with AnimationWriter(target, fmt, fps, (64, 48)) as writer:  # type: ignore[arg-type]
        for index in range(30):
            writer.write(solid_frame(index))
    read_fps, frames = read_back(target)
    assert len(frames) == 30
    assert read_fps == (Fraction(30) if fmt == "gif" else fps)  # GIF: 30 frames last 100 cs, exactly 30 fps
    assert abs(duration_of(target) - Fraction(1001, 1000)) <= UNIT[fmt] / 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_interrupt_leaves_a_playable_file_with_the_frames_so_far(
    tmp_path: Path, solid_frame: Solid, identify_frame: Identify, fmt: str
) -> None:
    target = tmp_path / f"cut.{fmt}"
    with pytest.raises(KeyboardInterrupt), AnimationWriter(target, fmt, Fraction(12), (64, 48)) as writer:  # type: ignore[arg-type]
        for index in range(40):
            if index == 7:
                raise KeyboardInterrupt
            writer.write(solid_frame(index))
    _, frames = read_back(target)
    assert [identify_frame(frame) for frame in frames] == list(range(7))
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_frames_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    with pytest.raises(RuntimeError), AnimationWriter(tmp_path / f"x.{fmt}", fmt, Fraction(24), (64, 48)):  # type: ignore[arg-type]
        raise RuntimeError("stopped before the first frame")
    with AnimationWriter(tmp_path / f"y.{fmt}", fmt, Fraction(24), (64, 48)):  # type: ignore[arg-type]
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_existing_file_is_refused_unless_overwrite(tmp_path: Path, solid_frame: Solid, fmt: str) -> None:
    target = tmp_path / f"taken.{fmt}"
    target.write_bytes(b"precious")
    with pytest.raises(OutputError, match=r"taken\..* already exists"):
        AnimationWriter(target, fmt, Fraction(24), (64, 48))  # type: ignore[arg-type]
    with AnimationWriter(target, fmt, Fraction(24), (64, 48), overwrite=True) as writer:  # type: ignore[arg-type]
        writer.write(solid_frame(1))
        writer.write(solid_frame(2))
    assert target.read_bytes() != b"precious"


def test_file_appearing_during_the_write_is_not_clobbered(tmp_path: Path, solid_frame: Solid) -> None:
    target = tmp_path / "race.gif"
    with pytest.raises(OutputError, match="appeared"), AnimationWriter(target, "gif", Fraction(24), (64, 48)) as writer:
        writer.write(solid_frame(1))
        target.write_bytes(b"someone else's")
    assert target.read_bytes() == b"someone else's"
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]


def test_odd_size_mp4_is_cropped_to_even(tmp_path: Path, solid_frame: Solid) -> None:
    target = tmp_path / "odd.mp4"
    with AnimationWriter(target, "mp4", Fraction(24), (63, 47)) as writer:
        writer.write(solid_frame(3, (63, 47)))
        writer.write(solid_frame(4, (63, 47)))
    with open_media(target) as source:
        assert source.info.size == (62, 46) and source.info.frame_count == 2


def test_frame_of_the_wrong_size_is_refused(tmp_path: Path, solid_frame: Solid) -> None:
    with (
        pytest.raises(MediaError, match=r"32x32.*64x48"),
        AnimationWriter(tmp_path / "a.gif", "gif", Fraction(24), (64, 48)) as writer,
    ):
        writer.write(solid_frame(0, (32, 32)))


@pytest.mark.parametrize(
    ("fmt", "fps", "size"), [("avi", Fraction(24), (8, 8)), ("gif", Fraction(0), (8, 8)), ("mp4", Fraction(24), (1, 8))]
)
def test_bad_writer_arguments(tmp_path: Path, fmt: str, fps: Fraction, size: tuple[int, int]) -> None:
    with pytest.raises(OutputError):
        AnimationWriter(tmp_path / "bad", fmt, fps, size)  # type: ignore[arg-type]


def test_write_png_is_deterministic_and_keeps_text(tmp_path: Path, solid_frame: Solid) -> None:
    chunks = {"dgenerate": "--prompts 'a cat'", "parameters": "Steps: 30, Größe 512", "Comment": "ünïcødé ✓"}
    write_png(tmp_path / "a.png", solid_frame(3), chunks)
    write_png(tmp_path / "b.png", solid_frame(3), chunks)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    with Image.open(tmp_path / "a.png") as image:
        assert image.text == chunks
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_write_png_refuses_to_overwrite(tmp_path: Path, solid_frame: Solid) -> None:
    write_png(tmp_path / "a.png", solid_frame(3))
    with pytest.raises(OutputError, match="already exists"):
        write_png(tmp_path / "a.png", solid_frame(4))
    write_png(tmp_path / "a.png", solid_frame(4), overwrite=True)
    with Image.open(tmp_path / "a.png") as image:
        assert image.convert("RGB").getpixel((0, 0)) == solid_frame(4).getpixel((0, 0))


def test_gif_faster_than_50_fps_plays_at_50(tmp_path: Path, solid_frame: Solid) -> None:
    from dgenerate.media._delays import read_delays

    target = tmp_path / "fast.gif"
    with AnimationWriter(target, "gif", Fraction(60), (64, 48)) as writer:
        for index in range(12):
            writer.write(solid_frame(index))
    assert read_delays(target, "GIF") == [Fraction(2, 100)] * 12
    with open_media(target) as source:
        assert (source.info.fps, source.info.frame_count) == (Fraction(50), 12)


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_interrupt_while_the_encoder_opens_stays_an_interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              fmt: str) -> None:
    """Ctrl-C is not an output error (that would exit 1, not 130), and leaves no temporary file."""
    import av

    real_open = av.open

    def interrupted_open(file: object, mode: str = "r", **options: object) -> object:
        if mode == "w":
            raise KeyboardInterrupt
        return real_open(file, mode, **options)  # type: ignore[call-overload]

    monkeypatch.setattr(av, "open", interrupted_open)
    with pytest.raises(KeyboardInterrupt), AnimationWriter(tmp_path / f"x.{fmt}", fmt, Fraction(24), (64, 48)):  # type: ignore[arg-type]
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fps", [Fraction(16), Fraction(30000, 1001)])
def test_apng_is_lossless_and_keeps_its_rate(tmp_path: Path, fps: Fraction) -> None:
    """The lossless format: what is read back is what was written, pixel for pixel, at the rate it was written."""
    import numpy as np

    frames = [Image.fromarray(np.random.default_rng(seed).integers(0, 256, (30, 46, 3), dtype=np.uint8))
              for seed in range(5)]
    target = tmp_path / "clip.apng"
    with AnimationWriter(target, "apng", fps, (46, 30)) as writer:
        for frame in frames:
            writer.write(frame)
    read_fps, back = read_back(target)
    assert [np.asarray(frame.convert("RGB")).tobytes() for frame in back] == [frame.tobytes() for frame in frames]
    assert read_fps == fps
    with Image.open(target) as image:
        assert image.format == "PNG" and image.n_frames == 5 and image.info["loop"] == 0, "loops forever"
