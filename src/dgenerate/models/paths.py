"""Where a model's files are: the built-in models, local folders, and the Hugging Face cache."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelNotFoundError
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
        raise ModelNotFoundError(f"model_path {spec.path!r} is a file but not a checkpoint; use a diffusers folder "
                                 f"or a {' / '.join(SINGLE_FILE_SUFFIXES)} file")
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
    if spec.subfolder:
        # DiffusionPipeline.download wants model_index.json at the top of the repository; a subfolder has its own.
        snapshot = hub_snapshot(spec.path, "model_path", spec.revision, spec.auth_token, [f"{spec.subfolder}/*"])
        return _pipeline_in(snapshot / spec.subfolder, spec)
    kwargs = {"revision": spec.revision, "variant": spec.variant, "token": spec.auth_token}
    try:
        folder = Path(pipeline_class.download(spec.path, local_files_only=True, **kwargs))
    except Exception as cached_error:
        if _offline():
            raise _not_found(spec, "HF_HUB_OFFLINE is set") from cached_error
        try:
            folder = Path(pipeline_class.download(spec.path, **kwargs))
        except Exception as error:
            raise _not_found(spec, first_line(error)) from error
    return _pipeline_in(folder, spec)


def _pipeline_in(folder: Path, spec: ModelSpec) -> Path:
    if not (folder / "model_index.json").is_file():
        raise ModelNotFoundError(f"model_path {spec.path!r}{_sub(spec)} has no model_index.json in the hub cache")
    return folder


def hub_snapshot(repo: str, option: str, revision: str | None = None, token: str | None = None,
                 files: list[str] | None = None) -> Path:
    """A repository's folder in the Hugging Face cache (for a VAE or LoRA), downloaded when the hub can be reached.

    `files` (glob patterns) limits a download to what is used: one LoRA of a collection, one VAE of a pipeline.
    """
    from huggingface_hub import snapshot_download

    kwargs: dict[str, Any] = {"revision": revision, "token": token, "allow_patterns": files}
    try:
        return Path(snapshot_download(repo, local_files_only=True, **kwargs))
    except Exception as cached_error:
        if _offline():
            raise _repo_not_found(option, repo, revision, "HF_HUB_OFFLINE is set") from cached_error
        try:
            return Path(snapshot_download(repo, **kwargs))
        except Exception as error:
            raise _repo_not_found(option, repo, revision, first_line(error)) from error


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _repo_not_found(option: str, repo: str, revision: str | None, why: str) -> ModelNotFoundError:
    fetch = f"hf download {repo}" + (f" --revision {revision}" if revision else "")
    return ModelNotFoundError(f"{option}: {repo!r} is not on disk or in the Hugging Face cache and could not be "
                              f"downloaded ({why}); fetch it on a connected machine with `{fetch}`, or pass a path")


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def _not_found(spec: ModelSpec, why: str) -> ModelNotFoundError:
    revision = f" --revision {spec.revision}" if spec.revision else ""
    return ModelNotFoundError(
        f"model {spec.path!r} is not on disk or in the Hugging Face cache and could not be downloaded ({why}); "
        f"fetch it on a connected machine with `hf download {spec.path}{revision}`, or pass a local folder"
    )
