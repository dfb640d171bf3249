"""Rating, filtering, comparing and exporting in the gallery, in a real headless Chromium (Debian's, driven by
Playwright) talking to `dgenerate --serve-gallery`'s server: ratings land in ratings.json beside the images, survive
a later run's gallery, and the exported batch makes the chosen images again byte for byte."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from dgenerate.curate.ratings import RATINGS, rate, read_ratings
from dgenerate.curate.serve import gallery_server
from dgenerate.errors import UsageError
from tests.conftest import RunCli
from tests.curate.test_gallery import needs_browser, opened_page, pixels

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--output-metadata")


@pytest.fixture
def folder(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    made = run_cli(str(tiny_model), *FAST, "--seeds", "5", "6", "--guidance-scales", "3", "7", "--prompts",
                   "a $cost circle", "--gallery", "-o", str(out))
    assert made.code == 0, made.err
    return out


@pytest.fixture
def server(folder: Path) -> Iterator[str]:
    served = gallery_server(folder, 0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_address[1]}/"
    served.shutdown()
    served.server_close()


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    with opened_page(server, server) as opened:
        yield opened


def _stars(page: Any) -> dict[str, int]:
    return {figure.get_attribute("data-file"): figure.locator(".stars button.on").count()
            for figure in page.locator("main figure").all()}


def _rate(page: Any, file: str, count: int) -> None:
    with page.expect_response(lambda response: response.url.endswith("/ratings")):
        page.locator(f'main figure[data-file="{file}"] .stars button[data-stars="{count}"]').click()


@needs_browser
def test_rate_reload_filter_compare_and_export(page: Any, folder: Path, run_cli: RunCli, tiny_model: Path,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(path.name for path in folder.glob("*.png"))
    for file, count in zip(files[:3], (3, 5, 1), strict=True):
        _rate(page, file, count)
    page.reload()
    page.wait_for_function("document.querySelectorAll('.stars button.on').length === 9")
    assert _stars(page) == {files[0]: 3, files[1]: 5, files[2]: 1, files[3]: 0}
    ids = json.loads((folder / RATINGS).read_text())["ratings"]
    assert sorted(ids.values()) == [1, 3, 5]

    later = run_cli(str(tiny_model), *FAST, "--seeds", "4", "--gallery", "-o", str(folder))
    assert later.code == 0, later.err
    page.reload()
    page.wait_for_function("document.querySelectorAll('main figure').length === 5")
    assert sorted(_stars(page).values()) == [0, 0, 1, 3, 5], "a later run's gallery keeps the ratings"

    page.select_option("#rating-filter", "3")
    assert sorted(_stars(page)) == sorted(files[:2])
    page.select_option("#sort", "rating")
    assert list(_stars(page)) == [files[1], files[0]]

    for file in files[:2]:
        page.locator(f'main figure[data-file="{file}"] input.pick').check()
    assert page.locator("#selection").text_content() == "2 chosen"
    page.click("#compare")
    assert sorted(page.locator("#sides figcaption").all_text_contents()) == sorted(files[:2])
    assert page.locator("#overlay img").count() == 2 and page.locator("#overlay-box").is_visible()
    page.locator("#slider").fill("20")
    assert "20%" in page.locator("#overlay img.top").get_attribute("style")
    page.click("#compare-close")

    page.click("#export-open")
    text = page.locator("#export-text").input_value()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == 2 and all(line.endswith("--output-path exported") for line in lines)
    page.fill("#export-steps", "3")
    page.fill("#export-hires", "1.5")
    changed = [line for line in page.locator("#export-text").input_value().splitlines()[1:] if line]
    assert len(changed) == 2
    assert all(line.endswith("--inference-steps 3 --hires-scales 1.5 --output-path exported") for line in changed)

    monkeypatch.chdir(tmp_path)
    remade = run_cli(stdin=text)
    assert remade.code == 0, remade.err
    assert sorted(pixels(path) for path in (tmp_path / "exported").glob("*.png")) == sorted(
        pixels(folder / file) for file in files[:2])
    page.fill("#export-output", "hires")
    hires = run_cli(stdin=page.locator("#export-text").input_value())
    assert hires.code == 0, hires.err
    assert [Image.open(path).size for path in (tmp_path / "hires").glob("*.png")] == [(96, 96)] * 2


def test_ratings_are_checked_and_merged(tmp_path: Path) -> None:
    assert read_ratings(tmp_path) == {}
    assert rate(tmp_path, {"0123456789abcdef": 4}) == {"0123456789abcdef": 4}
    assert rate(tmp_path, {"fedcba9876543210": 2, "0123456789abcdef": 0}) == {"fedcba9876543210": 2}
    for bad in ({"../x": 3}, {"0123456789abcdef": 6}, {"0123456789abcdef": "5"}, {"0123456789abcdef": True}):
        with pytest.raises(UsageError):
            rate(tmp_path, bad)
    (tmp_path / RATINGS).write_text('{"ratings": {"0123456789abcdef": 9, "zz": 1, "fedcba9876543210": 2}}')
    assert read_ratings(tmp_path) == {"fedcba9876543210": 2}, "a ratings file is data: what is not a rating is left"


def _post(url: str, body: bytes, origin: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_server_serves_the_folder_only_and_rates_for_its_own_page(server: str, folder: Path) -> None:
    with urllib.request.urlopen(server) as response:
        assert b"dgenerate gallery" in response.read()
    for path in ("..%2F..%2Fetc%2Fpasswd", "sub/x.png", ".hidden"):
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(server + path)
        assert missing.value.code == 404
    job_id = "0123456789abcdef"
    assert _post(server + "ratings", json.dumps({job_id: 2}).encode(), "http://evil.example")[0] == 403
    assert _post(server + "ratings", b"[1]")[0] == 400
    status, body = _post(server + "ratings", json.dumps({job_id: 2}).encode(), server.rstrip("/"))
    assert status == 200 and body["ratings"] == {job_id: 2} and read_ratings(folder) == {job_id: 2}


def test_serving_a_folder_without_a_gallery_is_one_line(run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli("--serve-gallery", str(tmp_path))
    assert result.code == 2 and "has no index.html; make one with --gallery first" in result.err
