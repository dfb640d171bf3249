"""What a file says it is by its first bytes, so that an input that cannot be read is named for what it claims to be:
"a PNG signature but the data is damaged" rather than "cannot read video"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

_HEAD = 32
_AN = {"MP4", "MPEG", "AVI", "AVIF", "FLV", "ICO", "Ogg"}  # names read with a vowel sound first


@dataclass(frozen=True)
class Signature:
    name: str  # "PNG", "MP4"
    image: bool  # an image format (read by Pillow), else a video container (read by FFmpeg)

    @property
    def described(self) -> str:
        return f"{'an' if self.name in _AN else 'a'} {self.name} signature"


_IMAGES = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
           (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"BM", "BMP"), (b"\x00\x00\x01\x00", "ICO"))
_VIDEOS = ((b"\x1aE\xdf\xa3", "Matroska/WebM"), (b"OggS", "Ogg"), (b"\x00\x00\x01\xba", "MPEG"),
           (b"\x00\x00\x01\xb3", "MPEG"), (b"FLV", "FLV"))
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1")


def signature(path: Path) -> Signature | None:
    """The format the file's first bytes name, None for none known (an empty file, a text file, a raw stream)."""
    try:
        with open(path, "rb") as file:
            head = file.read(_HEAD)
    except OSError:
        return None
    for magic, name in _IMAGES:
        if head.startswith(magic):
            return Signature(name, image=True)
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"AVI "):
        return Signature("WebP", image=True) if head[8:12] == b"WEBP" else Signature("AVI", image=False)
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Signature("AVIF" if brand.startswith(b"avi") else "HEIF", image=True)
        return Signature("QuickTime" if brand == b"qt  " else "MP4", image=False)
    for magic, name in _VIDEOS:
        if head.startswith(magic):
            return Signature(name, image=False)
    return None
