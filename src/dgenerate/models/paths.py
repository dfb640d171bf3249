"""Where a model's files are: the built-in models, local folders, and the Hugging Face cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from dgenerate.downloads import HOW, allowed
from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import ModelSpec

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = ("shapes", "shapes2")
# A built-in model's own guidance scale, used when --guidance-scales is not given. builtin:shapes2 is trained to
# follow its prompts without guidance, which leaves its pictures as varied over seeds as its training data.
BUILTIN_GUIDANCE_SCALES = {BUILTIN_PREFIX + "shapes2": 1.0}
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


def default_guidance_scale(model_path: str, fallback: float) -> float:
    """The guidance scale a job gets when none is asked for: the built-in model's own, else ``fallback``."""
    return BUILTIN_GUIDANCE_SCALES.get(model_path, fallback)


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
    folder = _from_hub(lambda **online: pipeline_class.download(spec.path, **kwargs, **online), "model_path",
                       spec.path, spec.revision)
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
    return _from_hub(lambda **online: snapshot_download(repo, **kwargs, **online), option, repo, revision)


def _from_hub(fetch: Callable[..., str], option: str, repo: str, revision: str | None) -> Path:
    """`fetch` from the cache, else (unless HF_HUB_OFFLINE) from the hub.

    Only "not there" is reported as not found; a cache that cannot be read (corrupt files, permissions, a full disk
    while downloading) says what it is.
    """
    missing = _missing_errors()
    try:
        return Path(fetch(local_files_only=True))
    except missing as error:
        if _offline():
            raise _repo_not_found(option, repo, revision, "HF_HUB_OFFLINE is set") from error
        if not allowed():
            raise _repo_not_found(option, repo, revision, HOW) from error
    except Exception as error:
        raise ModelError(f"{option} {repo!r}: its files in the Hugging Face cache cannot be read ({first_line(error)})"
                         f"; fetch them again with `{_fetch_command(repo, revision)} --force-download`") from error
    try:
        return Path(fetch())
    except Exception as error:
        # A disk that fails has an errno; libraries report an unreachable or missing repository as a bare OSError.
        disk = isinstance(error, OSError) and error.errno is not None
        if disk and not isinstance(error, (*missing, *_unreachable_errors())):
            raise ModelError(f"{option} {repo!r} could not be written into the Hugging Face cache "
                             f"({first_line(error)}); check the cache folder (HF_HOME) or fetch it with "
                             f"`{_fetch_command(repo, revision)}`") from error
        raise _repo_not_found(option, repo, revision, first_line(error)) from error  # not there, or no network


def _missing_errors() -> tuple[type[Exception], ...]:
    """The errors that mean a repository (or its revision, or a file of it) is not in the cache or on the hub."""
    from huggingface_hub import errors

    return (errors.LocalEntryNotFoundError, errors.EntryNotFoundError, errors.RepositoryNotFoundError,
            errors.RevisionNotFoundError, errors.HFValidationError)


def _unreachable_errors() -> tuple[type[Exception], ...]:
    """OSErrors that mean the hub could not be asked (HTTP errors, no network), not that the disk failed."""
    from huggingface_hub import errors

    return errors.HfHubHTTPError, ConnectionError, TimeoutError


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")


def _fetch_command(repo: str, revision: str | None) -> str:
    return f"hf download {repo}" + (f" --revision {revision}" if revision else "")


def _repo_not_found(option: str, repo: str, revision: str | None, why: str) -> ModelNotFoundError:
    subject = f"model {repo!r}" if option == "model_path" else f"{option}: {repo!r}"
    fallback = "a local folder" if option == "model_path" else "a path"
    return ModelNotFoundError(f"{subject} is not on disk or in the Hugging Face cache and could not be downloaded "
                              f"({why}); fetch it on a connected machine with `{_fetch_command(repo, revision)}`, or "
                              f"pass {fallback}")


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def config_class_name(folder: Path) -> str:
    """The `_class_name` a component folder's config.json names; "" when it cannot be read or names none."""
    try:
        return str(read_json(folder / "config.json", str(folder)).get("_class_name", ""))
    except ModelError:
        return ""


def read_json(path: Path, model: str) -> dict[str, Any]:
    """A model's configuration file (model_index.json, a component's config.json) as a JSON object."""
    import json

    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelError(f"model {model!r}: {path} is missing; the model folder is incomplete") from error
    except (OSError, ValueError) as error:
        raise ModelError(f"model {model!r}: cannot read {path} ({error})") from error
    if not isinstance(data, dict):
        raise ModelError(f"model {model!r}: {path} is not a JSON object")
    return data


def model_index(folder: Path, model: str) -> dict[str, Any]:
    """A pipeline folder's model_index.json: its `_class_name` and components."""
    return read_json(folder / "model_index.json", model)


def index_class(folder: Path, model: str) -> str:
    """The pipeline class a pipeline folder's model_index.json names ("" for none)."""
    return str(model_index(folder, model).get("_class_name", ""))


def component_folder(path: str, option: str, what: str, *, token: str | None = None, revision: str | None = None,
                     subfolder: str | None = None, files: list[str] | None = None, config: bool = True,
                     hint: str = "", where: str = "") -> Path:
    """The folder of a component (a VAE, a transformer, a ControlNet, a LoRA): a folder on disk, or a hub
    repository's files from the cache (those `files` match, else those under `subfolder` when given), with
    `subfolder` applied.

    With `config`, it must hold a config.json: else one line saying it is not a diffusers `what` folder (`where` names
    the subfolder option, `hint` says what to do instead)."""
    if looks_like_path(path):
        folder = Path(path).expanduser()
        if not folder.is_dir():
            raise ModelNotFoundError(f"{option}: no such folder or file; check the path")
    else:
        folder = hub_snapshot(path, option, revision, token, files or ([f"{subfolder}/*"] if subfolder else None))
    folder = folder / subfolder if subfolder else folder
    if config and not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"{option}{where} has no config.json: it is not a diffusers {what} folder{hint}")
    return folder
