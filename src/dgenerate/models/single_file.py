"""model_path (or --sdxl-refiner) as one .safetensors / .ckpt file in the original Stable Diffusion layout.

Offline by design: the architecture is read from the file's weight names, and its diffusers configuration comes from
the configurations bundled in models/configs (SD 1.x, SD 2.x as 768-v like SD 2.1, SDXL base, SDXL refiner), never
from the hub. A folder named '<file stem>.config' next to the file, holding a diffusers pipeline's model_index.json
and component configs, is used instead when present: that is how a fine-tune with other sizes or another scheduler
(an SD 2.x 512 epsilon model, say) is described. Pickled files are read weights-only; one that needs code to
unpickle is refused.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, first_line

# A weight-name prefix that only that architecture's text encoder has, and the bundled configuration it selects.
_PREFIXES = (
    ("model.diffusion_model.double_blocks.", "flux"),
    ("double_blocks.", "flux"),
    ("model.diffusion_model.joint_blocks.", "sd3"),
    ("joint_blocks.", "sd3"),
    ("conditioner.embedders.1.model.", "sdxl-base"),
    ("conditioner.embedders.0.model.", "sdxl-refiner"),
    ("cond_stage_model.model.", "sd2"),
    ("cond_stage_model.transformer.", "sd1"),
)
ARCHITECTURE_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl-base": "SDXL", "sdxl-refiner": "SDXL refiner",
                      "sd3": "Stable Diffusion 3", "flux": "Flux"}
MODEL_TYPES = {"sd1": "torch", "sd2": "torch", "sdxl-base": "torch-sdxl", "sdxl-refiner": "torch-sdxl",
               "sd3": "torch-sd3", "flux": "torch-flux"}
# Recognised, to say so in one line, but not loaded from one file: see config_for.
_UNBUNDLED = ("sd3", "flux")
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


def detect_architecture(names: set[str]) -> str | None:
    for prefix, architecture in _PREFIXES:
        if any(name.startswith(prefix) for name in names):
            return architecture
    return None


def config_for(path: Path, option: str) -> tuple[Path, str]:
    """The diffusers configuration folder for a checkpoint, and the architecture it describes."""
    beside = path.with_name(path.stem + ".config")
    described = (beside / "model_index.json").is_file()  # then the weights need not be read (a .ckpt is unpickled)
    architecture = _architecture_of_folder(beside) if described else detect_architecture(weight_names(path, option))
    if architecture in _UNBUNDLED:
        raise ModelError(f"{option} {str(path)!r} is {with_article(ARCHITECTURE_NAMES[architecture])} checkpoint: "
                         "dgenerate loads Stable Diffusion 3 and Flux from their diffusers folders only (a checkpoint "
                         "lacks the T5 tokenizer, and diffusers needs the hub to convert it); give the model's "
                         "diffusers folder, and this file with --transformer if it is a fine-tune of that model")
    if architecture is None:
        raise ModelError(f"{option}: {str(path)!r} is not a Stable Diffusion 1.x, 2.x or XL checkpoint in the "
                         f"original layout; put its diffusers configuration in a folder {beside.name!r} next to it")
    return (beside if described else bundled_config(architecture)), architecture


def with_article(name: str) -> str:
    return f"an {name}" if name.startswith("S") and not name.startswith("Stable") else f"a {name}"


def _architecture_of_folder(folder: Path) -> str:
    index = json.loads((folder / "model_index.json").read_text())
    class_name = index.get("_class_name", "")
    if class_name.startswith("StableDiffusionXL"):
        return "sdxl-refiner" if not (index.get("text_encoder") or [None])[0] else "sdxl-base"
    if class_name.startswith("StableDiffusion3"):
        return "sd3"
    return "flux" if class_name.startswith("Flux") else "sd1"


def model_type_of_file(path: Path, model_type: str) -> str:
    """The --model-type of a checkpoint, from its weight names (or its '<stem>.config' folder)."""
    if not path.is_file():
        raise ModelNotFoundError(f"model_path {str(path)!r}: no such file; check the path")
    architecture = config_for(path, "model_path")[1]
    check_model_type(architecture, model_type, "model_path", str(path))
    return MODEL_TYPES[architecture]


def check_model_type(architecture: str, model_type: str, option: str, path: str) -> None:
    """A checkpoint must match an explicit --model-type (and a refiner must come through --sdxl-refiner)."""
    name = ARCHITECTURE_NAMES[architecture]
    if option == "--sdxl-refiner":
        if architecture != "sdxl-refiner" and architecture != "sdxl-base":
            raise UsageError(f"--sdxl-refiner {path!r} is {with_article(name)} checkpoint, not an SDXL refiner")
    elif architecture == "sdxl-refiner":
        raise UsageError(f"model_path {path!r} is an SDXL refiner checkpoint; pass it with --sdxl-refiner and give an "
                         "SDXL base model as model_path")
    elif model_type not in ("auto", MODEL_TYPES[architecture]):
        raise UsageError(f"model_path {path!r} is {with_article(name)} checkpoint; use --model-type "
                         f"{MODEL_TYPES[architecture]}, or leave --model-type out and it is read from the file")


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
        settings = json.loads((folder / "tokenizer_config.json").read_text())
        settings.pop("tokenizer_class", None)
        built[name] = CLIPTokenizer.from_pretrained(builtin_tokenizer_path(), **settings)
    return built


def load_pipeline(cls: Any, path: Path, option: str, model_type: str, **kwargs: Any) -> Any:
    """A pipeline of class `cls` from one checkpoint file, configured from its bundled (or '<stem>.config') folder."""
    if not path.is_file():
        raise ModelNotFoundError(f"{option} {str(path)!r}: no such file; check the path")
    check_loadable(path, option)
    config, architecture = config_for(path, option)
    check_model_type(architecture, model_type, option, str(path))
    components = {name: value for name, value in tokenizers(config).items() if name not in kwargs}
    try:
        pipeline = cls.from_single_file(os.fspath(path), config=os.fspath(config), local_files_only=True,
                                        **components, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{option} {str(path)!r} could not be loaded as {ARCHITECTURE_NAMES[architecture]} "
                         f"({first_line(error)})") from error
    return pipeline
