"""Loading pipelines: one ModelSpec becomes one diffusers pipeline on its device, loaded once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, UsageError
from dgenerate.jobs import ModelSpec


def quiet_libraries() -> None:
    """Keep transformers/diffusers notices off the terminal; --debug users can set the variables themselves."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import diffusers.utils.logging
    import transformers.utils.logging

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:"):
        index = device.partition(":")[2]
        if index and not index.isdigit():
            raise UsageError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N")
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: no CUDA device is available here; use --device cpu")
        if index and int(index) >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
        return device
    if device == "mps" and torch.backends.mps.is_available():
        return device
    raise UsageError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N")


def resolve_dtype(dtype: str) -> str:
    """'auto' is float32, what diffusers loads when no precision is asked for."""
    return "float32" if dtype == "auto" else dtype


def resolved(spec: ModelSpec) -> ModelSpec:
    return replace(spec, device=resolve_device(spec.device), dtype=resolve_dtype(spec.dtype))


@dataclass
class LoadedModel:
    spec: ModelSpec
    pipeline: Any
    folder: Path

    @property
    def size_multiple(self) -> int:
        return int(self.pipeline.vae_scale_factor)

    @property
    def default_size(self) -> tuple[int, int]:
        sample = self.pipeline.unet.config.sample_size
        side = int(sample if isinstance(sample, int) else sample[0]) * self.size_multiple
        return side, side


def _pipeline_class(model_type: str) -> Any:
    import diffusers

    return diffusers.StableDiffusionXLPipeline if model_type == "torch-sdxl" else diffusers.StableDiffusionPipeline


def load(spec: ModelSpec) -> LoadedModel:
    """Load the pipeline a (resolved) spec names; loading never runs code from the model's files."""
    from dgenerate.models.paths import hub_folder, local_folder

    quiet_libraries()
    import torch

    cls = _pipeline_class(spec.model_type)
    folder = local_folder(spec) or hub_folder(spec, cls)
    kwargs: dict[str, Any] = {"dtype": getattr(torch, spec.dtype), "local_files_only": True}
    if spec.variant:
        kwargs["variant"] = spec.variant
    if not spec.safety_checker:
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipeline = cls.from_pretrained(folder, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"model_path {spec.path!r} could not be loaded: {reason}") from error
    pipeline.to(spec.device)
    pipeline.set_progress_bar_config(disable=True)
    return LoadedModel(spec, pipeline, folder)
