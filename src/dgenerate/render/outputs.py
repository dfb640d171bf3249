"""Writing an image and its config: atomically, and never over an existing file.

Naming rule: when `name.png` (or its `name.dgen`) exists, the image is written as `name_2.png`, then `name_3.png`,
and so on; the check and the write are one step (a hard link from a temporary file), so two processes writing into
one folder cannot overwrite each other either.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from dgenerate.errors import OutputError
from dgenerate.media._atomic import discard, publish, temp_path
from dgenerate.naming import numbered


def _create(path: Path, data: bytes) -> bool:
    """Write `data` as a new file at `path`; False, writing nothing, if it exists already."""
    temporary = temp_path(path)
    try:
        temporary.write_bytes(data)
        publish(temporary, path, overwrite=False)
        return True
    except OutputError:
        if path.exists():
            return False
        raise
    finally:
        discard(temporary)


def write_new(directory: Path, stem: str, files: dict[str, bytes]) -> Path:
    """Write files `stem + suffix` under a stem that no existing file uses; returns the path of the first."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output-path {str(directory)!r} cannot be created: {error.strerror}") from error
    suffixes = list(files)
    for attempt in itertools.count(1):
        name = numbered(stem, attempt)
        if any((directory / (name + suffix)).exists() for suffix in suffixes[1:]):
            continue
        try:
            if not _create(directory / (name + suffixes[0]), files[suffixes[0]]):
                continue
            for suffix in suffixes[1:]:
                _create(directory / (name + suffix), files[suffix])
        except OSError as error:
            raise OutputError(f"cannot write {directory / name}{suffixes[0]}: {error.strerror or error}") from error
        return directory / (name + suffixes[0])
    raise AssertionError("unreachable")
