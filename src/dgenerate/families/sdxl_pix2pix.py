"""InstructPix2Pix on Stable Diffusion XL (its two CLIP encoders and micro-conditioning): an image changed by
instruction, kept as closely as --image-guidance-scales says; no strength and no text to image."""

from __future__ import annotations

from dgenerate.families import pix2pix
from dgenerate.families._family import DEEPCACHE, IMAGE_GUIDANCE, Family, Pipeline
from dgenerate.families.sdxl import FAMILY as SDXL
from dgenerate.jobs import Job


def _complete(job: Job) -> Job:
    return pix2pix.complete(SDXL.complete(job))


FAMILY = Family(
    model_type="torch-sdxl-pix2pix",
    name="SDXL InstructPix2Pix",
    order=10,
    index_classes=("StableDiffusionXLInstructPix2PixPipeline",),
    pipelines={"img2img": Pipeline("StableDiffusionXLInstructPix2PixPipeline", strength=False, step_callback=False)},
    denoiser="unet",
    supports=frozenset({DEEPCACHE, IMAGE_GUIDANCE}),
    needs=pix2pix.NEEDS,
    a1111_guidance=pix2pix.a1111_guidance,
    complete=_complete,
    call_arguments=SDXL.call_arguments,
)
