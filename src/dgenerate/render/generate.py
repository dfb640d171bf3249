"""The render stage: resolved jobs become finished pictures (`results.Result`), in the order they run, and nothing is
written here. Text-to-image jobs run in batched pipeline calls; image seed jobs one image (or frame) per call.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dgenerate.families import VIDEO, Pipeline, family
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel
from dgenerate.processors import apply_processors
from dgenerate.render.calls import call_pipeline, call_slots, refined
from dgenerate.render.image_seeds import seeded_results
from dgenerate.render.progress import Progress
from dgenerate.render.results import Clip, Frame, Result, Still, clip_of
from dgenerate.resolve import hires_schedule, hires_size, job_pipeline


def generate(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """One text-to-image call for a group of jobs; each image draws its noise from its own seed's CPU generator."""
    first, slots = group[0], call_slots(group)
    takes = job_pipeline(first, model.folder_class)
    inputs: dict[str, Any] = {"width": first.width, "height": first.height,
                              **family(model.spec.model_type).call_arguments(first)}
    if first.hires_scale is not None:
        images = hires(model, takes, slots, progress, inputs)
    elif model.refiner is None:
        images = call_pipeline(model.pipeline_of(takes.class_name), takes, slots, progress, **inputs)
    else:
        refiner = family(model.spec.model_type).refiner_class
        assert refiner is not None, "resolution refuses a refiner for a family without one"
        images = refined(model, (takes, Pipeline(refiner)), slots, progress, inputs,
                         family(model.spec.model_type).call_arguments(first))
    return [images[job.batch_slot] for job in group]


def hires(model: LoadedModel, takes: Pipeline, slots: list[Job], progress: Progress,
          inputs: dict[str, Any]) -> list[Any]:
    """AUTOMATIC1111's hires fix: the first pass at the job's size, upscaled (its latents, or its pictures by Lanczos
    or an upscaling model) to the hi-res size, then denoised again by the family's img2img pipeline at the hi-res
    strength, each image from its own seed's generator again."""
    first = slots[0]
    own = family(model.spec.model_type)
    latent = first.hires_upscaler == "latent"
    pipeline = model.pipeline_of(takes.class_name)
    made = call_pipeline(pipeline, takes, slots, progress, output_type="latent" if latent else "pil", **inputs)
    size = hires_size(first, pipeline.vae_scale_factor * own.patch)
    image = _upscaled_latents(made, size, pipeline.vae_scale_factor) if latent else \
        [_upscaled_picture(picture, size, first) for picture in made]
    second = own.pipeline("img2img", False, model.folder_class, model.spec.path)
    assert first.hires_steps is not None and first.hires_strength is not None, "resolution fills the hi-res pass in"
    schedule = hires_schedule(first)
    progress.add_steps(own.strength_steps(schedule, first.hires_strength))
    again = [replace(job, inference_steps=schedule) for job in slots]
    arguments: dict[str, Any] = {"width": size[0], "height": size[1]} if second.sized else {}
    arguments.update(own.call_arguments(replace(first, width=size[0], height=size[1])))
    return call_pipeline(model.pipeline_of(second.class_name), second, again, progress, image=image,
                         strength=first.hires_strength, **arguments)


def _upscaled_latents(latents: Any, size: tuple[int, int], factor: int) -> Any:
    """AUTOMATIC1111's "Latent" upscaler: bilinear, no antialiasing."""
    import torch

    return torch.nn.functional.interpolate(latents, size=(size[1] // factor, size[0] // factor), mode="bilinear",
                                           antialias=False)


def _upscaled_picture(picture: Any, size: tuple[int, int], job: Job) -> Any:
    """Lanczos, or the model (in tiles, on the job's resolved device) and then Lanczos to the exact size."""
    from PIL import Image

    if job.hires_upscaler != "lanczos":
        from dgenerate.upscale import upscale

        assert job.hires_upscaler is not None
        picture = upscale(picture, job.hires_upscaler, 512, 32, "float32", job.model.device)
    return picture if picture.size == size else picture.resize(size, Image.Resampling.LANCZOS)


def render_results(groups: Sequence[list[Job]], cache: ModelCache, progress: Progress,
                   downloads: Path) -> Generator[Result, None, None]:
    """The pictures of every pipeline call of `groups`, in order, each model loaded (once) from `cache`, through
    their jobs' post-processors."""
    for group in groups:
        model = cache.get(group[0].model)
        if group[0].image_seed is not None:
            yield from map(post_processed, seeded_results(model, group[0], progress, downloads))
            continue
        video = VIDEO in family(model.spec.model_type).supports
        for job, made in zip(group, generate(model, group, progress), strict=True):
            yield post_processed(clip_of(job, made, model.environment) if video else
                                 Still(job, made, model.environment))


def post_processed(result: Result) -> Result:
    """A picture through its job's --post-processors (what is written; the rest passes as it is)."""
    if isinstance(result, Still | Frame) and result.job.post_processors:
        return replace(result, image=apply_processors(result.image, result.job.post_processors))
    if isinstance(result, Clip) and result.job.post_processors:
        return replace(result, frames=[apply_processors(frame, result.job.post_processors) for frame in result.frames])
    return result
