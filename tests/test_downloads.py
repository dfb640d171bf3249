"""A config, batch or replayed image from someone else downloads nothing unless the user allows it for that run;
a command line typed by hand downloads as it always did. Checked against a real HTTP server on the loopback."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 serving a seed image; the list records every path asked for."""
    folder = tmp_path / "served"
    folder.mkdir()
    seed = Image.new("RGB", (64, 48), "blue")
    ImageDraw.Draw(seed).ellipse((16, 8, 48, 40), fill="red")
    seed.save(folder / "seed.png")
    asked: list[str] = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            super().do_GET()

        def log_message(self, *_: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", asked
    finally:
        httpd.shutdown()


def test_a_batch_downloads_only_when_the_command_line_allows_it(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                               server: tuple[str, list[str]]) -> None:
    base, asked = server
    line = f"{tiny_model} --image-seeds {base}/seed.png {' '.join(FAST)} -o {tmp_path / 'out'}\n"
    refused = run_cli(stdin=line)
    assert refused.code == 2 and asked == []
    assert "line 1:" in refused.err and "download nothing unless allowed: add --allow-downloads" in refused.err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    allowed = run_cli("--allow-downloads", stdin=line)
    assert allowed.code == 0, allowed.err
    assert asked == ["/seed.png"] and len(list((tmp_path / "out").glob("*.png"))) == 1


def test_a_batch_line_cannot_allow_itself(run_cli: RunCli, tiny_model: Path, server: tuple[str, list[str]]) -> None:
    base, asked = server
    result = run_cli(stdin=f"{tiny_model} --image-seeds {base}/seed.png --allow-downloads {' '.join(FAST)}\n")
    assert result.code == 2 and "--allow-downloads is the user's to give, on the command line" in result.err
    assert asked == []


def test_a_command_line_downloads_as_typed(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                           server: tuple[str, list[str]]) -> None:
    base, asked = server
    result = run_cli(str(tiny_model), "--image-seeds", f"{base}/seed.png", *FAST, "-o", str(tmp_path))
    assert result.code == 0, result.err
    assert asked == ["/seed.png"], "the seed is downloaded once, as typed"
    (made,) = tmp_path.glob("*.png")
    assert Image.open(made).size == (64, 48), "made from the downloaded seed"


def test_a_replayed_image_downloads_only_when_allowed(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                     server: tuple[str, list[str]]) -> None:
    base, asked = server
    config = f"{tiny_model} --image-seeds {base}/seed.png --device cpu --seeds 3 --prompts x --inference-steps 2\n"
    info = PngInfo()
    info.add_text("DgenerateConfig", config)
    png = tmp_path / "shared.png"
    Image.new("RGB", (8, 8)).save(png, pnginfo=info)
    refused = run_cli("--from-image", str(png), "-o", str(tmp_path / "out"))
    assert refused.code == 2 and "add --allow-downloads" in refused.err and asked == []
    allowed = run_cli("--from-image", str(png), "--allow-downloads", "-o", str(tmp_path / "out"))
    assert allowed.code == 0, allowed.err
    assert asked == ["/seed.png"]


def test_a_hub_model_named_by_a_config_is_not_fetched(run_cli: RunCli, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the hub would be tried, were downloads allowed
    result = run_cli(stdin=f"someone/some-model --device cpu --seeds 1 -o {tmp_path}\n")
    assert result.code == 1
    assert "model 'someone/some-model' is not on disk" in result.err and "add --allow-downloads" in result.err
