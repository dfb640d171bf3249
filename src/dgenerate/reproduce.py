"""Job <-> config text, and the PNG metadata chunks (our DgenerateConfig, and AUTOMATIC1111's "parameters").

A config is a dgenerate batch text: `dgenerate < file.dgen` regenerates the image. It is data, never code.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from dgenerate import __version__
from dgenerate.batch import escape_variables
from dgenerate.errors import ConfigError
from dgenerate.jobs import Job, ModelSpec
from dgenerate.models.schedulers import A1111_SAMPLER_NAMES
from dgenerate.naming import format_number

CONFIG_CHUNK = "DgenerateConfig"
A1111_CHUNK = "parameters"


def _quote(value: str) -> str:
    return shlex.quote(escape_variables(value))


Option = tuple[str, "str | None"]


def _present(*pairs: tuple[str, str | None]) -> list[Option]:
    return [(flag, value) for flag, value in pairs if value is not None]


def _size(size: tuple[int, int] | None) -> str | None:
    return None if size is None else f"{size[0]}x{size[1]}"


def _number(value: float | None) -> str | None:
    return None if value is None else format_number(value)


def _model_arguments(model: ModelSpec) -> list[Option]:
    options: list[Option] = [("--model-type", model.model_type)]
    options += _present(("--revision", model.revision), ("--variant", model.variant), ("--subfolder", model.subfolder))
    options += [("--dtype", model.dtype), ("--device", model.device)]
    if model.safety_checker:
        options.append(("--safety-checker", None))
    if model.vae:
        vae = model.vae
        options += _present(("--vae", f"{vae.class_name};{vae.path}"), ("--vae-revision", vae.revision),
                            ("--vae-variant", vae.variant), ("--vae-subfolder", vae.subfolder),
                            ("--vae-dtype", vae.dtype))
    if model.lora:
        lora = model.lora
        options += _present(("--lora", f"{lora.path};{format_number(lora.scale)}"),
                            ("--lora-weight-name", lora.weight_name), ("--lora-revision", lora.revision),
                            ("--lora-subfolder", lora.subfolder))
    if model.refiner:
        refiner = model.refiner
        options += _present(("--sdxl-refiner", refiner.path), ("--sdxl-refiner-revision", refiner.revision),
                            ("--sdxl-refiner-variant", refiner.variant),
                            ("--sdxl-refiner-subfolder", refiner.subfolder), ("--sdxl-refiner-dtype", refiner.dtype))
    return options


def job_arguments(job: Job) -> list[Option]:
    """The options that regenerate `job` (a resolved job: device, dtype and size are explicit)."""
    options = _model_arguments(job.model)
    output_size = f"{job.width}x{job.height}" if job.width is not None and job.image_seed is None else None
    if job.image_seed is not None:
        options.append(("--image-seeds", str(job.image_seed)))
        options += _present(("--image-seed-strengths", _number(job.strength)),
                            ("--frame-start", _number(job.frame_start)), ("--frame-end", _number(job.frame_end)),
                            ("--animation-format", job.output.animation_format))
    options += _present(("--output-size", output_size),
                        ("--scheduler", job.scheduler),
                        ("--sdxl-original-size", _size(job.sdxl_original_size)),
                        ("--sdxl-target-size", _size(job.sdxl_target_size)))
    if job.cpu_threads is not None:
        options.append(("--cpu-threads", str(job.cpu_threads)))
    if job.batch_size > 1:
        options += [("--batch-size", str(job.batch_size)), ("--batch-slot", str(job.batch_slot))]
    if job.high_noise_fraction is not None:
        options.append(("--sdxl-high-noise-fractions", format_number(job.high_noise_fraction)))
    prompt = job.prompt if job.negative_prompt is None else f"{job.prompt}; {job.negative_prompt}"
    options += [
        ("--prompts", prompt),
        ("--seeds", str(job.seed)),
        ("--guidance-scales", format_number(job.guidance_scale)),
        ("--inference-steps", str(job.inference_steps)),
    ]
    options += [(flag, None) for flag, on in (("--output-configs", job.output.configs),
                                              ("--output-metadata", job.output.metadata)) if on]
    return options


def config_text(job: Job, environment: str) -> str:
    """A config that regenerates `job`; `environment` is a comment naming the versions and machine it ran on."""
    lines = [f"# dgenerate {__version__} config: `dgenerate < this-file` regenerates the image",
             f"# {environment}", _quote(job.model.path) + " \\"]
    options = job_arguments(job)
    for position, (flag, value) in enumerate(options, start=1):
        text = flag if value is None else f"{flag} {_quote(value)}"
        lines.append(f"    {text}" + (" \\" if position < len(options) else ""))
    return "\n".join(lines) + "\n"


def a1111_parameters(job: Job, scheduler_class: str) -> str:
    """The "parameters" text AUTOMATIC1111 writes, which image browsers and other tools read."""
    sampler = A1111_SAMPLER_NAMES.get(scheduler_class, scheduler_class)
    model_name = Path(job.model.path.removeprefix("builtin:")).name or job.model.path
    lines = [job.prompt]
    if job.negative_prompt:
        lines.append(f"Negative prompt: {job.negative_prompt}")
    lines.append(
        f"Steps: {job.inference_steps}, Sampler: {sampler}, CFG scale: {format_number(job.guidance_scale)}, "
        f"Seed: {job.seed}, Size: {job.width}x{job.height}, Model: {model_name}, Version: dgenerate {__version__}"
    )
    return "\n".join(lines)


def read_png_config(path: Path) -> str:
    """The DgenerateConfig text stored in a PNG written with --output-metadata."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            text = getattr(image, "text", {}).get(CONFIG_CHUNK)
    except (OSError, UnidentifiedImageError) as error:
        raise ConfigError(f"{path}: cannot read PNG metadata ({error})") from error
    if text is None:
        raise ConfigError(f"{path} has no {CONFIG_CHUNK} metadata: it was not written with --output-metadata")
    return str(text)
