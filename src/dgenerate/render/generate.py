"""The render stage: resolved jobs become finished pictures (`results.Result`), in the order they run, and nothing is
written here. Text-to-image jobs run in batched pipeline calls; image seed jobs one image (or frame) per call.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dgenerate.families import Pipeline, family
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel
from dgenerate.processors import apply_processors
from dgenerate.render.calls import call_pipeline, call_slots, refined
from dgenerate.render.image_seeds import seeded_results
from dgenerate.render.progress import Progress
from dgenerate.render.results import Frame, Result, Still
from dgenerate.resolve import job_pipeline


def generate(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """One text-to-image call for a group of jobs; each image draws its noise from its own seed's CPU generator."""
    first, slots = group[0], call_slots(group)
    takes = job_pipeline(first, model.folder_class)
    inputs: dict[str, Any] = {"width": first.width, "height": first.height,
                              **family(model.spec.model_type).call_arguments(first)}
    if model.refiner is None:
        images = call_pipeline(model.pipeline_of(takes.class_name), takes, slots, progress, **inputs)
    else:
        refiner = family(model.spec.model_type).refiner_class
        assert refiner is not None, "resolution refuses a refiner for a family without one"
        images = refined(model, (takes, Pipeline(refiner)), slots, progress, inputs,
                         family(model.spec.model_type).call_arguments(first))
    return [images[job.batch_slot] for job in group]


def render_results(groups: Sequence[list[Job]], cache: ModelCache, progress: Progress,
                   downloads: Path) -> Generator[Result, None, None]:
    """The pictures of every pipeline call of `groups`, in order, each model loaded (once) from `cache`, through
    their jobs' post-processors."""
    for group in groups:
        model = cache.get(group[0].model)
        if group[0].image_seed is not None:
            yield from map(post_processed, seeded_results(model, group[0], progress, downloads))
            continue
        for job, image in zip(group, generate(model, group, progress), strict=True):
            yield post_processed(Still(job, image, model.environment))


def post_processed(result: Result) -> Result:
    """A picture through its job's --post-processors (what is written; the rest passes as it is)."""
    if isinstance(result, Still | Frame) and result.job.post_processors:
        return replace(result, image=apply_processors(result.image, result.job.post_processors))
    return result
