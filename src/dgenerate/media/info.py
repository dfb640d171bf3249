"""What a reader knows about its input before decoding it, and the frame slice rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from dgenerate.errors import UsageError


@dataclass(frozen=True)
class MediaInfo:
    """Size, exact frame rate and length of an input (after slicing).

    A still image, and a slice of exactly one frame, has ``animated`` False, ``frame_count`` 1 and ``fps`` None.
    ``frame_count`` is None only when the input cannot say. ``delays`` are the seconds each frame is shown, for
    animations that store them (GIF, WebP, APNG) and whose frames do not all have 0; videos have a rate instead.
    """

    width: int
    height: int
    fps: Fraction | None
    frame_count: int | None
    animated: bool
    delays: tuple[Fraction, ...] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def duration(self) -> Fraction | None:
        """Seconds the frames last at ``fps``, or None for a still or an unknown length."""
        if self.fps is None or self.frame_count is None:
            return None
        return self.frame_count / self.fps


def resolve_slice(path: Path, frame_count: int, start: int | None, end: int | None) -> tuple[int, int]:
    """The inclusive, 0-based frame range to read; an end past the last frame is clamped to it."""
    first = 0 if start is None else start
    last = frame_count - 1 if end is None else min(end, frame_count - 1)
    if first < 0:
        raise UsageError(f"--frame-start {first} is negative; frames are numbered from 0")
    if end is not None and end < 0:
        raise UsageError(f"--frame-end {end} is negative; frames are numbered from 0")
    if end is not None and first > end:
        raise UsageError(f"--frame-start {first} is after --frame-end {end}; the range is inclusive, use start <= end")
    if first >= frame_count:
        raise UsageError(
            f"--frame-start {first} is past the end of '{path}', which has {frame_count} frames "
            f"(0 to {frame_count - 1}); use a value below {frame_count}"
        )
    return first, last


def sliced_info(width: int, height: int, fps: Fraction | None, first: int, last: int,
                delays: Sequence[Fraction] | None = None) -> MediaInfo:
    count = last - first + 1
    kept = tuple(delays[first:last + 1]) if delays and count > 1 and sum(delays) > 0 else None
    return MediaInfo(width, height, fps if count > 1 else None, count, animated=count > 1, delays=kept)
