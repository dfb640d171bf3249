"""Loading pipelines: one ModelSpec becomes one diffusers pipeline on its device, loaded once per process."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, UsageError
from dgenerate.families import family
from dgenerate.jobs import ModelSpec
from dgenerate.models.location import loading_class
from dgenerate.models.paths import first_line, hub_folder, index_class, local_folder, model_index, read_json
from dgenerate.models.quantize import loading_arguments, quantize
from dgenerate.models.quiet import quiet_libraries
from dgenerate.models.single_file import config_for, is_single_file, load_pipeline
from dgenerate.models.torchvision_free import loadable


@dataclass
class LoadedModel:
    """A loaded pipeline on its device, its SDXL refiner when the spec names one, and what jobs build on it: the
    ControlNets they load (by path) and the pipelines of other modes made from its components (by class and
    ControlNets). All of it goes when the model leaves the cache."""

    spec: ModelSpec
    pipeline: Any
    refiner: Any = None
    folder_class: str = ""  # the pipeline class its model_index.json names (a variant's, such as FluxFillPipeline)
    control_nets: dict[str, Any] = field(default_factory=dict)
    derived: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def pipeline_of(self, class_name: str, control_nets: list[Any] | None = None, refiner: bool = False) -> Any:
        """The pipeline of class `class_name` (with `control_nets`) sharing the loaded model's (or its refiner's)
        components: the loaded pipeline itself when it is of that class, else made once and kept."""
        base = self.refiner if refiner else self.pipeline
        if type(base).__name__ == class_name and not control_nets:
            return base
        key = (refiner, class_name, *(id(net) for net in control_nets or ()))
        if key not in self.derived:
            extra = {"controlnet": control_nets[0] if len(control_nets) == 1 else control_nets} if control_nets else {}
            self.derived[key] = derive(base, class_name, extra)
        return self.derived[key]

    @cached_property
    def environment(self) -> str:
        """The libraries and machine that render with it, for the comment line of every config."""
        import platform

        import diffusers
        import torch

        machine = platform.processor() or platform.machine()
        return (f"made with torch {torch.__version__}, diffusers {diffusers.__version__} on {self.spec.device} "
                f"({machine})")


def derive(base: Any, class_name: str, extra: dict[str, Any]) -> Any:
    """A pipeline of another class built on `base`'s components and settings, as diffusers' AutoPipeline.from_pipe
    builds it (without DiffusionPipeline.from_pipe's cast of every component to one dtype)."""
    import diffusers

    cls = getattr(diffusers, class_name)
    expected, optional = cls._get_signature_keys(cls)
    config = dict(base.config)
    components = {name: extra.get(name, base.components.get(name)) for name in expected
                  if name in extra or name in base.components}
    settings = {name: config[name] for name in optional if name in config}
    settings.update({name: config[f"_{name}"] for name in optional if f"_{name}" in config and name not in settings})
    pipeline = cls(**components, **settings)
    if config.get("_name_or_path") is not None:
        pipeline.register_to_config(_name_or_path=config["_name_or_path"])
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


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
    pipeline, folder_class = _load_pipeline(spec, parts)
    for lora in spec.loras:
        apply_lora(pipeline, lora, spec)
    if spec.textual_inversions:
        from dgenerate.models.textual_inversion import apply_textual_inversions

        apply_textual_inversions(pipeline, spec.textual_inversions, spec)
    refiner = _load_refiner(spec, pipeline) if spec.refiner is not None else None
    for each in (pipeline, refiner):
        if each is not None:
            quantize(each, spec.quantize, family(spec.model_type).denoiser)
            _to_device(each, spec)
            if spec.compile is not None:  # torch.compile compiles at the first call, on the device
                denoiser = getattr(each, family(spec.model_type).denoiser)
                denoiser.compile(**({} if spec.compile == "default" else {"mode": spec.compile}))
    return LoadedModel(spec, pipeline, refiner, folder_class)


def _load_pipeline(spec: ModelSpec, parts: dict[str, Any]) -> tuple[Any, str]:
    """The pipeline, and the class its folder's model_index.json names."""
    own = family(spec.model_type)
    kwargs: dict[str, Any] = {"dtype": _torch_dtype(spec.dtype), **parts, **own.load_arguments(spec)}
    if is_single_file(spec.path):
        path = Path(spec.path).expanduser()
        pipeline = load_pipeline(loading_class(spec), path, "model_path", spec.model_type, **kwargs)
        return pipeline, index_class(config_for(path, "model_path")[0], spec.path)
    folder = local_folder(spec) or hub_folder(spec, loading_class(spec))
    kwargs.update(loading_arguments(spec.quantize, own.denoiser))
    index = model_index(folder, spec.path)
    folder_class = str(index.get("_class_name", ""))
    with contextlib.ExitStack() as stack:
        try:
            source, processors = stack.enter_context(loadable(folder, index))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelError(f"model_path {spec.path!r}: its processor could not be loaded "
                             f"({first_line(error)})") from error
        pipeline = _from_folder(loading_class(spec, folder_class), source, "model_path", spec.path, spec.variant,
                                {**kwargs, **processors})
    own.check_loaded(spec, pipeline)
    return pipeline, folder_class


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

    refiner = spec.refiner
    assert refiner is not None
    dtype = refiner.dtype or spec.dtype
    class_name = family(spec.model_type).refiner_class
    assert class_name is not None, "resolution refuses --sdxl-refiner for a family without a refiner"
    cls = getattr(diffusers, class_name)
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
    return config_for(path, "--sdxl-refiner")[0]


def _as_model(spec: ModelSpec) -> ModelSpec:
    """The refiner as a ModelSpec, to find it in the hub cache like a model."""
    refiner = spec.refiner
    assert refiner is not None
    return ModelSpec(refiner.path, spec.model_type, refiner.revision, refiner.variant or spec.variant,
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
    theirs = read_json(config_file, str(config_file.parent))
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
