"""Prompts that expand into several: `{red|green|blue}` alternatives and `__name__` wildcards (--dynamic-prompts,
--wildcards DIR), and AUTOMATIC1111's prompt matrix (--prompt-matrix). Pure text and a few small files; no torch.

Expansion is combinatorial and ordered, so the same prompt gives the same prompts in the same order every time:
every combination of the choices, the leftmost choice varying slowest, a wildcard's entries in its file's order.
An image's config holds its expanded prompt, so it regenerates without the wildcard files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dgenerate.errors import UsageError

MAX_EXPANSIONS = 10_000  # prompts one --prompts value may expand to
MAX_DEPTH = 8  # wildcards inside wildcard entries, inside those, ...
_WILDCARD = re.compile(r"__([A-Za-z0-9][A-Za-z0-9_\-]*(?:/[A-Za-z0-9][A-Za-z0-9_\-]*)*)__")


@dataclass(frozen=True)
class Syntax:
    """Which prompt syntax is read: alternatives and wildcards (`wildcards` is their folder), the prompt matrix."""

    dynamic: bool = False
    wildcards: Path | None = None
    matrix: bool = False

    @property
    def active(self) -> bool:
        return self.dynamic or self.wildcards is not None or self.matrix


Choices = tuple[tuple[str, str], ...]  # (slot, what it became): ('__colour__', 'red'), ('{1}', 'big'), ...


def expand(text: str, syntax: Syntax, option: str = "--prompts") -> list[str]:
    """The prompts `text` stands for, in order (just `text` when it uses no syntax)."""
    return [prompt for prompt, _ in expand_choices(text, syntax, option)]


def expand_choices(text: str, syntax: Syntax, option: str = "--prompts") -> list[tuple[str, Choices]]:
    """The prompts `text` stands for, in order, each with what each of its top-level slots became: a wildcard is
    named `__name__` (`__name__ 2` the second time), a brace group `{1}`, `{2}`... in order, the matrix `matrix`."""
    parts = _matrix(text) if syntax.matrix else [(text, "")]
    dynamic = syntax.dynamic or syntax.wildcards is not None
    expanded: list[tuple[str, Choices]] = []
    for part, extras in parts:
        slots = _named(_choices(part, syntax, option, 0)) if dynamic else [("", [part])]
        count = 1
        for _, options in slots:
            count *= len(options)
        if len(expanded) + count > MAX_EXPANSIONS:
            raise UsageError(f"{option} {text!r} expands to more than {MAX_EXPANSIONS} prompts; split it, or use fewer "
                             "alternatives or shorter wildcard files")
        matrix: Choices = (("matrix", extras or "(none)"),) if syntax.matrix else ()
        for picked in itertools.product(*(options for _, options in slots)):
            named = tuple((name, value) for (name, _), value in zip(slots, picked, strict=True) if name)
            expanded.append(("".join(picked), matrix + named))
    return expanded


def _named(slots: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Top-level slots with names a user can type: brace groups numbered, a wildcard's repeats counted."""
    named, seen, braces = [], dict[str, int](), 0
    for kind, options in slots:
        if kind == "{}":
            braces += 1
            kind = f"{{{braces}}}"
        elif kind:
            seen[kind] = seen.get(kind, 0) + 1
            kind = kind if seen[kind] == 1 else f"{kind} {seen[kind]}"
        named.append((kind, options))
    return named


def _matrix(text: str) -> list[tuple[str, str]]:
    """AUTOMATIC1111's prompt matrix: 'a|b|c' is a, 'a, b', 'a, c', 'a, b, c' (every subset of the parts after the
    first, in the order of its binary count), each with the parts it added; a '|' inside braces, brackets or
    parentheses is not a matrix bar."""
    parts = _split_top(text, "|")
    first, rest = parts[0].strip(), [part.strip().strip(",") for part in parts[1:]]
    subsets = [[part for n, part in enumerate(rest) if number & (1 << n)] for number in range(2 ** len(rest))]
    return [(", ".join([first, *subset]), ", ".join(subset)) for subset in subsets]


