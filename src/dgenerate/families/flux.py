"""Flux (FLUX.1 dev and schnell, and Flux Fill): a transformer with double and single blocks, CLIP and T5 encoders,
flow matching on sigmas of its own, embedded (distilled) guidance and optional true guidance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.families._family import (
    FIRST_BLOCK_CACHE,
    MAX_SEQUENCE_LENGTH,
    TAYLORSEER,
    TRANSFORMER,
    TRUE_GUIDANCE,
    Checkpoint,
    Family,
    Pipeline,
    Variant,
    cfg_scale,
    flow_steps,
)
from dgenerate.jobs import Job
from dgenerate.naming import format_number


def _a1111_guidance(job: Job) -> str:
    """As Forge writes it: the embedded guidance is "Distilled CFG Scale", the true guidance "CFG scale"."""
    if job.true_guidance_scale is None:
        return cfg_scale(job)
    return (f"CFG scale: {format_number(job.true_guidance_scale)}, "
            f"Distilled CFG Scale: {format_number(job.guidance_scale)}")


def _original_layout_refusal(config: Mapping[str, Any]) -> str | None:
    """diffusers' converter of Black Forest Labs' layout fixes FLUX.1's width (inner_dim 3072): a transformer of another
    width (a tiny or a narrowed one) cannot be read that way."""
    width = int(config.get("num_attention_heads", 24)) * int(config.get("attention_head_dim", 128))
    if width == _FLUX1_WIDTH:
        return None
    return f"{width} wide, and diffusers converts that layout only at FLUX.1's width of {_FLUX1_WIDTH}"


_FLUX1_WIDTH = 3072

FAMILY = Family(
    model_type="torch-flux",
    name="Flux",
    order=3,
    index_classes=("FluxPipeline", "FluxImg2ImgPipeline", "FluxInpaintPipeline", "FluxFillPipeline"),
    pipelines={"text": Pipeline("FluxPipeline", true_cfg=True),
               "img2img": Pipeline("FluxImg2ImgPipeline", true_cfg=True),
               "inpaint": Pipeline("FluxInpaintPipeline", true_cfg=True)},
    control_pipelines={"text": Pipeline("FluxControlNetPipeline", true_cfg=True),
                       "img2img": Pipeline("FluxControlNetImg2ImgPipeline", negative_prompt=False),
                       "inpaint": Pipeline("FluxControlNetInpaintPipeline", negative_prompt=False)},
    control_net_class="FluxControlNetModel",
    denoiser="transformer",
    supports=frozenset({FIRST_BLOCK_CACHE, TAYLORSEER, TRANSFORMER, TRUE_GUIDANCE, MAX_SEQUENCE_LENGTH}),
    patch=2,
    default_sample_size=128,  # FluxPipeline's default_sample_size
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=512,
    transformer_class="FluxTransformer2DModel",
    transformer_markers=("single_transformer_blocks.",),
    checkpoints=(Checkpoint("flux", "Flux", ("model.diffusion_model.double_blocks.", "double_blocks."),
                            bundled=False),),
    variants=(Variant("FluxFillPipeline", "Flux Fill",
                      {"inpaint": Pipeline("FluxFillPipeline", negative_prompt=False)},
                      "which fills the white of a mask: give --image-seeds 'image;mask'"),),
    strength_steps=flow_steps,
    a1111_guidance=_a1111_guidance,
    original_layout_refusal=_original_layout_refusal,
)
