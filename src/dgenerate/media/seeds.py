"""Image seeds with optional inpaint masks, paired frame by frame as the README's "Inpainting Animations" says.

animated seed + animated mask: frame by frame, as long as the shorter one.
animated seed + still mask:    the mask for every frame.
still seed + animated mask:    the seed repeated for every mask frame.
The mask must have the seed's size; it comes out in mode "L".
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from dgenerate.errors import MediaError
from dgenerate.media.info import MediaInfo
from dgenerate.media.sources import FrameSource, open_media

if TYPE_CHECKING:
    from PIL import Image

SeedFrame = tuple["Image.Image", "Image.Image | None"]


class SeedSource:
    """(image, mask or None) pairs, decoded on demand. Use it as a context manager and iterate it once."""

    def __init__(self, image: FrameSource, mask: FrameSource | None) -> None:
        self.image = image
        self.mask = mask
        self.info = _paired_info(image.info, mask.info if mask else None)
        self._pairs = _pairs(image, mask)

    def __iter__(self) -> Iterator[SeedFrame]:
        return self

    def __next__(self) -> SeedFrame:
        return next(self._pairs)

    def close(self) -> None:
        self._pairs.close()
        self.image.close()
        if self.mask is not None:
            self.mask.close()

    def __enter__(self) -> SeedSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_seed(
    image: Path, mask: Path | None = None, frame_start: int | None = None, frame_end: int | None = None
) -> SeedSource:
    """Open an image seed and its optional mask; the frame slice applies to whichever is animated."""
    with contextlib.ExitStack() as stack:
        seed = stack.enter_context(open_media(image, frame_start, frame_end))
        masks = stack.enter_context(open_media(mask, frame_start, frame_end)) if mask is not None else None
        if masks is not None and masks.info.size != seed.info.size:
            raise MediaError(
                f"mask '{mask}' is {masks.info.width}x{masks.info.height} but image seed '{image}' is "
                f"{seed.info.width}x{seed.info.height}; a mask must be the same size as its image seed"
            )
        source = SeedSource(seed, masks)
        stack.pop_all()
        return source


def _paired_info(image: MediaInfo, mask: MediaInfo | None) -> MediaInfo:
    animated = [info for info in (image, mask) if info is not None and info.animated]
    if not animated:
        return MediaInfo(image.width, image.height, None, 1, animated=False)
    counts = [info.frame_count for info in animated if info.frame_count is not None]
    count = min(counts) if counts else None
    delays = animated[0].delays[:count] if animated[0].delays is not None else None
    return MediaInfo(image.width, image.height, animated[0].fps, count, animated=count != 1, delays=delays)


def _pairs(image: FrameSource, mask: FrameSource | None) -> Generator[SeedFrame, None, None]:
    if mask is None:
        yield from ((frame, None) for frame in image)
        return
    masks = (frame.convert("L") for frame in mask)
    if image.info.animated and mask.info.animated:
        yield from zip(image, masks, strict=False)
    elif mask.info.animated:
        yield from zip(itertools.repeat(next(image)), masks)
    else:
        yield from zip(image, itertools.repeat(next(masks)))
