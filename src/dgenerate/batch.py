"""The batch syntax read from standard input or a config file: one invocation per logical line.

Rules: blank lines and lines starting with '#' are skipped (also inside a continuation); a line ending with
'\\' continues on the next; an open quote continues too, so a quoted prompt may span lines; $VAR and ${VAR}
are replaced by environment variables (unknown names are left as written) and '$$' stands for a literal '$'.
Words are split as a POSIX shell would, and nothing is ever executed: a config is data. A line that starts with
'\\' and a letter is a directive of later dgenerate versions' batch language: refused, never run.

Variables are the user's own input's: a text that comes from elsewhere (a config in an image, a .dgen file given to
--from-image) is read with `expand=False`, where '$$' still stands for '$' (configs dgenerate writes escape '$' so)
and every other '$' is kept as written.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dgenerate.errors import ConfigError

_DIRECTIVE = re.compile(r"\\[A-Za-z_]")
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Invocation:
    line: int
    argv: tuple[str, ...]


def expand_variables(text: str, environ: Mapping[str, str] | None = None) -> str:
    """$VAR and ${VAR} from `environ` (the process's by default), and '$$' as '$'; with an empty `environ`, '$$'
    alone is read."""
    env = os.environ if environ is None else environ

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        return env.get(name, match.group(0))

    return _VARIABLE.sub(replace, text)


def escape_variables(text: str) -> str:
    """The inverse of expand_variables for literal text written into a config."""
    return text.replace("$", "$$")


def _split(text: str, line: int) -> list[str] | None:
    """The words of one logical line, or None while a quote is still open."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as error:
        if "closing quotation" in str(error):
            return None
        raise ConfigError(f"line {line}: {error}") from None


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        skippable = not stripped or stripped.startswith("#")
        if skippable and (not pending or not _inside_quote(pending)):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\") and not _inside_quote(pending + raw.rstrip()[:-1]):
            pending += raw.rstrip()[:-1] + " "
            continue
        pending += raw
        if _inside_quote(pending):
            pending += "\n"
            continue
        yield start, pending.strip()
        pending = ""
    if pending.strip():
        yield start, pending.strip()


def _inside_quote(text: str) -> bool:
    return _split(text, 0) is None


def read_invocations(text: str, environ: Mapping[str, str] | None = None, expand: bool = True) -> list[Invocation]:
    """Every invocation in a batch text, with its first line number for error messages; with `expand` False no
    variable is read from the environment (text from elsewhere is data)."""
    invocations = []
    for line, logical in _logical_lines(text):
        if _DIRECTIVE.match(logical):
            raise ConfigError(f"line {line}: '{logical.split()[0]}' is a directive (the batch language of later "
                              "dgenerate versions), which this one never runs; a line is one command line: MODEL_PATH "
                              "--option value ...")
        words = _split(expand_variables(logical, environ if expand else {}), line)
        if words is None:
            raise ConfigError(f"line {line}: a quote is never closed")
        if words:
            invocations.append(Invocation(line, tuple(words)))
    return invocations
