"""The gallery: one static `index.html` in the output folder, opened from disk, that later runs add to.

Its images and settings travel inside the page as JSON (a page opened from disk may not read other files), so the
page is the gallery's only state: each run reads the entries already there, drops those whose files are gone, adds
its own and rewrites the page atomically. Nothing comes from the network; the page's text is data, shown with
`textContent`, never parsed as HTML.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from dgenerate.curate.axes import AXES
from dgenerate.curate.ratings import read_ratings
from dgenerate.errors import DgenerateError, OutputError
from dgenerate.families import picture_size
from dgenerate.jobs import Job
from dgenerate.media._atomic import replace_text

PAGE = "index.html"
_DATA = re.compile(r'<script type="application/json" id="gallery-data">(.*?)</script>', re.DOTALL)
_MARK = '<meta name="generator" content="dgenerate gallery">'


def command(job: Job, output_path: str = "regenerated") -> str:
    """The shell command that makes `job`'s image alone, byte-identical (into `output_path`)."""
    from dgenerate.reproduce import job_words

    return shlex.join(["dgenerate", *job_words(job), "--output-path", output_path])


def entry(job: Job, paths: Sequence[Path]) -> dict:
    from dgenerate.reproduce import batch_line, config_text

    picture = paths[1] if len(paths) > 1 else paths[0]
    settings = {axis: read(job) for axis, read in AXES.items()}
    settings.update(model=job.model.path, size="{}x{}".format(*picture_size(job)), scheduler=job.scheduler or "")
    config = picture.with_suffix(".dgen")
    return {
        "file": picture.name,
        "animation": paths[0].name if len(paths) > 1 else None,
        "job_id": job.job_id,
        "settings": settings,
        "command": command(job),
        "line": batch_line(job),
        "config": config.read_text() if config.is_file() else config_text(job, "settings of this image"),
    }


def read_entries(page: Path) -> list[dict]:
    """The entries of an existing gallery page; a page that is not a dgenerate gallery is refused, not replaced."""
    try:
        text = page.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise OutputError(f"--gallery: cannot read '{page}' ({error}); move it away or use another --output-path"
                          ) from error
    found = _DATA.search(text)
    if _MARK not in text or found is None:
        raise OutputError(f"--gallery: '{page}' is not a dgenerate gallery; move it away or use another --output-path")
    try:
        entries = json.loads(found.group(1)).get("entries", [])
    except (json.JSONDecodeError, AttributeError) as error:
        raise OutputError(f"--gallery: the data in '{page}' is damaged ({error}); move the page away to start a "
                          "new gallery") from error
    return [_read_back(item) for item in entries if isinstance(item, dict) and isinstance(item.get("file"), str)]


def _read_back(item: dict) -> dict:
    """An entry of an existing page, which is data like any page: its files are names in this folder and nothing
    else, and the command the page offers to copy is made again from its config (never taken from the page)."""
    animation = item.get("animation")
    from dgenerate.reproduce import batch_line

    job_or_why = _job_of(item.get("config"))
    made = {"command": command(job_or_why), "line": batch_line(job_or_why)} if isinstance(job_or_why, Job) else \
        {"command": f"# no command: {job_or_why}", "line": ""}
    return {**item, "file": Path(item["file"]).name,
            "animation": Path(animation).name if isinstance(animation, str) else None, **made}


def _job_of(config: object) -> Job | str:
    """The one job an entry's config describes, or why there is none."""
    from dgenerate.reproduce import read_config

    try:
        jobs = read_config(config) if isinstance(config, str) else []
    except DgenerateError as error:
        return f"its config cannot be read ({error})"
    return jobs[0] if len(jobs) == 1 else "its config does not describe one image"


def check_gallery(folder: Path) -> None:
    """Refuse, before a run, a folder whose index.html is not a gallery this run can add to."""
    page = folder / PAGE
    if page.exists():
        read_entries(page)


def update_gallery(folder: Path, written: Sequence[tuple[Job, list[Path]]]) -> Path:
    """Add the images of one run to the gallery of `folder`; returns the page."""
    page = folder / PAGE
    old = read_entries(page) if page.exists() else []
    new = [entry(job, paths) for job, paths in written if paths]
    added = {item["file"] for item in new}
    kept = [item for item in old if item["file"] not in added and (folder / item["file"]).is_file()]
    order = [*AXES, "model", "size", "scheduler"]
    # "<" escaped: no "</script>" or "<!--" can end or bend the script element the data sits in
    data = json.dumps({"axes": order, "entries": kept + new, "ratings": read_ratings(folder)},
                      sort_keys=True).replace("<", "\\u003c")
    html = resources.files("dgenerate.curate").joinpath("gallery.html").read_text(encoding="utf-8")
    try:
        replace_text(page, html.replace("/*GALLERY-DATA*/", data))
    except OSError as error:
        raise OutputError(f"--gallery: cannot write '{page}': {error.strerror or error}") from error
    return page
