"""Resolution: planned Jobs become fully resolved Jobs, the only kind render, configs and metadata see.

A resolved Job leaves nothing open: the model spec names its device and every dtype, local paths are absolute, the
size is explicit (for an image seed, read from the image header and recorded in the seed's `;WxH`), the scheduler is
named, the SDXL high noise fraction and micro-conditioning sizes are set where they are used, the CPU thread count is
recorded on the CPU, and the batch shape and slot come from the plan. Resolving reads model configurations and image
headers, never weights; it imports torch only to see the devices and the default thread count.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dgenerate.errors import ModelError, UsageError
from dgenerate.jobs import AUTO_MODEL_TYPE, Job, ModelSpec
from dgenerate.media.info import MediaInfo
from dgenerate.models.families import MAX_SEQUENCE_LENGTH, family

AUTO_DTYPE = "float32"  # what --dtype auto means: diffusers' own default precision
DEFAULT_HIGH_NOISE_FRACTION = 0.8  # diffusers' documented split between the SDXL base and refiner


@dataclass(frozen=True)
class ModelFacts:
    """What resolution needs to know about a model, read from its configuration files."""

    size_multiple: int
    default_size: tuple[int, int]
    scheduler: str
    scheduler_config: dict[str, Any]
    pipeline: str = ""  # the class model_index.json names (FluxFillPipeline for a Flux Fill model)


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
    return AUTO_DTYPE if dtype == "auto" else dtype


def resolve_spec(spec: ModelSpec) -> ModelSpec:
    """The spec with its model type, device and every dtype explicit and local paths absolute: the model cache's key."""
    from dgenerate.models.loader import check_dtype_runs

    spec = replace(spec, path=_absolute(spec.path))
    spec = replace(spec, model_type=model_type_of(spec))
    _check_family_options(spec)
    dtype = resolve_dtype(spec.dtype)
    vae = spec.vae and replace(spec.vae, path=_absolute(spec.vae.path), dtype=resolve_dtype(spec.vae.dtype or dtype))
    loras = tuple(replace(lora, path=_absolute(lora.path)) for lora in spec.loras)
    inversions = tuple(replace(each, path=_absolute(each.path)) for each in spec.textual_inversions)
    refiner = spec.refiner and replace(spec.refiner, path=_absolute(spec.refiner.path),
                                       dtype=resolve_dtype(spec.refiner.dtype or dtype))
    transformer = spec.transformer and _absolute(spec.transformer)
    resolved = replace(spec, device=resolve_device(spec.device), dtype=dtype, vae=vae, loras=loras,
                       textual_inversions=inversions, refiner=refiner, transformer=transformer)
    check_dtype_runs(resolved)
    _check_offload(resolved)
    if transformer is not None:
        from dgenerate.models.transformer import check_transformer

        check_transformer(resolved)
    return resolved


def model_type_of(spec: ModelSpec) -> str:
    """The --model-type of the model a spec names, read from its model_index.json (or a checkpoint's weight names);
    an explicit --model-type that contradicts it is one line."""
    from dgenerate.models.families import check_model_type, type_of_pipeline
    from dgenerate.models.single_file import is_single_file, model_type_of_file

    if is_single_file(spec.path):
        return model_type_of_file(Path(spec.path), spec.model_type)
    found = type_of_pipeline(pipeline_class_name(spec), spec.path)
    if spec.model_type != AUTO_MODEL_TYPE:
        check_model_type(spec.model_type, found, spec.path)
    return found


def pipeline_class_name(spec: ModelSpec) -> str:
    index = _read_json(_config_folder(spec) / "model_index.json", spec.path)
    return str(index.get("_class_name", ""))


def _check_family_options(spec: ModelSpec) -> None:
    if spec.refiner is not None and spec.model_type != "torch-sdxl":
        raise UsageError(f"--sdxl-refiner {spec.refiner.path!r} needs an SDXL model: model_path {spec.path!r} is "
                         f"{family(spec.model_type).name} ({spec.model_type})")
    if spec.textual_inversions and spec.model_type not in ("torch", "torch-sdxl"):
        raise UsageError(f"--textual-inversions are for Stable Diffusion and SDXL models; model_path {spec.path!r} is "
                         f"{family(spec.model_type).name}: leave them out")
    if spec.textual_inversions and spec.refiner is not None:
        raise UsageError("--textual-inversions do not run with --sdxl-refiner (the refiner's tokenizer would read the "
                         "token as plain text); leave out one of them")
    if spec.transformer is not None and not family(spec.model_type).flow:
        raise UsageError(f"--transformer is for Stable Diffusion 3 and Flux models (torch-sd3, torch-flux); model_path "
                         f"{spec.path!r} is {family(spec.model_type).name}, which has a UNet: leave it out")
    if spec.no_t5 and spec.model_type != "torch-sd3":
        raise UsageError(f"--no-t5 is for Stable Diffusion 3 models (torch-sd3), whose T5 encoder is optional; "
                         f"model_path {spec.path!r} is {family(spec.model_type).name}: leave --no-t5 out")


