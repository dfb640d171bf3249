"""Loading pipelines: one ModelSpec becomes one diffusers pipeline on its device, loaded once per process."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, UsageError
from dgenerate.jobs import ModelSpec


def quiet_libraries() -> None:
    """Keep transformers/diffusers notices off the terminal; --debug users can set the variables themselves."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    import warnings

    import diffusers.utils.logging
    import transformers.utils.logging

    # diffusers' notices of its own internal renames (FluxPosEmbed, ...) say nothing a user can act on.
    warnings.filterwarnings("ignore", category=FutureWarning, message=r".*is deprecated and will be removed in version")

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    if "DIFFUSERS_VERBOSITY" not in os.environ or os.environ["DIFFUSERS_VERBOSITY"] == "error":
        diffusers.utils.logging.set_verbosity_error()  # the variable is read once, when diffusers is first imported
    if "TRANSFORMERS_VERBOSITY" not in os.environ or os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        transformers.utils.logging.set_verbosity_error()


@dataclass
class LoadedModel:
    """A loaded pipeline on its device, and its SDXL refiner when the spec names one."""

    spec: ModelSpec
    pipeline: Any
    refiner: Any = None


def pipeline_class(model_type: str, auto: bool = False, folder_class: str = "") -> Any:
    """The diffusers class that loads a model of `model_type` (DiffusionPipeline while the type is still `auto`); a
    Flux Fill folder loads as FluxFillPipeline."""
    import diffusers

    from dgenerate.models.families import family, is_fill

    if auto:
        return diffusers.DiffusionPipeline
    return getattr(diffusers, folder_class if is_fill(folder_class) else family(model_type).pipeline)


def load(spec: ModelSpec) -> LoadedModel:
    """Load the pipeline a resolved spec (resolve.resolve_spec) names, with its VAE, LoRA and refiner; never runs
    code from its files."""
    from dgenerate.models.lora import apply_lora
    from dgenerate.models.vae import load_vae

    quiet_libraries()
    parts: dict[str, Any] = {}
    if spec.vae is not None:
        parts["vae"] = load_vae(spec.vae, spec)
    if spec.transformer is not None:
        from dgenerate.models.transformer import load_transformer

        parts["transformer"] = load_transformer(spec)
    pipeline = _load_pipeline(spec, parts)
    for lora in spec.loras:
        apply_lora(pipeline, lora, spec)
    if spec.textual_inversions:
        from dgenerate.models.textual_inversion import apply_textual_inversions

        apply_textual_inversions(pipeline, spec.textual_inversions, spec)
    refiner = _load_refiner(spec, pipeline) if spec.refiner is not None else None
    for each in (pipeline, refiner):
        if each is not None:
            _to_device(each, spec)
    return LoadedModel(spec, pipeline, refiner)


def _load_pipeline(spec: ModelSpec, parts: dict[str, Any]) -> Any:
    from dgenerate.models.paths import hub_folder, local_folder
    from dgenerate.models.single_file import is_single_file, load_pipeline

    cls = pipeline_class(spec.model_type)
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(spec.dtype), **parts}
    if not spec.safety_checker and spec.model_type == "torch":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    if spec.no_t5:
        kwargs.update(text_encoder_3=None, tokenizer_3=None)
    if is_single_file(spec.path):
        path = Path(spec.path).expanduser()
        return load_pipeline(cls, path, "model_path", spec.model_type, **kwargs)
    folder = local_folder(spec) or hub_folder(spec, cls)
    cls = pipeline_class(spec.model_type, folder_class=_class_name(folder))
    pipeline = _from_folder(cls, folder, "model_path", spec.path, spec.variant, kwargs)
    if spec.model_type in ("torch", "torch-sdxl"):
        _check_model_type(spec, pipeline)
    return pipeline


def _check_model_type(spec: ModelSpec, pipeline: Any) -> None:
    """diffusers loads an SD folder as SDXL (and back) with parts missing; say which --model-type it needs."""
    is_xl = getattr(pipeline.unet.config, "addition_embed_type", None) == "text_time"
    if is_xl and spec.model_type != "torch-sdxl":
        raise UsageError(f"model_path {spec.path!r} is a Stable Diffusion XL model; add --model-type torch-sdxl")
    if spec.model_type != "torch-sdxl":
        return
    if not is_xl:
        raise UsageError(f"model_path {spec.path!r} is not a Stable Diffusion XL model; use --model-type torch")
    if getattr(pipeline, "text_encoder", None) is None or getattr(pipeline, "text_encoder_2", None) is None:
        raise UsageError(f"model_path {spec.path!r} is an SDXL refiner, not a base model; pass it with --sdxl-refiner "
                         "and give an SDXL base as model_path")


def _class_name(folder: Path) -> str:
    """The pipeline class a model folder's model_index.json names (resolution has read it already: it is valid)."""
    import json

    return str(json.loads((folder / "model_index.json").read_text()).get("_class_name", ""))


