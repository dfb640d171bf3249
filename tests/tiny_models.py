"""Tiny Stable Diffusion pipelines with seeded random weights, built in seconds for tests and benchmarks.

They use the real CLIP tokenizer vocabulary that ships with the built-in model.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from dgenerate.models.paths import builtin_tokenizer_path


def build_tiny_sd(folder: Path, seed: int = 0) -> Path:
    """Save a tiny SD 1.x-shaped pipeline (VAE scale factor 8, native size 64x64) into `folder`."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=8, norm_num_groups=8,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8,
        sample_size=64,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=49408, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
    ))
    # A trained CLIP's final layer norm has a bias, so its hidden states do not average to zero; AUTOMATIC1111's
    # prompt emphasis divides by that average, which a freshly initialised one (bias 0) leaves at about 1e-9.
    torch.nn.init.constant_(text_encoder.final_layer_norm.bias, 0.05)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    tokenizer = CLIPTokenizer.from_pretrained(builtin_tokenizer_path())
    pipeline = StableDiffusionPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        scheduler=scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)
    return folder


def _tiny_vae() -> Any:
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8,
        sample_size=64,
    )


def _tiny_sdxl_unet(cross_attention_dim: int, time_ids: int) -> Any:
    """time_ids: 6 numbers of micro-conditioning for the base, 5 for the refiner (aesthetic score, no target)."""
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), norm_num_groups=8,
        projection_class_embeddings_input_dim=time_ids * 8 + _HIDDEN_2, cross_attention_dim=cross_attention_dim,
    )


# The two text encoders differ in width, as SDXL's do (768 and 1280): single-file loading tells them apart by it.
_HIDDEN_1, _HIDDEN_2 = 32, 48


def _tiny_clip_config(hidden: int) -> Any:
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
        hidden_act="gelu", projection_dim=hidden,
    )


def _sdxl_scheduler() -> Any:
    from diffusers import EulerDiscreteScheduler

    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                  steps_offset=1, timestep_spacing="leading")


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """Save a tiny SDXL base pipeline (two text encoders, VAE scale factor 8, native size 64x64) into `folder`."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    unet = _tiny_sdxl_unet(cross_attention_dim=_HIDDEN_1 + _HIDDEN_2, time_ids=6)
    vae = _tiny_vae()
    text_encoder = CLIPTextModel(_tiny_clip_config(_HIDDEN_1))
    text_encoder_2 = CLIPTextModelWithProjection(_tiny_clip_config(_HIDDEN_2))
    tokenizer = CLIPTokenizer.from_pretrained(builtin_tokenizer_path())
    pipeline: Any = StableDiffusionXLPipeline(
        unet=unet, vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer, scheduler=_sdxl_scheduler(),
    )
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_sdxl_refiner(folder: Path, base: Path | None = None, seed: int = 1) -> Path:
    """Save a tiny SDXL refiner (text_encoder_2 only, aesthetic score conditioning) into `folder`.

    With `base`, the refiner reuses that base's VAE and second text encoder, as the real SDXL refiner does.
    """
    import torch
    from diffusers import AutoencoderKL, StableDiffusionXLImg2ImgPipeline
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    unet = _tiny_sdxl_unet(cross_attention_dim=_HIDDEN_2, time_ids=5)
    if base is None:
        vae, text_encoder_2 = _tiny_vae(), CLIPTextModelWithProjection(_tiny_clip_config(_HIDDEN_2))
    else:
        vae = AutoencoderKL.from_pretrained(base / "vae")
        text_encoder_2 = CLIPTextModelWithProjection.from_pretrained(base / "text_encoder_2")
    tokenizer = CLIPTokenizer.from_pretrained(builtin_tokenizer_path())
    pipeline: Any = StableDiffusionXLImg2ImgPipeline(
        unet=unet, vae=vae, text_encoder=None, text_encoder_2=text_encoder_2, tokenizer=None,
        tokenizer_2=tokenizer, scheduler=_sdxl_scheduler(), requires_aesthetics_score=True,
        force_zeros_for_empty_prompt=False,
    )
    pipeline.save_pretrained(folder)
    return folder


def save_lora(pipeline_class: Any, folder: Path, name: str, component: str = "unet", seed: int = 3) -> Path:
    """A LoRA on the attention projections of the UNet (or an SD3 or Flux transformer) with random (non-zero) A and B,
    as a trained one has."""
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(seed)
    pipeline = pipeline_class.from_pretrained(folder)
    denoiser = getattr(pipeline, component)
    denoiser.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                    target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(denoiser))
    out = folder.parent / f"{name}-lora"
    weight_name = f"{name}_lora.safetensors"
    pipeline_class.save_lora_weights(out, **{f"{component}_lora_layers": layers}, weight_name=weight_name)
    return out / f"{name}_lora.safetensors"


def copy_configs(model: Path, destination: Path) -> Path:
    """A model folder's configuration files (and tokenizers), without its weights."""
    shutil.copytree(model, destination, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return destination


def write_single_file(pipeline_class: Any, model: Path, destination: Path, with_config: bool = True) -> Path:
    """The model as one original-layout .safetensors file, with its '<stem>.config' folder next to it."""
    from safetensors.torch import save_file

    from tests.models.ldm_layout import ldm_state_dict

    save_file(ldm_state_dict(pipeline_class.from_pretrained(model)), destination)
    if with_config:
        copy_configs(model, destination.with_name(destination.stem + ".config"))
    return destination
