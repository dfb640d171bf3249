"""A tiny LTX-2 pipeline with seeded random weights, built offline in seconds: LTX-2's audio-and-video transformer over
its video VAE (here 2 times smaller a side and in time, where the released one is 32 and 8) and its audio VAE and
vocoder, and a two-layer Gemma 3 with a byte-level tokenizer (every byte one token, nothing trained, the same on every
machine) whose layers the text connectors read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_TEXT = 32  # the Gemma's width, which the connectors' 4 heads of 8 keep


def build_gemma_tokenizer() -> Any:
    """Gemma's special tokens (<pad>, <eos>, <bos>, <unk> at 0 to 3) and the 256 byte-level symbols."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GemmaTokenizerFast

    vocab = {token: index for index, token in enumerate(("<pad>", "<eos>", "<bos>", "<unk>"))}
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab.update({symbol: len(vocab) + index for index, symbol in enumerate(symbols)})
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    return GemmaTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                              unk_token="<unk>")


def _gemma3(vocab_size: int) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    text = Gemma3TextConfig(vocab_size=vocab_size, hidden_size=_TEXT, intermediate_size=2 * _TEXT, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=2048,
                            sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                image_size=28, patch_size=14)
    return Gemma3ForConditionalGeneration(Gemma3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                       mm_tokens_per_image=4, image_token_index=3, boi_token_index=2,
                                                       eoi_token_index=1))


def build_tiny_ltx2(folder: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline into `folder`; sizes are multiples of 32 (the pipeline's rule), frame counts of 2 plus
    one."""
    import torch
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    tokenizer = build_gemma_tokenizer()
    torch.manual_seed(seed)
    text_encoder = _gemma3(len(tokenizer))
    torch.manual_seed(seed)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, qk_norm="rms_norm_across_heads",
        caption_channels=_TEXT, rope_double_precision=False, rope_type="split")
    torch.manual_seed(seed)
    connectors = LTX2TextConnectors(
        caption_channels=_TEXT, text_proj_in_factor=3, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    torch.manual_seed(seed)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    torch.manual_seed(seed)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
    torch.manual_seed(seed)
    vocoder = LTX2Vocoder(
        in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000)
    pipeline: Any = LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
                                 text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors,
                                 transformer=transformer, vocoder=vocoder)
    pipeline.save_pretrained(folder)
    return folder
