"""Where resolved jobs run: `local` (this process) and `ray` (actors on a Ray cluster, one device each).

A backend takes a request, renders every job of it and returns each job with the files written for it, named and
written exactly as a local run writes them. Nothing here imports torch or ray until a backend is made.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dgenerate.jobs import Job
    from dgenerate.models.cache import ModelCache
    from dgenerate.plan import RenderRequest

BACKENDS = ("local", "ray")


class Backend(Protocol):
    def render(self, request: RenderRequest, resume: bool = False) -> list[tuple[Job, list[Path]]]: ...

    def close(self) -> None: ...


class LocalBackend:
    """This process, with one model cache for every request it is given."""

    def __init__(self, cache: ModelCache | None = None, progress: bool = True) -> None:
        self.cache, self.progress = cache, progress

    def render(self, request: RenderRequest, resume: bool = False) -> list[tuple[Job, list[Path]]]:
        from dgenerate.models.cache import ModelCache
        from dgenerate.render.loop import render_with_jobs

        if self.cache is None:
            self.cache = ModelCache()
        return render_with_jobs(request, self.cache, self.progress, resume)

    def close(self) -> None:
        self.cache = None
