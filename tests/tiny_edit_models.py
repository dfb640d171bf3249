"""Tiny instruction-editing and upscaling pipelines (InstructPix2Pix on SD and SDXL, the SD x4 upscaler) with seeded
random weights, built offline in seconds from the tiny SD and SDXL models' parts.

InstructPix2Pix's UNet reads the noisy latents and the image's latents side by side (8 input channels); the x4
upscaler's reads the latents and the low-resolution image itself (4 + 3), with the noise level as a class label, and
its VAE has three levels (scale factor 4), so the picture is four times the image seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _unet_of(model: Path, seed: int, **changes: Any) -> Any:
    """A UNet of `model`'s configuration with `changes`, seeded afresh."""
    import torch
    from diffusers import UNet2DConditionModel

    config = {**json.loads((model / "unet" / "config.json").read_text()), **changes}
    torch.manual_seed(seed)
    return UNet2DConditionModel.from_config(config)


def build_tiny_pix2pix(folder: Path, base: Path, seed: int = 2) -> Path:
    """An InstructPix2Pix pipeline from the tiny SD model `base`'s parts and an 8-channel UNet."""
    from diffusers import StableDiffusionInstructPix2PixPipeline

    parts = StableDiffusionInstructPix2PixPipeline.from_pretrained(base, safety_checker=None).components
    pipeline: Any = StableDiffusionInstructPix2PixPipeline(**{**parts, "unet": _unet_of(base, seed, in_channels=8)})
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_sdxl_pix2pix(folder: Path, base: Path, seed: int = 2) -> Path:
    """An SDXL InstructPix2Pix pipeline from the tiny SDXL model `base`'s parts and an 8-channel UNet."""
    from diffusers import StableDiffusionXLInstructPix2PixPipeline

    parts = StableDiffusionXLInstructPix2PixPipeline.from_pretrained(base).components
    pipeline: Any = StableDiffusionXLInstructPix2PixPipeline(
        **{**parts, "unet": _unet_of(base, seed, in_channels=8)}, add_watermarker=False)
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_upscaler(folder: Path, base: Path, seed: int = 2) -> Path:
    """An SD x4 upscaler from the tiny SD model `base`'s text encoder and tokenizer: a 7-channel UNet with 1000 noise
    level classes, a three-level VAE (scale factor 4) and the published model's schedulers."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, DDPMScheduler, StableDiffusionUpscalePipeline
    from transformers import CLIPTextModel, CLIPTokenizer

    unet = _unet_of(base, seed, in_channels=7, num_class_embeds=1000, sample_size=16)
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3, norm_num_groups=8,
        sample_size=64, scaling_factor=0.08333,
    )
    pipeline: Any = StableDiffusionUpscalePipeline(
        vae=vae, text_encoder=CLIPTextModel.from_pretrained(base / "text_encoder"),
        tokenizer=CLIPTokenizer.from_pretrained(base / "tokenizer"), unet=unet,
        low_res_scheduler=DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.0001, beta_end=0.02, clip_sample=False,
                                prediction_type="v_prediction", set_alpha_to_one=False, steps_offset=1),
        max_noise_level=350,
    )
    pipeline.save_pretrained(folder)
    return folder
