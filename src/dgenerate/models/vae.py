"""--vae: an AutoencoderKL, AsymmetricAutoencoderKL or AutoencoderTiny from a folder, the hub cache or one file.

A single file is either in the diffusers layout (as `vae/diffusion_pytorch_model.safetensors` of a repository, with
its config.json beside it) or in the original Stable Diffusion layout (AutoencoderKL only, converted with the SD VAE
configuration bundled in models/configs); the layout is told from the weight names, and loading never asks the hub
for a configuration. A pickled file (.ckpt/.pt/.bin/.pth) is read weights-only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.families import family
from dgenerate.jobs import VAE_CLASSES, ModelSpec, VaeSpec
from dgenerate.models.location import config_folder as model_config_folder
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, component_folder, first_line, looks_like_path
from dgenerate.models.single_file import (
    bundled_config,
    expected_names,
    load_diffusers_file,
    mismatch,
    weight_names,
)


def _option(vae: VaeSpec) -> str:
    return f"--vae {vae.class_name};{vae.path}"


def config_folder(vae: VaeSpec, model: ModelSpec) -> Path | None:
    """The folder of the config.json a --vae on disk loads with; None for a hub slug (its own folder decides).

    A single file takes the config.json beside it (a file from a diffusers folder, `vae/diffusion_pytorch_model.*`),
    else the one in a folder '<file stem>.config' next to it, else the one its family names: a bundled VAE
    configuration (SD 1.x/2.x and SDXL VAEs share one architecture; only the latent scaling differs), or the model's
    own VAE configuration (SD3's and Flux's VAEs have 16 latent channels and their own scaling).
    """
    if not looks_like_path(vae.path):
        return None
    path = Path(vae.path).expanduser()
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        return path / vae.subfolder if vae.subfolder else path
    for folder in (path.parent, path.with_name(path.stem + ".config")):
        if (folder / "config.json").is_file():
            return folder
    bundled = family(model.model_type).vae_file_config
    return bundled_config(bundled) / "vae" if bundled else model_config_folder(model) / "vae"


def vae_config_folder(model: ModelSpec, model_folder: Path) -> Path:
    """The folder of the config.json of the VAE the pipeline will use; a hub --vae is taken to share the model's
    layout."""
    folder = config_folder(model.vae, model) if model.vae is not None else None
    return folder or model_folder / "vae"


def load_vae(vae: VaeSpec, model: ModelSpec) -> Any:
    """The VAE that --vae names, in its resolved dtype, on the CPU (the pipeline moves it with everything else)."""
    import diffusers
    import torch

    assert vae.dtype is not None, "a resolved spec names the VAE's dtype"
    if vae.class_name not in VAE_CLASSES:
        raise UsageError(f"--vae {vae.class_name!r} is not a VAE class; use one of: {', '.join(VAE_CLASSES)}")
    cls = getattr(diffusers, vae.class_name)
    dtype = getattr(torch, vae.dtype)
    variant = vae.variant or model.variant
    path = Path(vae.path).expanduser()
    try:
        if path.suffix.lower() in SINGLE_FILE_SUFFIXES:
            return _from_file(cls, vae, path, dtype, model)
        folder = _folder(vae, model.auth_token)
        return _from_folder(cls, folder, dtype, variant, explicit_variant=vae.variant is not None)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{_option(vae)} could not be loaded: {first_line(error)}") from error


def _folder(vae: VaeSpec, token: str | None) -> Path:
    """The folder holding the VAE's config.json, with --vae-subfolder applied."""
    where = f" (--vae-subfolder {vae.subfolder})" if vae.subfolder else ""
    return component_folder(vae.path, _option(vae), "VAE", token=token, revision=vae.revision,
                            subfolder=vae.subfolder, where=where, hint="; use --vae-subfolder vae for a whole pipeline")


def _from_folder(cls: Any, folder: Path, dtype: Any, variant: str | None, explicit_variant: bool) -> Any:
    """A variant inherited from the model's --variant falls back to the plain weights when the VAE has none."""
    try:
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True, variant=variant)
    except (OSError, ValueError):
        if not variant or explicit_variant:
            raise
        return cls.from_pretrained(folder, dtype=dtype, local_files_only=True)


def _from_file(cls: Any, vae: VaeSpec, path: Path, dtype: Any, model: ModelSpec) -> Any:
    """One file in the diffusers layout (any class, with its config.json) or the original SD layout (AutoencoderKL)."""
    if not path.is_file():
        raise ModelNotFoundError(f"{_option(vae)}: no such file; check the path")
    names = weight_names(path, _option(vae))
    config = config_folder(vae, model)
    assert config is not None
    expected = expected_names(cls, config)
    if len(names & expected) * 2 >= len(expected):
        return load_diffusers_file(cls, path, config, dtype)
    if not any(name.startswith(_ORIGINAL_PREFIXES) for name in names):
        sample = ", ".join(sorted(names)[:3]) or "none"
        raise ModelError(f"{_option(vae)}: the file holds no {cls.__name__} weights in the diffusers layout of "
                         f"{config / 'config.json'} nor in the original Stable Diffusion layout (its weights: "
                         f"{sample}...); check that it is a VAE and that its config.json describes it")
    if cls.__name__ != "AutoencoderKL":
        raise UsageError(f"{_option(vae)}: only AutoencoderKL loads from a file in the original layout; use a "
                         "diffusers folder or repository for this class")
    try:
        return cls.from_single_file(os.fspath(path), config=os.fspath(config), dtype=dtype, local_files_only=True)
    except (ValueError, RuntimeError) as error:
        raise ModelError(f"{_option(vae)}: its weights do not fit {config / 'config.json'} ({mismatch(error)}); "
                         f"put the VAE's own config.json in a folder '{path.stem}.config' next to the file") from error


# Weight names of the original (CompVis) VAE layout, alone or inside a whole checkpoint.
_ORIGINAL_PREFIXES = ("encoder.down.", "decoder.up.", "encoder.mid.", "first_stage_model.")
