"""Contact sheets: a run's images laid out as an X/Y plot, labelled with the values of the axes that vary.

One axis goes across and one down; every further varying axis gives a sheet per value combination, titled with those
values, and a sheet that would pass MAX_SIDE pixels is paged. Each image is scaled down (never up) to fit a cell of
at most CELL pixels a side; an animation shows its first frame. Every sheet carries its own layout as JSON in the
PNG text chunk `DgenerateContactSheet`: each cell's box, axis values and file, so tools (and tests) can find them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dgenerate.curate.axes import value, values, varying
from dgenerate.errors import MediaError
from dgenerate.families import picture_size
from dgenerate.jobs import Job

if TYPE_CHECKING:
    from PIL import Image, ImageFont

CELL = 256
MAX_SIDE = 4096
GAP = 4
PAD = 8
FONT_SIZE = 14
LABEL_WIDTH = (96, 288)  # the row label column: at least, at most
LAYOUT_CHUNK = "DgenerateContactSheet"
_INK, _PAPER, _FRAME = (20, 20, 20), (255, 255, 255), (225, 225, 225)


@dataclass(frozen=True)
class Shot:
    """One grid cell of the run: its job and the picture that stands for it (a still, or an animation's frame 0), or
    for a video model's clip the frames of its strip."""

    job: Job
    picture: Path
    strip: tuple[Path, ...] = ()


STRIP_FRAMES = 4  # a clip's cell: its first and last frames and two between, side by side


@dataclass(frozen=True)
class Page:
    """One sheet: its title lines, and the shots by (column, row) with the labels of its columns and rows."""

    title: list[str]
    columns: list[str]
    rows: list[str]
    shots: dict[tuple[int, int], Shot]


def shots_of(written: Sequence[tuple[Job, list[Path]]]) -> list[Shot]:
    """The picture of each job: its PNG, or for an animation the first frame's PNG; a clip's strip of frames."""
    return [Shot(job, paths[1] if len(paths) > 1 else paths[0],
                 _strip([path for path in paths[1:] if path.suffix == ".png"]) if job.frames is not None else ())
            for job, paths in written if paths]  # a clip's paths may end with its sound


def _strip(frames: Sequence[Path]) -> tuple[Path, ...]:
    """STRIP_FRAMES of a clip's frames, evenly spaced from the first to the last."""
    count = min(STRIP_FRAMES, len(frames))
    return tuple(frames[round(index * (len(frames) - 1) / max(1, count - 1))] for index in range(count))


def _opened(shot: Shot) -> Image.Image:
    """The shot's picture, or its strip of frames side by side, in RGB."""
    from PIL import Image

    pictures = []
    for path in shot.strip or (shot.picture,):
        with Image.open(path) as image:
            pictures.append(image.convert("RGB"))
    if len(pictures) == 1:
        return pictures[0]
    strip = Image.new("RGB", (sum(each.width for each in pictures), max(each.height for each in pictures)))
    left = 0
    for each in pictures:
        strip.paste(each, (left, 0))
        left += each.width
    return strip


def choose_axes(jobs: Sequence[Job], asked: Sequence[str] = ()) -> tuple[str | None, str | None, list[str]]:
    """(across, down, the rest) among the varying axes: those asked for first, then the fastest varying ones."""
    moving = varying(jobs)
    chosen = [axis for axis in asked if axis in moving]
    chosen += [axis for axis in reversed(moving) if axis not in chosen]
    across = chosen[0] if chosen else None
    down = chosen[1] if len(chosen) > 1 else None
    return across, down, [axis for axis in moving if axis not in (across, down)]


def plan_pages(shots: Sequence[Shot], asked: Sequence[str], cell: tuple[int, int], label_width: int) -> list[Page]:
    jobs = [shot.job for shot in shots]
    across, down, rest = choose_axes(jobs, asked)
    columns = values(jobs, across) if across else [""]
    rows = values(jobs, down) if down else [""]
    per_row = max(1, (MAX_SIDE - 2 * PAD - label_width) // (cell[0] + GAP))
    per_column = max(1, (MAX_SIDE - 2 * PAD - 160) // (cell[1] + GAP))
    pages = []
    for block in itertools.product(*(values(jobs, axis) for axis in rest)):
        title = [f"{axis}: {text}" for axis, text in zip(rest, block, strict=True)]
        in_block = [shot for shot in shots if all(value(shot.job, axis) == text
                                                  for axis, text in zip(rest, block, strict=True))]
        if not in_block:
            continue
        for first_column, first_row in itertools.product(range(0, len(columns), per_row),
                                                         range(0, len(rows), per_column)):
            page_columns = columns[first_column:first_column + per_row]
            page_rows = rows[first_row:first_row + per_column]
            placed = {(page_columns.index(value(shot.job, across)) if across else 0,
                       page_rows.index(value(shot.job, down)) if down else 0): shot
                      for shot in in_block
                      if (not across or value(shot.job, across) in page_columns)
                      and (not down or value(shot.job, down) in page_rows)}
            if placed:
                pages.append(Page(title, [_label(across, text) for text in page_columns],
                                  [_label(down, text) for text in page_rows], placed))
    return pages


def _label(axis: str | None, text: str) -> str:
    return "" if axis is None else f"{axis}: {text}"


def _font() -> ImageFont.FreeTypeFont:
    """A real TrueType font from Pillow itself (Aileron, shipped inside Pillow since 10.1), so labels need nothing
    installed on the machine."""
    from PIL import ImageFont

    font = ImageFont.load_default(size=FONT_SIZE)
    if not isinstance(font, ImageFont.FreeTypeFont):
        raise MediaError("this Pillow was built without FreeType, so contact sheet labels cannot be drawn; "
                         "install Pillow from PyPI (pip install --force-reinstall pillow)")
    return font


def wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    """`text` broken into lines no wider than `width` pixels, at spaces where it can, anywhere where it must."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while font.getlength(line) > width and len(line) > 1:
                cut = max(1, next(i for i in range(len(line), 0, -1) if font.getlength(line[:i]) <= width))
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def cell_size(shots: Sequence[Shot]) -> tuple[int, int]:
    from PIL import Image

    width = height = 1
    for shot in shots:
        sizes = []
        for path in shot.strip or (shot.picture,):
            with Image.open(path) as image:  # the header alone
                sizes.append(image.size)
        fitted = thumbnail_size((sum(each[0] for each in sizes), max(each[1] for each in sizes)))  # side by side
        width, height = max(width, fitted[0]), max(height, fitted[1])
    return width, height


def thumbnail_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size of a picture scaled down, never up, to fit CELL x CELL, keeping its aspect ratio."""
    scale = min(1.0, CELL / size[0], CELL / size[1])
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def scaled(shot: Shot) -> Image.Image:
    from PIL import Image

    rgb = _opened(shot)
    size = thumbnail_size(rgb.size)
    return rgb if size == rgb.size else rgb.resize(size, Image.Resampling.LANCZOS)


def draw_page(page: Page, heading: list[str], cell: tuple[int, int], label_width: int) -> tuple[Image.Image, dict]:
    """The sheet's picture and its layout (what LAYOUT_CHUNK holds)."""
    from PIL import Image, ImageDraw

    font = _font()
    line_height = sum(font.getmetrics()) + 2
    has_rows = any(page.rows)
    left = PAD + (label_width + GAP if has_rows else 0)
    grid_width = len(page.columns) * (cell[0] + GAP) - GAP
    width = left + grid_width + PAD
    title = [line for text in [*heading, *page.title] for line in wrap(text, font, width - 2 * PAD)]
    column_lines = [wrap(text, font, cell[0]) for text in page.columns]
    row_lines = [wrap(text, font, label_width) for text in page.rows]
    header = max((len(lines) for lines in column_lines if lines != [""]), default=0) * line_height
    top = PAD + len(title) * line_height + (GAP + header if header else 0)
    row_heights = [max(cell[1], len(lines) * line_height) for lines in row_lines]
    height = top + sum(row_heights) + GAP * (len(row_heights) - 1) + PAD
    sheet = Image.new("RGB", (width, height), _PAPER)
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(title):
        draw.text((PAD, PAD + number * line_height), line, font=font, fill=_INK)
    for column, lines in enumerate(column_lines):
        x = left + column * (cell[0] + GAP)
        for number, line in enumerate(lines):
            draw.text((x, top - header + number * line_height), line, font=font, fill=_INK)
    layout: dict = {"columns": page.columns, "rows": page.rows, "title": title, "cells": []}
    y = top
    for row, (lines, row_height) in enumerate(zip(row_lines, row_heights, strict=True)):
        for number, line in enumerate(lines):
            draw.text((PAD, y + number * line_height), line, font=font, fill=_INK)
        for column in range(len(page.columns)):
            box = (left + column * (cell[0] + GAP), y, left + column * (cell[0] + GAP) + cell[0], y + cell[1])
            shot = page.shots.get((column, row))
            if shot is None:
                draw.rectangle(box, outline=_FRAME)
                continue
            picture = scaled(shot)
            sheet.paste(picture, box[:2])
            layout["cells"].append({"box": [box[0], box[1], box[0] + picture.width, box[1] + picture.height],
                                    "file": shot.picture.name, "job_id": shot.job.job_id,
                                    "column": column, "row": row})
        y += row_height + GAP
    return sheet, layout


def write_contact_sheets(written: Sequence[tuple[Job, list[Path]]], asked: Sequence[str] = ()) -> list[Path]:
    """Draw the sheets of one run into its output folder; returns their paths (none when nothing was written)."""
    from dgenerate.media.writers import encode_png
    from dgenerate.render.outputs import write_new

    shots = shots_of(written)
    if not shots:
        return []
    first = shots[0].job
    cell = cell_size(shots)
    font = _font()
    _, down, _ = choose_axes([shot.job for shot in shots], asked)
    labels = values([shot.job for shot in shots], down) if down else []
    longest = max((font.getlength(_label(down, text)) for text in labels), default=0)
    label_width = max(LABEL_WIDTH[0], min(LABEL_WIDTH[1], math.ceil(longest)))
    pages = plan_pages(shots, asked, cell, label_width)
    heading = [_heading(first, len(shots))]
    stem = "_".join(part for part in (first.output.prefix, "contact-sheet") if part)
    paths = []
    for number, page in enumerate(pages, start=1):
        sheet, layout = draw_page(page, heading, cell, label_width)
        name = stem if len(pages) == 1 else f"{stem}-{number}"
        data = encode_png(sheet, {LAYOUT_CHUNK: json.dumps(layout, sort_keys=True)})
        paths.append(write_new(Path(first.output.path), name, {".png": data}))
    return paths


def _heading(job: Job, count: int) -> str:
    model = Path(job.model.path.removeprefix("builtin:")).name or job.model.path
    width, height = picture_size(job)
    return f"{model} - {count} images - {width}x{height} - {job.scheduler}"
