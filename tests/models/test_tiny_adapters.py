"""The tiny ControlNet of tests/tiny_adapters.py runs in diffusers' SD and SDXL ControlNet pipelines and its control
image shows in the output: a mirrored control image gives another image at scale 2, the same one at scale 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.tiny_adapters import build_tiny_controlnet


def _control_pipeline(kind: str, model: Path, controlnet_folder: Path) -> Any:
    import diffusers

    controlnet = diffusers.ControlNetModel.from_pretrained(controlnet_folder)
    if kind == "sd":
        base = diffusers.StableDiffusionPipeline.from_pretrained(model, safety_checker=None,
                                                                 requires_safety_checker=False)
        pipeline = diffusers.StableDiffusionControlNetPipeline.from_pipe(base, controlnet=controlnet)
    else:
        base = diffusers.StableDiffusionXLPipeline.from_pretrained(model)
        pipeline = diffusers.StableDiffusionXLControlNetPipeline.from_pipe(base, controlnet=controlnet)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _halves(mirrored: bool) -> Any:
    from PIL import Image

    pixels = np.zeros((64, 64, 3), np.uint8)
    pixels[:, :32] = 255
    return Image.fromarray(pixels[:, ::-1].copy() if mirrored else pixels)


def _levels(pipeline: Any, scale: float, mirrored: bool) -> Any:
    import torch

    image = pipeline("a red circle", image=_halves(mirrored), num_inference_steps=2, width=64, height=64,
                     controlnet_conditioning_scale=scale, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(0)).images[0]
    return image * 255


def _left_minus_right(image: Any) -> float:
    return float(image[:, :32].mean() - image[:, 32:].mean())


@pytest.mark.parametrize("kind", ["sd", "sdxl"])
def test_the_control_image_shows_in_the_output(kind: str, tiny_model: Path, tiny_sdxl: Path, tmp_path: Path) -> None:
    model = tiny_model if kind == "sd" else tiny_sdxl
    pipeline = _control_pipeline(kind, model, build_tiny_controlnet(model / "unet", tmp_path / "controlnet"))
    off = [_levels(pipeline, 0.0, mirrored) for mirrored in (False, True)]
    on = [_levels(pipeline, 2.0, mirrored) for mirrored in (False, True)]
    assert np.array_equal(off[0], off[1]), "at scale 0 the control image changes nothing"
    moved = float(np.abs(on[0] - on[1]).mean())
    # Measured: SD ~8.9 levels (left minus right -1.12 and +0.10), SDXL ~10.0 (-5.45 and -8.27).
    assert moved > 4.0, (moved, [_left_minus_right(image) for image in on])


def test_the_builder_is_deterministic(tiny_model: Path, tmp_path: Path) -> None:
    first = build_tiny_controlnet(tiny_model / "unet", tmp_path / "a", seed=3)
    second = build_tiny_controlnet(tiny_model / "unet", tmp_path / "b", seed=3)
    other = build_tiny_controlnet(tiny_model / "unet", tmp_path / "c", seed=4)
    weights = "diffusion_pytorch_model.safetensors"
    assert (first / weights).read_bytes() == (second / weights).read_bytes() != (other / weights).read_bytes()
