"""One streaming encoder per animation format; each keeps only the frame it is encoding.

Every encoder turns frame ``i`` into a timestamp with the exact ``Fraction`` fps, so 30000/1001 stays 30000/1001
in MP4 (time base 1001/30000) and the GIF / WebP delays sum to the exact duration, rounded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dgenerate.media.timing import FrameClock

if TYPE_CHECKING:
    from PIL import Image

    from dgenerate.media.sound import Sound


class Encoder(Protocol):
    def add(self, frame: Image.Image) -> None: ...

    def close(self) -> None:
        """Flush buffered frames and finish the file; after this the file plays."""


class _ConstantRateEncoder:
    """Frames encoded by a PyAV stream at a constant ``fps``, frame ``i`` at time ``i / fps``."""

    _container: Any
    _stream: Any

    def _open(self, path: Path, fmt: str, codec: str, fps: Fraction, size: tuple[int, int], pix_fmt: str,
              options: dict[str, str]) -> None:
        import av

        self._container = av.open(str(path), "w", format=fmt, options=options)
        self._time_base = 1 / fps
        self._stream = self._container.add_stream(codec, rate=fps)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = pix_fmt
        self._stream.codec_context.time_base = self._time_base
        self._index = 0

    def _prepared(self, frame: Image.Image) -> Image.Image:
        return frame

    def add(self, frame: Image.Image) -> None:
        import av

        frame_type: Any = av.VideoFrame
        video_frame = frame_type.from_image(self._prepared(frame))
        video_frame.pts, video_frame.time_base, video_frame.duration = self._index, self._time_base, 1
        self._index += 1
        self._container.mux(self._stream.encode(video_frame))

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


class Mp4Encoder(_ConstantRateEncoder):
    """H.264 (libx264, yuv420p) in MP4 at a constant ``fps`` (per-frame delays are not kept: a frame of 0 ms cannot
    be stored); odd widths or heights lose their last column or row. A ``sound`` goes in as AAC, from time 0."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int],
                 _delays: Sequence[Fraction] | None = None, crf: int = 18, sound: Sound | None = None) -> None:
        self._size = (size[0] - size[0] % 2, size[1] - size[1] % 2)
        self._open(path, "mp4", "libx264", fps, self._size, "yuv420p", {"movflags": "+faststart"})
        self._stream.options = {"crf": str(crf), "preset": "medium"}
        self._sound = sound
        self._layout = "mono" if sound is not None and sound.channels == 1 else "stereo"
        if sound is not None:
            self._audio: Any = self._container.add_stream("aac", rate=sound.rate, layout=self._layout)

    def _prepared(self, frame: Image.Image) -> Image.Image:
        return frame if frame.size == self._size else frame.crop((0, 0, *self._size))

    def close(self) -> None:
        if self._sound is not None:
            import av
            import numpy as np

            try:
                samples = np.ascontiguousarray(self._sound.samples, dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=self._layout)
                frame.sample_rate, frame.pts = self._sound.rate, 0
                self._container.mux(self._audio.encode(frame))
                self._container.mux(self._audio.encode(None))
            except BaseException:
                self._container.close()
                raise
        super().close()


class ApngEncoder(_ConstantRateEncoder):
    """Animated PNG at a constant ``fps``: lossless, so its decoded frames are the frames given, byte for byte
    (per-frame delays are not kept, as in MP4). It loops forever."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int],
                 _delays: Sequence[Fraction] | None = None) -> None:
        self._open(path, "apng", "apng", fps, size, "rgb24", {"plays": "0"})

    def _prepared(self, frame: Image.Image) -> Image.Image:
        return frame.convert("RGB")


_CENTISECOND = Fraction(1, 100)
_MIN_GIF_DELAY = 2


class GifEncoder:
    """GIF through FFmpeg's gif encoder and muxer, which write each frame as it comes; each frame gets its own
    256-colour palette from Pillow (stored as a local colour table)."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int],
                 delays: Sequence[Fraction] | None = None) -> None:
        import av

        self._container: Any = av.open(str(path), "w", format="gif")
        self._stream: Any = self._container.add_stream("gif", rate=fps)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "pal8"
        self._stream.codec_context.time_base = _CENTISECOND
        self._clock = FrameClock(fps, _CENTISECOND, delays)
        # Browsers show a frame of 1/100 s or less for 1/10 s, so a GIF made at a rate plays at 50 fps at most;
        # delays taken from the input are written as it wrote them, 0 included.
        self._min_delay = 0 if self._clock.follows_delays else _MIN_GIF_DELAY
        self._index = 0
        self._last_pts = -self._min_delay

    def add(self, frame: Image.Image) -> None:
        video_frame = _paletted_frame(frame)
        pts = max(self._clock.start(self._index), self._last_pts + self._min_delay)
        end = max(self._clock.start(self._index + 1), pts + self._min_delay)
        video_frame.pts, video_frame.time_base, video_frame.duration = pts, _CENTISECOND, end - pts
        self._index, self._last_pts = self._index + 1, pts
        packets = self._stream.encode(video_frame)
        for packet in packets:  # the encoder drops the duration; the muxer needs it for the last frame's delay
            packet.time_base, packet.duration = _CENTISECOND, end - pts
        self._container.mux(packets)

    def close(self) -> None:
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


def _palette_of(frame: Image.Image) -> Image.Image:
    """256 colours by median cut on a copy of at most 128x128: ten times faster than on the frame, as good."""
    from PIL import Image

    sample = frame.copy()
    sample.thumbnail((128, 128), Image.Resampling.BILINEAR)
    return sample.quantize(colors=256, method=Image.Quantize.MEDIANCUT)


def _paletted_frame(frame: Image.Image) -> Any:
    """``frame`` with its own palette, undithered: dither noise that changes every frame crawls in animations."""
    import av
    import numpy as np
    from PIL import Image

    quantized = frame.quantize(palette=_palette_of(frame), dither=Image.Dither.NONE)
    rgb = np.frombuffer(bytes(quantized.getpalette() or []), dtype=np.uint8).reshape(-1, 3)[:256]
    palette = np.zeros((256, 4), dtype=np.uint8)
    palette[:, 0] = 255
    palette[: len(rgb), 1:] = rgb
    pixels_and_palette: Any = (np.asarray(quantized), palette)
    return av.VideoFrame.from_ndarray(pixels_and_palette, format="pal8")


_MILLISECOND = Fraction(1, 1000)


class WebpEncoder:
    """Animated WebP (lossy, quality 90) appended frame by frame; see ``_webp``."""

    def __init__(self, path: Path, fps: Fraction, size: tuple[int, int],
                 delays: Sequence[Fraction] | None = None) -> None:
        from dgenerate.media._webp import WebpAnimationFile

        self._file = path.open("wb")
        self._webp = WebpAnimationFile(self._file, size)
        self._clock = FrameClock(fps, _MILLISECOND, delays)
        self._min_delay = 0 if self._clock.follows_delays else 1
        self._index = 0

    def add(self, frame: Image.Image) -> None:
        self._webp.add(frame, max(self._min_delay, self._clock.delay(self._index)))
        self._index += 1

    def close(self) -> None:
        try:
            self._webp.close()
        finally:
            self._file.close()


ENCODERS: dict[str, type[Mp4Encoder] | type[GifEncoder] | type[WebpEncoder] | type[ApngEncoder]] = {
    "mp4": Mp4Encoder,
    "gif": GifEncoder,
    "webp": WebpEncoder,
    "apng": ApngEncoder,
}
