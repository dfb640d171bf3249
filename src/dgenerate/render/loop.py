"""The render loop: plan a request, load its model once, run the grid in pipeline calls, write every image."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel, resolved
from dgenerate.plan import RenderRequest, batch_groups, describe_grid, plan
from dgenerate.render.calls import Progress, call_pipeline, call_slots, write_image
from dgenerate.render.image_seeds import render_seeded
from dgenerate.render.sdxl import generate_sdxl


def output_size(request: RenderRequest, model: LoadedModel) -> tuple[int, int]:
    width, height = request.output_size or model.default_size
    multiple = model.size_multiple
    if width % multiple or height % multiple:
        fixed = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        raise UsageError(f"--output-size {width}x{height} is not a multiple of {multiple}, which this model "
                         f"needs; use for example {fixed}")
    return width, height


def generate(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """One text-to-image call for a group of jobs; each image draws its noise from its own seed's CPU generator."""
    first, slots = group[0], call_slots(group)
    if model.spec.model_type == "torch-sdxl":
        images = generate_sdxl(model, slots, progress)
    else:
        images = call_pipeline(model, model.pipeline, slots, progress, width=first.width, height=first.height)
    return [images[job.batch_slot] for job in group]


def render(request: RenderRequest, cache: ModelCache | None = None, progress: bool = True) -> list[Path]:
    """Generate every image of `request`; returns the written PNG paths in grid order."""
    cache = ModelCache() if cache is None else cache
    model = cache.get(resolved(request.model))
    jobs = [_resolved_job(job, request, model) for job in plan(request)]
    groups = batch_groups(jobs)
    text_steps = sum(group[0].inference_steps for group in groups if group[0].image_seed is None)
    bar = Progress.start(text_steps, len(jobs), progress)
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="dgenerate-downloads-") as downloads:
            for group in groups:
                if group[0].image_seed is not None:
                    written += render_seeded(model, group[0], bar, Path(downloads))
                    continue
                for job, image in zip(group, generate(model, group, bar), strict=True):
                    written.append(write_image(job, image, model))
                    bar.image_done(written[-1])
    finally:
        bar.close()
    return written


def _resolved_job(job: Job, request: RenderRequest, model: LoadedModel) -> Job:
    """The job with its model spec and CPU threads resolved; text-to-image jobs get their size now, image seed
    jobs once their seed is open."""
    job = replace(job, model=model.spec, cpu_threads=_cpu_threads(job, model))
    if job.image_seed is not None:
        return job
    width, height = output_size(request, model)
    return replace(job, width=width, height=height)


def _cpu_threads(job: Job, model: LoadedModel) -> int | None:
    import torch

    if model.spec.device != "cpu":
        return None
    return job.cpu_threads or torch.get_num_threads()


def announce(request: RenderRequest) -> None:
    seeds = " ".join(str(seed) for seed in request.seeds)
    print(f"dgenerate: {describe_grid(request)}; seeds: {seeds}", file=sys.stderr)
