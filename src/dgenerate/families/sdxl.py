"""Stable Diffusion XL: a UNet with two CLIP text encoders, micro-conditioning on sizes, and an optional refiner that
finishes the base's latents (--sdxl-refiner)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.families._family import (
    DEEPCACHE,
    PROMPT_WEIGHTING,
    REFINER,
    TEXTUAL_INVERSIONS,
    VARIATION_SEEDS,
    Checkpoint,
    Family,
    Pipeline,
)
from dgenerate.jobs import Job, ModelSpec


def _complete(job: Job) -> Job:
    """Micro-conditioning sizes default to the output size; resolved jobs record them."""
    assert job.width is not None and job.height is not None, "sizes are resolved first"
    size = (job.width, job.height)
    return replace(job, sdxl_original_size=job.sdxl_original_size or size,
                   sdxl_target_size=job.sdxl_target_size or size)


def _call_arguments(job: Job) -> dict[str, Any]:
    """original_size and target_size in diffusers' (height, width) order."""
    original, target = job.sdxl_original_size, job.sdxl_target_size
    assert original is not None and target is not None, "resolved SDXL jobs record their micro-conditioning"
    return {"original_size": (original[1], original[0]), "target_size": (target[1], target[0])}


def _check_loaded(spec: ModelSpec, pipeline: Any) -> None:
    """diffusers loads an SD folder as SDXL with parts missing, and a refiner as a base."""
    if getattr(pipeline.unet.config, "addition_embed_type", None) != "text_time":
        raise UsageError(f"model_path {spec.path!r} is not a Stable Diffusion XL model; use --model-type torch")
    if getattr(pipeline, "text_encoder", None) is None or getattr(pipeline, "text_encoder_2", None) is None:
        raise UsageError(f"model_path {spec.path!r} is an SDXL refiner, not a base model; pass it with --sdxl-refiner "
                         "and give an SDXL base as model_path")


def _checkpoint_of_index(index: Mapping[str, Any]) -> int:
    """A refiner's folder has no first text encoder."""
    return 0 if (index.get("text_encoder") or [None])[0] else 1


FAMILY = Family(
    model_type="torch-sdxl",
    name="Stable Diffusion XL",
    order=1,
    index_classes=("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline", "StableDiffusionXLInpaintPipeline"),
    pipelines={"text": Pipeline("StableDiffusionXLPipeline"),
               "img2img": Pipeline("StableDiffusionXLImg2ImgPipeline", sized=False),
               "inpaint": Pipeline("StableDiffusionXLInpaintPipeline")},
    control_pipelines={"text": Pipeline("StableDiffusionXLControlNetPipeline", control_image="image"),
                       "img2img": Pipeline("StableDiffusionXLControlNetImg2ImgPipeline"),
                       "inpaint": Pipeline("StableDiffusionXLControlNetInpaintPipeline")},
    control_net_class="ControlNetModel",
    denoiser="unet",
    supports=frozenset({DEEPCACHE, REFINER, TEXTUAL_INVERSIONS, PROMPT_WEIGHTING, VARIATION_SEEDS}),
    checkpoints=(Checkpoint("sdxl-base", "SDXL", ("conditioner.embedders.1.model.",)),
                 Checkpoint("sdxl-refiner", "SDXL refiner", ("conditioner.embedders.0.model.",), refiner=True)),
    vae_file_config="sdxl-base",
    refiner_class="StableDiffusionXLImg2ImgPipeline",
    complete=_complete,
    call_arguments=_call_arguments,
    check_loaded=_check_loaded,
    checkpoint_of_index=_checkpoint_of_index,
)
