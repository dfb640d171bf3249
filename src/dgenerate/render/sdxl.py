"""Stable Diffusion XL: one base call, then the refiner on the base's latents when --sdxl-refiner is given.

With a refiner, the base denoises the first `high_noise_fraction` of the schedule (denoising_end) and hands its
latents to the refiner, which does the rest (denoising_start), as in diffusers' "ensemble of expert denoisers".
Without --sdxl-high-noise-fractions the fraction is DEFAULT_HIGH_NOISE_FRACTION, diffusers' documented 0.8; without
a refiner the base runs the whole schedule and the fraction is not used. --sdxl-original-size and --sdxl-target-size
(WIDTHxHEIGHT) default to the output size; diffusers takes them as (height, width).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dgenerate.jobs import Job
from dgenerate.models.loader import LoadedModel
from dgenerate.models.schedulers import make_scheduler
from dgenerate.render.noise import generators

DEFAULT_HIGH_NOISE_FRACTION = 0.8

StepCallback = Callable[[Any, int, Any, dict[str, Any]], dict[str, Any]]


def seeded_scheduler(scheduler: Any, name: str | None, seeds: list[int]) -> Any:
    """A fresh scheduler (no state carried between calls) of class `name`, or of the pipeline's own class.

    DPMSolverSDEScheduler draws its Brownian noise from a seed of its own, not from the generators; it gets one
    seed per image (the image's own), so its images repeat byte for byte and do not depend on the batch.
    """
    fresh = make_scheduler(name, scheduler.config) if name else type(scheduler).from_config(scheduler.config)
    if "noise_sampler_seed" in fresh.config:
        fresh = type(fresh).from_config(fresh.config, noise_sampler_seed=list(seeds))
    return fresh


def micro_conditioning(job: Job) -> dict[str, tuple[int, int]]:
    """original_size and target_size in diffusers' (height, width) order, defaulting to the output size."""
    assert job.width is not None and job.height is not None, "the render loop sets the output size on every job"
    size = (job.width, job.height)
    original = job.sdxl_original_size or size
    target = job.sdxl_target_size or size
    return {"original_size": (original[1], original[0]), "target_size": (target[1], target[0])}


def _call(pipeline: Any, group: list[Job], on_step_end: StepCallback, **kwargs: Any) -> Any:
    """One pipeline call with a fresh scheduler, put back afterwards so the loaded model is left as it was."""
    first = group[0]
    original_scheduler = pipeline.scheduler
    pipeline.scheduler = seeded_scheduler(original_scheduler, first.scheduler, [job.seed for job in group])
    try:
        return pipeline(
            prompt=[job.prompt for job in group],
            negative_prompt=[job.negative_prompt or "" for job in group],
            num_inference_steps=first.inference_steps,
            guidance_scale=first.guidance_scale,
            callback_on_step_end=on_step_end,
            **micro_conditioning(first),
            **kwargs,
        ).images
    finally:
        pipeline.scheduler = original_scheduler


def generate_sdxl(model: LoadedModel, group: list[Job], on_step_end: StepCallback) -> list[Any]:
    """Images for a group of jobs that differ only in prompt and seed; each draws noise from its own generator."""
    first = group[0]
    noise = generators([job.seed for job in group])
    size = {"width": first.width, "height": first.height}
    if model.refiner is None:
        return list(_call(model.pipeline, group, on_step_end, generator=noise, output_type="pil", **size))
    fraction = DEFAULT_HIGH_NOISE_FRACTION if first.high_noise_fraction is None else first.high_noise_fraction
    latents = _call(model.pipeline, group, on_step_end, generator=noise, output_type="latent",
                    denoising_end=fraction, **size)
    return list(_call(model.refiner, group, on_step_end, generator=noise, output_type="pil", image=latents,
                      denoising_start=fraction))
