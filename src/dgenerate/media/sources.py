"""Reading images, animations and videos one RGB frame at a time.

Still images, GIF and APNG go through Pillow (stills turned as their EXIF orientation says); animated WebP through our
own chunk reader (``_webp``: Pillow's reads the whole file into memory, and this FFmpeg cannot decode animated WebP);
everything else through PyAV, seeking when a slice starts later, every frame turned as the video's display matrix
says (``_display``). Nothing holds more than the frame being decoded and the canvas it is drawn on.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, BinaryIO

from dgenerate.errors import MediaError
from dgenerate.media._display import DisplayTransform, display_transform, first_frame_matrix
from dgenerate.media._signature import Signature, signature
from dgenerate.media.info import MediaInfo, resolve_slice, sliced_info

if TYPE_CHECKING:
    from PIL import Image

# Pillow formats whose extra frames are an animation (a TIFF's pages or an MPO's depth map are not).
_ANIMATED_FORMATS = {"GIF": Fraction(1, 100), "WEBP": Fraction(1, 1000), "PNG": Fraction(0)}
# Pillow recognises these headers but cannot decode the video inside.
_VIDEO_FORMATS = {"MPEG"}
# Image formats Pillow decodes only with a plugin that may not be installed.
_OPTIONAL_FORMATS = {"AVIF", "HEIF"}
# Containers where a seek lands on a keyframe at or before the target and pts give frame numbers.
_SEEKABLE_CONTAINERS = {"mov", "mp4", "matroska", "webm"}
_FALLBACK_FPS = Fraction(10)
# What Pillow raises on damaged files besides OSError (truncated GIFs give IndexError, bad headers SyntaxError).
_PILLOW_ERRORS = (OSError, EOFError, ValueError, SyntaxError, IndexError, struct.error)


class FrameSource:
    """The frames of one input, decoded on demand. Use it as a context manager and iterate it once."""

    def __init__(self, path: Path, info: MediaInfo, frames: Iterator[Image.Image], close: Callable[[], None]) -> None:
        self.path = path
        self.info = info
        self._frames = frames
        self._close = close

    def __iter__(self) -> Iterator[Image.Image]:
        return self

    def __next__(self) -> Image.Image:
        return next(self._frames)

    def close(self) -> None:
        close_generator = getattr(self._frames, "close", None)
        if close_generator is not None:
            close_generator()
        self._close()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_media(path: Path, frame_start: int | None = None, frame_end: int | None = None) -> FrameSource:
    """Open an image, animation or video; ``frame_start``/``frame_end`` (inclusive) slice animated inputs only."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise MediaError(f"input file '{path}' {problem}; check the path given to --image-seeds")
    webp = _open_webp_animation(path, frame_start, frame_end)
    if webp is not None:
        return webp
    claimed = signature(path)
    image = _open_with_pillow(path, claimed)
    if image is None:
        return _open_video(path, frame_start, frame_end, claimed)
    if image.format in _ANIMATED_FORMATS and _animation_length(path, image) > 1:
        return _open_animation(path, image, frame_start, frame_end)
    return _open_still(path, image, claimed)


