"""A tiny Depth Anything trained in seconds to tell a near plane from a far one, for the depth processor's tests.

Its scenes are two fronto-parallel planes of one checkered material: the far plane fills the picture, the near one
is a rectangle in front of it, and being nearer its checks look larger (2.5 to 4 times). The target is inverse depth,
as Depth Anything predicts it: 1 on the near plane, 0.25 on the far one. The model is transformers' own
DepthAnythingForDepthEstimation with a 2-layer DINOv2 backbone of width 32 on 8-pixel patches, saved as safetensors
with the Pillow DPT image processor's configuration (64x64 pictures).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SIZE = 64


def scene(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A picture (SIZE x SIZE x 3, uint8) and its inverse depth (SIZE x SIZE, float32)."""
    far_check = int(rng.integers(2, 4))
    near_check = round(far_check * rng.uniform(2.5, 4.0))
    colours = rng.integers(0, 256, (2, 3))
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    offset = rng.integers(0, 64, 2)
    far = ((rows + offset[0]) // far_check + (columns + offset[1]) // far_check) % 2
    near = ((rows + offset[1]) // near_check + (columns + offset[0]) // near_check) % 2
    width, height = rng.integers(20, 44, 2)
    left, top = rng.integers(0, SIZE - width), rng.integers(0, SIZE - height)
    inside = (columns >= left) & (columns < left + width) & (rows >= top) & (rows < top + height)
    picture = colours[np.where(inside, near, far)].astype(np.uint8)
    return picture, np.where(inside, 1.0, 0.25).astype(np.float32)


def _model() -> Any:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            patch_size=8, image_size=SIZE, out_features=["stage1", "stage2"], out_indices=[1, 2],
                            reshape_hidden_states=False, apply_layernorm=True)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=32, reassemble_factors=[2, 1],
                                 neck_hidden_sizes=[16, 32], fusion_hidden_size=16, head_hidden_size=16,
                                 patch_size=8)
    return DepthAnythingForDepthEstimation(config)


def build_tiny_depth(folder: Path, steps: int = 400, seed: int = 0) -> Path:
    """Train the tiny model on random scenes and save it (weights and image processor) into `folder`."""
    import torch
    from transformers import DPTImageProcessorPil

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = _model()
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(steps):
        pictures, depths = zip(*(scene(rng) for _ in range(16)), strict=True)
        pixels = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float() / 127.5 - 1
        target = torch.from_numpy(np.stack(depths))
        predicted = model(pixel_values=pixels).predicted_depth
        predicted = torch.nn.functional.interpolate(predicted[:, None], size=(SIZE, SIZE), mode="bilinear")[:, 0]
        loss = torch.nn.functional.mse_loss(predicted, target)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval().save_pretrained(folder, safe_serialization=True)
    DPTImageProcessorPil(size={"height": SIZE, "width": SIZE}, keep_aspect_ratio=False, ensure_multiple_of=8,
                         image_mean=[0.5] * 3, image_std=[0.5] * 3).save_pretrained(folder)
    return folder
