"""Image seed jobs: img2img and inpainting on stills and on every frame of an animation, in constant memory.

The img2img and inpainting pipelines are built from the loaded model's components (no second load). Every frame
uses the job's seed, so every frame starts from the same noise and the animation does not flicker from noise alone.
Frames are decoded and generated one at a time and handed on as they are made.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dgenerate.families import VIDEO, Pipeline, family
from dgenerate.jobs import Job
from dgenerate.media.seeds import SeedFrame
from dgenerate.models.controlnet import control_net_models
from dgenerate.models.loader import LoadedModel
from dgenerate.processors import ProcessorSpec, apply_processors
from dgenerate.render.calls import call_pipeline, refined
from dgenerate.render.progress import Progress
from dgenerate.render.results import AnimationEnd, AnimationStart, Frame, Result, Still, clip_of
from dgenerate.resolve import denoising_steps, job_pipeline


def _local(path: str | None, downloads: Path) -> Path | None:
    if path is None:
        return None
    from dgenerate.media import fetch, is_url

    return fetch(path, downloads) if is_url(path) else Path(path)


def _generate_frame(model: LoadedModel, job: Job, frame: SeedFrame, progress: Progress,
                    references: list[Any], last: Any = None) -> Any:
    from dgenerate.media import resize_image

    image, mask, controls = frame
    assert job.width is not None and job.height is not None
    size = (job.width, job.height)
    takes = job_pipeline(job, model.folder_class)
    nets = control_net_models(model, job.control_nets) if job.control_nets else None
    progress.add_steps(job.inference_steps if job.strength is None else denoising_steps(job))
    inputs: dict[str, Any] = {} if image is None else {
        "image": _processed(resize_image(image, size), job.seed_image_processors, size)}
    if takes.strength and image is not None:
        inputs.update(strength=job.strength)
    if last is not None:  # a clip's last frame, fitted as its first
        inputs["last_image"] = _processed(resize_image(last, size), job.seed_image_processors, size)
    if references:  # as given: the pipeline sizes its references itself
        inputs[takes.references] = [*([inputs["image"]] if takes.references == "image" else []), *references]
    if mask is not None:
        mask = _processed(resize_image(mask, size), job.mask_image_processors, size)
        inputs.update(mask_image=mask)
    if takes.sized:
        inputs.update(width=job.width, height=job.height)
    inputs.update(family(job.model.model_type).call_arguments(job))
    if nets:
        inputs.update(_control_inputs(job, [_processed(resize_image(control, size), job.control_image_processors, size)
                                            for control in controls], takes))
    if model.refiner is None:
        generated = call_pipeline(model.pipeline_of(takes.class_name, nets), takes, [job], progress, **inputs)[0]
    else:
        finishing = {name: value for name, value in inputs.items() if name != "image"}  # the refiner takes latents
        generated = refined(model, (takes, takes), [job], progress, inputs, finishing)[0]
    return generated if mask is None else _keep_unmasked(inputs["image"], generated, mask)


def _processed(image: Any, processors: tuple[ProcessorSpec, ...], size: tuple[int, int]) -> Any:
    """`image` (fitted to the job's size) through `processors`, fitted again if one changed its size or mode."""
    if not processors:
        return image
    from dgenerate.media import resize_image

    made = apply_processors(image, processors).convert(image.mode)
    return made if made.size == size else resize_image(made, size)


def _control_inputs(job: Job, controls: list[Any], takes: Pipeline) -> dict[str, Any]:
    """Control images and each ControlNet's scale and guidance span; one ControlNet takes plain values."""
    nets = job.control_nets
    values: dict[str, Any] = {takes.control_image: controls,
                              "controlnet_conditioning_scale": [net.scale for net in nets],
                              "control_guidance_start": [net.start for net in nets],
                              "control_guidance_end": [net.end for net in nets]}
    return {name: value[0] if len(nets) == 1 else value for name, value in values.items()}


def _reference(path: str, downloads: Path) -> Any:
    """A reference image: the first frame of a still or animated file, in RGB."""
    from dgenerate.media import open_seed

    local = _local(path, downloads)
    assert local is not None
    with open_seed(local) as source:
        image, _, _ = next(source)
    assert image is not None, "a reference is an image"
    return image.convert("RGB")


def _keep_unmasked(original: Any, generated: Any, mask: Any) -> Any:
    """The seed's own pixels where the mask is black, the generated ones where it is white (grey blends).

    The pipeline works in latent space, where the VAE cannot give the untouched area back exactly.
    """
    from PIL import Image

    return Image.composite(generated, original.convert("RGB"), mask.convert("L"))


def _clip(model: LoadedModel, job: Job, source: Iterator[SeedFrame], progress: Progress,
          references: list[Any], last: Any) -> Any:
    """A video model's clip: from the seed's first frame (image to video), or changing as many of its frames as the
    clip has (video to video), each fitted to the job's size and through the seed image processors."""
    takes = job_pipeline(job, model.folder_class)
    if not takes.video:
        return _generate_frame(model, job, next(source), progress, references, last)
    from dgenerate.media import resize_image

    assert job.width is not None and job.height is not None and job.frames is not None
    size = (job.width, job.height)
    video = [_processed(resize_image(image, size), job.seed_image_processors, size)
             for image, _, _ in itertools.islice(source, job.frames) if image is not None]
    progress.add_steps(denoising_steps(job))
    clip = family(job.model.model_type).call_arguments(job) if takes.clip_arguments else {}
    return call_pipeline(model.pipeline_of(takes.class_name), takes, [job], progress, video=video,
                         strength=job.strength, width=job.width, height=job.height, **clip)[0]


def seeded_results(model: LoadedModel, job: Job, progress: Progress, downloads: Path) -> Iterator[Result]:
    """The picture of one resolved image seed job: a still, or an animation frame by frame; a video model's clip,
    started from the seed's first frame or made from its frames (video to video)."""
    from dgenerate.media import open_seed

    seed = job.image_seed
    assert seed is not None
    controls = [_local(path, downloads) for path in seed.control]
    references = [_reference(path, downloads) for path in seed.references]
    with open_seed(_local(seed.image, downloads), _local(seed.mask, downloads), job.frame_start, job.frame_end,
                   [path for path in controls if path is not None]) as source:
        if VIDEO in family(job.model.model_type).supports:
            last = None if seed.last is None else _reference(seed.last, downloads)
            yield clip_of(job, _clip(model, job, source, progress, references, last), model.environment)
            return
        if not source.info.animated:
            yield Still(job, _generate_frame(model, job, next(source), progress, references), model.environment)
            return
        info = source.info
        assert info.fps is not None, "an animated input has a frame rate"
        yield AnimationStart(job, info.fps, info.delays, info.frame_count)
        first = job.frame_start or 0
        for offset, inputs in enumerate(source):
            frame_job = replace(job, frame_start=first + offset, frame_end=first + offset)
            yield Frame(frame_job, _generate_frame(model, frame_job, inputs, progress, references), model.environment)
        yield AnimationEnd(job, model.environment)
