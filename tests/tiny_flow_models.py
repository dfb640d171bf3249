"""Tiny flow-matching pipelines (Flux, Flux Fill, SD3) with seeded random weights, built offline in seconds.

Their shapes follow the real models' (16 latent channels, VAE scale factor 8, Flux's 2x2 latent packing and SD3's
patch size 2), so size rules and channel arithmetic are exercised as for the real ones; only widths and depths shrink.
The CLIP tokenizers are the real one shipped with the built-in model. The T5 tokenizer is a small Unigram vocabulary
written out here: hub tokenizers cannot be downloaded, and `tokenizers`' Unigram trainer gives a different vocabulary
on every run, so the pieces and their scores are fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgenerate.models.paths import builtin_tokenizer_path

# Whole words the T5 tokenizer knows, space-separated; anything else is spelled from the single characters below.
_T5_WORDS = (
    "a an the of and or with without in on at by to for from over under near behind into is are this that it its "
    "photo picture painting drawing sketch render image portrait landscape closeup view style art oil watercolor "
    "cat dog bird horse fish squirrel fox owl cow rabbit astronaut robot man woman child person people face hands "
    "eating riding sitting standing running flying holding wearing looking sleeping playing "
    "burger apple fruit bowl cup table chair book lamp window door house castle city street road bridge car boat "
    "tree trees flower flowers forest garden field grass mountain mountains river lake sea ocean beach sky cloud "
    "clouds sun moon star stars rain snow fire water stone wood wooden glass metal gold silver paper "
    "red orange yellow green blue purple pink brown black white gray grey dark light bright colorful "
    "circle square triangle shape shapes line lines dot dots pattern background foreground center left right "
    "big small large tiny tall short old new young beautiful cute happy sad calm detailed simple sharp blurry "
    "high low quality resolution masterpiece realistic photorealistic cinematic lighting shadow shadows "
    "morning evening night sunset sunrise winter summer autumn spring one two three four five many some"
)
_T5_SUFFIXES = ("s", "es", "ed", "ing", "er", "est", "ly", "y")
_T5_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-_()[]{}/\\&%#@*+=<>|~`$^"


def build_tiny_t5_tokenizer() -> Any:
    """A T5-layout tokenizer: <pad>, </s>, <unk> at ids 0, 1, 2, then Unigram pieces; a prompt ends with </s>.

    Known words score above suffixes, suffixes above single characters, so a prompt segments as few pieces as it can.
    """
    from transformers import T5TokenizerFast

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -7.0)]
    vocab += [("▁" + word, -6.0) for word in _T5_WORDS.split()]
    vocab += [(suffix, -8.0) for suffix in _T5_SUFFIXES]
    vocab += [(char, -10.0) for char in _T5_CHARS]
    return T5TokenizerFast(vocab=vocab, extra_ids=0, model_max_length=512)


def tiny_t5(vocab_size: int, width: int) -> Any:
    """A one-layer T5 v1.1-style encoder (gated GELU); relative attention takes any max_sequence_length."""
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=width, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
        relative_attention_num_buckets=8, feed_forward_proj="gated-gelu", pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    ))


def _tiny_clip_config(hidden: int) -> Any:
    """Two layers, because SD3 reads the penultimate hidden state; the real CLIP vocabulary and 77 positions."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        vocab_size=49408, hidden_size=hidden, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407,
        hidden_act="gelu", projection_dim=hidden,
    )


