"""Writing an image and its config: atomically, and never over an existing file.

Naming rule: when `name.png` (or its `name.dgen`) exists, the image is written as `name_2.png`, then `name_3.png`,
and so on; the check and the write are one step (a hard link from a temporary file), so two processes writing into
one folder cannot overwrite each other either.
"""

from __future__ import annotations

import errno
import itertools
import os
from collections.abc import Sequence
from pathlib import Path

from dgenerate.errors import OutputError
from dgenerate.jobs import Job
from dgenerate.media._atomic import discard, publish, temp_path, why
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
        raise OutputError(f"--output-path {str(directory)!r} cannot be created: {why(error)}") from error
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
            raise OutputError(f"cannot write {directory / name}{suffixes[0]}: {why(error)}") from error
        return directory / (name + suffixes[0])
    raise AssertionError("unreachable")


def check_output_folder(folder: Path, create: bool = True) -> None:
    """Before any work: `folder` is a folder in which a file can be created, or, when it is missing, one that can be
    made (made here unless `create` is False, so that a run that fails before any work leaves no empty folder)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output-path '{folder}' is a file, not a folder: give a folder (it is made when missing)")
    if not folder.exists() and not create:
        parent = next(path for path in folder.absolute().parents if path.exists())
        if not parent.is_dir():
            raise OutputError(f"--output-path '{folder}' cannot be created: {why(OSError(errno.ENOTDIR, ''))}")
        if not os.access(parent, os.W_OK | os.X_OK):
            code = errno.EROFS if os.statvfs(parent).f_flag & os.ST_RDONLY else errno.EACCES
            raise OutputError(f"--output-path '{folder}' cannot be created in '{parent}': {why(OSError(code, ''))}")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"--output-path '{folder}' cannot be created: {why(error)}") from error
    probe = folder / f".dgenerate-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise OutputError(f"--output-path '{folder}' is not writable: {why(error)}") from error


def check_output_folders(jobs: Sequence[Job]) -> None:
    for folder in dict.fromkeys(job.output.path for job in jobs):
        check_output_folder(Path(folder))