def _from_folder(cls: Any, folder: Path, option: str, path: str, variant: str | None, kwargs: dict[str, Any]) -> Any:
    if variant:
        kwargs = dict(kwargs, variant=variant)
    try:
        return cls.from_pretrained(folder, local_files_only=True, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelError(f"{option} {path!r} could not be loaded: {reason}") from error


def _torch_dtype(dtype: str) -> Any:
    import torch

    assert dtype in ("float16", "bfloat16", "float32"), f"a resolved spec has an explicit dtype, not {dtype!r}"
    return getattr(torch, dtype)


def _load_refiner(spec: ModelSpec, base: Any) -> Any:
    """The SDXL refiner, sharing the base's VAE and second text encoder when they are the same architecture."""
    import diffusers

    from dgenerate.models.paths import hub_folder, local_folder
    from dgenerate.models.single_file import is_single_file, load_pipeline

    refiner = spec.refiner
    assert refiner is not None
    dtype = refiner.dtype or spec.dtype
    cls = diffusers.StableDiffusionXLImg2ImgPipeline
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(dtype)}
    if is_single_file(refiner.path):
        path = Path(refiner.path).expanduser()
        kwargs.update(_shared_with_base(base, _single_file_config(path), dtype, spec.dtype))
        return load_pipeline(cls, path, "--sdxl-refiner", spec.model_type, **kwargs)
    as_model = _as_model(spec)
    folder = local_folder(as_model) or hub_folder(as_model, cls)
    kwargs.update(_shared_with_base(base, folder, dtype, spec.dtype))
    return _from_folder(cls, folder, "--sdxl-refiner", refiner.path, refiner.variant or spec.variant, kwargs)


def _single_file_config(path: Path) -> Path:
    from dgenerate.models.single_file import config_for

    return config_for(path, "--sdxl-refiner")[0]


def _as_model(spec: ModelSpec) -> ModelSpec:
    """The refiner as a ModelSpec, to find it in the hub cache like a model."""
    refiner = spec.refiner
    assert refiner is not None
    return ModelSpec(refiner.path, "torch-sdxl", refiner.revision, refiner.variant or spec.variant,
                     refiner.subfolder, auth_token=spec.auth_token)


def _shared_with_base(base: Any, refiner_config: Path, refiner_dtype: str, base_dtype: str) -> dict[str, Any]:
    """The base's components the refiner can use as they are: same class and configuration, same dtype.

    The public SDXL refiner's VAE and text_encoder_2 are the base's; sharing them saves a second load and memory.
    """
    if refiner_dtype != base_dtype:
        return {}
    shared = {}
    for name in ("vae", "text_encoder_2"):
        component = getattr(base, name, None)
        config_file = refiner_config / name / "config.json"
        if component is not None and config_file.is_file() and _same_config(component, config_file):
            shared[name] = component
    return shared


_IGNORED_KEYS = {"_name_or_path", "_diffusers_version", "transformers_version", "dtype", "torch_dtype",
                 "architectures", "_class_name", "_use_default_values"}


def _same_config(component: Any, config_file: Path) -> bool:
    """Same class and the same value for every setting both name (a setting one leaves out is at its default)."""
    import json

    theirs = json.loads(config_file.read_text())
    config = component.config
    ours = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    if type(component).__name__ not in (theirs.get("_class_name"), *(theirs.get("architectures") or ())):
        return False
    return all(_plain(theirs[key]) == _plain(ours[key]) for key in (set(theirs) & set(ours)) - _IGNORED_KEYS)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _to_device(pipeline: Any, spec: ModelSpec) -> None:
    """On the device, or with --offload kept in CPU memory and moved to it a model (or a layer) at a time."""
    if spec.offload == "model":
        pipeline.enable_model_cpu_offload(device=spec.device)
    elif spec.offload == "sequential":
        pipeline.enable_sequential_cpu_offload(device=spec.device)
    else:
        pipeline.to(spec.device)
    pipeline.set_progress_bar_config(disable=True)


def check_dtype_runs(spec: ModelSpec) -> None:
    """float16 or bfloat16 on a CPU whose torch build lacks their kernels: one clear line before anything loads.

    torch 2.x CPUs do run both (slowly; the tiny test model gives the same kind of image), so they are allowed.
    """
    if spec.dtype not in ("float16", "bfloat16") or not str(spec.device).startswith("cpu"):
        return
    import torch

    half = getattr(torch, spec.dtype)
    try:
        image = torch.nn.functional.conv2d(torch.ones(1, 4, 8, 8, dtype=half), torch.ones(4, 4, 3, 3, dtype=half))
        torch.nn.functional.group_norm(image, 2)
        scores = torch.baddbmm(torch.zeros(1, 2, 2, dtype=half), torch.ones(1, 2, 3, dtype=half),
                               torch.ones(1, 3, 2, dtype=half))
        torch.nn.functional.layer_norm(scores.softmax(-1), (2,))
    except RuntimeError as error:
        raise UsageError(f"--dtype {spec.dtype} does not run on this CPU ({str(error).splitlines()[0]}); "
                         "use --dtype float32 or auto, or --device cuda") from error
