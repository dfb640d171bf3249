"""`dgenerate --image-process FILE... --processors P...`: processors alone, to prepare guide images and masks.

A still is written as `<stem>_processed.png`; an animation or video frame by frame (one frame in memory at a time)
as `<stem>_processed.<--animation-format>`, at its own rate. Nothing existing is overwritten (`_2`, `_3`... as
generated images are), and a failure leaves no partial file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

from dgenerate.errors import UsageError
from dgenerate.processors import ProcessorSpec, apply_processors


def process_files(inputs: Sequence[str], processors: tuple[ProcessorSpec, ...], output: Path,
                  animation_format: str = "mp4") -> list[Path]:
    """Run the processors over each input; returns the files written, in order."""
    for text in inputs:
        if not Path(text).expanduser().is_file():
            raise UsageError(f"--image-process {text!r} is not a file; give images, animations or videos")
    return [_process(Path(text).expanduser(), processors, output, animation_format) for text in inputs]


def _process(path: Path, processors: tuple[ProcessorSpec, ...], output: Path, animation_format: str) -> Path:
    from dgenerate.media.sources import open_media
    from dgenerate.media.writers import encode_png
    from dgenerate.render.outputs import write_new

    stem = f"{path.stem}_processed"
    with open_media(path) as source:
        if not source.info.animated:
            return write_new(output, stem, {".png": encode_png(apply_processors(next(source), processors))})
        return _process_animation(source, processors, output / stem, animation_format)


def _process_animation(source: object, processors: tuple[ProcessorSpec, ...], stem: Path,
                       animation_format: str) -> Path:
    from fractions import Fraction

    from dgenerate.media.sources import FrameSource
    from dgenerate.media.writers import AnimationFormat, AnimationWriter
    from dgenerate.naming import numbered

    frames = cast(FrameSource, source)
    first = apply_processors(next(frames), processors)
    path = next(candidate for attempt in range(1, 10_000)
                if not (candidate := stem.with_name(f"{numbered(stem.name, attempt)}.{animation_format}")).exists())
    fps = frames.info.fps or Fraction(10)
    with AnimationWriter(path, cast(AnimationFormat, animation_format), fps, first.size,
                         delays=frames.info.delays) as writer:
        writer.write(first)
        for frame in frames:
            writer.write(apply_processors(frame, processors))
    return path
