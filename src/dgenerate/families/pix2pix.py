"""InstructPix2Pix: Stable Diffusion 1.x's UNet taught to change an image by instruction ("make it winter"). The image
seed is the image to change, kept as closely as --image-guidance-scales says; it has no strength and no text to
image."""

from __future__ import annotations

from dataclasses import replace

from dgenerate.families._family import DEEPCACHE, IMAGE_GUIDANCE, Checkpoint, Family, Pipeline, cfg_scale
from dgenerate.families.sd import FAMILY as SD
from dgenerate.jobs import Job
from dgenerate.naming import format_number

DEFAULT_IMAGE_GUIDANCE = 1.5  # diffusers' InstructPix2Pix pipelines' default


def complete(job: Job) -> Job:
    """The image guidance scale, recorded (diffusers' default when not given)."""
    scale = DEFAULT_IMAGE_GUIDANCE if job.image_guidance_scale is None else job.image_guidance_scale
    return replace(job, image_guidance_scale=scale)


def a1111_guidance(job: Job) -> str:
    """AUTOMATIC1111's instruct-pix2pix fields."""
    assert job.image_guidance_scale is not None, "resolved edit jobs record their image guidance"
    return f"{cfg_scale(job)}, Image CFG scale: {format_number(job.image_guidance_scale)}"


NEEDS = "an image to change, without a mask: --image-seeds photo.png"

FAMILY = Family(
    model_type="torch-pix2pix",
    name="InstructPix2Pix",
    order=9,
    index_classes=("StableDiffusionInstructPix2PixPipeline",),
    pipelines={"img2img": Pipeline("StableDiffusionInstructPix2PixPipeline", sized=False, strength=False)},
    denoiser="unet",
    supports=frozenset({DEEPCACHE, IMAGE_GUIDANCE}),
    needs=NEEDS,
    checkpoints=(Checkpoint("pix2pix", "InstructPix2Pix", ("cond_stage_model.transformer.",), in_channels=8),),
    a1111_guidance=a1111_guidance,
    complete=complete,
    load_arguments=SD.load_arguments,
)
