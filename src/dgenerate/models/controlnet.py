"""--control-nets: ControlNet models from diffusers folders or hub repositories, loaded once per model and kept on it.

SD and SDXL take ControlNetModel, Stable Diffusion 3 SD3ControlNetModel (text to image) and Flux FluxControlNetModel
(text to image, img2img and inpainting), as diffusers' ControlNet pipelines for each do.

A ControlNet is loaded in the model's dtype onto its device the first time a job names it, and kept on the loaded
pipeline (it goes when the model leaves the cache), so jobs with other scales or other control images reuse it: the
scale and the start and end of its guidance are arguments of the pipeline call, not of the load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import ControlNetSpec, ModelSpec
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, config_class_name, first_line, hub_snapshot, looks_like_path


def _option(net: ControlNetSpec) -> str:
    return f"--control-nets {net.path}"


_KEPT_AS = "_dgenerate_control_nets"


def control_net_models(pipeline: Any, nets: tuple[ControlNetSpec, ...], model: ModelSpec) -> list[Any]:
    """The ControlNetModel of each spec, in order, loaded at most once per pipeline and path."""
    loaded = pipeline.__dict__.setdefault(_KEPT_AS, {})
    for net in nets:
        if net.path not in loaded:
            denoiser = getattr(pipeline, "unet", None) or pipeline.transformer
            loaded[net.path] = _checked(net, _load(net, model), denoiser)
    return [loaded[net.path] for net in nets]


def attached_control_nets(pipeline: Any) -> list[Any]:
    """The ControlNets jobs have loaded onto a pipeline so far."""
    return list(pipeline.__dict__.get(_KEPT_AS, {}).values())


# The class of each family's ControlNets, and the settings a ControlNet must share with the model's denoiser.
_CLASSES = {"torch": "ControlNetModel", "torch-sdxl": "ControlNetModel", "torch-sd3": "SD3ControlNetModel",
            "torch-flux": "FluxControlNetModel"}
_SHARED = ("cross_attention_dim", "addition_embed_type", "block_out_channels", "joint_attention_dim",
           "pooled_projection_dim", "attention_head_dim", "num_attention_heads")


def _checked(net: ControlNetSpec, control_net: Any, denoiser: Any) -> Any:
    """A ControlNet made for another architecture (an SD 1.5 one on SDXL, say) fails mid-call with a shape error:
    compare the settings that must agree before any work."""
    for name in _SHARED:
        ours, theirs = denoiser.config.get(name), control_net.config.get(name)
        if _plain(ours) != _plain(theirs):
            raise ModelError(f"{_option(net)} is a ControlNet for another architecture: its {name} is {theirs}, the "
                             f"model's is {ours}; use a ControlNet made for this model")
    return control_net


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _load(net: ControlNetSpec, model: ModelSpec) -> Any:
    import diffusers
    import torch

    folder = _folder(net, model)
    cls = getattr(diffusers, _CLASSES[model.model_type])
    found = config_class_name(folder)
    if found != cls.__name__:
        raise ModelError(f"{_option(net)} is a {found or 'model of no named class'}, and this model "
                         f"({model.model_type}) takes a {cls.__name__}; use a ControlNet made for it")
    try:
        control_net = cls.from_pretrained(folder, dtype=getattr(torch, model.dtype), local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        raise ModelError(f"{_option(net)} could not be loaded: {first_line(error)}") from error
    return control_net.to(model.device)


def _folder(net: ControlNetSpec, model: ModelSpec) -> Path:
    path = Path(net.path).expanduser()
    if path.suffix.lower() in SINGLE_FILE_SUFFIXES:
        raise ModelError(f"{_option(net)}: dgenerate loads ControlNets from diffusers folders (config.json and "
                         "diffusion_pytorch_model.safetensors) or hub repositories, not from one file; convert it or "
                         "give the folder")
    if looks_like_path(net.path):
        if not path.is_dir():
            raise ModelNotFoundError(f"{_option(net)}: no such folder; check the path")
        folder = path
    else:
        folder = hub_snapshot(net.path, _option(net), token=model.auth_token)
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"{_option(net)} has no config.json: it is not a diffusers ControlNet folder")
    return folder