def _check_offload(spec: ModelSpec) -> None:
    if spec.offload is not None and not spec.device.startswith("cuda"):
        raise UsageError(f"--offload {spec.offload} moves model parts between the CPU and a GPU: it needs --device "
                         f"cuda, and this run is on {spec.device}; leave --offload out")


def _absolute(path: str) -> str:
    """A path on disk made absolute, so a config finds it from any folder; hub slugs and builtin: stay."""
    from dgenerate.models.paths import BUILTIN_PREFIX, looks_like_path

    if path.startswith(BUILTIN_PREFIX) or not looks_like_path(path):
        return path
    return os.path.abspath(os.path.expanduser(path))


def model_facts(spec: ModelSpec) -> ModelFacts:
    """Size multiple, native size and scheduler of a (resolved) model, from its configuration files."""
    folder = _config_folder(spec)
    kind = family(spec.model_type)
    denoiser = _read_json(folder / kind.denoiser / "config.json", spec.path)
    vae = _read_json(_vae_config(spec, folder), spec.path)
    scale = 2 ** (len(vae.get("block_out_channels", (0, 0, 0, 0))) - 1)
    sample = denoiser.get("sample_size", 64 if kind.denoiser == "unet" else 128)  # FluxPipeline's default_sample_size
    side = int(sample if isinstance(sample, int) else sample[0]) * scale
    scheduler_config = _read_json(folder / "scheduler" / "scheduler_config.json", spec.path)
    scheduler = scheduler_config.get("_class_name")
    if not isinstance(scheduler, str):
        raise ModelError(f"model_path {spec.path!r}: its scheduler configuration names no scheduler class")
    index = _read_json(folder / "model_index.json", spec.path)
    return ModelFacts(scale * kind.patch, (side, side), scheduler, scheduler_config, str(index.get("_class_name")))


def config_folder_of(spec: ModelSpec) -> Path:
    """The folder of a model's model_index.json and component configs (bundled for an SD/SDXL checkpoint)."""
    return _config_folder(spec)


def _config_folder(spec: ModelSpec) -> Path:
    from dgenerate.models.paths import hub_folder, local_folder
    from dgenerate.models.single_file import config_for, is_single_file

    if is_single_file(spec.path):
        return config_for(Path(spec.path), "model_path")[0]
    folder = local_folder(spec)
    if folder is not None:
        return folder
    from dgenerate.models.loader import pipeline_class

    return hub_folder(spec, pipeline_class(spec.model_type, auto=spec.model_type == AUTO_MODEL_TYPE))


def _vae_config(spec: ModelSpec, model_folder: Path) -> Path:
    """The config.json of the VAE the pipeline will use; a hub --vae is taken to share the model's layout."""
    from dgenerate.models.vae import config_folder

    folder = config_folder(spec.vae, spec) if spec.vae is not None else None
    return (folder or model_folder / "vae") / "config.json"


