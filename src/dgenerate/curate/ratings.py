"""Star ratings of a folder's images: `ratings.json` beside them, keyed by job id.

JSON rather than SQLite: one small file a person can read, diff and merge, that the gallery page embeds as it is
and that is replaced whole and atomically on each change (one writer: the gallery server, which serialises its
writes). Keyed by job id, so a rating follows the image, not its file name: a later run into the same folder, a
regenerated gallery or an image made again under another name keeps it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path

from dgenerate.errors import OutputError, UsageError
from dgenerate.media._atomic import replace_text, why

RATINGS = "ratings.json"
MAX_STARS = 5
_JOB_ID = re.compile(r"[0-9a-f]{16}")
_WRITING = threading.Lock()


def read_ratings(folder: Path) -> dict[str, int]:
    """The ratings recorded in `folder` (none when it has no ratings file); entries that are not a job id with 1 to
    5 stars are left out, as the file is data."""
    path = folder / RATINGS
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OutputError(f"'{path}' cannot be read ({why(error) if isinstance(error, OSError) else error}); move it "
                          "away to start the ratings again") from error
    ratings = data.get("ratings") if isinstance(data, dict) else None
    if not isinstance(ratings, dict):
        return {}
    return {key: value for key, value in ratings.items() if _JOB_ID.fullmatch(str(key)) and type(value) is int
            and 1 <= value <= MAX_STARS}


def rate(folder: Path, changes: Mapping[str, object]) -> dict[str, int]:
    """Merge `changes` (job id -> stars, 0 clears) into the folder's ratings, write them atomically and return them."""
    checked = {}
    for key, value in changes.items():
        if not _JOB_ID.fullmatch(str(key)) or type(value) is not int or not 0 <= value <= MAX_STARS:
            raise UsageError(f"rating {key!r}: {value!r} is not a job id with 0 to {MAX_STARS} stars")
        checked[key] = value
    with _WRITING:
        ratings = read_ratings(folder)
        for key, value in checked.items():
            if value:
                ratings[key] = value
            else:
                ratings.pop(key, None)
        path = folder / RATINGS
        try:
            replace_text(path, json.dumps({"ratings": ratings, "version": 1}, indent=1, sort_keys=True) + "\n")
        except OSError as error:
            raise OutputError(f"cannot write '{path}': {why(error)}") from error
    return ratings
