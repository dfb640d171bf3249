"""The `depth` processor: a depth map from a transformers depth-estimation model in a local folder (DPT, Depth
Anything, ...: its config.json, model.safetensors and preprocessor_config.json), as ControlNet depth models take it:
nearer is brighter, grey, the picture's size.

These models predict relative inverse depth; the map is stretched to the full 0-255 range per picture (the farthest
point black, the nearest white). Weights are read from safetensors only; a folder without them is one line.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from PIL import Image

from dgenerate.errors import UsageError


def check_depth_folder(text: str) -> None:
    """A folder with a config.json and safetensors weights (raises ValueError with the fix: a processor setting)."""
    folder = Path(text).expanduser()
    if not text:
        raise ValueError("is missing: give a depth model's folder, depth;model=./depth-anything-small")
    if not (folder / "config.json").is_file():
        raise ValueError("is not a model folder (no config.json): give a transformers depth model's folder, such as "
                         "Depth Anything's or DPT's")
    if not any(folder.glob("*.safetensors")):
        raise ValueError("holds no .safetensors weights (pickled weights are not read): convert them, or give the "
                         "model's safetensors release")


@functools.lru_cache(maxsize=2)
def load_depth(folder: str, device: str) -> tuple[Any, Any]:
    """The model (eval mode, on `device`) and its image processor (the Pillow one: no torchvision)."""
    import torch
    import transformers

    from dgenerate.models.loader import quiet_libraries

    quiet_libraries()
    try:
        model = transformers.AutoModelForDepthEstimation.from_pretrained(folder, local_files_only=True,
                                                                         use_safetensors=True)
        processor = transformers.DPTImageProcessorPil.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"depth;model={folder} could not be loaded as a depth model: {reason}") from error
    return model.to(torch.device(device)).eval(), processor


def depth_map(image: Image.Image, folder: str, device: str) -> Image.Image:
    """`image`'s depth map at its size, nearest white."""
    import torch

    model, processor = load_depth(str(Path(folder).expanduser()), device)
    inputs = processor(images=image.convert("RGB"), return_tensors="pt").to(model.device)
    with torch.inference_mode():
        predicted = model(**inputs).predicted_depth.float()
    resized = torch.nn.functional.interpolate(predicted[:, None], size=(image.height, image.width), mode="bicubic",
                                              align_corners=False)[0, 0].cpu()
    low, high = resized.min(), resized.max()
    scaled = (resized - low) / (high - low) if high > low else torch.zeros_like(resized)
    grey = (scaled * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(grey, mode="L").convert("RGB")
