"""A tiny Wan 2.1 text-to-video pipeline with seeded random weights, built offline in seconds: Wan's 3D transformer
in 1x2x2 patches over its causal video VAE (16 latent channels, 8 times smaller a side, 4 times fewer frames), a
one-layer UMT5 encoder with the tests' T5 tokenizer, and UniPC with flow sigmas as the released models ship."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_flow_models import build_tiny_t5_tokenizer

_TEXT = 32


def build_tiny_wan(folder: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline into `folder`; sizes are multiples of 16, frame counts of 4 plus one (pass both: the
    pipeline defaults to 832x480 and 81 frames)."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    tokenizer = build_tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=_TEXT, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=_TEXT, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipeline: Any = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                                scheduler=scheduler)
    pipeline.save_pretrained(folder)
    return folder
