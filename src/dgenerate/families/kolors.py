"""Kolors: Stable Diffusion XL's UNet and micro-conditioning reading a ChatGLM3 text encoder (its penultimate layer,
through a text projection, and its last token pooled), the discrete-time schedulers; no inpainting pipeline."""

from __future__ import annotations

from dgenerate.families._family import DEEPCACHE, MAX_SEQUENCE_LENGTH, Family, Pipeline
from dgenerate.families.sdxl import FAMILY as SDXL

FAMILY = Family(
    model_type="torch-kolors",
    name="Kolors",
    order=12,
    index_classes=("KolorsPipeline", "KolorsImg2ImgPipeline"),
    pipelines={"text": Pipeline("KolorsPipeline"),
               "img2img": Pipeline("KolorsImg2ImgPipeline")},
    denoiser="unet",
    supports=frozenset({DEEPCACHE, MAX_SEQUENCE_LENGTH}),
    needs="an image without a mask (Kolors has no inpainting pipeline in diffusers): --image-seeds photo.png",
    default_sequence_length=256,  # the Kolors pipelines' max_sequence_length
    complete=SDXL.complete,
    call_arguments=SDXL.call_arguments,
)
