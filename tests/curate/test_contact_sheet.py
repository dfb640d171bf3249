"""Contact sheets on pixels: every cell is its image scaled down, labels are drawn text, big grids page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.curate import contact_sheet
from dgenerate.curate.contact_sheet import LAYOUT_CHUNK, write_contact_sheets
from dgenerate.jobs import Job
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2")


def layout_of(sheet: Path) -> dict:
    with Image.open(sheet) as image:
        return dict(json.loads(image.text[LAYOUT_CHUNK]))


def assert_cells_are_their_images_scaled_down(sheet: Path, folder: Path) -> None:
    layout = layout_of(sheet)
    pixels = Image.open(sheet).convert("RGB")
    assert layout["cells"]
    for cell in layout["cells"]:
        left, top, right, bottom = cell["box"]
        with Image.open(folder / cell["file"]) as original:
            expected = original.convert("RGB")
        if expected.size != (right - left, bottom - top):
            expected = expected.resize((right - left, bottom - top), Image.Resampling.LANCZOS)
        assert np.array_equal(np.asarray(pixels.crop(cell["box"])), np.asarray(expected)), cell["file"]


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels of `box` are dark: text on the white paper."""
    return int((np.asarray(image.convert("L").crop(box)) < 128).sum())


def test_a_grid_becomes_a_labelled_sheet_of_its_images(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), *FAST, "--seeds", "1", "2", "3", "--guidance-scales", "2", "6",
                     "--contact-sheet", "-o", str(tmp_path))
    assert result.code == 0, result.err
    sheet = tmp_path / "contact-sheet.png"
    assert f"wrote {sheet}" in result.err
    layout = layout_of(sheet)
    assert layout["columns"] == ["seed: 1", "seed: 2", "seed: 3"]
    assert layout["rows"] == ["guidance: 2", "guidance: 6"]
    assert len(layout["cells"]) == 6 and {cell["file"] for cell in layout["cells"]} == {
        path.name for path in tmp_path.glob("s_*.png")}
    assert_cells_are_their_images_scaled_down(sheet, tmp_path)
    image = Image.open(sheet)
    by_place = {(cell["column"], cell["row"]): cell["box"] for cell in layout["cells"]}
    column_labels = [(box[0], box[1] - 20, box[2], box[1] - 2) for (_, row), box in by_place.items() if row == 0]
    row_labels = [(8, box[1], box[0] - 4, box[1] + 18) for (column, _), box in by_place.items() if column == 0]
    for box in column_labels + row_labels:
        assert ink(image, box) > 20, f"no text in the label strip {box}"
    crops = [np.asarray(image.crop(box)).tobytes() for box in column_labels]
    assert len(set(crops)) == 3, "each column is labelled with its own value"


def test_the_axes_can_be_chosen(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    result = run_cli(str(tiny_model), *FAST, "--seeds", "1", "2", "--guidance-scales", "2", "6",
                     "--contact-sheet", "--contact-sheet-axes", "guidance", "seed", "-o", str(tmp_path))
    assert result.code == 0, result.err
    layout = layout_of(tmp_path / "contact-sheet.png")
    assert layout["columns"] == ["guidance: 2", "guidance: 6"] and layout["rows"] == ["seed: 1", "seed: 2"]


@pytest.mark.parametrize(("argv", "message"), [
    (("--contact-sheet", "--contact-sheet-axes", "colour"), "--contact-sheet-axes 'colour' is not an axis"),
    (("--contact-sheet-axes", "seed"), "--contact-sheet-axes needs --contact-sheet"),
    (("--contact-sheet", "--contact-sheet-axes", "seed", "seed"), "names 'seed' twice"),
])
def test_bad_axes_are_argument_errors(run_cli: RunCli, tiny_model: Path, tmp_path: Path, argv: tuple[str, ...],
                                      message: str) -> None:
    result = run_cli(str(tiny_model), *FAST, *argv, "-o", str(tmp_path))
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def _jobs(model: Path, tmp_path: Path, *argv: str) -> list[Job]:
    request = parse_invocation([str(model), *FAST, *argv, "-o", str(tmp_path)])[0]
    return list(dgenerate.resolve(dgenerate.plan(request)))


def _pictures(jobs: list[Job], folder: Path) -> list[tuple[Job, list[Path]]]:
    """A distinct picture per job, standing for what a run wrote (the sheet only reads the files)."""
    written = []
    for number, job in enumerate(jobs):
        path = folder / f"picture_{number}.png"
        Image.new("RGB", (300, 200), (number * 7 % 256, number * 31 % 256, 255 - number * 11 % 256)).save(path)
        written.append((job, [path]))
    return written


def test_large_grids_page_into_sheets_no_larger_than_the_limit(tiny_model: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_sheet, "MAX_SIDE", 1200)
    jobs = _jobs(tiny_model, tmp_path, "--seeds", *map(str, range(9)), "--guidance-scales",
                 *map(str, range(1, 9)))
    written = _pictures(jobs, tmp_path)
    sheets = write_contact_sheets(written)
    assert [sheet.name for sheet in sheets] == [f"contact-sheet-{n}.png" for n in range(1, len(sheets) + 1)]
    assert len(sheets) == 6  # 256 x 171 cells: 9 seeds at 4 a row make 3 pages across, 8 guidance scales at 5 2 down
    files = []
    for sheet in sheets:
        assert max(Image.open(sheet).size) <= 1200
        assert_cells_are_their_images_scaled_down(sheet, tmp_path)
        files += [cell["file"] for cell in layout_of(sheet)["cells"]]
    assert sorted(files) == sorted(path.name for _, (path,) in written), "every image once"


def test_further_axes_give_titled_sheets_and_animations_show_their_first_frame(tiny_model: Path,
                                                                               tmp_path: Path) -> None:
    jobs = _jobs(tiny_model, tmp_path, "--seeds", "1", "2", "--guidance-scales", "2", "3", "--inference-steps",
                 "2", "4")
    written = _pictures(jobs, tmp_path)
    animated = [(job, [tmp_path / "clip.mp4", paths[0], tmp_path / "later-frame.png"]) for job, paths in written]
    sheets = write_contact_sheets(animated, ["seed", "guidance"])
    assert len(sheets) == 2
    titles = [layout_of(sheet)["title"] for sheet in sheets]
    assert [title[-1] for title in titles] == ["steps: 2", "steps: 4"]
    for sheet in sheets:
        assert {cell["file"] for cell in layout_of(sheet)["cells"]} <= {path.name for _, (path,) in written}
        assert_cells_are_their_images_scaled_down(sheet, tmp_path)


def test_a_batch_gets_a_sheet_per_line_and_none_is_overwritten(run_cli: RunCli, tiny_model: Path,
                                                              tmp_path: Path) -> None:
    line = f"{tiny_model} --device cpu --cpu-threads 1 --inference-steps 2 --contact-sheet -o {tmp_path}"
    result = run_cli(stdin=f"{line} --seeds 1 2\n{line} --seeds 3 4 5\n")
    assert result.code == 0, result.err
    first, second = tmp_path / "contact-sheet.png", tmp_path / "contact-sheet_2.png"
    assert len(layout_of(first)["cells"]) == 2 and len(layout_of(second)["cells"]) == 3
