"""--vae: an AutoencoderKL, AsymmetricAutoencoderKL or AutoencoderTiny from a folder, the hub cache or one file.

A single file (AutoencoderKL only) is converted with the SD VAE configuration bundled in models/configs, so loading
it never asks the hub for a configuration; a pickled file (.ckpt/.pt/.bin/.pth) is read weights-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.jobs import ModelSpec, VaeSpec
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, first_line, hub_snapshot, looks_like_path
from dgenerate.models.single_file import bundled_config, check_loadable

VAE_CLASSES = ("AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny")


def vae_dtype(vae: VaeSpec, model: ModelSpec) -> str:
    """--vae-dtype, defaulting to the main model's --dtype; 'auto' is float32 as for the model."""
    dtype = vae.dtype or model.dtype
    return "float32" if dtype == "auto" else dtype


def load_vae(vae: VaeSpec, model: ModelSpec) -> Any:
    """The VAE that --vae names, in its dtype, on the CPU (the pipeline moves it with everything else)."""
    import diffusers
    import torch

    if vae.class_name not in VAE_CLASSES:
        raise UsageError(f"--vae {vae.class_name!r} is not a VAE class; use one of: {', '.join(VAE_CLASSES)}")
    cls = getattr(diffusers, vae.class_name)
    dtype = getattr(torch, vae_dtype(vae, model))
    variant = vae.variant or model.variant
    path = Path(vae.path).expanduser()
    try:
        if path.suffix.lower() in SINGLE_FILE_SUFFIXES:
            return _from_file(cls, vae, path, dtype, model.model_type)
        folder = _folder(vae, path, model.auth_token)
        return _from_folder(cls, folder, dtype, variant, explicit_variant=vae.variant is not None)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"--vae {vae.class_name};{vae.path} could not be loaded: {first_line(error)}") from error


def _folder(vae: VaeSpec, path: Path, token: str | None) -> Path:
    """The folder holding the VAE's config.json, with --vae-subfolder applied."""
    if looks_like_path(vae.path):
        if not path.is_dir():
            raise ModelNotFoundError(f"--vae {vae.class_name};{vae.path}: no such folder or file; check the path")
        folder = path
    else:
        files = [f"{vae.subfolder}/*"] if vae.subfolder else None
        folder = hub_snapshot(vae.path, f"--vae {vae.class_name};{vae.path}", vae.revision, token, files)
    folder = folder / vae.subfolder if vae.subfolder else folder
    if not (folder / "config.json").is_file():
        where = f" (--vae-subfolder {vae.subfolder})" if vae.subfolder else ""
        raise ModelNotFoundError(f"--vae {vae.class_name};{vae.path}{where} has no config.json: it is not a "
                                 "diffusers VAE folder; use --vae-subfolder vae for a whole pipeline")
    return folder


def _from_folder(cls: Any, folder: Path, dtype: Any, variant: str | None, explicit_variant: bool) -> Any:
    """A variant inherited from the model's --variant falls back to the plain weights when the VAE has none."""
    try:
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True, variant=variant)
    except (OSError, ValueError):
        if not variant or explicit_variant:
            raise
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True)


def _from_file(cls: Any, vae: VaeSpec, path: Path, dtype: Any, model_type: str) -> Any:
    if cls.__name__ != "AutoencoderKL":
        raise UsageError(f"--vae {vae.class_name};{vae.path}: only AutoencoderKL loads from a single file; "
                         "use a diffusers folder or repository for this class")
    if not path.is_file():
        raise ModelNotFoundError(f"--vae {vae.class_name};{vae.path}: no such file; check the path")
    check_loadable(path, f"--vae {vae.class_name};{vae.path}")
    # SD 1.x/2.x and SDXL VAEs share one architecture; only the latent scaling factor differs with the model.
    config = _config_beside(path) or bundled_config("sdxl-base" if model_type == "torch-sdxl" else "sd1") / "vae"
    return cls.from_single_file(os.fspath(path), config=os.fspath(config), dtype=dtype, local_files_only=True)


def _config_beside(path: Path) -> Path | None:
    """A folder '<file stem>.config' next to the file, holding the VAE's config.json, overrides the bundled one."""
    folder = path.with_name(path.stem + ".config")
    return folder if (folder / "config.json").is_file() else None
