"""--transformer: a transformer in place of the model's own (families that declare a transformer class: Stable
Diffusion 3 and Flux), as fine-tunes are shared.

A diffusers folder (or hub repository) with its config.json loads as it is. One file is read with the model's own
transformer configuration (its `transformer/config.json`), never the hub's: in the diffusers layout its weights must be
exactly the ones that configuration has; in the original layout (Black Forest Labs' `double_blocks.*`, Stability's
`joint_blocks.*`, bare or under `model.diffusion_model.` in a whole checkpoint) diffusers converts it. Pickled files
are read weights-only. A `.gguf` file (llama.cpp's format, as Flux and Qwen-Image transformers are shared quantized
to Q8_0, Q4_K, ...) keeps its quantized weights in memory as they are in the file, each layer dequantized to the
model's dtype as it runs (diffusers' GGUF quantizer).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.families import article, checkpoint, family, transformer_weights_of
from dgenerate.jobs import ModelSpec
from dgenerate.models.location import config_folder
from dgenerate.models.paths import (
    SINGLE_FILE_SUFFIXES,
    component_folder,
    config_class_name,
    first_line,
    looks_like_path,
    read_json,
)
from dgenerate.models.single_file import (
    PICKLED_SUFFIXES,
    detect_architecture,
    expected_names,
    load_diffusers_file,
    load_pickled,
    mismatch,
    weight_names,
)

GGUF_SUFFIX = ".gguf"


def _option(model: ModelSpec) -> str:
    return f"--transformer {model.transformer}"


def _class_of(model: ModelSpec) -> str:
    cls = family(model.model_type).transformer_class
    assert cls is not None, "resolution refuses --transformer for a family without one"
    return cls


def check_transformer(model: ModelSpec) -> None:
    """What can be told before any weights load, so that a wrong --transformer stops the run before its first image:
    the path exists, a folder's config names the family's class, a .safetensors or .gguf file's weight names (its
    header) are this family's."""
    assert model.transformer is not None
    option, path = _option(model), Path(model.transformer).expanduser()
    if path.suffix.lower() in (*SINGLE_FILE_SUFFIXES, GGUF_SUFFIX):
        if not path.is_file():
            raise ModelNotFoundError(f"{option}: no such file; check the path")
        if path.suffix.lower() in (".safetensors", GGUF_SUFFIX):
            names = _names(path, option)
            _check_family(names, option, model)
            _check_convertible(names, option, config_folder(model) / "transformer", model)
    elif looks_like_path(model.transformer):
        _check_class(_folder(model), _class_of(model), option)


def load_transformer(model: ModelSpec) -> Any:
    """The transformer --transformer names, in the model's dtype, on the CPU (the pipeline moves it)."""
    import diffusers
    import torch

    assert model.transformer is not None
    option = _option(model)
    cls = getattr(diffusers, _class_of(model))
    dtype = getattr(torch, model.dtype)
    path = Path(model.transformer).expanduser()
    try:
        if path.suffix.lower() in (*SINGLE_FILE_SUFFIXES, GGUF_SUFFIX):
            return _from_file(cls, path, config_folder(model), dtype, model)
        folder = _folder(model)
        _check_class(folder, cls.__name__, option)
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{option} could not be loaded: {first_line(error)}") from error


def _folder(model: ModelSpec) -> Path:
    assert model.transformer is not None
    return component_folder(model.transformer, _option(model), "transformer", token=model.auth_token,
                            hint=" (for a whole pipeline, give its transformer folder)")


def _check_class(folder: Path, wanted: str, option: str) -> None:
    found = config_class_name(folder)
    if found != wanted:
        raise ModelError(f"{option} is {article(found or 'model of no named class')}, and this model takes "
                         f"{article(wanted)}; give a transformer made for it")


def _check_family(names: set[str], option: str, model: ModelSpec) -> None:
    own = family(model.model_type)
    found = transformer_weights_of(names)
    if found is not None and own.transformer_class is not None and found[0].transformer_class == own.transformer_class:
        return  # Flux Kontext's transformer is FLUX.1's: their files cannot be told apart, and either one loads
    what = f"holds {found[1]} weights" if found else \
        f"holds no transformer weights dgenerate knows ({', '.join(sorted(names)[:2]) or 'none'}...)"
    raise ModelError(f"{option} {what}, and model_path {model.path!r} is {own.name}; give a transformer fine-tuned "
                     "from that model")


def _from_file(cls: Any, path: Path, model_folder: Path, dtype: Any, model: ModelSpec) -> Any:
    option = _option(model)
    if not path.is_file():
        raise ModelNotFoundError(f"{option}: no such file; check the path")
    config = model_folder / "transformer"
    names, expected = _names(path, option), expected_names(cls, config)
    gguf = path.suffix.lower() == GGUF_SUFFIX
    if names == expected and not gguf:
        return load_diffusers_file(cls, path, config, dtype)
    if names != expected:
        _check_family(names, option, model)
        if detect_architecture(names) is None:  # the diffusers layout, of another configuration
            raise ModelError(f"{option} does not fit the model's transformer: {_layout_difference(names, expected)}; "
                             f"give a transformer fine-tuned from the model {model.path!r}")
        _check_convertible(names, option, config, model)
    weights: Any = load_pickled(path, option) if path.suffix.lower() in PICKLED_SUFFIXES else os.fspath(path)
    quantized: dict[str, Any] = {}
    if gguf:
        from diffusers import GGUFQuantizationConfig

        quantized["quantization_config"] = GGUFQuantizationConfig(compute_dtype=dtype)
    try:
        return cls.from_single_file(weights, config=os.fspath(model_folder), subfolder="transformer", dtype=dtype,
                                    local_files_only=True, **quantized)
    except (ValueError, RuntimeError, KeyError, IndexError) as error:
        raise ModelError(f"{option}: its weights do not fit the model's transformer ({mismatch(error)}); give a "
                         f"transformer fine-tuned from the model {model.path!r}") from error


def _names(path: Path, option: str) -> set[str]:
    """The weight names of a checkpoint or a GGUF file, read from its header."""
    if path.suffix.lower() != GGUF_SUFFIX:
        return weight_names(path, option)
    try:
        from gguf import GGUFReader
    except ImportError as error:
        raise UsageError(f"{option} is a GGUF file, which needs the gguf package: pip install "
                         "'dgenerate[gguf]'") from error
    try:
        return {tensor.name for tensor in GGUFReader(os.fspath(path)).tensors}
    except (OSError, ValueError, KeyError, IndexError) as error:
        raise ModelError(f"{option} is not a readable GGUF file ({first_line(error)})") from error


def _check_convertible(names: set[str], option: str, config: Path, model: ModelSpec) -> None:
    """A file in the original layout is read through diffusers' converter, which some configurations it cannot take."""
    architecture = detect_architecture(names)
    if architecture is None:
        return
    refusal = family(model.model_type).original_layout_refusal(read_json(config / "config.json", option))
    if refusal is not None:
        raise ModelError(f"{option} is in the original {checkpoint(architecture)[1].name} layout, and the transformer "
                         f"of model_path {model.path!r} is {refusal}; give the transformer in the diffusers layout (a "
                         "folder, or a .safetensors file saved by diffusers)")


def _layout_difference(names: set[str], expected: set[str]) -> str:
    """How a file in the diffusers layout differs from the weights of the model's transformer configuration."""
    missing, extra = sorted(expected - names), sorted(names - expected)
    parts = [f"{len(missing)} weights missing ({missing[0]}...)" if missing else "",
             f"{len(extra)} weights it does not have ({extra[0]}...)" if extra else ""]
    return ", ".join(part for part in parts if part)

