"""Whether this run may download: image seeds given as URLs, and models from the Hugging Face hub.

A command line may (what a user types is what they mean). A config or batch read from standard input, and an image
replayed with --from-image, may not unless the user says so for that run with --allow-downloads: a file from someone
else must not make dgenerate reach out to an address it names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

_ALLOWED: ContextVar[bool] = ContextVar("dgenerate_downloads_allowed", default=True)
HOW = "configs, batches and --from-image download nothing unless allowed: add --allow-downloads on the command line"


def allowed() -> bool:
    return _ALLOWED.get()


@contextlib.contextmanager
def allow(permitted: bool) -> Iterator[None]:
    token = _ALLOWED.set(permitted)
    try:
        yield
    finally:
        _ALLOWED.reset(token)
