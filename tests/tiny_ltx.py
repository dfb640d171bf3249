"""A tiny LTX-Video text-to-video pipeline with seeded random weights, built offline in seconds: LTX's transformer over
its video VAE (here 4 times smaller a side and 4 times fewer frames, where the released VAE is 32 and 8), a one-layer
T5 encoder with the tests' T5 tokenizer, and FlowMatchEuler with LTX's dynamic shift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_flow_models import build_tiny_t5_tokenizer, tiny_t5

_TEXT = 32


def build_tiny_ltx(folder: Path, seed: int = 0, timestep_conditioning: bool = False) -> Path:
    """Save the tiny pipeline into `folder`; sizes are multiples of 32 (the pipeline's rule), frame counts of 4 plus
    one (pass both: the pipeline defaults to 704x512 and 161 frames). With `timestep_conditioning`, its VAE decodes
    at a timestep, as LTX-Video 0.9.1's and later do."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=timestep_conditioning,
        patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False)
    tokenizer = build_tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = tiny_t5(len(tokenizer), _TEXT)
    torch.manual_seed(seed)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=_TEXT)
    scheduler = FlowMatchEulerDiscreteScheduler(base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
                                                max_image_seq_len=4096, shift=1.0, use_dynamic_shifting=True)
    pipeline: Any = LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                transformer=transformer)
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_ltx_091(folder: Path, seed: int = 0) -> Path:
    """The tiny LTX-Video with a timestep-conditioned VAE (see build_tiny_ltx)."""
    return build_tiny_ltx(folder, seed, timestep_conditioning=True)
