"""transformers processors that diffusers pipelines name, loaded without torchvision.

transformers 5 builds a Qwen2-VL processor only with a video processor, and its video processors need torchvision
(PyPI's is a CUDA build that does not load beside a CPU torch). Qwen-Image-Edit's pipelines show the encoder images,
never video, so their processor is loaded as the image-only subclass below, with transformers' Pillow image processor
(the same one whether torchvision is installed or not, so an image is encoded alike on every machine).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

QWEN2_VL_PROCESSOR = ["transformers", "Qwen2VLProcessor"]


@functools.cache
def image_only_qwen2_vl_processor() -> Any:
    """Qwen2VLProcessor without a video processor: its attributes are read from __init__'s signature."""
    from transformers import Qwen2VLProcessor

    class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
        def __init__(self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None,
                     **kwargs: Any) -> None:
            super().__init__(image_processor=image_processor, tokenizer=tokenizer, video_processor=None,
                             chat_template=chat_template, **kwargs)

    return ImageOnlyQwen2VLProcessor


def processor_parts(folder: Path, index: Mapping[str, Any]) -> dict[str, Any]:
    """The processor of a model folder whose model_index.json names one that needs torchvision, loaded without it
    (passed to from_pretrained); nothing for the others."""
    if index.get("processor") != QWEN2_VL_PROCESSOR:
        return {}
    from transformers import Qwen2VLImageProcessorPil

    source = folder / "processor"
    return {"processor": image_only_qwen2_vl_processor().from_pretrained(
        source, image_processor=Qwen2VLImageProcessorPil.from_pretrained(source))}
