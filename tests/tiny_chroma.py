"""A tiny Chroma pipeline with seeded random weights, built offline in seconds: Flux's transformer shape without CLIP
and without guidance embedding (its modulations come from a small approximator network), one T5 encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_flow_models import build_tiny_t5_tokenizer, tiny_flow_vae, tiny_t5

_T5 = 32


def build_tiny_chroma(folder: Path, seed: int = 0) -> Path:
    """Save a tiny Chroma-shaped pipeline into `folder`; sizes are multiples of 16 (pass one: Chroma's pipelines
    default to 1024x1024)."""
    import torch
    from diffusers import ChromaPipeline, ChromaTransformer2DModel, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(seed)
    transformer = ChromaTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=_T5, axes_dims_rope=(4, 4, 8), approximator_num_channels=16, approximator_hidden_dim=32,
        approximator_layers=1,
    )
    torch.manual_seed(seed)
    vae = tiny_flow_vae(shift_factor=0.1159, scaling_factor=0.3611)
    tokenizer = build_tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = tiny_t5(len(tokenizer), _T5)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipeline: Any = ChromaPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   transformer=transformer)
    pipeline.save_pretrained(folder)
    return folder
