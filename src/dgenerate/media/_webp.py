"""Animated WebP, streamed both ways one ANMF chunk (frame) at a time.

Writing: each frame is encoded alone by Pillow and appended as an ANMF chunk; the RIFF size and the VP8X flags are
patched when the file is closed. libwebp's WebPAnimEncoder (Pillow's save_all, FFmpeg's libwebp_anim) keeps every
frame until the end instead.
Reading: each ANMF chunk is wrapped as a still WebP, decoded by Pillow and composited; Pillow's own animated WebP
reader (WebPAnimDecoder) reads the whole file into memory first.
https://developers.google.com/speed/webp/docs/riff_container
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from PIL import Image

_ANIMATION_FLAG = 0x02
_ALPHA_FLAG = 0x10
_NO_BLEND = 0x02
_FRAME_CHUNKS = (b"ALPH", b"VP8 ", b"VP8L")


def _chunk(fourcc: bytes, payload: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def _uint24(value: int) -> bytes:
    return value.to_bytes(3, "little")


def _frame_chunks(still: bytes) -> list[tuple[bytes, bytes]]:
    """The bitstream chunks of a still WebP file, without its RIFF header and extended-format chunks."""
    chunks: list[tuple[bytes, bytes]] = []
    offset = 12
    while offset + 8 <= len(still):
        fourcc, size = still[offset : offset + 4], struct.unpack("<I", still[offset + 4 : offset + 8])[0]
        if fourcc in _FRAME_CHUNKS:
            chunks.append((fourcc, still[offset + 8 : offset + 8 + size]))
        offset += 8 + size + (size & 1)
    return chunks


class WebpAnimationFile:
    """Appends frames of one size to an open binary file; ``close`` finishes the header."""

    def __init__(self, file: BinaryIO, size: tuple[int, int], quality: int = 90, loop: int = 0) -> None:
        self._file = file
        self._size = size
        self._quality = quality
        self._flags = _ANIMATION_FLAG
        canvas = _uint24(size[0] - 1) + _uint24(size[1] - 1)
        file.write(b"RIFF\0\0\0\0WEBP")
        file.write(_chunk(b"VP8X", bytes([self._flags, 0, 0, 0]) + canvas))
        file.write(_chunk(b"ANIM", b"\0\0\0\0" + struct.pack("<H", loop)))

    def add(self, frame: Image.Image, duration_ms: int) -> None:
        buffer = io.BytesIO()
        frame.save(buffer, format="WEBP", quality=self._quality, method=4)
        chunks = _frame_chunks(buffer.getvalue())
        if any(fourcc == b"ALPH" for fourcc, _ in chunks):
            self._flags |= _ALPHA_FLAG
        header = _uint24(0) + _uint24(0) + _uint24(frame.width - 1) + _uint24(frame.height - 1)
        header += _uint24(duration_ms) + bytes([_NO_BLEND])
        self._file.write(_chunk(b"ANMF", header + b"".join(_chunk(fourcc, data) for fourcc, data in chunks)))

    def close(self) -> None:
        end = self._file.tell()
        self._file.seek(4)
        self._file.write(struct.pack("<I", end - 8))
        self._file.seek(20)
        self._file.write(bytes([self._flags]))
        self._file.seek(end)
        self._file.flush()


_ANMF_HEADER = 16


def animated_webp_canvas(path: Path) -> tuple[int, int] | None:
    """The canvas size of an animated WebP (VP8X with the animation flag), else None. Reads 30 bytes."""
    with path.open("rb") as file:
        head = file.read(30)
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:16] != b"WEBPVP8X" or not head[20] & _ANIMATION_FLAG:
        return None
    return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1


def read_animated_webp(file: BinaryIO, canvas_size: tuple[int, int]) -> Iterator[Image.Image]:
    """Composited RGBA frames of an animated WebP, reading one ANMF chunk at a time.

    Follows libwebp's WebPAnimDecoder (what Pillow uses): the canvas starts transparent black, disposal clears a
    frame's rectangle to transparent, and frames without the no-blend flag are alpha-blended over the canvas.
    """
    from PIL import Image

    canvas = Image.new("RGBA", canvas_size, (0, 0, 0, 0))
    dispose: tuple[int, int, int, int] | None = None
    for payload in _anmf_payloads(file):
        if dispose is not None:
            canvas.paste((0, 0, 0, 0), dispose)
        x, y = 2 * int.from_bytes(payload[0:3], "little"), 2 * int.from_bytes(payload[3:6], "little")
        tile = _decode_frame(payload)
        if payload[15] & _NO_BLEND or tile.mode != "RGBA":
            canvas.paste(tile.convert("RGBA"), (x, y))
        else:
            canvas.alpha_composite(tile, (x, y))
        dispose = (x, y, x + tile.width, y + tile.height) if payload[15] & 0x01 else None
        yield canvas.copy()


def _anmf_payloads(file: BinaryIO) -> Iterator[bytes]:
    file.seek(12)
    while len(header := file.read(8)) == 8:
        fourcc, size = header[:4], struct.unpack("<I", header[4:])[0]
        if fourcc == b"ANMF":
            payload = file.read(size)
            if len(payload) < size:
                raise OSError(f"the file ends inside a frame ({len(payload)} of {size} bytes)")
            yield payload
            file.seek(size & 1, 1)
        else:
            file.seek(size + (size & 1), 1)


def _decode_frame(payload: bytes) -> Image.Image:
    """One ANMF frame's bitstream chunks wrapped as a still WebP file and decoded by Pillow."""
    from PIL import Image

    width, height = int.from_bytes(payload[6:9], "little") + 1, int.from_bytes(payload[9:12], "little") + 1
    chunks = payload[_ANMF_HEADER:]
    if chunks[:4] == b"ALPH":
        extended = bytes([_ALPHA_FLAG, 0, 0, 0]) + _uint24(width - 1) + _uint24(height - 1)
        chunks = _chunk(b"VP8X", extended) + chunks
    still = b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + chunks
    tile = Image.open(io.BytesIO(still))
    tile.load()
    return tile