def _unreadable(path: Path, claimed: Signature | None, error: object) -> str:
    """One line on an input that cannot be read, named for what its first bytes say it is."""
    given = f"--image-seeds '{path}'"
    if claimed is None:
        with open(path, "rb") as file:
            head = file.read(16)
        found = f"its first bytes {head!r} are no image or video format's" if head else "it is empty (0 bytes)"
        return f"{given} is neither an image nor a video: {found} ({error}); use a video, GIF, WebP, PNG or JPEG file"
    if claimed.name in _OPTIONAL_FORMATS:
        return (f"{given} is not a readable image: it has {claimed.described}, which this installation does not "
                f"decode ({error}); convert it to PNG or JPEG")
    kind = "image" if claimed.image else "video"
    return (f"{given} is not a readable {kind}: it has {claimed.described} but the data is damaged ({error}); "
            "replace the file or export it again")


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB copy of ``image``; transparency is dropped."""
    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("P", "PA", "LA", "La", "RGBa") or "transparency" in image.info:
        return image.convert("RGBA").convert("RGB")
    return image.convert("RGB")


def _open_with_pillow(path: Path, claimed: Signature | None) -> Image.Image | None:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except UnidentifiedImageError as error:
        if claimed is not None and claimed.image:
            raise MediaError(_unreadable(path, claimed, error)) from error
        return None
    except OSError as error:
        known = _unreadable(path, claimed, error) if claimed and claimed.image else f"cannot read '{path}': {error}"
        raise MediaError(known) from error
    if image.format in _VIDEO_FORMATS:
        image.close()
        return None
    return image


def _animation_length(path: Path, image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1)) - _default_image_offset(image)
    except _PILLOW_ERRORS as error:
        image.close()
        raise MediaError(f"cannot read the frames of '{path}', the file is damaged: {error!r}") from error


def _default_image_offset(image: Image.Image) -> int:
    """1 for an APNG whose first image is a fallback shown by viewers without APNG, not part of the animation."""
    return 1 if image.format == "PNG" and getattr(image, "default_image", False) else 0


def _open_still(path: Path, image: Image.Image, claimed: Signature | None) -> FrameSource:
    from PIL import ImageOps

    try:
        with image:
            frame = to_rgb(ImageOps.exif_transpose(image) or image)
    except _PILLOW_ERRORS as error:
        raise MediaError(_unreadable(path, claimed or Signature(str(image.format), image=True), error)) from error
    info = MediaInfo(frame.width, frame.height, fps=None, frame_count=1, animated=False)
    return FrameSource(path, info, iter([frame]), lambda: None)


def _open_animation(path: Path, image: Image.Image, start: int | None, end: int | None) -> FrameSource:
    from dgenerate.media._delays import read_delays
    from dgenerate.media.timing import fps_from_delays

    try:
        first, last = resolve_slice(path, _animation_length(path, image), start, end)
        delays = read_delays(path, str(image.format))
    except BaseException:
        image.close()
        raise
    fps = fps_from_delays(delays, _ANIMATED_FORMATS[str(image.format)]) or _FALLBACK_FPS
    info = sliced_info(image.width, image.height, fps, first, last, delays)
    offset = _default_image_offset(image)
    return FrameSource(path, info, _pillow_frames(path, image, first + offset, last + offset), image.close)


def _pillow_frames(path: Path, image: Image.Image, first: int, last: int) -> Iterator[Image.Image]:
    index = first
    try:
        for index in range(first, last + 1):
            image.seek(index)
            yield to_rgb(image)
    except _PILLOW_ERRORS as error:
        raise MediaError(f"cannot decode frame {index} of '{path}': {error!r}") from error


def _open_webp_animation(path: Path, start: int | None, end: int | None) -> FrameSource | None:
    """Animated WebP read one frame at a time (see ``_webp``); None for anything else, which Pillow opens."""
    from dgenerate.media._delays import read_delays
    from dgenerate.media._webp import animated_webp_canvas
    from dgenerate.media.timing import fps_from_delays

    canvas = animated_webp_canvas(path)
    delays = read_delays(path, "WEBP") if canvas else []
    if canvas is None or len(delays) < 2:
        return None
    first, last = resolve_slice(path, len(delays), start, end)
    fps = fps_from_delays(delays, _ANIMATED_FORMATS["WEBP"]) or _FALLBACK_FPS
    info = sliced_info(canvas[0], canvas[1], fps, first, last, delays)
    file = path.open("rb")
    return FrameSource(path, info, _webp_frames(path, file, canvas, first, last), file.close)


def _webp_frames(path: Path, file: BinaryIO, canvas: tuple[int, int], first: int, last: int) -> Iterator[Image.Image]:
    from dgenerate.media._webp import read_animated_webp

    index = 0
    try:
        for index, frame in enumerate(read_animated_webp(file, canvas)):
            if index > last:
                return
            if index >= first:
                yield to_rgb(frame)
    except _PILLOW_ERRORS as error:
        raise MediaError(f"cannot decode frame {index} of '{path}': {error!r}") from error


def _open_video(path: Path, start: int | None, end: int | None, claimed: Signature | None) -> FrameSource:
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise MediaError(_unreadable(path, claimed, error)) from error
    try:
        return _video_source(path, container, start, end)
    except av.FFmpegError as error:
        container.close()
        raise MediaError(_unreadable(path, claimed, error)) from error
    except BaseException:
        container.close()
        raise


def _video_source(path: Path, container: Any, start: int | None, end: int | None) -> FrameSource:
    if not container.streams.video:
        raise MediaError(f"'{path}' has no video stream; use a video, GIF, WebP, PNG or JPEG file")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    count = stream.frames or _count_packets(path)
    if count == 0:
        raise MediaError(f"video '{path}' contains no frames")
    first, last = resolve_slice(path, count, start, end)
    fps = stream.average_rate or stream.guessed_rate or _FALLBACK_FPS
    display = display_transform(first_frame_matrix(path))
    width, height = display.size(stream.codec_context.width, stream.codec_context.height)
    info = sliced_info(width, height, Fraction(fps), first, last)
    frames = _video_frames(path, container, stream, (first, last), display)
    return FrameSource(path, info, frames, container.close)


def _count_packets(path: Path) -> int:
    """Frame count of a container that does not store it (WebM, MKV): demux without decoding."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def _video_frames(
    path: Path, container: Any, stream: Any, frame_range: tuple[int, int], display: DisplayTransform
) -> Iterator[Image.Image]:
    import av

    first, last = frame_range
    produced = False
    try:
        for index, frame in _numbered_frames(container, stream, first):
            if index > last:
                break
            if index >= first:
                produced = True
                yield display.apply(frame.to_image())
    except av.FFmpegError as error:
        raise MediaError(f"cannot decode video '{path}': {error}") from error
    if not produced:
        raise MediaError(f"no frames could be decoded from '{path}' in the range {first} to {last}")


def _numbered_frames(container: Any, stream: Any, first: int) -> Iterator[tuple[int, Any]]:
    """Decoded frames with their 0-based numbers; seeks close to ``first`` when the container allows it."""
    fps = stream.average_rate
    formats = set(container.format.name.split(","))
    if first > 0 and fps and stream.time_base and formats & _SEEKABLE_CONTAINERS:
        origin = stream.start_time or 0
        container.seek(origin + math.floor(first / fps / stream.time_base), stream=stream, backward=True)
        decoded = container.decode(stream)
        head = next(decoded, None)
        if head is not None and head.pts is not None and _pts_index(head.pts, origin, stream, fps) <= first:
            yield from _pts_numbered(itertools.chain([head], decoded), origin, stream, fps)
            return
        container.seek(origin, stream=stream, backward=True)
    yield from enumerate(container.decode(stream))


def _pts_numbered(frames: Iterator[Any], origin: int, stream: Any, fps: Fraction) -> Iterator[tuple[int, Any]]:
    index = -1
    for frame in frames:
        index = index + 1 if frame.pts is None else _pts_index(frame.pts, origin, stream, fps)
        yield index, frame


def _pts_index(pts: int, origin: int, stream: Any, fps: Fraction) -> int:
    index: int = math.floor(Fraction(pts - origin) * stream.time_base * fps + Fraction(1, 2))
    return index
