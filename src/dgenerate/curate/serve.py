"""`dgenerate --serve-gallery DIR`: the gallery of a folder over HTTP on this machine only, so that its page can
save star ratings into the folder (a page opened from disk can write no file).

It serves the plain files directly in the folder (the page, images, animations, configs) and takes one kind of
request that changes anything: POST /ratings with {job id: stars}, merged into ratings.json. It listens on
127.0.0.1 only, and refuses a request whose Origin is another site's, so no web page elsewhere can rate for you.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dgenerate.curate.ratings import RATINGS, rate, read_ratings
from dgenerate.errors import DgenerateError, UsageError

MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server_version = "dgenerate-gallery"

    def __init__(self, *args: object, folder: Path, **kwargs: object) -> None:
        self.folder = folder
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        name = unquote(urlsplit(self.path).path).lstrip("/") or "index.html"
        if name == RATINGS:
            self._json(HTTPStatus.OK, {"ratings": self._ratings()})
            return
        path = self.folder / name
        if Path(name).name != name or name.startswith(".") or not path.is_file():
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no file {name!r} in the gallery's folder"})
            return
        body = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        origin = self.headers.get("Origin")
        port = self.server.server_address[1]  # type: ignore[index]  # an (address, port) pair for AF_INET
        own = {f"http://{host}:{port}" for host in ("127.0.0.1", "localhost")}
        if urlsplit(self.path).path != "/ratings" or (origin is not None and origin not in own):
            self._json(HTTPStatus.FORBIDDEN, {"error": "only this gallery's page may rate its images"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"a rating request holds 1 to {MAX_BODY} bytes"})
            return
        try:
            changes = json.loads(self.rfile.read(length))
            if not isinstance(changes, dict):
                raise UsageError("a rating request is a JSON object of job id: stars")
            ratings = rate(self.folder, changes)
        except (json.JSONDecodeError, UnicodeDecodeError, DgenerateError) as error:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self._json(HTTPStatus.OK, {"ratings": ratings})

    def _ratings(self) -> dict[str, int]:
        try:
            return read_ratings(self.folder)
        except DgenerateError:
            return {}

    def _json(self, status: HTTPStatus, data: object) -> None:
        body = json.dumps(data, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def gallery_server(folder: Path, port: int = 0) -> ThreadingHTTPServer:
    """A server of `folder`'s gallery on 127.0.0.1 (`port` 0: any free one), not yet serving."""
    if not (folder / "index.html").is_file():
        raise UsageError(f"--serve-gallery '{folder}' has no index.html; make one with --gallery first")
    try:
        return ThreadingHTTPServer(("127.0.0.1", port), partial(_Handler, folder=folder.resolve()))
    except OSError as error:
        raise UsageError(f"--gallery-port {port}: cannot listen there ({error.strerror or error}); pick another port "
                         "or 0 for any free one") from error


def serve_gallery(folder: Path, port: int, announce: Callable[[str], None]) -> None:
    """Serve until interrupted (Ctrl-C ends it, which is how it is meant to end)."""
    server = gallery_server(folder, port)
    announce(f"http://127.0.0.1:{server.server_address[1]}/")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
