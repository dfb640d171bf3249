"""The one reader of the text an image carries (PNG tEXt, zTXt and iTXt chunks): dgenerate's config, AUTOMATIC1111's
parameters, other tools' chunks."""

from __future__ import annotations

from pathlib import Path

from dgenerate.errors import MediaError


def png_text(path: Path, whole: bool = True) -> dict[str, str]:
    """The text chunks of an image, by key. With `whole` False only those before its pixels, read without decoding
    them: where dgenerate (and AUTOMATIC1111) write theirs. An image of another format has none; a file that is no
    image is a MediaError whose message is the reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            chunks = getattr(image, "text", {}) if whole else image.info
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise MediaError(str(error)) from error
    return {str(key): value for key, value in chunks.items() if isinstance(value, str)}
