"""A tiny Qwen-Image pipeline with seeded random weights, built offline in seconds: Qwen-Image's MMDiT over a
Wan-style 16-channel causal VAE (scale factor 8, 2x2 patches), a Qwen2.5-VL text encoder, flow matching. With `edit`,
the same parts saved as a Qwen-Image-Edit (or Edit Plus) folder, with the Qwen2-VL processor that shows the encoder
the image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.tiny_qwen_text import build_tiny_qwen_tokenizer, tiny_qwen2_5_vl

_TEXT = 32


def build_tiny_qwen_image(folder: Path, seed: int = 0, edit: str | None = None) -> Path:
    """Save a tiny Qwen-Image-shaped pipeline into `folder` (`edit`: "QwenImageEditPipeline" or
    "QwenImageEditPlusPipeline"); sizes are multiples of 16 (pass one: the pipelines default to 1024x1024)."""
    import diffusers
    import torch
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel

    torch.manual_seed(seed)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=64, out_channels=16, num_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=_TEXT, axes_dims_rope=(4, 6, 6),
    )
    torch.manual_seed(seed)
    vae = AutoencoderKLQwenImage(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                                 temperal_downsample=[False, True, True])
    tokenizer = build_tiny_qwen_tokenizer()
    torch.manual_seed(seed)
    text_encoder = tiny_qwen2_5_vl(tokenizer, _TEXT)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=1.0, use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                                base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                                                time_shift_type="exponential")
    parts: dict[str, Any] = {"scheduler": scheduler, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer,
                             "transformer": transformer}
    if edit is not None:
        parts["processor"] = _processor(tokenizer)
    pipeline: Any = getattr(diffusers, edit or "QwenImagePipeline")(**parts)
    pipeline.save_pretrained(folder)
    if edit is not None:
        _as_published(folder)
    return folder


def _processor(tokenizer: Any) -> Any:
    """The Qwen2-VL processor without a video processor (which needs torchvision), as dgenerate loads it."""
    from transformers import Qwen2VLImageProcessorPil

    from dgenerate.models.torchvision_free import image_only_qwen2_vl_processor

    return image_only_qwen2_vl_processor()(
        image_processor=Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, temporal_patch_size=2),
        tokenizer=tokenizer, chat_template=tokenizer.chat_template)


def _as_published(folder: Path) -> None:
    """model_index.json and the processor's configuration name transformers' Qwen2VLProcessor, as the published
    Qwen-Image-Edit folders do (the image-only subclass saved itself under its own name)."""
    for path, key, value in ((folder / "model_index.json", "processor", ["transformers", "Qwen2VLProcessor"]),
                             (folder / "processor" / "processor_config.json", "processor_class", "Qwen2VLProcessor")):
        data = json.loads(path.read_text())
        data[key] = value
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def build_tiny_qwen_edit(folder: Path) -> Path:
    return build_tiny_qwen_image(folder, edit="QwenImageEditPipeline")


def build_tiny_qwen_edit_plus(folder: Path) -> Path:
    return build_tiny_qwen_image(folder, edit="QwenImageEditPlusPipeline")
