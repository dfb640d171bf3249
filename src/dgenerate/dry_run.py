"""--dry-run: the resolved jobs of a request, as the files a real run would write, their sizes, ids and settings.

Resolution reads model configurations and image headers and loads no weights; the device is resolved as a real run
would resolve it (cuda when available, else cpu), so what is printed is what a run on this machine writes.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dgenerate.errors import printable
from dgenerate.families import AUDIO, family, picture_size
from dgenerate.jobs import Job
from dgenerate.media.info import MediaInfo
from dgenerate.naming import format_number, frame_stem, image_stem, numbered
from dgenerate.plan import RenderRequest, describe_grid, plan
from dgenerate.processors import processed_size
from dgenerate.reproduce import job_words
from dgenerate.resolve import Resolver, hires_size


class _Names:
    """The never-overwrite naming rule of render/outputs.py, applied without writing: existing files and the names
    taken earlier in this dry run are skipped."""

    def __init__(self) -> None:
        self.taken: set[Path] = set()

    def claim(self, folder: Path, stem: str, suffixes: tuple[str, ...]) -> str:
        attempt = 1
        while any(self._used(folder / (numbered(stem, attempt) + suffix)) for suffix in suffixes):
            attempt += 1
        name = numbered(stem, attempt)
        self.taken.update(folder / (name + suffix) for suffix in suffixes)
        return name

    def _used(self, path: Path) -> bool:
        return path in self.taken or path.exists()


def dry_run_lines(request: RenderRequest) -> Iterator[str]:
    """A line for every image or animation a run of `request` would write (with its config when --output-configs
    asks for one), each followed by the command that makes it alone."""
    names = _Names()
    yield describe_grid(request)
    with tempfile.TemporaryDirectory(prefix="dgenerate-downloads-") as downloads:
        resolver = Resolver(Path(downloads))
        for job in resolver.resolve(plan(request)):
            head = f"{_size(job, resolver.facts(job.model).size_multiple)} job {job.job_id}"
            if job.image_seed is not None and resolver.media_info(job).animated:
                yield _animation_line(job, resolver.media_info(job), names, head)
            elif job.frames is not None:  # a video model's clip
                yield _clip_line(job, names, head)
            else:
                folder = Path(job.output.path)
                stem = names.claim(folder, image_stem(job), _suffixes(job, ".png"))
                yield _files(folder / stem, job, ".png", head)
            yield "    " + _command(job)


def _suffixes(job: Job, main: str) -> tuple[str, ...]:
    return (main, ".dgen") if job.output.configs else (main,)


def _files(stem: Path, job: Job, main: str, head: str) -> str:
    return f"{stem}{main} {head}" + (f", config {stem}.dgen" if job.output.configs else "")


def _animation_line(job: Job, info: MediaInfo, names: _Names, head: str) -> str:
    """The animation, and the range of frame images written with it (each with its config when asked)."""
    folder, fmt = Path(job.output.path), job.output.animation_format
    stem = names.claim(folder, image_stem(job), (f".{fmt}", ".dgen"))
    first = job.frame_start or 0
    frames = range(first, first + (info.frame_count or 1))
    for frame in frames:
        names.claim(folder, frame_stem(stem, frame), _suffixes(job, ".png"))
    if info.frame_count is None:  # an input that does not say its length
        count, last = "all", f"{folder / frame_stem(stem, first)}.png and on to the last frame"
    else:
        count, last = str(info.frame_count), f"{folder / frame_stem(stem, frames[-1])}.png"
    return (f"{_files(folder / stem, job, '.' + fmt, head)}, animation of {count} frames, written also as "
            f"{folder / frame_stem(stem, first)}.png ... {last}")


def _clip_line(job: Job, names: _Names, head: str) -> str:
    """A video model's clip, and its frames' PNGs."""
    assert job.frames is not None and job.frame_rate is not None, "resolved clips record their frames"
    folder, suffix = Path(job.output.path), f".{job.output.animation_format}"
    sound = AUDIO in family(job.model.model_type).supports
    stem = names.claim(folder, image_stem(job), (*_suffixes(job, suffix), *((".wav",) if sound else ())))
    for frame in range(job.frames):
        names.claim(folder, frame_stem(stem, frame), (".png",))
    return (f"{_files(folder / stem, job, suffix, head)}, clip of {job.frames} frames at "
            f"{format_number(job.frame_rate)} a second, written also as {folder / frame_stem(stem, 0)}.png ... "
            f"{folder / frame_stem(stem, job.frames - 1)}.png" + (f", its sound {folder / stem}.wav" if sound else ""))


def _command(job: Job) -> str:
    words = ["dgenerate", *job_words(job), "--output-path", job.output.path]
    words += ["--output-prefix", job.output.prefix] if job.output.prefix else []
    return shlex.join(words)


def print_dry_run(request: RenderRequest) -> None:
    for line in dry_run_lines(request):
        print(printable(line), file=sys.stdout)


def _size(job: Job, multiple: int) -> str:
    """The size of the picture written: the generated one's (after the hi-res pass, whose size is rounded to the
    model's `multiple`), after the post-processors."""
    made = picture_size(job) if job.hires_scale is None else hires_size(job, multiple)
    size = processed_size(made, job.post_processors)
    return "{}x{}".format(*size) if size else "{}x{} before upscaling".format(*made)
