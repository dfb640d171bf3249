"""Per-frame delays read straight from GIF, WebP and APNG headers, without decoding any pixels.

Delays are taken as the file states them, 0 included: browsers show a frame of 10 ms or less for 100 ms, but that
is a player's rule, not the file's timing, and the outputs carry the input's own delays where their format can.
"""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO


def read_delays(path: Path, pillow_format: str) -> list[Fraction]:
    """Seconds each animation frame is shown, in order; empty when the format has none."""
    readers = {"GIF": _gif_delays, "WEBP": _webp_delays, "PNG": _apng_delays}
    reader = readers.get(pillow_format)
    if reader is None:
        return []
    try:
        with path.open("rb") as stream:
            return reader(stream)
    except (IndexError, struct.error, OSError):
        return []  # damaged timing: the reader falls back to a default rate; Pillow reports damaged pixels


def _skip_sub_blocks(stream: BinaryIO) -> None:
    while (size := stream.read(1)) and size[0]:
        stream.seek(size[0], 1)


def _gif_delays(stream: BinaryIO) -> list[Fraction]:
    header = stream.read(13)
    if header[10] & 0x80:
        stream.seek(3 << ((header[10] & 0x07) + 1), 1)
    delays: list[Fraction] = []
    delay = 0
    while block := stream.read(1):
        if block == b"\x21":
            label = stream.read(1)
            if label == b"\xf9":
                data = stream.read(stream.read(1)[0])
                delay = struct.unpack("<H", data[1:3])[0]
            _skip_sub_blocks(stream)
        elif block == b"\x2c":
            descriptor = stream.read(9)
            if descriptor[8] & 0x80:
                stream.seek(3 << ((descriptor[8] & 0x07) + 1), 1)
            stream.read(1)
            _skip_sub_blocks(stream)
            delays.append(Fraction(delay, 100))
            delay = 0
        else:
            break
    return delays


def _webp_delays(stream: BinaryIO) -> list[Fraction]:
    stream.seek(12)
    delays: list[Fraction] = []
    while len(header := stream.read(8)) == 8:
        fourcc, size = header[:4], struct.unpack("<I", header[4:])[0]
        if fourcc == b"ANMF":
            data = stream.read(16)
            delays.append(Fraction(int.from_bytes(data[12:15], "little"), 1000))
            stream.seek(size + (size & 1) - 16, 1)
        else:
            stream.seek(size + (size & 1), 1)
    return delays


def _apng_delays(stream: BinaryIO) -> list[Fraction]:
    stream.seek(8)
    delays: list[Fraction] = []
    while len(header := stream.read(8)) == 8:
        size, kind = struct.unpack(">I4s", header)
        if kind == b"fcTL":
            numerator, denominator = struct.unpack(">HH", stream.read(size)[20:24])
            delays.append(Fraction(numerator, denominator or 100))
            stream.seek(4, 1)
        elif kind == b"IEND":
            break
        else:
            stream.seek(size + 4, 1)
    return delays
