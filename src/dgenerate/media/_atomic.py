"""Temporary names beside the destination, and publishing them without clobbering."""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from pathlib import Path

from dgenerate.errors import OutputError

_FIXES = {
    errno.ENOSPC: "the disk is full: free some space or choose another --output-path",
    errno.EDQUOT: "the disk quota is used up: free some space or choose another --output-path",
    errno.EROFS: "the file system is read-only: choose another --output-path",
    errno.EACCES: "permission denied: choose a folder you can write to as --output-path",
    errno.EPERM: "permission denied: choose a folder you can write to as --output-path",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another --output-path",
    errno.EEXIST: "a file of that name is in the way: remove it or choose another --output-path",
}


def why(error: BaseException) -> str:
    """What an OSError means for the user, with the fix when there is one."""
    code = getattr(error, "errno", None)
    if code in _FIXES:
        return _FIXES[code]
    return str(getattr(error, "strerror", None) or error)


def refuse_existing(path: Path, overwrite: bool) -> None:
    if not overwrite and path.exists():
        raise OutputError(f"output file '{path}' already exists; choose another --output-path or remove the file")


def temp_path(path: Path) -> Path:
    """A hidden name in the destination's folder, so the final rename never crosses a file system."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder '{path.parent}': {why(error)}") from error
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")


def publish(temp: Path, path: Path, overwrite: bool) -> None:
    """Move ``temp`` to ``path``; without ``overwrite`` an existing ``path`` wins and ``temp`` is removed."""
    try:
        if overwrite:
            os.replace(temp, path)
            return
        _link_no_clobber(temp, path)
    finally:
        discard(temp)


def _link_no_clobber(temp: Path, path: Path) -> None:
    try:
        os.link(temp, path)
    except FileExistsError as error:
        raise OutputError(f"output file '{path}' appeared while writing; remove it or choose another name") from error
    except OSError:
        # No hard links on this file system (some network and FAT mounts): check, then rename.
        refuse_existing(path, overwrite=False)
        os.replace(temp, path)


def replace_text(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` whole, replacing what was there atomically; an OSError is the caller's."""
    temporary = temp_path(path)
    try:
        temporary.write_text(text, encoding="utf-8")
        publish(temporary, path, overwrite=True)
    finally:
        discard(temporary)


def discard(temp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
