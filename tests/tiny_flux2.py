"""Tiny FLUX.2 pipelines with seeded random weights, built offline in seconds: Flux.2's transformer (double and single
blocks with shared modulation, 4-axis RoPE) and its 32-channel VAE with 2x2 latent patches. [klein] reads prompts with a
Qwen3 encoder whose layers 9, 18 and 27 the pipeline stacks (so the tiny one has 27 narrow layers); [dev] with a
Mistral 3 encoder, layers 10, 20 and 30 (30 narrow layers), through a byte-level tokenizer with Mistral's chat tokens,
saved as the published folders name it (transformers' PixtralProcessor)."""

from __future__ import annotations

import json
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


def _image_parts(seed: int, guidance_embeds: bool) -> tuple[Any, Any, Any]:
    """The transformer (embedding the guidance scale where `guidance_embeds`), the VAE and the scheduler, each seeded
    in that order."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Transformer2DModel

    torch.manual_seed(seed)
    transformer = Flux2Transformer2DModel(
        patch_size=1, in_channels=128, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=3 * _TEXT, timestep_guidance_channels=32,
        axes_dims_rope=(4, 4, 4, 4), guidance_embeds=guidance_embeds,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLFlux2(
        block_out_channels=(8, 16, 16, 16), layers_per_block=1, latent_channels=32, norm_num_groups=8,
        sample_size=64, use_quant_conv=True, use_post_quant_conv=True,
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15,
                                                base_image_seq_len=256, max_image_seq_len=4096)
    return transformer, vae, scheduler


def build_tiny_flux2_klein(folder: Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.2 [klein]-shaped pipeline (not step-distilled: it guides with --guidance-scales) into `folder`;
    sizes are multiples of 16 (pass one: the pipeline defaults to 1024x1024)."""
    import torch
    from diffusers import Flux2KleinPipeline

    transformer, vae, scheduler = _image_parts(seed, guidance_embeds=False)
    tokenizer = build_tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = _tiny_qwen3_for_klein(len(tokenizer))
    pipeline: Any = Flux2KleinPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                       transformer=transformer, is_distilled=False)
    pipeline.save_pretrained(folder)
    return folder


_MISTRAL_SPECIAL = ("<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]",
                    "[IMG]", "[IMG_BREAK]", "[IMG_END]")
# Mistral's chat layout, shortened: the system prompt and the user's text between their tokens
_MISTRAL_CHAT = ("{{ bos_token }}{% for message in messages %}"
                 "{% if message['role'] == 'system' %}[SYSTEM_PROMPT]"
                 "{% elif message['role'] == 'user' %}[INST]{% endif %}"
                 "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
                 "{% endfor %}{% if message['role'] == 'system' %}[/SYSTEM_PROMPT]{% elif message['role'] == 'user' %}"
                 "[/INST]{% endif %}{% endfor %}")


def build_mistral_tokenizer() -> Any:
    """Mistral's special tokens, then the 256 byte-level symbols (no merges: every byte one token, nothing trained)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(_MISTRAL_SPECIAL)}
    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab.update({symbol: len(vocab) + index for index, symbol in enumerate(symbols)})
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens(list(_MISTRAL_SPECIAL))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>", chat_template=_MISTRAL_CHAT)


def _tiny_mistral3(vocab_size: int) -> Any:
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration, MistralConfig, PixtralVisionConfig

    text = MistralConfig(vocab_size=vocab_size, hidden_size=_TEXT, intermediate_size=2 * _TEXT, num_hidden_layers=30,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
                         pad_token_id=3, bos_token_id=1, eos_token_id=2)
    vision = PixtralVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                 head_dim=8, image_size=64, patch_size=16)
    return Mistral3ForConditionalGeneration(Mistral3Config(text_config=text.to_dict(), vision_config=vision.to_dict(),
                                                           image_token_index=8, spatial_merge_size=2))


def build_tiny_flux2_dev(folder: Path, seed: int = 0) -> Path:
    """Save a tiny FLUX.2 [dev]-shaped pipeline (guidance-distilled: its transformer embeds the guidance scale) into
    `folder`, its tokenizer named as the published folders name it; sizes are multiples of 16."""
    import torch
    from diffusers import Flux2Pipeline

    transformer, vae, scheduler = _image_parts(seed, guidance_embeds=True)
    tokenizer = build_mistral_tokenizer()
    torch.manual_seed(seed)
    text_encoder = _tiny_mistral3(len(tokenizer))
    pipeline: Any = Flux2Pipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                  transformer=transformer)
    pipeline.save_pretrained(folder)
    index = json.loads((folder / "model_index.json").read_text())
    index["tokenizer"] = ["transformers", "PixtralProcessor"]
    (folder / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return folder
