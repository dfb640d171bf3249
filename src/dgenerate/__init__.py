"""dgenerate: batch image generation with diffusion models, every image reproducible from its seed and config.

The public API; importing it loads no torch. Work flows arguments -> plan -> resolve -> render -> outputs:
plan() lists a request's grid as Jobs, resolve() fills in everything a Job leaves open, render() makes the images,
and load_config() reads a config written next to an image back into its Job.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dgenerate._version import __version__
from dgenerate.errors import DgenerateError
from dgenerate.jobs import Job, ModelSpec, OutputSpec
from dgenerate.plan import Prompt, RenderRequest, plan

if TYPE_CHECKING:
    from pathlib import Path

    from dgenerate.models.cache import ModelCache


def resolve(jobs: Sequence[Job]) -> tuple[Job, ...]:
    """Jobs with nothing left open: device, dtypes, size, scheduler, threads (reads configs, loads no weights)."""
    import tempfile
    from pathlib import Path

    from dgenerate.resolve import resolve as _resolve

    with tempfile.TemporaryDirectory(prefix="dgenerate-downloads-") as downloads:
        return _resolve(jobs, Path(downloads))


def render(work: RenderRequest | Sequence[Job], cache: ModelCache | None = None, progress: bool = False) -> list[Path]:
    """Generate every image of a request (or of Jobs) and return the written paths in order; prints nothing unless
    `progress` is True."""
    from dgenerate.render.loop import render as _render

    return _render(work, cache, progress)


def load_config(text: str) -> list[Job]:
    """The Jobs of a config written by --output-configs or --output-metadata (one per invocation), without running
    them; `render(load_config(text))` regenerates the image."""
    from dgenerate.reproduce import read_config

    return read_config(text)


class _Package(types.ModuleType):
    """Importing a module named like a function of the API (dgenerate.plan, dgenerate.resolve, dgenerate.render)
    sets the package's attribute to the module, which would hide the function; the function stays, and the module
    is reached as every module is (`from dgenerate.resolve import ...`)."""

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, types.ModuleType) and callable(self.__dict__.get(name)):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

__all__ = [
    "DgenerateError",
    "Job",
    "ModelSpec",
    "OutputSpec",
    "Prompt",
    "RenderRequest",
    "__version__",
    "load_config",
    "plan",
    "render",
    "resolve",
]
