"""A tiny Wan 2.1 text-to-video pipeline with seeded random weights, built offline in seconds: Wan's 3D transformer
in 1x2x2 patches over its causal video VAE (16 latent channels, 8 times smaller a side, 4 times fewer frames), a
one-layer UMT5 encoder with the tests' T5 tokenizer, and UniPC with flow sigmas as the released models ship."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.tiny_flow_models import build_tiny_t5_tokenizer

_TEXT = 32


def _parts(seed: int, **transformer: Any) -> dict[str, Any]:
    """The VAE, tokenizer, text encoder, transformer (of these settings beyond the shared ones) and scheduler."""
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel

    torch.manual_seed(seed)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    tokenizer = build_tiny_t5_tokenizer()
    text_encoder = _tiny_umt5(len(tokenizer), seed)
    torch.manual_seed(seed)
    denoiser = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16, text_dim=_TEXT,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32, **transformer)
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return {"vae": vae, "tokenizer": tokenizer, "text_encoder": text_encoder, "transformer": denoiser,
            "scheduler": scheduler}


def build_tiny_wan(folder: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline into `folder`; sizes are multiples of 16, frame counts of 4 plus one (pass both: the
    pipeline defaults to 832x480 and 81 frames)."""
    from diffusers import WanPipeline

    pipeline: Any = WanPipeline(**_parts(seed, in_channels=16))
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_wan_i2v(folder: Path, seed: int = 0, last_frame: bool = False) -> Path:
    """Save a tiny Wan 2.1 image-to-video pipeline into `folder`: the text-to-video one's parts, a transformer that
    also takes the image's latents and a CLIP vision encoder's features, and that encoder with its image processor.
    With `last_frame`, a first-and-last-frame model (as Wan2.1-FLF2V): its image embedding has positions for the
    features of both frames (1025 CLIP tokens each)."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    parts = _parts(seed, in_channels=36, image_dim=4, **({"pos_embed_seq_len": 2 * 1025} if last_frame else {}))
    torch.manual_seed(seed)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2,
                                                     num_attention_heads=2, image_size=32, intermediate_size=16,
                                                     patch_size=1))
    image_processor = CLIPImageProcessor(crop_size=32, do_center_crop=True, do_normalize=True, do_resize=True,
                                         image_mean=[0.48145466, 0.4578275, 0.40821073],
                                         image_std=[0.26862954, 0.26130258, 0.27577711], resample=3, size=32)
    pipeline: Any = WanImageToVideoPipeline(**parts, image_encoder=image_encoder, image_processor=image_processor)
    pipeline.save_pretrained(folder)
    for name in ("model_index.json", "image_processor/preprocessor_config.json"):  # as the released folders name it
        path = folder / name
        path.write_text(path.read_text().replace("CLIPImageProcessorPil", "CLIPImageProcessor"))
    return folder


def _tiny_umt5(vocabulary: int, seed: int) -> Any:
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed)
    return UMT5EncoderModel(UMT5Config(
        vocab_size=vocabulary, d_model=_TEXT, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0))


def build_tiny_wan22(folder: Path, seed: int = 0) -> Path:
    """Save a tiny Wan 2.2 text-to-video pipeline into `folder`: two experts, the second (seed + 1) denoising below
    the boundary of 0.875 of the schedule, as Wan 2.2 A14B's folders have them."""
    import torch
    from diffusers import WanPipeline, WanTransformer3DModel

    parts = _parts(seed, in_channels=16)
    torch.manual_seed(seed + 1)
    second = WanTransformer3DModel.from_config(parts["transformer"].config)
    pipeline: Any = WanPipeline(**parts, transformer_2=second, boundary_ratio=0.875)
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_wan_flf2v(folder: Path, seed: int = 0) -> Path:
    """A tiny first-and-last-frame Wan image-to-video pipeline (see build_tiny_wan_i2v)."""
    return build_tiny_wan_i2v(folder, seed, last_frame=True)
