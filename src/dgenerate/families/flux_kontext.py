"""Flux Kontext: FLUX.1's components trained to change an image by instruction. The image seed is the image to change
(no strength: the prompt says what changes); with a mask it inpaints the white of it; with no image it draws from text.

The pipelines scale the output to about one megapixel (`max_area`) and snap an image seed to one of Kontext's trained
sizes; dgenerate's sizes win instead: the call names the resolved size as the area, and the image is not resized
again."""

from __future__ import annotations

from typing import Any

from dgenerate.families._family import (
    FIRST_BLOCK_CACHE,
    MAX_SEQUENCE_LENGTH,
    TAYLORSEER,
    TRANSFORMER,
    TRUE_GUIDANCE,
    Family,
    Pipeline,
    flow_steps,
)
from dgenerate.families.flux import FAMILY as FLUX
from dgenerate.jobs import Job


def _call_arguments(job: Job) -> dict[str, Any]:
    assert job.width is not None and job.height is not None, "sizes are resolved first"
    return {"max_area": job.width * job.height, "_auto_resize": False}


FAMILY = Family(
    model_type="torch-flux-kontext",
    name="Flux Kontext",
    order=5,
    index_classes=("FluxKontextPipeline", "FluxKontextInpaintPipeline"),
    pipelines={"text": Pipeline("FluxKontextPipeline", true_cfg=True),
               "img2img": Pipeline("FluxKontextPipeline", true_cfg=True, strength=False),
               "inpaint": Pipeline("FluxKontextInpaintPipeline", true_cfg=True)},
    denoiser="transformer",
    supports=frozenset({FIRST_BLOCK_CACHE, TAYLORSEER, TRANSFORMER, TRUE_GUIDANCE, MAX_SEQUENCE_LENGTH}),
    patch=2,
    default_sample_size=128,
    flow_matching=True,
    custom_sigmas=True,
    default_sequence_length=512,
    transformer_class="FluxTransformer2DModel",
    strength_steps=flow_steps,
    a1111_guidance=FLUX.a1111_guidance,
    call_arguments=_call_arguments,
    original_layout_refusal=FLUX.original_layout_refusal,
)
