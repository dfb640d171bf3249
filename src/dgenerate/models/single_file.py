"""model_path (or --sdxl-refiner) as one .safetensors / .ckpt file in an original (non-diffusers) layout, and the
helpers every one-file component uses (weight names, weights-only unpickling, a diffusers-layout file).

Offline by design: the architecture is read from the file's weight names (each family declares its checkpoints; the
UNet's input channels tell InstructPix2Pix from SD 1.x), and its diffusers configuration comes from the configurations
bundled in models/configs (SD 1.x, InstructPix2Pix, SD 2.x as 768-v like SD 2.1, SDXL base, SDXL refiner), never from
the hub. A folder named '<file stem>.config' next to the file, holding a diffusers pipeline's model_index.json and
component configs, is used instead when present: that is how a fine-tune with other sizes or another scheduler (an
SD 2.x 512 epsilon model, say) is described. Pickled files are read weights-only; one that needs code to unpickle is
refused.
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.families import (
    FAMILIES,
    Checkpoint,
    Family,
    architecture_of,
    article,
    checkpoint,
    checkpoints,
    family_of_index,
)
from dgenerate.families import listed as listed_families
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, first_line, model_index, read_json

PICKLED_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


def is_single_file(path: str) -> bool:
    candidate = Path(path).expanduser()
    return candidate.suffix.lower() in SINGLE_FILE_SUFFIXES and candidate.is_file()


def bundled_config(architecture: str) -> Path:
    return Path(str(resources.files("dgenerate") / "models" / "configs" / architecture))


def weight_names(path: Path, option: str) -> set[str]:
    """The weight names in a checkpoint, read without running code (and without reading safetensors weights)."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(os.fspath(path), framework="pt") as handle:
                return set(handle.keys())
        except Exception as error:
            raise ModelError(f"{option}: {str(path)!r} is not a readable .safetensors file ({first_line(error)})") \
                from error
    state = load_pickled(path, option)
    while isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return set(state)


def check_loadable(path: Path, option: str) -> None:
    """Refuse, with one line, a pickled file that weights-only loading cannot read."""
    if path.suffix.lower() in PICKLED_SUFFIXES:
        load_pickled(path, option)


def load_pickled(path: Path, option: str) -> dict[str, Any]:
    """A pickled checkpoint read weights-only; one whose pickle would run code is refused in one line."""
    import pickle

    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as mmap_error:
            if "mmap" not in str(mmap_error):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # the legacy, non-zip format
    except pickle.UnpicklingError as error:
        raise ModelError(f"{option}: {str(path)!r} needs to run pickled code to load, which dgenerate refuses "
                         f"({first_line(error)}); convert it to .safetensors on a machine you trust") from error
    except (OSError, RuntimeError, EOFError, ValueError) as error:
        raise ModelError(f"{option}: {str(path)!r} is not a readable checkpoint ({first_line(error)})") from error
    if not isinstance(state, dict):
        raise ModelError(f"{option}: {str(path)!r} holds a {type(state).__name__}, not a state dict of weights")
    return state


def detect_architecture(names: set[str], in_channels: int | None = None) -> str | None:
    return architecture_of(names, in_channels)


_FIRST_CONV = "model.diffusion_model.input_blocks.0.0.weight"  # a UNet checkpoint's first convolution


def unet_in_channels(path: Path, option: str) -> int | None:
    """The input channels of a UNet checkpoint's first convolution, read from the file's header (a pickled file is
    read weights-only); None where it has none."""
    if path.suffix.lower() == ".safetensors":
        from safetensors import safe_open

        with safe_open(os.fspath(path), framework="pt") as handle:
            if _FIRST_CONV not in handle.keys():  # noqa: SIM118 - safe_open has no __contains__
                return None
            shape = handle.get_slice(_FIRST_CONV).get_shape()
    else:
        state = load_pickled(path, option)
        while isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if _FIRST_CONV not in state:
            return None
        shape = list(state[_FIRST_CONV].shape)
    return int(shape[1]) if len(shape) == 4 else None


def config_for(path: Path, option: str) -> tuple[Path, str]:
    """The diffusers configuration folder for a checkpoint, and the architecture it describes."""
    beside = path.with_name(path.stem + ".config")
    described = (beside / "model_index.json").is_file()  # then the weights need not be read (a .ckpt is unpickled)
    architecture = _architecture_of_folder(beside, f"{option} {str(path)!r}") if described else \
        detect_architecture(weight_names(path, option), unet_in_channels(path, option))
    if architecture is None:
        known = ", ".join(each.name for owner in FAMILIES.values() for each in owner.checkpoints if each.bundled)
        raise ModelError(f"{option}: {str(path)!r} is not a checkpoint in an original layout dgenerate reads "
                         f"({known}); put its diffusers configuration in a folder {beside.name!r} next to it")
    owner, found = checkpoint(architecture)
    if not found.bundled:
        raise ModelError(_unbundled(option, path, owner, found))
    return (beside if described else bundled_config(architecture)), architecture


