"""Where a model's files are: the built-in models, local folders, and the Hugging Face cache."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelNotFoundError, NotImplementedOptionError
from dgenerate.jobs import ModelSpec

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = ("shapes",)
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


def builtin_path(name: str) -> Path:
    if name not in BUILTIN_MODELS:
        known = ", ".join(BUILTIN_PREFIX + n for n in BUILTIN_MODELS)
        raise ModelNotFoundError(f"model_path {BUILTIN_PREFIX + name!r} is not a built-in model; use one of: {known}")
    folder = Path(str(resources.files("dgenerate") / "models" / "builtin" / name))
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"the built-in model {name!r} is missing from this installation ({folder}); "
                                 "reinstall dgenerate or rebuild it with training/train_shapes.py")
    return folder


def builtin_tokenizer_path() -> Path:
    """The real CLIP tokenizer (vocab.json + merges.txt) that ships with the built-in model."""
    return Path(str(resources.files("dgenerate") / "models" / "builtin" / "shapes" / "tokenizer"))


def looks_like_path(path: str) -> bool:
    """True for what can only be a path on disk (a hub slug is 'name' or 'owner/name')."""
    return (
        path.startswith((".", "/", "~"))
        or os.sep in path.replace("/", "")
        or path.count("/") > 1
        or Path(path).suffix.lower() in SINGLE_FILE_SUFFIXES
        or Path(path).exists()
    )


def local_folder(spec: ModelSpec) -> Path | None:
    """The folder of a built-in or on-disk model (with --subfolder applied); None for a hub slug."""
    if spec.path.startswith(BUILTIN_PREFIX):
        return builtin_path(spec.path[len(BUILTIN_PREFIX):])
    if not looks_like_path(spec.path):
        return None
    path = Path(spec.path).expanduser()
    if path.is_file():
        raise NotImplementedOptionError(f"model_path {spec.path!r}: single-file checkpoints are not implemented yet; "
                                        "use a diffusers folder")
    if not path.is_dir():
        raise ModelNotFoundError(f"model_path {spec.path!r} is not a folder or file on disk; check the path")
    folder = path / spec.subfolder if spec.subfolder else path
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"model_path {spec.path!r}{_sub(spec)} has no model_index.json: it is not a "
                                 "diffusers pipeline folder")
    return folder


def _sub(spec: ModelSpec) -> str:
    return f" (--subfolder {spec.subfolder})" if spec.subfolder else ""


def hub_folder(spec: ModelSpec, pipeline_class: Any) -> Path:
    """The repository's files from the Hugging Face cache, downloaded first when the hub can be reached."""
    kwargs = {"revision": spec.revision, "variant": spec.variant, "token": spec.auth_token}
    try:
        folder = Path(pipeline_class.download(spec.path, local_files_only=True, **kwargs))
    except Exception as cached_error:
        if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
            raise _not_found(spec, "HF_HUB_OFFLINE is set") from cached_error
        try:
            folder = Path(pipeline_class.download(spec.path, **kwargs))
        except Exception as error:
            raise _not_found(spec, _first_line(error)) from error
    folder = folder / spec.subfolder if spec.subfolder else folder
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"model_path {spec.path!r}{_sub(spec)} has no model_index.json in the hub cache")
    return folder


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _not_found(spec: ModelSpec, why: str) -> ModelNotFoundError:
    revision = f" --revision {spec.revision}" if spec.revision else ""
    return ModelNotFoundError(
        f"model {spec.path!r} is not on disk or in the Hugging Face cache and could not be downloaded ({why}); "
        f"fetch it on a connected machine with `hf download {spec.path}{revision}`, or pass a local folder"
    )
