"""Stable Diffusion 3.x: an MMDiT transformer, two CLIP encoders and an optional T5 (--no-t5), flow matching."""

from __future__ import annotations

from typing import Any

from dgenerate.families._family import (
    MAX_SEQUENCE_LENGTH,
    NO_T5,
    TAYLORSEER,
    TRANSFORMER,
    VARIATION_SEEDS,
    Checkpoint,
    Family,
    Pipeline,
    flow_steps,
)
from dgenerate.jobs import ModelSpec


def _load_arguments(spec: ModelSpec) -> dict[str, Any]:
    return {"text_encoder_3": None, "tokenizer_3": None} if spec.no_t5 else {}


FAMILY = Family(
    model_type="torch-sd3",
    name="Stable Diffusion 3",
    order=2,
    index_classes=("StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline", "StableDiffusion3InpaintPipeline"),
    pipelines={"text": Pipeline("StableDiffusion3Pipeline"),
               "img2img": Pipeline("StableDiffusion3Img2ImgPipeline"),
               "inpaint": Pipeline("StableDiffusion3InpaintPipeline")},
    control_pipelines={"text": Pipeline("StableDiffusion3ControlNetPipeline")},
    control_net_class="SD3ControlNetModel",
    control_note=" (diffusers has no SD3 ControlNet img2img, and its SD3 ControlNet inpainting takes inpainting "
                 "ControlNets)",
    denoiser="transformer",
    supports=frozenset({TAYLORSEER, NO_T5, TRANSFORMER, MAX_SEQUENCE_LENGTH, VARIATION_SEEDS}),
    patch=2,
    default_sample_size=128,
    flow_matching=True,
    default_sequence_length=256,
    transformer_class="SD3Transformer2DModel",
    transformer_markers=("pos_embed.proj.weight",),
    checkpoints=(Checkpoint("sd3", "Stable Diffusion 3", ("model.diffusion_model.joint_blocks.", "joint_blocks."),
                            bundled=False),),
    strength_steps=flow_steps,
    load_arguments=_load_arguments,
)
