"""A tiny Kolors pipeline with seeded random weights, built offline in seconds: SDXL's UNet reading a ChatGLM3 text
encoder through a text projection, and ChatGLM's SentencePiece tokenizer.

The tokenizer is a character-level SentencePiece model trained in-process on a fixed text with one thread: a character
model's vocabulary is the text's characters by frequency, so it is the same on every run and machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_TEXT = 32
# The characters the tokenizer knows (anything else is <unk>), each line one training sentence.
_ALPHABET = ("abcdefghijklmnopqrstuvwxyz\nABCDEFGHIJKLMNOPQRSTUVWXYZ\n0123456789\n.,;:!?'\"-()[]/&%+=*#@\n"
             "a red circle on a blue background; the quick brown fox jumps over the lazy dog")


def _tokenizer_model(path: Path) -> Path:
    import io

    import sentencepiece

    written = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_ALPHABET.split("\n")), model_writer=written, model_type="char", vocab_size=85,
        character_coverage=1.0, num_threads=1, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, minloglevel=2,
    )
    path.write_bytes(written.getvalue())
    return path


def _tiny_chatglm(vocab_size: int) -> Any:
    """ChatGLM declares no weight initialisation, which transformers then leaves as allocated: every weight is drawn
    here (norms at 1, the rest N(0, 0.02), as GLM initialises), from the seeded generator."""
    import torch
    from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig, ChatGLMModel

    model = ChatGLMModel(ChatGLMConfig(
        num_layers=2, padded_vocab_size=vocab_size, hidden_size=_TEXT, ffn_hidden_size=2 * _TEXT, kv_channels=8,
        num_attention_heads=4, seq_length=256, multi_query_attention=True, multi_query_group_num=2,
        add_qkv_bias=True, original_rope=True,
    ))
    with torch.no_grad():
        for name, weight in model.named_parameters():
            if "layernorm" in name:
                weight.fill_(1.0)
            else:
                weight.normal_(0.0, 0.02)
    return model


def build_tiny_kolors(folder: Path, seed: int = 0) -> Path:
    """Save a tiny Kolors-shaped pipeline into `folder`; native 64x64 (sizes multiples of 8)."""
    import torch
    from diffusers import EulerDiscreteScheduler, KolorsPipeline, UNet2DConditionModel
    from diffusers.pipelines.kolors.tokenizer import ChatGLMTokenizer

    from tests.tiny_models import _tiny_vae

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = ChatGLMTokenizer(str(_tokenizer_model(folder.parent / "kolors-tokenizer.model")))
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), norm_num_groups=8, cross_attention_dim=48,
        encoder_hid_dim_type="text_proj", encoder_hid_dim=_TEXT, projection_class_embeddings_input_dim=6 * 8 + _TEXT,
    )
    torch.manual_seed(seed)
    vae = _tiny_vae()
    torch.manual_seed(seed)
    text_encoder = _tiny_chatglm(len(tokenizer))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.014, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipeline: Any = KolorsPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, force_zeros_for_empty_prompt=False)
    pipeline.save_pretrained(folder)
    return folder
