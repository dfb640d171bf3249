"""Stable Diffusion 1.x and 2.x: a UNet, one CLIP text encoder, discrete-time schedulers."""

from __future__ import annotations

from typing import Any

from dgenerate.errors import UsageError
from dgenerate.families._family import (
    DEEPCACHE,
    PROMPT_WEIGHTING,
    TEXTUAL_INVERSIONS,
    VARIATION_SEEDS,
    Checkpoint,
    Family,
    Pipeline,
)
from dgenerate.jobs import ModelSpec


def _load_arguments(spec: ModelSpec) -> dict[str, Any]:
    """diffusers loads the safety checker a folder names unless told not to."""
    return {} if spec.safety_checker else {"safety_checker": None, "requires_safety_checker": False}


def _check_loaded(spec: ModelSpec, pipeline: Any) -> None:
    """diffusers loads an SDXL folder as SD with parts missing: say which --model-type it needs."""
    if getattr(pipeline.unet.config, "addition_embed_type", None) == "text_time":
        raise UsageError(f"model_path {spec.path!r} is a Stable Diffusion XL model; add --model-type torch-sdxl")


FAMILY = Family(
    model_type="torch",
    name="Stable Diffusion 1.x/2.x",
    order=0,
    index_classes=("StableDiffusionPipeline", "StableDiffusionImg2ImgPipeline", "StableDiffusionInpaintPipeline"),
    pipelines={"text": Pipeline("StableDiffusionPipeline"),
               "img2img": Pipeline("StableDiffusionImg2ImgPipeline", sized=False),
               "inpaint": Pipeline("StableDiffusionInpaintPipeline")},
    control_pipelines={"text": Pipeline("StableDiffusionControlNetPipeline", control_image="image"),
                       "img2img": Pipeline("StableDiffusionControlNetImg2ImgPipeline"),
                       "inpaint": Pipeline("StableDiffusionControlNetInpaintPipeline")},
    control_net_class="ControlNetModel",
    denoiser="unet",
    supports=frozenset({DEEPCACHE, TEXTUAL_INVERSIONS, PROMPT_WEIGHTING, VARIATION_SEEDS}),
    checkpoints=(Checkpoint("sd1", "SD 1.x", ("cond_stage_model.transformer.",)),
                 Checkpoint("sd2", "SD 2.x", ("cond_stage_model.model.",))),
    vae_file_config="sd1",
    load_arguments=_load_arguments,
    check_loaded=_check_loaded,
)
