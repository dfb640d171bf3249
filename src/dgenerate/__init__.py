"""dgenerate: batch image generation with diffusion models, every image reproducible from its seed and config.

The public API; importing it loads no torch. Heavy work starts in render().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

from dgenerate.errors import DgenerateError
from dgenerate.jobs import Job, ModelSpec, OutputSpec
from dgenerate.plan import Prompt, RenderRequest, plan

if TYPE_CHECKING:
    from pathlib import Path

    from dgenerate.models.cache import ModelCache


def render(request: RenderRequest, cache: ModelCache | None = None, progress: bool = False) -> list[Path]:
    """Generate every image of `request` and return the written paths in grid order."""
    from dgenerate.render.loop import render as _render

    return _render(request, cache, progress)


def load_config(text: str) -> list[RenderRequest]:
    """The requests of a config or batch text (as written by --output-configs), without running them."""
    from dgenerate.batch import read_invocations
    from dgenerate.cli import parse_invocation

    return [parse_invocation(invocation.argv)[0] for invocation in read_invocations(text)]


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
]
