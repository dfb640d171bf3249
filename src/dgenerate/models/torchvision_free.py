"""transformers processors that diffusers pipelines name, loaded without torchvision.

transformers 5 builds a Qwen2-VL processor only with a video processor, and its video processors need torchvision
(PyPI's is a CUDA build that does not load beside a CPU torch). Qwen-Image-Edit's pipelines show the encoder images,
never video, so their processor is loaded as the image-only subclass below, with transformers' Pillow image processor
(the same one whether torchvision is installed or not, so an image is encoded alike on every machine).

FLUX.2 [dev] folders name transformers' PixtralProcessor as their tokenizer, which cannot be built without torchvision
at all; the pipeline reads prompts through its tokenizer's chat template only (its image side serves prompt
upsampling, which dgenerate does not run). Such a folder is loaded through a folder of links to its parts whose
model_index.json names the tokenizer itself, and the tokenizer is loaded from its folder with its chat template.
"""

from __future__ import annotations

import contextlib
import functools
import json
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

QWEN2_VL_PROCESSOR = ["transformers", "Qwen2VLProcessor"]
PIXTRAL_PROCESSOR = ["transformers", "PixtralProcessor"]
_TOKENIZER = ["transformers", "PreTrainedTokenizerFast"]


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


@contextlib.contextmanager
def loadable(folder: Path, index: Mapping[str, Any]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The folder to load a pipeline from, and the parts to pass to from_pretrained: the folder itself with the
    processor parts above, or for a folder that names a PixtralProcessor a folder of links to its parts (removed
    after loading) with its tokenizer."""
    if index.get("tokenizer") != PIXTRAL_PROCESSOR:
        yield folder, processor_parts(folder, index)
        return
    with tempfile.TemporaryDirectory(prefix="dgenerate-parts-") as temporary:
        linked = Path(temporary)
        for entry in folder.iterdir():
            if entry.name != "model_index.json":
                (linked / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
        (linked / "model_index.json").write_text(json.dumps({**index, "tokenizer": _TOKENIZER}))
        yield linked, {"tokenizer": chat_tokenizer(folder / "tokenizer")}


def chat_tokenizer(folder: Path) -> Any:
    """A processor folder's tokenizer, with the chat template the folder keeps (beside the tokenizer, or in the
    processor's configuration)."""
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    if tokenizer.chat_template is None:
        for name in ("chat_template.json", "processor_config.json"):
            path = folder / name
            if path.is_file() and isinstance(json.loads(path.read_text()).get("chat_template"), str):
                tokenizer.chat_template = json.loads(path.read_text())["chat_template"]
                break
    return tokenizer
