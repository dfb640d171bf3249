"""Image seeds with optional inpaint masks and ControlNet control images, paired frame by frame as the README's
"Inpainting Animations" says.

animated seed + animated mask: frame by frame, as long as the shorter one.
animated seed + still mask:    the mask for every frame.
still seed + animated mask:    the seed repeated for every mask frame.
Control images pair the same way with the rest. The mask must have the seed's size; it comes out in mode "L".
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from dgenerate.errors import MediaError
from dgenerate.media.info import MediaInfo
from dgenerate.media.sources import FrameSource, open_media

if TYPE_CHECKING:
    from PIL import Image

SeedFrame = tuple["Image.Image | None", "Image.Image | None", tuple["Image.Image", ...]]


class SeedSource:
    """(image or None, mask or None, control images) for each frame, decoded on demand. Use it as a context manager
    and iterate it once."""

    def __init__(self, image: FrameSource | None, mask: FrameSource | None,
                 controls: Sequence[FrameSource] = ()) -> None:
        self.image = image
        self.mask = mask
        self.controls = tuple(controls)
        self._sources = [source for source in (image, mask, *self.controls) if source is not None]
        self.info = _paired_info([source.info for source in self._sources])
        self._frames = _lockstep(image, mask, self.controls)

    def __iter__(self) -> Iterator[SeedFrame]:
        return self

    def __next__(self) -> SeedFrame:
        return next(self._frames)

    def close(self) -> None:
        self._frames.close()
        for source in self._sources:
            source.close()

    def __enter__(self) -> SeedSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_seed(
    image: Path | None, mask: Path | None = None, frame_start: int | None = None, frame_end: int | None = None,
    controls: Sequence[Path] = (),
) -> SeedSource:
    """Open an image seed, its optional mask and ControlNet control images; the frame slice applies to whichever is
    animated. Without an image (text to image with ControlNets) the first control image gives the size."""
    with contextlib.ExitStack() as stack:
        seed = stack.enter_context(open_media(image, frame_start, frame_end)) if image is not None else None
        masks = stack.enter_context(open_media(mask, frame_start, frame_end)) if mask is not None else None
        if seed is not None and masks is not None and masks.info.size != seed.info.size:
            raise MediaError(
                f"mask '{mask}' is {masks.info.width}x{masks.info.height} but image seed '{image}' is "
                f"{seed.info.width}x{seed.info.height}; a mask must be the same size as its image seed"
            )
        opened = [stack.enter_context(open_media(path, frame_start, frame_end)) for path in controls]
        source = SeedSource(seed, masks, opened)
        stack.pop_all()
        return source


def _paired_info(infos: list[MediaInfo]) -> MediaInfo:
    first = infos[0]
    animated = [info for info in infos if info.animated]
    if not animated:
        return MediaInfo(first.width, first.height, None, 1, animated=False)
    counts = [info.frame_count for info in animated if info.frame_count is not None]
    count = min(counts) if counts else None
    delays = animated[0].delays[:count] if animated[0].delays is not None else None
    return MediaInfo(first.width, first.height, animated[0].fps, count, animated=count != 1, delays=delays)


def _lockstep(image: FrameSource | None, mask: FrameSource | None,
              controls: tuple[FrameSource, ...]) -> Generator[SeedFrame, None, None]:
    """Animated inputs advance together, as long as the shortest; a still one is repeated for every frame."""
    sources: list[FrameSource | None] = [image, mask, *controls]
    present = [source for source in sources if source is not None]
    if not any(source.info.animated for source in present):
        yield _frame([next(iter(source)) if source is not None else None for source in sources])
        return
    streams = [None if source is None else iter(source) if source.info.animated else itertools.repeat(next(source))
               for source in sources]
    for frames in zip(*(itertools.repeat(None) if stream is None else stream for stream in streams), strict=False):
        yield _frame(list(frames))


def _frame(frames: list[Image.Image | None]) -> SeedFrame:
    image, mask, *controls = frames
    return image, None if mask is None else mask.convert("L"), tuple(control for control in controls if control)
