"""Stable Diffusion XL: one base call, then the refiner on the base's latents when --sdxl-refiner is given.

With a refiner, the base denoises the first `high_noise_fraction` of the schedule (denoising_end) and hands its
latents to the refiner, which does the rest (denoising_start), as in diffusers' "ensemble of expert denoisers".
Resolution sets the fraction (resolve.DEFAULT_HIGH_NOISE_FRACTION without --sdxl-high-noise-fractions) and the
micro-conditioning sizes (WIDTHxHEIGHT, the output size by default); diffusers takes sizes as (height, width).
"""

from __future__ import annotations

from typing import Any

from dgenerate.jobs import Job
from dgenerate.models.loader import LoadedModel
from dgenerate.render.calls import Progress, call_pipeline


def micro_conditioning(job: Job) -> dict[str, tuple[int, int]]:
    """original_size and target_size of a resolved SDXL job in diffusers' (height, width) order."""
    original, target = job.sdxl_original_size, job.sdxl_target_size
    assert original is not None and target is not None, "resolved SDXL jobs record their micro-conditioning"
    return {"original_size": (original[1], original[0]), "target_size": (target[1], target[0])}


def high_noise_fraction(job: Job) -> float:
    assert job.high_noise_fraction is not None, "resolved jobs with a refiner record their high noise fraction"
    return job.high_noise_fraction


def generate_sdxl(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """Images for one call's jobs (they differ only in prompt and seed); each draws noise from its own generator."""
    first = group[0]
    inputs: dict[str, Any] = {"width": first.width, "height": first.height, **micro_conditioning(first)}
    if model.refiner is None:
        return list(call_pipeline(model.pipeline, group, progress, **inputs))
    fraction = high_noise_fraction(first)
    latents = call_pipeline(model.pipeline, group, progress, output_type="latent", denoising_end=fraction,
                            **inputs)
    refine = {"original_size": inputs["original_size"], "target_size": inputs["target_size"]}
    return list(call_pipeline(model.refiner, group, progress, image=latents, denoising_start=fraction,
                              **refine))
