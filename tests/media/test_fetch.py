from __future__ import annotations

import functools
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from dgenerate.errors import MediaError
from dgenerate.media import fetch, is_url


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        CountingHandler.requests.append(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "seed.png").write_bytes(b"\x89PNG pretend")
    handler = functools.partial(CountingHandler, directory=str(tmp_path / "served"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    CountingHandler.requests = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_downloads_once_and_caches(server: str, tmp_path: Path) -> None:
    url = f"{server}/seed.png?x=1"
    first = fetch(url, tmp_path / "cache")
    second = fetch(url, tmp_path / "cache")
    assert first == second and first.read_bytes() == b"\x89PNG pretend" and first.suffix == ".png"
    assert CountingHandler.requests == ["/seed.png?x=1"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.name]


def test_missing_page_names_the_url(server: str, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match=r"cannot download http://127\.0\.0\.1:\d+/gone\.png: HTTP 404"):
        fetch(f"{server}/gone.png", tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_host_names_the_url(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/seed.png"
    with pytest.raises(MediaError, match=f"cannot download {url}.*connection") as caught:
        fetch(url, tmp_path / "cache", timeout=5)
    assert "\n" not in str(caught.value)


def test_only_http_urls() -> None:
    assert is_url("https://example.com/a.png") and not is_url("C:/images/a.png") and not is_url("a.png")
    with pytest.raises(MediaError, match="not an http"):
        fetch("ftp://example.com/a.png", Path("unused"))
