"""--lora "path;scale": LoRA weights from a file, a folder or a hub repository, fused into the pipeline at its scale.

Fusing adds scale x (B @ A) to each adapted weight once at load time, so generation runs at the speed of the plain
model, and a scale of 0 adds exact zeros: the image is byte-identical to the one without the LoRA. Several LoRAs are
fused one after the other, in the order given (the order is recorded: floating point sums depend on it), so one LoRA
alone gives exactly what it gave before several were possible. The LoRAs and scales are part of the ModelSpec, so
another set is another cache entry (fusing cannot be undone exactly in floating point).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import LoraSpec, ModelSpec
from dgenerate.models.paths import component_folder, first_line, looks_like_path
from dgenerate.models.single_file import check_loadable

ADAPTER_NAME = "dgenerate_lora"


def _option(lora: LoraSpec) -> str:
    return f"--lora {lora.path};{lora.scale:g}"  # the LoRA as the user wrote it, in every error


def lora_source(lora: LoraSpec, model: ModelSpec) -> tuple[str, dict[str, Any]]:
    """The path load_lora_weights reads and its keyword arguments, resolved offline-first."""
    path = Path(lora.path).expanduser()
    if path.is_file():
        check_loadable(path, _option(lora))
        return os.fspath(path.parent), {"weight_name": path.name}
    if looks_like_path(lora.path) and not path.is_dir():
        raise ModelNotFoundError(f"{_option(lora)}: no such file or folder; check the path")
    inside = f"{lora.subfolder}/" if lora.subfolder else ""
    folder = component_folder(lora.path, _option(lora), "LoRA", token=model.auth_token, revision=lora.revision,
                              subfolder=lora.subfolder, files=[inside + (lora.weight_name or "*")], config=False)
    kwargs: dict[str, Any] = {}
    if lora.weight_name:
        kwargs["weight_name"] = lora.weight_name
        check_loadable(folder / lora.weight_name, _option(lora))
    return os.fspath(folder), kwargs


def apply_lora(pipeline: Any, lora: LoraSpec, model: ModelSpec) -> None:
    """Load the LoRA into `pipeline` and fuse it at lora.scale; a LoRA that fits no layer is an error."""
    import diffusers.utils.logging

    source, kwargs = lora_source(lora, model)
    verbosity = diffusers.utils.logging.get_verbosity()
    if verbosity >= diffusers.utils.logging.ERROR:  # our one line says what went wrong
        diffusers.utils.logging.set_verbosity(diffusers.utils.logging.CRITICAL)
    try:
        pipeline.load_lora_weights(source, adapter_name=ADAPTER_NAME, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{_option(lora)} could not be loaded: {_reason(error)}") from error
    finally:
        diffusers.utils.logging.set_verbosity(verbosity)
    if not any(ADAPTER_NAME in names for names in pipeline.get_list_adapters().values()):
        raise ModelError(f"{_option(lora)} matches no layer of this model: it is a LoRA for another architecture "
                         f"(model_path {model.path!r}, --model-type {model.model_type})")
    pipeline.fuse_lora(lora_scale=lora.scale, adapter_names=[ADAPTER_NAME])
    pipeline.unload_lora_weights()


def _reason(error: BaseException) -> str:
    text = str(error)
    if "size mismatch" in text or "shape" in text:
        return "its layer shapes do not match this model (a LoRA for another architecture?)"
    return first_line(error)
