"""Image seed jobs: img2img and inpainting on stills and on every frame of an animation, in constant memory.

The img2img and inpainting pipelines are built from the loaded model's components (no second load). Every frame
uses the job's seed, so every frame starts from the same noise and the animation does not flicker from noise alone.
Frames are decoded, generated, written and encoded one at a time.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

from dgenerate.jobs import Job
from dgenerate.media.seeds import SeedFrame
from dgenerate.models.controlnet import control_net_models
from dgenerate.models.loader import LoadedModel
from dgenerate.naming import frame_stem, image_stem, numbered
from dgenerate.render.calls import Progress, call_pipeline, takes, write_image
from dgenerate.render.sdxl import high_noise_fraction, micro_conditioning
from dgenerate.resolve import denoising_steps


def derived_pipeline(base: Any, kind: str, control_nets: list[Any] | None = None) -> Any:
    """`base`'s img2img or inpainting pipeline ("text": text to image), with the given ControlNets, sharing its
    loaded components; made once per pipeline and kept on it, so that it goes when the model leaves the cache."""
    from dgenerate.models.families import is_fill

    if is_fill(type(base).__name__) or (kind == "text" and not control_nets):
        return base  # a Flux Fill model is itself the inpainting pipeline
    derived = base.__dict__.setdefault("_dgenerate_derived", {})
    key = (kind, *(id(net) for net in control_nets or ()))
    if key not in derived:
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

        factory = {"text": AutoPipelineForText2Image, "img2img": AutoPipelineForImage2Image,
                   "inpaint": AutoPipelineForInpainting}[kind]
        extra = {"controlnet": control_nets[0] if len(control_nets) == 1 else control_nets} if control_nets else {}
        pipeline = factory.from_pipe(base, **extra)
        pipeline.set_progress_bar_config(disable=True)
        derived[key] = pipeline
    return derived[key]


def _local(path: str | None, downloads: Path) -> Path | None:
    if path is None:
        return None
    from dgenerate.media import fetch, is_url

    return fetch(path, downloads) if is_url(path) else Path(path)


def _generate_frame(model: LoadedModel, job: Job, frame: SeedFrame, progress: Progress) -> Any:
    from dgenerate.media import resize_image

    image, mask, controls = frame
    assert job.width is not None and job.height is not None
    size = (job.width, job.height)
    kind = "text" if image is None else "img2img" if mask is None else "inpaint"
    nets = control_net_models(model.pipeline, job.control_nets, model.spec) if job.control_nets else None
    pipeline = derived_pipeline(model.pipeline, kind, nets)
    progress.add_steps(job.inference_steps if image is None else denoising_steps(job))
    inputs: dict[str, Any] = {} if image is None else {"image": resize_image(image, size), "strength": job.strength}
    if mask is not None:
        mask = resize_image(mask, size)
        inputs.update(mask_image=mask)
    if mask is not None or takes(pipeline, "width"):  # Flux img2img: else its default 1024x1024
        inputs.update(width=job.width, height=job.height)
    if model.spec.model_type == "torch-sdxl":
        inputs.update(micro_conditioning(job))
    if nets:
        inputs.update(_control_inputs(job, [resize_image(control, size) for control in controls], kind))
    if model.refiner is None:
        generated = call_pipeline(pipeline, [job], progress, **inputs)[0]
    else:
        generated = _refined(model, kind, job, progress, inputs)
    return generated if mask is None else _keep_unmasked(inputs["image"], generated, mask)


def _control_inputs(job: Job, controls: list[Any], kind: str) -> dict[str, Any]:
    """Control images and each ControlNet's scale and guidance span; one ControlNet takes plain values. SD's text to
    image ControlNet pipelines take the control image as `image`, the rest (and SD3's and Flux's) as `control_image`."""
    nets = job.control_nets
    flow = job.model.model_type in ("torch-sd3", "torch-flux")
    values: dict[str, Any] = {"image" if kind == "text" and not flow else "control_image": controls,
                              "controlnet_conditioning_scale": [net.scale for net in nets],
                              "control_guidance_start": [net.start for net in nets],
                              "control_guidance_end": [net.end for net in nets]}
    return {name: value[0] if len(nets) == 1 else value for name, value in values.items()}


def _refined(model: LoadedModel, kind: str, job: Job, progress: Progress, inputs: dict[str, Any]) -> Any:
    """SDXL with a refiner: the base denoises the high noise fraction to latents, the refiner finishes them."""
    fraction = high_noise_fraction(job)
    latents = call_pipeline(derived_pipeline(model.pipeline, kind), [job], progress, output_type="latent",
                            denoising_end=fraction, **inputs)
    inputs = {**inputs, "image": latents}
    return call_pipeline(derived_pipeline(model.refiner, kind), [job], progress,
                         denoising_start=fraction, **inputs)[0]


def _keep_unmasked(original: Any, generated: Any, mask: Any) -> Any:
    """The seed's own pixels where the mask is black, the generated ones where it is white (grey blends).

    The pipeline works in latent space, where the VAE cannot give the untouched area back exactly.
    """
    from PIL import Image

    return Image.composite(generated, original.convert("RGB"), mask.convert("L"))


def render_seeded(model: LoadedModel, job: Job, progress: Progress, downloads: Path) -> list[Path]:
    """Generate one resolved image seed job: a still image, or an animation plus an image for every frame."""
    from dgenerate.media import open_seed

    seed = job.image_seed
    assert seed is not None
    controls = [_local(path, downloads) for path in seed.control]
    with open_seed(_local(seed.image, downloads), _local(seed.mask, downloads), job.frame_start, job.frame_end,
                   [path for path in controls if path is not None]) as source:
        if not source.info.animated:
            path = write_image(job, _generate_frame(model, job, next(source), progress), model)
            progress.image_done(path)
            return [path]
        return _render_animation(model, job, source, progress)


def animation_stem(job: Job) -> str:
    """The animation's name in its folder: the job's stem, numbered past an animation or config already there."""
    folder, fmt = Path(job.output.path), job.output.animation_format
    stem = image_stem(job)
    attempt = 1
    while any((folder / (numbered(stem, attempt) + suffix)).exists() for suffix in (f".{fmt}", ".dgen")):
        attempt += 1
    return numbered(stem, attempt)


def _render_animation(model: LoadedModel, job: Job, source: Any, progress: Progress) -> list[Path]:
    from dgenerate.media import AnimationFormat, AnimationWriter
    from dgenerate.render.calls import environment
    from dgenerate.render.outputs import write_new
    from dgenerate.reproduce import config_text

    folder = Path(job.output.path)
    folder.mkdir(parents=True, exist_ok=True)
    stem = animation_stem(job)
    path = folder / f"{stem}.{job.output.animation_format}"
    written: list[Path] = []
    first = job.frame_start or 0
    progress.add_images((source.info.frame_count or 1) - 1)
    assert job.width is not None and job.height is not None
    fmt = cast(AnimationFormat, job.output.animation_format)
    size, delays = (job.width, job.height), source.info.delays
    with AnimationWriter(path, fmt, source.info.fps, size, delays=delays) as writer:
        for offset, inputs in enumerate(source):
            frame_job = replace(job, frame_start=first + offset, frame_end=first + offset)
            frame = _generate_frame(model, frame_job, inputs, progress)
            written.append(write_image(frame_job, frame, model, frame_stem(stem, first + offset)))
            writer.write(frame)
            progress.image_done(written[-1])
    if job.output.configs:  # only a finished animation is what its config makes (an interrupted one has none)
        write_new(folder, stem, {".dgen": config_text(job, environment(model)).encode()})
    return [path, *written]
