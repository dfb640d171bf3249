"""Downloading image seeds and masks given as http(s) URLs, once per cache folder."""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.parse
from pathlib import Path, PurePosixPath

from dgenerate.errors import MediaError, UsageError
from dgenerate.media._atomic import discard, temp_path

_USER_AGENT = "dgenerate (image seed download)"


def is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


def fetch(url: str, cache_dir: Path, timeout: float = 60.0) -> Path:
    """The local copy of ``url`` in ``cache_dir``, downloading it only if it is not there yet."""
    if not is_url(url):
        raise MediaError(f"'{url}' is not an http(s) URL; give a file path or an http:// or https:// address")
    target = Path(cache_dir) / _cache_name(url)
    if target.is_file():
        return target
    from dgenerate.downloads import HOW, allowed

    if not allowed():
        raise UsageError(f"'{url}' is an address to download from; {HOW}")
    temp = temp_path(target)
    try:
        _download(url, temp, timeout)
        os.replace(temp, target)
    finally:
        discard(temp)
    return target


def _cache_name(url: str) -> str:
    """sha256 of the URL, keeping a short extension so the file type stays visible."""
    suffix = PurePosixPath(urllib.parse.urlsplit(url).path).suffix.lower()
    if not (suffix[1:].isalnum() and len(suffix) <= 6):
        suffix = ""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:32] + suffix


def _download(url: str, destination: Path, timeout: float) -> None:
    import urllib.error
    import urllib.request  # http, ssl and email come with it: 40 ms that --help should not pay

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, destination.open("wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
    except urllib.error.HTTPError as error:
        raise MediaError(f"cannot download {url}: HTTP {error.code} {error.reason}; check the address") from error
    except urllib.error.URLError as error:
        raise MediaError(
            f"cannot download {url}: {error.reason}; check the address and your internet connection"
        ) from error
    except (OSError, ValueError) as error:
        raise MediaError(f"cannot download {url}: {error}; check the address and your internet connection") from error
