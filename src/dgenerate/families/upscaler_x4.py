"""Stable Diffusion's x4 upscaler: the image seed, with --upscaler-noise-levels of noise added, is denoised by the
prompt at four times its size. Its UNet runs at the image's own size (a VAE of scale factor 4 gives it 4x the pixels),
so sizes are multiples of 8; it has no strength and no text to image. One-file checkpoints (x4-upscaler-ema) load with
a bundled configuration."""

from __future__ import annotations

from dataclasses import replace

from dgenerate.families._family import DEEPCACHE, UPSCALER_NOISE, Checkpoint, Family, Pipeline
from dgenerate.families.sd import FAMILY as SD
from dgenerate.jobs import Job

DEFAULT_NOISE_LEVEL = 20  # diffusers' StableDiffusionUpscalePipeline default


def _complete(job: Job) -> Job:
    level = DEFAULT_NOISE_LEVEL if job.upscaler_noise_level is None else job.upscaler_noise_level
    return replace(job, upscaler_noise_level=level)


FAMILY = Family(
    model_type="torch-upscaler-x4",
    name="SD x4 upscaler",
    order=11,
    index_classes=("StableDiffusionUpscalePipeline",),
    pipelines={"img2img": Pipeline("StableDiffusionUpscalePipeline", sized=False, strength=False,
                                   step_callback=False)},
    denoiser="unet",
    supports=frozenset({DEEPCACHE, UPSCALER_NOISE}),
    patch=2,  # the VAE's scale factor is 4 and the UNet's latents are the image's size: multiples of 8
    output_scale=4,
    # x4-upscaler-ema: SD 2.x's weight names, and a UNet reading the image's 3 channels beside the latents' 4
    checkpoints=(Checkpoint("upscaler-x4", "SD x4 upscaler", ("cond_stage_model.model.",), in_channels=7),),
    edit_word="upscaling",
    needs="an image to upscale, without a mask: --image-seeds photo.png",
    complete=_complete,
    load_arguments=SD.load_arguments,
)
