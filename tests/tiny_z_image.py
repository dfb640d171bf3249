"""A tiny Z-Image pipeline with seeded random weights, built offline in seconds: Z-Image's single-stream transformer
(2x2 patches over Flux's 16-channel VAE latents), a Qwen3 text encoder read at its penultimate layer, flow matching."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_flow_models import tiny_flow_vae
from tests.tiny_qwen_text import build_tiny_qwen_tokenizer, tiny_qwen3

_TEXT = 32


def build_tiny_z_image(folder: Path, seed: int = 0) -> Path:
    """Save a tiny Z-Image-shaped pipeline into `folder`; sizes are multiples of 16 (pass one: the pipeline defaults
    to 1024x1024)."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel

    torch.manual_seed(seed)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=16, dim=32, n_layers=1, n_refiner_layers=1,
        n_heads=2, n_kv_heads=2, cap_feat_dim=_TEXT, axes_dims=[4, 6, 6], axes_lens=[256, 128, 128],
    )
    torch.manual_seed(seed)
    vae = tiny_flow_vae(shift_factor=0.1159, scaling_factor=0.3611)
    tokenizer = build_tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = tiny_qwen3(len(tokenizer), _TEXT)
    pipeline: Any = ZImagePipeline(scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), vae=vae,
                                   text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer)
    pipeline.save_pretrained(folder)
    return folder
