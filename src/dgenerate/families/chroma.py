"""Chroma: Flux's transformer without CLIP and without guidance embedding (a small approximator network gives its
modulations), one T5 encoder whose padding is masked, real classifier-free guidance with a negative prompt, flow
matching on sigmas of its own."""

from __future__ import annotations

from typing import Any

from dgenerate.families._family import (
    MAX_SEQUENCE_LENGTH,
    TAYLORSEER,
    TRANSFORMER,
    Checkpoint,
    Family,
    Pipeline,
    flow_steps,
)
from dgenerate.jobs import ModelSpec


def _check_loaded(_spec: ModelSpec, pipeline: Any) -> None:
    """diffusers' Chroma inpainting pipeline reads `guidance_embeds` from the transformer's configuration, which
    ChromaTransformer2DModel does not declare: a Chroma folder saved by diffusers lacks it (the published Chroma1-HD's
    carries False). Chroma embeds no guidance, so the missing value is False."""
    if "guidance_embeds" not in pipeline.transformer.config:
        pipeline.transformer.register_to_config(guidance_embeds=False)

FAMILY = Family(
    model_type="torch-chroma",
    name="Chroma",
    order=4,
    index_classes=("ChromaPipeline", "ChromaImg2ImgPipeline", "ChromaInpaintPipeline"),
    pipelines={"text": Pipeline("ChromaPipeline"),
               "img2img": Pipeline("ChromaImg2ImgPipeline"),
               "inpaint": Pipeline("ChromaInpaintPipeline")},
    denoiser="transformer",
    supports=frozenset({TAYLORSEER, TRANSFORMER, MAX_SEQUENCE_LENGTH}),
    patch=2,
    default_sample_size=128,  # ChromaPipeline's default_sample_size, as Flux's
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=512,
    transformer_class="ChromaTransformer2DModel",
    transformer_markers=("distilled_guidance_layer.",),
    checkpoints=(Checkpoint("chroma", "Chroma", ("model.diffusion_model.distilled_guidance_layer.",
                                                 "distilled_guidance_layer."), bundled=False),),
    strength_steps=flow_steps,
    check_loaded=_check_loaded,
)
