"""Writing animations frame by frame and PNG images with text metadata, atomically and without clobbering."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, get_args

from dgenerate.errors import DgenerateError, MediaError, OutputError
from dgenerate.media._atomic import discard, publish, refuse_existing, temp_path, why

if TYPE_CHECKING:
    from PIL import Image

    from dgenerate.media._encoders import Encoder
    from dgenerate.media.sound import Sound

AnimationFormat = Literal["mp4", "gif", "webp", "apng"]
ANIMATION_FORMATS: tuple[str, ...] = get_args(AnimationFormat)


class AnimationWriter:
    """Encodes frames as they arrive into ``path`` (mp4, gif, webp or apng: only apng is lossless) at exactly ``fps``.

    ``delays`` (seconds per frame, as a GIF, WebP or APNG input stores them) make a GIF or WebP show each frame for
    what the input said, 0 included, rounded once to the format's unit; mp4 always runs at ``fps``.

    The file is built under a hidden temporary name in the same folder and renamed into place on exit. If the
    ``with`` body is interrupted (KeyboardInterrupt, SIGTERM) the frames written so far are still finished into a
    playable file before the interrupt goes on; any other exception (a full disk, a failed frame) leaves nothing
    behind, and neither do no frames.
    """

    def __init__(
        self, path: Path, fmt: AnimationFormat, fps: Fraction, size: tuple[int, int], *,
        delays: Sequence[Fraction] | None = None, overwrite: bool = False, sound: Sound | None = None
    ) -> None:
        _check_arguments(fmt, fps, size)
        self.sound = sound if fmt == "mp4" else None  # MP4 carries a clip's sound; the other formats have none
        self.path = Path(path)
        self.fmt = fmt
        self.fps = Fraction(fps)
        self.size = size
        self.delays = tuple(delays or ())
        self.overwrite = overwrite
        self.frames_written = 0
        self._temp: Path | None = None
        self._encoder: Encoder | None = None
        refuse_existing(self.path, overwrite)

    def __enter__(self) -> AnimationWriter:
        from dgenerate.media._encoders import ENCODERS, Mp4Encoder

        self._temp = temp_path(self.path)
        try:
            self._encoder = ENCODERS[self.fmt](self._temp, self.fps, self.size, self.delays) if self.sound is None \
                else Mp4Encoder(self._temp, self.fps, self.size, sound=self.sound)
        except BaseException as error:
            discard(self._temp)
            if isinstance(error, Exception):  # Ctrl-C and SystemExit go on as they are
                raise OutputError(f"cannot write '{self.path}': {why(error)}") from error
            raise
        return self

    def write(self, frame: Image.Image) -> None:
        from dgenerate.media.sources import to_rgb

        if self._encoder is None:
            raise OutputError(f"AnimationWriter for '{self.path}' is not open; use it in a with statement")
        if frame.size != self.size:
            raise MediaError(
                f"frame {self.frames_written} is {frame.width}x{frame.height} but '{self.path}' is being written "
                f"at {self.size[0]}x{self.size[1]}; resize frames to the animation's size"
            )
        try:
            self._encoder.add(frame if frame.mode == "RGB" else to_rgb(frame))
        except Exception as error:
            raise OutputError(f"cannot encode frame {self.frames_written} into '{self.path}': {why(error)}") from error
        self.frames_written += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self._finish()
            return
        if isinstance(error, KeyboardInterrupt):  # a stop keeps a playable file of the frames made so far
            with contextlib.suppress(Exception):  # the interrupt is the one worth showing
                self._finish()
            return
        self._abandon()  # an error leaves nothing half-written

    def _abandon(self) -> None:
        encoder, temp = self._encoder, self._temp
        self._encoder = None
        if encoder is not None:
            with contextlib.suppress(Exception):
                encoder.close()
        if temp is not None:
            discard(temp)

    def _finish(self) -> None:
        encoder, temp = self._encoder, self._temp
        self._encoder = None
        if encoder is None or temp is None:
            return
        try:
            encoder.close()
            if self.frames_written:
                publish(temp, self.path, self.overwrite)
        except DgenerateError:
            raise
        except Exception as error:  # OSError, or PyAV's FFmpegError
            raise OutputError(f"cannot finish writing '{self.path}': {why(error)}") from error
        finally:
            discard(temp)


def _check_arguments(fmt: str, fps: Fraction, size: tuple[int, int]) -> None:
    if fmt not in ANIMATION_FORMATS:
        raise OutputError(f"animation format '{fmt}' is not supported; use one of {', '.join(ANIMATION_FORMATS)}")
    if fps <= 0:
        raise OutputError(f"animation frame rate {fps} must be positive")
    if min(size) < (2 if fmt == "mp4" else 1) or max(size) > 16383:
        raise OutputError(f"animation size {size[0]}x{size[1]} is out of range for {fmt}; use 2 to 16383 pixels")


def encode_png(image: Image.Image, text_chunks: dict[str, str] | None = None) -> bytes:
    """PNG bytes with ``text_chunks`` as tEXt (iTXt when not Latin-1); same inputs, same bytes (no time stamps)."""
    import io

    from PIL.PngImagePlugin import PngInfo

    metadata = PngInfo()
    for key, value in (text_chunks or {}).items():
        metadata.add_text(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=metadata)
    return buffer.getvalue()


def write_png(
    path: Path, image: Image.Image, text_chunks: dict[str, str] | None = None, *, overwrite: bool = False
) -> None:
    """Save ``image`` as PNG with ``text_chunks`` atomically; an existing file is refused unless ``overwrite``."""
    path = Path(path)
    refuse_existing(path, overwrite)
    temp = temp_path(path)
    try:
        temp.write_bytes(encode_png(image, text_chunks))
        publish(temp, path, overwrite)
    except (OSError, ValueError) as error:
        raise OutputError(f"cannot write '{path}': {why(error)}") from error
    finally:
        discard(temp)