def _read_json(path: Path, model: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ModelError(f"model {model!r}: {path} is missing; the model folder is incomplete") from error
    except (OSError, ValueError) as error:
        raise ModelError(f"model {model!r}: cannot read {path} ({error})") from error
    if not isinstance(data, dict):
        raise ModelError(f"model {model!r}: {path} is not a JSON object")
    return data


class Resolver:
    """Resolves Jobs, reading each model's configuration and each image seed's header once."""

    def __init__(self, downloads: Path) -> None:
        self.downloads = downloads
        self._specs: dict[ModelSpec, ModelSpec] = {}
        self._facts: dict[ModelSpec, ModelFacts] = {}
        self._media: dict[tuple[str | None, str | None, tuple[str, ...], int | None, int | None], MediaInfo] = {}
        self._schedules: set[tuple[ModelSpec, str, int]] = set()

    def resolve(self, jobs: Sequence[Job]) -> tuple[Job, ...]:
        return tuple(self.job(job) for job in jobs)

    def job(self, job: Job) -> Job:
        spec = self.spec(job.model)
        facts = self.facts(spec)
        job = replace(job, model=spec, scheduler=job.scheduler or facts.scheduler,
                      cpu_threads=_cpu_threads(job, spec), high_noise_fraction=_fraction(job, spec),
                      control_nets=tuple(replace(net, path=_absolute(net.path)) for net in job.control_nets))
        job = _family_fields(job, facts)
        self._check_schedule(job, facts)
        width, height = self._size(job, facts)
        job = replace(job, width=width, height=height)
        if job.image_seed is not None:
            seed = replace(job.image_seed, size=(width, height))
            job = replace(job, image_seed=seed)
            if seed.image is not None:
                denoising_steps(job)
        if spec.model_type == "torch-sdxl":
            job = replace(job, sdxl_original_size=job.sdxl_original_size or (width, height),
                          sdxl_target_size=job.sdxl_target_size or (width, height))
        return job

    def spec(self, spec: ModelSpec) -> ModelSpec:
        if spec not in self._specs:
            self._specs[spec] = resolve_spec(spec)
        return self._specs[spec]

    def facts(self, spec: ModelSpec) -> ModelFacts:
        if spec not in self._facts:
            self._facts[spec] = model_facts(spec)
        return self._facts[spec]

    def _check_schedule(self, job: Job, facts: ModelFacts) -> None:
        """The scheduler can plan this many steps from the model's scheduler configuration (PNDM without its
        skip_prk_steps, for one, needs at least 4): refused here, before any work, not in the middle of a grid."""
        assert job.scheduler is not None
        key = (job.model, job.scheduler, job.inference_steps)
        if key in self._schedules:
            return
        from dgenerate.models.schedulers import check_family, make_scheduler, plan_timesteps

        kind = family(job.model.model_type)
        check_family(job.scheduler, kind.flow, kind.model_type)
        try:
            plan_timesteps(make_scheduler(job.scheduler, facts.scheduler_config), job.inference_steps,
                           custom_sigmas=kind.model_type == "torch-flux")
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as error:
            raise UsageError(f"--scheduler {job.scheduler} cannot plan {job.inference_steps} --inference-steps with "
                             f"this model's scheduler configuration ({str(error).strip().splitlines()[0]}); use more "
                             "steps or another scheduler") from error
        self._schedules.add(key)

    def media_info(self, job: Job) -> MediaInfo:
        """The image seed's header (after the frame slice), its mask checked against it."""
        from dgenerate.media import open_seed

        seed = job.image_seed
        assert seed is not None
        key = (seed.image, seed.mask, seed.control, job.frame_start, job.frame_end)
        if key not in self._media:
            image, mask = (self.local(path) if path else None for path in (seed.image, seed.mask))
            controls = [self.local(path) for path in seed.control]
            with open_seed(image, mask, job.frame_start, job.frame_end, controls) as source:
                self._media[key] = source.info
        return self._media[key]

    def local(self, path: str) -> Path:
        from dgenerate.media import fetch, is_url

        return fetch(path, self.downloads) if is_url(path) else Path(path)

    def _size(self, job: Job, facts: ModelFacts) -> tuple[int, int]:
        from dgenerate.media import fit_size

        if job.image_seed is None:
            return _checked_size(job.width, job.height, facts)
        info = self.media_info(job)
        requested = job.image_seed.size or ((job.width, None) if job.width is not None else None)
        return fit_size(info.width, info.height, requested, facts.size_multiple)


def _checked_size(width: int | None, height: int | None, facts: ModelFacts) -> tuple[int, int]:
    if width is None or height is None:
        return facts.default_size
    multiple = facts.size_multiple
    if width % multiple or height % multiple:
        fixed = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        raise UsageError(f"--output-size {width}x{height} is not a multiple of {multiple}, which this model "
                         f"needs; use for example {fixed}")
    return width, height


def _family_fields(job: Job, facts: ModelFacts) -> Job:
    """The T5 sequence length (the pipeline's default, recorded) and Flux's true guidance (1: none); each refused
    where the model has no use for it. A Flux Fill model inpaints, so it needs an image seed with a mask."""
    from dgenerate.models.families import is_fill

    kind = family(job.model.model_type)
    if job.max_sequence_length is not None and not kind.flow:
        raise UsageError(f"--max-sequence-length is for models with a T5 encoder (torch-sd3, torch-flux); "
                         f"model_path {job.model.path!r} is {kind.name}: leave it out")
    if job.max_sequence_length is not None and job.max_sequence_length > MAX_SEQUENCE_LENGTH:
        raise UsageError(f"--max-sequence-length {job.max_sequence_length} is too long: use 1 to {MAX_SEQUENCE_LENGTH}")
    if job.control_nets and kind.model_type == "torch-sd3" and job.image_seed and job.image_seed.image:
        raise UsageError("--control-nets with Stable Diffusion 3 guide text to image only (diffusers has no SD3 "
                         "ControlNet img2img, and its SD3 ControlNet inpainting takes inpainting ControlNets); give "
                         "control images alone: --image-seeds control.png")
    if job.prompt_weighting and kind.flow:
        raise UsageError(f"--prompt-weighting a1111 is for Stable Diffusion and SDXL models; model_path "
                         f"{job.model.path!r} is {kind.name}: leave it out")
    for flag, used in (("--control-nets", job.control_nets), ("--prompt-weighting a1111", job.prompt_weighting)):
        if used and job.model.refiner is not None:
            raise UsageError(f"{flag} does not run with --sdxl-refiner (the refiner would read neither); leave out "
                             "one of them")
    if job.true_guidance_scale is not None and kind.model_type != "torch-flux":
        raise UsageError(f"--true-guidance-scales is for Flux models (torch-flux); model_path {job.model.path!r} is "
                         f"{kind.name}, whose --guidance-scales already guide with the negative prompt: leave it out")
    fill = is_fill(facts.pipeline)
    if fill and (job.image_seed is None or job.image_seed.mask is None):
        raise UsageError(f"model_path {job.model.path!r} is a Flux Fill model, which fills the white of a mask: give "
                         "--image-seeds 'image;mask'")
    # FluxFillPipeline, and Flux's ControlNet img2img and inpainting pipelines, are guided by the prompt alone.
    prompt_only = kind.model_type == "torch-flux" and (fill or bool(job.control_nets and job.image_seed
                                                                    and job.image_seed.image))
    if prompt_only:
        _check_prompt_only(job, "a Flux Fill model" if fill else "Flux with --control-nets and an image to change")
    if not kind.flow:
        return job
    length = job.max_sequence_length or kind.default_sequence_length
    true_guidance = job.true_guidance_scale if job.true_guidance_scale is not None else 1.0
    return replace(job, max_sequence_length=length,
                   true_guidance_scale=true_guidance if kind.model_type == "torch-flux" and not prompt_only else None)


def _check_prompt_only(job: Job, what: str) -> None:
    if job.negative_prompt is not None:
        raise UsageError(f"{what} reads no negative prompt (diffusers' pipeline takes none): remove "
                         f"'; {job.negative_prompt}' from --prompts")
    if job.true_guidance_scale is not None:
        raise UsageError(f"{what} has no true guidance (diffusers' pipeline takes none): leave --true-guidance-scales "
                         "out")


def denoising_steps(job: Job) -> int:
    """The steps img2img and inpainting run: inference steps x strength, rounded down by SD and SDXL pipelines and
    as SD3's and Flux's round it (they drop the whole steps of the unused part), at least one."""
    assert job.strength is not None
    if family(job.model.model_type).flow:
        total = job.inference_steps
        steps = total - int(max(total - min(total * job.strength, total), 0))
    else:
        steps = int(job.inference_steps * job.strength)
    if steps < 1:
        raise UsageError(f"--image-seed-strengths {job.strength:g} with --inference-steps {job.inference_steps} "
                         "leaves no denoising step; raise the strength or the steps")
    return steps


def _cpu_threads(job: Job, spec: ModelSpec) -> int | None:
    """On the CPU the thread count can change the pixels, so it is recorded; elsewhere it is not used."""
    if spec.device != "cpu":
        return None
    import torch

    return job.cpu_threads or torch.get_num_threads()


def _fraction(job: Job, spec: ModelSpec) -> float | None:
    if spec.refiner is None:
        return None
    return DEFAULT_HIGH_NOISE_FRACTION if job.high_noise_fraction is None else job.high_noise_fraction


def resolve(jobs: Sequence[Job], downloads: Path) -> tuple[Job, ...]:
    """Every job resolved; URL image seeds are downloaded into `downloads` (render reads them from there)."""
    return Resolver(downloads).resolve(jobs)
