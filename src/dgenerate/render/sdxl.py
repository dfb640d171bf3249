"""Stable Diffusion XL: one base call, then the refiner on the base's latents when --sdxl-refiner is given.

With a refiner, the base denoises the first `high_noise_fraction` of the schedule (denoising_end) and hands its
latents to the refiner, which does the rest (denoising_start), as in diffusers' "ensemble of expert denoisers".
Without --sdxl-high-noise-fractions the fraction is DEFAULT_HIGH_NOISE_FRACTION, diffusers' documented 0.8; without
a refiner the base runs the whole schedule and the fraction is not used. --sdxl-original-size and --sdxl-target-size
(WIDTHxHEIGHT) default to the output size; diffusers takes them as (height, width).
"""

from __future__ import annotations

from typing import Any

from dgenerate.jobs import Job
from dgenerate.models.loader import LoadedModel
from dgenerate.render.calls import Progress, call_pipeline

DEFAULT_HIGH_NOISE_FRACTION = 0.8


def micro_conditioning(job: Job) -> dict[str, tuple[int, int]]:
    """original_size and target_size in diffusers' (height, width) order, defaulting to the output size."""
    assert job.width is not None and job.height is not None, "the render loop sets the output size on every job"
    size = (job.width, job.height)
    original = job.sdxl_original_size or size
    target = job.sdxl_target_size or size
    return {"original_size": (original[1], original[0]), "target_size": (target[1], target[0])}


def generate_sdxl(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """Images for one call's jobs (they differ only in prompt and seed); each draws noise from its own generator."""
    first = group[0]
    inputs: dict[str, Any] = {"width": first.width, "height": first.height, **micro_conditioning(first)}
    if model.refiner is None:
        return list(call_pipeline(model, model.pipeline, group, progress, **inputs))
    fraction = DEFAULT_HIGH_NOISE_FRACTION if first.high_noise_fraction is None else first.high_noise_fraction
    latents = call_pipeline(model, model.pipeline, group, progress, output_type="latent", denoising_end=fraction,
                            **inputs)
    refine = {"original_size": inputs["original_size"], "target_size": inputs["target_size"]}
    return list(call_pipeline(model, model.refiner, group, progress, image=latents, denoising_start=fraction,
                              **refine))
