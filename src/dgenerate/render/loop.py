"""The render loop: resolved Jobs, run in pipeline calls on their cached models, every image written as it is made."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dgenerate.errors import interrupted_after
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel
from dgenerate.plan import RenderRequest, batch_groups, plan
from dgenerate.render.calls import Progress, call_pipeline, call_slots, write_image
from dgenerate.render.image_seeds import render_seeded
from dgenerate.render.outputs import check_output_folders
from dgenerate.render.sdxl import generate_sdxl
from dgenerate.resolve import resolve


def generate(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """One text-to-image call for a group of jobs; each image draws its noise from its own seed's CPU generator."""
    first, slots = group[0], call_slots(group)
    if model.spec.model_type == "torch-sdxl":
        images = generate_sdxl(model, slots, progress)
    else:
        images = call_pipeline(model.pipeline, slots, progress, width=first.width, height=first.height)
    return [images[job.batch_slot] for job in group]


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


def render_each(jobs: Sequence[Job], cache: ModelCache, progress: bool | Progress,
                downloads: Path) -> list[tuple[Job, list[Path]]]:
    """Every job with the files it wrote: its image, or its animation followed by the animation's frames."""
    groups = batch_groups(jobs)
    bar = progress if isinstance(progress, Progress) else Progress.start(text_steps(groups), len(jobs), progress)
    written: list[tuple[Job, list[Path]]] = []
    try:
        _render_groups(groups, cache, bar, downloads, written)
    except KeyboardInterrupt as stop:
        interrupted_after(stop, len(written), len(jobs))
        raise
    finally:
        bar.close()
    return written


def _render_groups(groups: list[list[Job]], cache: ModelCache, bar: Progress, downloads: Path,
                   written: list[tuple[Job, list[Path]]]) -> None:
    for group in groups:
        model = cache.get(group[0].model)
        if group[0].image_seed is not None:
            written.append((group[0], render_seeded(model, group[0], bar, downloads)))
            continue
        for job, image in zip(group, generate(model, group, bar), strict=True):
            written.append((job, [write_image(job, image, model)]))
            bar.image_done(written[-1][1][0])
