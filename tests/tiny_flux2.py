"""A tiny FLUX.2 [klein] pipeline with seeded random weights, built offline in seconds: Flux.2's transformer (double and
single blocks with shared modulation, 4-axis RoPE), its 32-channel VAE with 2x2 latent patches, and a Qwen3 encoder
whose layers 9, 18 and 27 the pipeline stacks (so the tiny one has 27 narrow layers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_qwen_text import build_tiny_qwen_tokenizer

_TEXT = 16


def _tiny_qwen3_for_klein(vocab_size: int) -> Any:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    return Qwen3ForCausalLM(Qwen3Config(
        vocab_size=vocab_size, hidden_size=_TEXT, intermediate_size=2 * _TEXT, num_hidden_layers=27,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
        tie_word_embeddings=False,
    ))


def build_tiny_flux2_klein(folder: Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.2 [klein]-shaped pipeline (not step-distilled: it guides with --guidance-scales) into `folder`;
    sizes are multiples of 16 (pass one: the pipeline defaults to 1024x1024)."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Flux2KleinPipeline,
        Flux2Transformer2DModel,
    )

    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=128, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * _TEXT, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=False,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 16, 16, 16), layers_per_block=1, latent_channels=32, norm_num_groups=8,
        sample_size=64, use_quant_conv=True, use_post_quant_conv=True,
    )
    tokenizer = build_tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = _tiny_qwen3_for_klein(len(tokenizer))
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipeline: Any = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       transformer=transformer, is_distilled=False)
    pipeline.save_pretrained(folder)
    return folder
