"""A tiny Qwen-style text side, built offline: a byte-level BPE tokenizer with Qwen's chat tokens and template, and
small Qwen3 and Qwen2.5-VL text encoders with seeded random weights (Z-Image, Flux.2 Klein and Qwen-Image read their
prompts through these).

The tokenizer's vocabulary is the 256 byte-level symbols (no merges, so every byte is one token) and the chat special
tokens: nothing is trained, so it is the same on every run and machine.
"""

from __future__ import annotations

from typing import Any

SPECIAL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
           "<|video_pad|>", "<think>", "</think>")
# Qwen's chat layout, shortened: each message as <|im_start|>role, its content, <|im_end|>; the assistant turn opened
# at the end when asked for.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% elif part['type'] == 'text' %}"
    "{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_qwen_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    tokenizer = Qwen2TokenizerFast(tokenizer_object=backend, unk_token=None, bos_token=None,
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=32768)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL)})
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_qwen3(vocab_size: int, width: int) -> Any:
    """A two-layer Qwen3 (Z-Image and Flux.2 Klein read its hidden states)."""
    from transformers import Qwen3Config, Qwen3Model

    return Qwen3Model(Qwen3Config(
        vocab_size=vocab_size, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=width // 4, max_position_embeddings=1024,
        tie_word_embeddings=False,
    ))


def tiny_qwen2_5_vl(tokenizer: Any, width: int) -> Any:
    """A two-layer Qwen2.5-VL (Qwen-Image reads its last hidden state; its edit models also show it the image through
    a one-block vision tower of 14-pixel patches merged 2x2, as the real one's)."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in SPECIAL}
    text = {"vocab_size": len(tokenizer), "hidden_size": width, "intermediate_size": 2 * width,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 4096,
            "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}, "rope_theta": 1_000_000.0,
            "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"]}
    vision = {"depth": 1, "hidden_size": 16, "intermediate_size": 32, "num_heads": 2, "out_hidden_size": width,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "fullatt_block_indexes": [0],
              "window_size": 112, "in_channels": 3}
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                              video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                              vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False,
                              bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"])
    return Qwen2_5_VLForConditionalGeneration(config)