def _unbundled(option: str, path: Path, owner: Family, found: Checkpoint) -> str:
    families = [each for each, known in checkpoints() if not known.bundled]
    fine_tune = ", and this file with --transformer if it is a fine-tune of that model" if owner.transformer_class \
        else ""
    return (f"{option} {str(path)!r} is {article(found.name)} checkpoint: dgenerate loads "
            f"{listed_families(dict.fromkeys(reversed(families)), with_types=False)} from their diffusers folders only "
            f"(a checkpoint lacks their tokenizers, and diffusers needs the hub to convert it); give the model's "
            f"diffusers folder{fine_tune}")


def _architecture_of_folder(folder: Path, option: str) -> str:
    index = model_index(folder, str(folder))
    owner = family_of_index(str(index.get("_class_name", "")), str(folder))
    if not owner.checkpoints:
        raise ModelError(f"{option}: its configuration folder {folder.name!r} describes {article(owner.name)} model, "
                         f"and dgenerate loads {owner.name} models from their diffusers folders only; give the "
                         "model's diffusers folder")
    return owner.checkpoints[owner.checkpoint_of_index(index)].architecture


def model_type_of_file(path: Path, model_type: str) -> str:
    """The --model-type of a checkpoint, from its weight names (or its '<stem>.config' folder)."""
    if not path.is_file():
        raise ModelNotFoundError(f"model_path {str(path)!r}: no such file; check the path")
    architecture = config_for(path, "model_path")[1]
    check_checkpoint_role(architecture, model_type, "model_path", str(path))
    return checkpoint(architecture)[0].model_type


def check_checkpoint_role(architecture: str, model_type: str, option: str, path: str) -> None:
    """A checkpoint must match an explicit --model-type, and a refiner must come through --sdxl-refiner (which takes
    a base of a family with a refiner too)."""
    owner, found = checkpoint(architecture)
    if option == "--sdxl-refiner":
        if owner.refiner_class is None:
            refiners = [each.name for _, each in checkpoints() if each.refiner]
            raise UsageError(f"--sdxl-refiner {path!r} is {article(found.name)} checkpoint, not "
                             f"{article(' or '.join(refiners))}")
    elif found.refiner:
        base = owner.checkpoints[0].name
        raise UsageError(f"model_path {path!r} is {article(found.name)} checkpoint; pass it with --sdxl-refiner and "
                         f"give {article(base)} base model as model_path")
    elif model_type not in ("auto", owner.model_type):
        raise UsageError(f"model_path {path!r} is {article(found.name)} checkpoint; use --model-type "
                         f"{owner.model_type}, or leave --model-type out and it is read from the file")


def tokenizers(config: Path) -> dict[str, Any]:
    """The CLIP tokenizers a configuration names, built from the built-in vocabulary unless the folder has its own."""
    from transformers import CLIPTokenizer

    from dgenerate.models.paths import builtin_tokenizer_path

    built: dict[str, Any] = {}
    for name in ("tokenizer", "tokenizer_2"):
        folder = config / name
        if not (folder / "tokenizer_config.json").is_file():
            continue
        if (folder / "vocab.json").is_file() or (folder / "tokenizer.json").is_file():
            built[name] = CLIPTokenizer.from_pretrained(folder)
            continue
        settings = read_json(folder / "tokenizer_config.json", str(config))
        settings.pop("tokenizer_class", None)
        built[name] = CLIPTokenizer.from_pretrained(builtin_tokenizer_path(), **settings)
    return built


def load_pipeline(cls: Any, path: Path, option: str, model_type: str, **kwargs: Any) -> Any:
    """A pipeline of class `cls` from one checkpoint file, configured from its bundled (or '<stem>.config') folder."""
    if not path.is_file():
        raise ModelNotFoundError(f"{option} {str(path)!r}: no such file; check the path")
    check_loadable(path, option)
    config, architecture = config_for(path, option)
    check_checkpoint_role(architecture, model_type, option, str(path))
    components = {name: value for name, value in tokenizers(config).items() if name not in kwargs}
    try:
        pipeline = cls.from_single_file(os.fspath(path), config=os.fspath(config), local_files_only=True,
                                        **components, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{option} {str(path)!r} could not be loaded as {checkpoint(architecture)[1].name} "
                         f"({first_line(error)})") from error
    return pipeline


_MISMATCH = re.compile(r"because (\S+) expected shape torch\.Size\((\[.*?\])\), but got torch\.Size\((\[.*?\])\)")


def mismatch(error: BaseException) -> str:
    """A weight-shape error of diffusers' loaders, as the weight and its two shapes."""
    found = _MISMATCH.search(str(error))
    if found is None:
        return first_line(error)
    name, wanted, got = found.groups()
    return f"{name} is {got} in the file, {wanted} in the configuration"


def expected_names(cls: Any, config: Path) -> set[str]:
    """The weight names a model of `cls` built from `config` has, found without allocating its weights."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        model = cls.from_config(cls.load_config(os.fspath(config)))
    return set(model.state_dict())


def load_diffusers_file(cls: Any, path: Path, config: Path, dtype: Any) -> Any:
    """A file in the diffusers layout, loaded by diffusers itself from a folder of its config and a link to it."""
    import shutil
    import tempfile

    weights = "diffusion_pytorch_model" + (".safetensors" if path.suffix.lower() == ".safetensors" else ".bin")
    with tempfile.TemporaryDirectory(prefix="dgenerate-component-") as folder:
        shutil.copy(config / "config.json", Path(folder) / "config.json")
        (Path(folder) / weights).symlink_to(path.resolve())
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True)