def tiny_flow_vae(shift_factor: float, scaling_factor: float) -> Any:
    """16 latent channels and scale factor 8 as Flux's and SD3's VAEs, with no quant convs, as they have none."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(8, 16, 16, 16), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8,
        sample_size=64, use_quant_conv=False, use_post_quant_conv=False, shift_factor=shift_factor,
        scaling_factor=scaling_factor,
    )


# Flux's T5 and CLIP widths; SD3's two CLIP widths differ (as 768 and 1280 do) and its T5 is wider than both together.
_FLUX_T5, _FLUX_CLIP = 32, 32
_SD3_CLIP_1, _SD3_CLIP_2, _SD3_T5 = 32, 48, 96


def build_tiny_flux(folder: Path, seed: int = 0, fill: bool = False, layers: int = 1) -> Path:
    """Save a tiny FLUX.1-dev-shaped pipeline (guidance-distilled) into `folder`; sensible size 64x64, or 32x32.

    Height and width must be multiples of 16 (VAE scale factor 8 times the 2x2 packing). Flux pipelines default to
    1024x1024 whatever the model, so pass the size. With `fill`, the transformer also takes the masked image's latents
    and the 8x8-unshuffled mask (64 + 64 + 256 input channels, as FLUX.1-Fill-dev's 384) and model_index.json names
    FluxFillPipeline. `layers` double and as many single blocks (1 in every published fixture).
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel, CLIPTokenizer

    packed = 16 * 4
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=packed + (packed + 4 * 8 * 8 if fill else 0), out_channels=packed, num_layers=layers,
        num_single_layers=layers, attention_head_dim=16, num_attention_heads=2, joint_attention_dim=_FLUX_T5,
        pooled_projection_dim=_FLUX_CLIP, guidance_embeds=True, axes_dims_rope=(4, 4, 8),
    )
    torch.manual_seed(seed)
    vae = tiny_flow_vae(shift_factor=0.1159, scaling_factor=0.3611)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(_tiny_clip_config(_FLUX_CLIP))
    tokenizer_2 = build_tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder_2 = tiny_t5(len(tokenizer_2), _FLUX_T5)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    pipeline_class: Any = FluxFillPipeline if fill else FluxPipeline
    pipeline = pipeline_class(
        transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(
            builtin_tokenizer_path()), text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, scheduler=scheduler,
    )
    pipeline.save_pretrained(folder)
    return folder


def build_tiny_flux_kontext(folder: Path, seed: int = 0) -> Path:
    """The tiny Flux's components saved as a FluxKontextPipeline (FLUX.1 Kontext has FLUX.1-dev's shapes)."""
    import json

    build_tiny_flux(folder, seed)
    index = folder / "model_index.json"
    index.write_text(json.dumps({**json.loads(index.read_text()), "_class_name": "FluxKontextPipeline"}, indent=2))
    return folder


def build_tiny_sd3(folder: Path, seed: int = 0) -> Path:
    """Save a tiny SD3-medium-shaped pipeline (two CLIPs with projection, T5, MMDiT) into `folder`; native 64x64.

    Height and width must be multiples of 16 (VAE scale factor 8 times patch size 2), up to 512 (the positional
    embedding covers 32x32 patches). It also runs with text_encoder_3=None, tokenizer_3=None.
    """
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=1, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=_SD3_T5, caption_projection_dim=32,
        pooled_projection_dim=_SD3_CLIP_1 + _SD3_CLIP_2, pos_embed_max_size=32,
    )
    torch.manual_seed(seed)
    vae = tiny_flow_vae(shift_factor=0.0609, scaling_factor=1.5035)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModelWithProjection(_tiny_clip_config(_SD3_CLIP_1))
    torch.manual_seed(seed)
    text_encoder_2 = CLIPTextModelWithProjection(_tiny_clip_config(_SD3_CLIP_2))
    tokenizer_3 = build_tiny_t5_tokenizer()
    torch.manual_seed(seed)
    text_encoder_3 = tiny_t5(len(tokenizer_3), _SD3_T5)
    tokenizer = CLIPTokenizer.from_pretrained(builtin_tokenizer_path())
    pipeline: Any = StableDiffusion3Pipeline(
        transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer, text_encoder_3=text_encoder_3, tokenizer_3=tokenizer_3,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )
    pipeline.save_pretrained(folder)
    return folder

