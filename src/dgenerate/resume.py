"""--resume: which jobs of a request an earlier run already finished, recognised by the job id their configs record.

A finished image is a PNG whose config (its `.dgen` beside it, or its `DgenerateConfig` metadata) records the job's
id; a finished animation (or a video model's clip) is one whose `.dgen` was written, which happens only once it is
complete; its frames' PNGs do not count, as they are written before it is complete. Nothing else
counts: a file of the right name made with other settings is not skipped, and a run without --output-configs or
--output-metadata records nothing to resume from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from dgenerate.jobs import Job
from dgenerate.media.writers import ANIMATION_FORMATS
from dgenerate.reproduce import CONFIG_CHUNK, recorded_job_id

_FRAME = re.compile(r"_frame_\d+$")  # dgenerate.naming.frame_stem's names


def finished_ids(folder: Path) -> set[str]:
    """The job ids of the finished images and animations in `folder`."""
    if not folder.is_dir():
        return set()
    found = set()
    for path in folder.iterdir():
        job_id = _recorded(path)
        if job_id is not None:
            found.add(job_id)
    return found


def _recorded(path: Path) -> str | None:
    if path.suffix == ".dgen":
        made = [path.with_suffix(suffix) for suffix in (".png", *(f".{fmt}" for fmt in ANIMATION_FORMATS))]
        if not any(file.is_file() for file in made):
            return None
        try:
            return recorded_job_id(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
    if path.suffix == ".png" and not path.with_suffix(".dgen").exists() and not _FRAME.search(path.stem):
        from dgenerate.errors import MediaError
        from dgenerate.media.png_text import png_text

        try:
            text = png_text(path, whole=False).get(CONFIG_CHUNK)  # our chunks precede the pixels: no decoding
        except MediaError:
            return None
        return recorded_job_id(text) if text is not None else None
    return None


def unfinished(jobs: Sequence[Job]) -> list[Job]:
    """The jobs whose images are not yet in their output folders; they keep their grid names and batch slots."""
    done: dict[str, set[str]] = {}
    for job in jobs:
        if job.output.path not in done:
            done[job.output.path] = finished_ids(Path(job.output.path))
    return [job for job in jobs if job.job_id not in done[job.output.path]]
