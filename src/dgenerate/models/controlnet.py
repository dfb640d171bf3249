"""--control-nets: ControlNet models from diffusers folders or hub repositories, loaded once per model and kept with it.

Each family names the ControlNet class its pipelines take (ControlNetModel for SD and SDXL, SD3ControlNetModel,
FluxControlNetModel). A ControlNet is loaded in the model's dtype onto its device the first time a job names it, and
kept with the loaded model (it goes when the model leaves the cache), so jobs with other scales or other control images
reuse it: the scale and the start and end of its guidance are arguments of the pipeline call, not of the load.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError
from dgenerate.families import family
from dgenerate.jobs import ControlNetSpec, ModelSpec
from dgenerate.models.loader import LoadedModel
from dgenerate.models.paths import SINGLE_FILE_SUFFIXES, component_folder, config_class_name, first_line


def _option(net: ControlNetSpec) -> str:
    return f"--control-nets {net.path}"


def control_net_models(model: LoadedModel, nets: tuple[ControlNetSpec, ...]) -> list[Any]:
    """The ControlNet model of each spec, in order, loaded at most once per loaded model and path."""
    for net in nets:
        if net.path not in model.control_nets:
            denoiser = getattr(model.pipeline, family(model.spec.model_type).denoiser)
            model.control_nets[net.path] = _checked(net, _load(net, model.spec), denoiser)
    return [model.control_nets[net.path] for net in nets]


# The settings a ControlNet must share with the model's denoiser.
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
    class_name = family(model.model_type).control_net_class
    assert class_name is not None, "every family with ControlNet pipelines names its ControlNet class"
    cls = getattr(diffusers, class_name)
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
    if Path(net.path).suffix.lower() in SINGLE_FILE_SUFFIXES:
        raise ModelError(f"{_option(net)}: dgenerate loads ControlNets from diffusers folders (config.json and "
                         "diffusion_pytorch_model.safetensors) or hub repositories, not from one file; convert it or "
                         "give the folder")
    return component_folder(net.path, _option(net), "ControlNet", token=model.auth_token)
