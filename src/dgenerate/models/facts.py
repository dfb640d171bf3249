"""What resolution needs to know about a model, read from its configuration files (never its weights)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dgenerate.errors import ModelError
from dgenerate.families import family
from dgenerate.jobs import ModelSpec
from dgenerate.models.location import config_folder
from dgenerate.models.paths import model_index, read_json
from dgenerate.models.vae import vae_config_folder


@dataclass(frozen=True)
class ModelFacts:
    size_multiple: int
    default_size: tuple[int, int]
    scheduler: str
    scheduler_config: dict[str, Any]
    index_class: str = ""  # the class model_index.json names (FluxFillPipeline for a Flux Fill model)
    frames_multiple: int = 0  # a video model's clips are this many frames, times any count, plus one (0: pictures)
    two_experts: bool = False  # a second transformer denoises the low-noise end of the schedule (Wan 2.2)
    last_frame: bool = False  # reads a clip's last frame besides its first (Wan's first-and-last-frame models)
    vae_timestep: bool = False  # its VAE decodes conditioned on a timestep (LTX-Video 0.9.1 and later)


def model_facts(spec: ModelSpec) -> ModelFacts:
    """Size multiple, native size and scheduler of a (resolved) model, from its configuration files."""
    folder = config_folder(spec)
    own = family(spec.model_type)
    denoiser = read_json(folder / own.denoiser / "config.json", spec.path)
    vae = read_json(vae_config_folder(spec, folder) / "config.json", spec.path)
    scale = 2 ** len(vae["temperal_downsample"]) if "temperal_downsample" in vae else \
        2 ** (len(vae.get("block_out_channels", (0, 0, 0, 0))) - 1)  # Wan-style causal VAEs (Qwen-Image) count apart
    sample = denoiser.get("sample_size", own.default_sample_size)
    side = int(sample if isinstance(sample, int) else sample[0]) * scale
    scheduler_config = read_json(folder / "scheduler" / "scheduler_config.json", spec.path)
    scheduler = scheduler_config.get("_class_name")
    if not isinstance(scheduler, str):
        raise ModelError(f"model_path {spec.path!r}: its scheduler configuration names no scheduler class")
    frames = own.temporal_factor(vae) if own.temporal_factor is not None else own.frames_multiple
    index = model_index(folder, spec.path)
    return ModelFacts(own.sizes_multiple or scale * own.patch, own.default_size or (side, side), scheduler,
                      scheduler_config, str(index.get("_class_name", "")), frames,
                      index.get("boundary_ratio") is not None, own.reads_last_frame(denoiser),
                      bool(vae.get("timestep_conditioning", False)))
