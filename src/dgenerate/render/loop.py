"""The render loop: resolved Jobs run in pipeline calls on their cached models (the render stage), every picture
handed to the output stage as it is made."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from dgenerate.errors import interrupted_after
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.plan import RenderRequest, batch_groups, plan
from dgenerate.render.generate import render_results
from dgenerate.render.outputs import OutputStage, check_output_folders
from dgenerate.render.progress import Progress
from dgenerate.resolve import resolve


def render(work: RenderRequest | Sequence[Job], cache: ModelCache | None = None, progress: bool = True) -> list[Path]:
    """Generate every image of a request (or of Jobs, e.g. read from configs); returns the written paths in order.

    Jobs are resolved first (resolving a resolved Job changes nothing); models load once into `cache`.
    """
    return [path for _, paths in render_with_jobs(work, cache, progress) for path in paths]


def render_with_jobs(work: RenderRequest | Sequence[Job], cache: ModelCache | None = None, progress: bool = True,
                     resume: bool = False) -> list[tuple[Job, list[Path]]]:
    """As `render`, each resolved job with the files it wrote (an animation, then its frames). With `resume`, jobs
    whose images an earlier run finished in the same folder are skipped (see `dgenerate.resume`)."""
    with tempfile.TemporaryDirectory(prefix="dgenerate-downloads-") as folder:
        downloads = Path(folder)
        jobs = resolve(plan(work) if isinstance(work, RenderRequest) else work, downloads)
        check_output_folders(jobs)
        if resume:
            jobs = resumed(jobs, progress)
        return render_each(jobs, ModelCache() if cache is None else cache, progress, downloads)


def resumed(jobs: Sequence[Job], report: bool) -> tuple[Job, ...]:
    """The unfinished jobs, saying how many were found finished."""
    from dgenerate.resume import unfinished

    left = tuple(unfinished(jobs))
    if report:
        print(f"dgenerate: --resume: {len(jobs) - len(left)} of {len(jobs)} images are already made; making the other "
              f"{len(left)}", file=sys.stderr)
    return left


def text_steps(groups: Sequence[Sequence[Job]]) -> int:
    """The denoising steps of the text-to-image calls (image seed steps are counted once their inputs are open)."""
    return sum(group[0].inference_steps for group in groups if group[0].image_seed is None)


def render_each(jobs: Sequence[Job], cache: ModelCache, progress: bool,
                downloads: Path) -> list[tuple[Job, list[Path]]]:
    """Every job with the files it wrote: its image, or its animation followed by the animation's frames."""
    groups = batch_groups(jobs)
    bar = Progress.start(text_steps(groups), len(jobs), progress)
    outputs = OutputStage(bar)
    try:
        with outputs, contextlib.closing(render_results(groups, cache, bar, downloads)) as results:
            for result in results:
                outputs.put(result)
    except KeyboardInterrupt as stop:
        interrupted_after(stop, len(outputs.written), len(jobs))
        raise
    finally:
        bar.close()
    return outputs.written
