"""`--from-image IMAGE [options]`: the options an image records, with the ones given beside it in their place.

An image written by dgenerate records a config: it is read through the strict config table into its Job, and the
Job's own options (never the raw text) become the starting command line, so a config can say nothing that a config
cannot hold. An image made by AUTOMATIC1111, Forge or SD.Next starts from the settings of its `parameters` text
that mean the same here. Options given on the command line replace the recorded ones whole (a grid of
`--inference-steps 20 50` is a grid again).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dgenerate.curate.metadata import a1111_arguments, parse_a1111, read_record, recorded_job
from dgenerate.errors import UsageError

# Options that replace each other when either is given.
_EXCLUSIVE = {"seeds": "gen_seeds", "gen_seeds": "seeds"}


@dataclass(frozen=True)
class Replay:
    """The merged arguments, and a line on what the image recorded that has no option here (empty for ours)."""

    args: argparse.Namespace
    note: str


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> dict[str, object]:
    """The destinations and values of the options `argv` gives explicitly (defaults left out); `parser` is a fresh
    one, as its defaults are suppressed for this."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return dict(vars(parser.parse_args(list(argv))))


def replay(make_parser: Callable[[], argparse.ArgumentParser], argv: Sequence[str]) -> Replay:
    given = given_options(make_parser(), argv)
    image = Path(str(given["from_image"]))
    record = read_record(image)
    if record.config is not None:
        from dgenerate.reproduce import job_words

        base = job_words(recorded_job(record))
        note = ""
    elif record.parameters is not None:
        mapped = a1111_arguments(parse_a1111(record.parameters))
        if "model_path" not in given:
            made_with = f" with the model '{mapped.model}'" if mapped.model else ""
            raise UsageError(f"--from-image '{image}' was made by another tool{made_with}; give the model to use: "
                             f"dgenerate MODEL_PATH --from-image '{image}'")
        base = [str(given["model_path"]), *mapped.arguments]
        note = f"from '{image}' (AUTOMATIC1111 parameters), not used: {', '.join(mapped.not_mapped) or 'nothing'}"
    else:
        raise UsageError(f"--from-image '{image}' has no dgenerate config and no AUTOMATIC1111 parameters; "
                         "images written with --output-metadata (or a .dgen file) can be replayed")
    args = make_parser().parse_args(base)
    for dest, value in given.items():
        setattr(args, dest, value)
        if dest in _EXCLUSIVE:
            setattr(args, _EXCLUSIVE[dest], None)
    return Replay(args, note)