def _split_top(text: str, bar: str) -> list[str]:
    """`text` split at `bar` where no bracket of any kind is open."""
    parts, depth, start = [], 0, 0
    for position, char in enumerate(text):
        if char in "{[(":
            depth += 1
        elif char in "}])":
            depth = max(0, depth - 1)
        elif char == bar and depth == 0:
            parts.append(text[start:position])
            start = position + 1
    parts.append(text[start:])
    return parts


def _choices(text: str, syntax: Syntax, option: str, depth: int) -> list[tuple[str, list[str]]]:
    """`text` as a sequence of slots, each a kind ('' for text, '{}' for a brace group, '__name__' for a wildcard)
    and the list of strings it may be (a text slot has one)."""
    if depth > MAX_DEPTH:
        raise UsageError(f"{option}: wildcards nest more than {MAX_DEPTH} deep (does a wildcard file name itself?)")
    slots: list[tuple[str, list[str]]] = []
    for kind, piece in _pieces(text):
        if kind == "text":
            slots += _wildcard_slots(piece, syntax, option, depth)
        else:
            slots.append(("{}", [joined for alternative in _split_top(piece, "|")
                                 for joined in _joined(_choices(alternative, syntax, option, depth))]))
    return slots


def _joined(slots: list[tuple[str, list[str]]]) -> Iterator[str]:
    count = 1
    for _, options in slots:
        count *= len(options)
    if count > MAX_EXPANSIONS:
        raise UsageError(f"a choice or wildcard expands to more than {MAX_EXPANSIONS} prompts; use fewer alternatives "
                         "or shorter wildcard files")
    return ("".join(picked) for picked in itertools.product(*(options for _, options in slots)))


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """('text', literal) and ('choice', inside) pieces: a brace group is a choice when a '|' splits it at its own
    level; other braces (NovelAI's emphasis, say) stay as written."""
    position, start = 0, 0
    while position < len(text):
        if text[position] == "{":
            end = _closing(text, position)
            inside = text[position + 1:end] if end is not None else ""
            if end is not None and len(_split_top(inside, "|")) > 1:
                if start < position:
                    yield "text", text[start:position]
                yield "choice", inside
                position = start = end + 1
                continue
        position += 1
    if start < len(text):
        yield "text", text[start:]


def _closing(text: str, opening: int) -> int | None:
    depth = 0
    for position in range(opening, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return position
    return None


def _wildcard_slots(text: str, syntax: Syntax, option: str, depth: int) -> list[tuple[str, list[str]]]:
    slots: list[tuple[str, list[str]]] = []
    position = 0
    for match in _WILDCARD.finditer(text):
        slots.append(("", [text[position:match.start()]]))
        entries = read_wildcard(match.group(1), syntax.wildcards, option)
        slots.append((match.group(0), [joined for entry in entries
                                       for joined in _joined(_choices(entry, syntax, option, depth + 1))]))
        position = match.end()
    slots.append(("", [text[position:]]))
    return slots


def read_wildcard(name: str, folder: Path | None, option: str = "--prompts") -> list[str]:
    """The entries of wildcard `name` (`folder/name.txt`, one a line; blank lines and '#' comments skipped)."""
    if folder is None:
        raise UsageError(f"{option} names the wildcard __{name}__; give the folder of wildcard files with "
                         "--wildcards DIR")
    path = folder / f"{name}.txt"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UsageError(f"{option}: wildcard __{name}__ has no file {str(path)!r}; add it (one entry a line) or "
                         "fix the name") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{option}: wildcard file {str(path)!r} cannot be read ({error})") from None
    entries = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not entries:
        raise UsageError(f"{option}: wildcard file {str(path)!r} has no entries; write one a line")
    return entries
