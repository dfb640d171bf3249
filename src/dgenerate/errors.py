"""The exceptions dgenerate raises. Everything it raises on purpose derives from DgenerateError.

    DgenerateError                 one line for the user: what was wrong, the value, how to fix it
    ├── UsageError                 bad arguments or batch syntax (exit code 2)
    │   └── ConfigError            a config or PNG metadata that does not parse
    ├── ModelError                 a model that cannot be found or loaded (exit code 1)
    │   └── ModelNotFoundError     not on disk and not in the Hugging Face cache
    ├── MediaError                 an image, mask, video or animation that cannot be read or written
    └── OutputError                an output file that exists or cannot be written
"""

from __future__ import annotations

import unicodedata


class DgenerateError(Exception):
    """Root of dgenerate's errors; str(error) is the one line shown to the user."""

    exit_code = 1


class UsageError(DgenerateError):
    exit_code = 2


class ConfigError(UsageError):
    pass


class ModelError(DgenerateError):
    pass


class ModelNotFoundError(ModelError):
    pass


class MediaError(DgenerateError):
    pass


class OutputError(DgenerateError):
    pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), raised where Ctrl-C raises KeyboardInterrupt so that every path that
    finishes files on an interrupt runs for it too; the command line exits with 143 for it, 130 for Ctrl-C.

    Not a DgenerateError: like KeyboardInterrupt it is a stop, not a mistake."""


def interrupted_after(stop: BaseException, done: int, total: int) -> None:
    """Note on an interrupt how far the work got, for the summary line; the first (innermost) note stands."""
    if not hasattr(stop, "images_done"):
        stop.images_done, stop.images_total = done, total  # type: ignore[attr-defined]


def printable(text: str) -> str:
    """`text` as the terminal is shown it: control and format characters (newlines, escape sequences, bidirectional
    overrides) as Python escapes, tabs and emoji joiners kept, so that a message stays one line and text from an image
    or config cannot move the cursor, recolour the terminal or reorder what is read."""
    return "".join(char if char in "\t\u200d" or unicodedata.category(char)[0] != "C"
                   else char.encode("unicode_escape").decode("ascii") for char in text)
