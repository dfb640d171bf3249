"""What an image says about how it was made: our config, AUTOMATIC1111's `parameters`, and how those map to options.

Reading never runs anything: text chunks are read with Pillow, configs go through the strict config table, and the
`parameters` text is split by the same pattern AUTOMATIC1111 reads it back with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dgenerate.errors import ConfigError, MediaError, UsageError, printable
from dgenerate.jobs import Job
from dgenerate.media.png_text import png_text
from dgenerate.models.schedulers import A1111_SAMPLER_NAMES, is_flow_scheduler
from dgenerate.reproduce import A1111_CHUNK, CONFIG_CHUNK

# AUTOMATIC1111's own pattern for "Key: value" pairs (modules/infotext_utils.py), values optionally quoted.
_PAIR = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_LORA = re.compile(r"<lora:([^:>]+):([^:>]+)(?::[^>]*)?>")
# Sampler names other tools write, to our schedulers: AUTOMATIC1111 / Forge / SD.Next, and ComfyUI's.
_SAMPLERS = {
    **{name.lower(): scheduler for scheduler, name in A1111_SAMPLER_NAMES.items() if not is_flow_scheduler(scheduler)},
    "dpm++ 2m karras": "DPMSolverMultistepScheduler", "dpm++ 2m sde": "DPMSolverSDEScheduler",
    "dpm++ sde": "DPMSolverSDEScheduler", "lms karras": "LMSDiscreteScheduler", "dpm2 karras": "KDPM2DiscreteScheduler",
    "dpm2 a karras": "KDPM2AncestralDiscreteScheduler", "euler": "EulerDiscreteScheduler",
    "euler_ancestral": "EulerAncestralDiscreteScheduler", "heun": "HeunDiscreteScheduler", "ddim": "DDIMScheduler",
    "dpm_2": "KDPM2DiscreteScheduler", "dpm_2_ancestral": "KDPM2AncestralDiscreteScheduler",
    "lms": "LMSDiscreteScheduler", "dpmpp_2m": "DPMSolverMultistepScheduler", "dpmpp_sde": "DPMSolverSDEScheduler",
    "uni_pc": "UniPCMultistepScheduler", "deis": "DEISMultistepScheduler", "ddpm": "DDPMScheduler",
}
_FLOW_SAMPLERS = {name.lower(): scheduler for scheduler, name in A1111_SAMPLER_NAMES.items()
                  if is_flow_scheduler(scheduler)}
# Other tools' chunks we recognise but do not read, so that an image without ours can say what it has instead.
_FOREIGN_CHUNKS = {"workflow": "a ComfyUI workflow", "prompt": "a ComfyUI prompt graph"}


@dataclass(frozen=True)
class ImageRecord:
    """The text an image (or a .dgen file) carries about how it was made."""

    path: Path
    config: str | None = None
    parameters: str | None = None
    foreign: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return self.config is None and self.parameters is None


@dataclass(frozen=True)
class A1111Parameters:
    """AUTOMATIC1111's `parameters` text split into its prompt, negative prompt and "Key: value" settings."""

    prompt: str
    negative_prompt: str
    settings: dict[str, str] = field(default_factory=dict)


def read_record(path: Path, option: str = "--from-image") -> ImageRecord:
    """The DgenerateConfig and `parameters` texts of a PNG, or the text of a .dgen config file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{option} '{path}' {'is a folder' if path.is_dir() else 'does not exist'}; give an image "
                         "written by dgenerate (or by AUTOMATIC1111, Forge, SD.Next) or a .dgen config")
    if path.suffix == ".dgen":
        return ImageRecord(path, config=_read_text(path, option))
    try:
        chunks = png_text(path)
    except MediaError as error:
        raise UsageError(f"{option} '{path}' cannot be read as an image: {error}") from error
    foreign = tuple(description for key, description in _FOREIGN_CHUNKS.items() if key in chunks)
    return ImageRecord(path, chunks.get(CONFIG_CHUNK), chunks.get(A1111_CHUNK), foreign)


def _read_text(path: Path, option: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{option} '{path}' cannot be read as a config: {error}") from error


def parse_a1111(text: str) -> A1111Parameters:
    """Split `parameters` text as AUTOMATIC1111 does: prompt lines, 'Negative prompt:' lines, then the settings line."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if len(_PAIR.findall(lines[-1])) >= 3:
        settings = {key.strip(): _unquote(value.strip()) for key, value in _PAIR.findall(lines.pop())}
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative, line = True, line.removeprefix("Negative prompt:").lstrip()
        (negative if in_negative else prompt).append(line)
    return A1111Parameters("\n".join(prompt).strip(), "\n".join(negative).strip(), settings)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


@dataclass(frozen=True)
class Mapped:
    """Options that stand for another tool's settings, and what could not be carried over, in words."""

    arguments: list[str]
    not_mapped: list[str]
    model: str | None


def a1111_arguments(parameters: A1111Parameters) -> Mapped:
    """Our options for the settings of AUTOMATIC1111's text that mean the same here: prompt, negative prompt, steps,
    sampler, CFG scale, seed and size, the instruct-pix2pix Image CFG scale, and the variation seed, its strength and
    the seed's resize size. Everything else is listed in
    `not_mapped`, as "Key: value"."""
    settings = dict(parameters.settings)
    not_mapped: list[str] = []
    prompt = parameters.prompt
    for name, weight in _LORA.findall(prompt):  # AUTOMATIC1111 reads these from the prompt; here they are --lora
        not_mapped.append(f"LoRA {name} at {weight} (give it with --lora PATH;{weight})")
    prompt = _LORA.sub("", prompt).strip()
    if ";" in prompt:  # here the first ';' starts the negative prompt
        prompt = prompt.replace(";", ",")
        not_mapped.append("';' in the prompt (written as ',')")
    negative = parameters.negative_prompt
    arguments = ["--prompts=" + (f"{prompt}; {negative}" if negative else prompt)]
    flux = "Distilled CFG Scale" in settings
    arguments += _guidance(settings) if flux else []
    for key, flag in (("Steps", "--inference-steps"), ("CFG scale", "--guidance-scales"), ("Seed", "--seeds"),
                      ("Image CFG scale", "--image-guidance-scales"), ("Variation seed", "--variation-seeds"),
                      ("Variation seed strength", "--variation-strengths"), ("Seed resize from", "--resize-seed-from")):
        if key in settings:
            arguments.append(f"{flag}={settings.pop(key)}")
    arguments += _hires(settings, not_mapped)
    size = _SIZE.match(settings.get("Size", ""))
    if size:
        settings.pop("Size")
        arguments.append(f"--output-size={_rendered_size(int(size.group(1)), int(size.group(2)), not_mapped)}")
    not_mapped += _textual_inversions(settings.pop("TI hashes", ""))
    sampler = settings.get("Sampler", "")
    samplers = _FLOW_SAMPLERS if flux else _SAMPLERS
    scheduler = samplers.get(sampler.lower()) or samplers.get(sampler.lower().removesuffix("_karras"))
    if scheduler is not None:
        settings.pop("Sampler")
        arguments.append(f"--scheduler={scheduler}")
        if "karras" in sampler.lower():
            not_mapped.append("Karras sigmas")
    model = settings.get("Model")
    not_mapped += [f"{key}: {value}" for key, value in settings.items()]
    return Mapped(arguments, not_mapped, model)


def _hires(settings: dict[str, str], not_mapped: list[str]) -> list[str]:
    """AUTOMATIC1111's hires fix as a hi-res pass: its scale, steps (0: the first pass's), denoising strength and
    upscaler (Latent and Lanczos by name; a model's name is listed, as the file is not here)."""
    if "Hires upscale" not in settings:
        return []
    arguments = [f"--hires-scales={settings.pop('Hires upscale')}"]
    steps = settings.pop("Hires steps", "0")
    if steps.strip() not in ("", "0"):
        arguments.append(f"--hires-steps={steps}")
    if "Denoising strength" in settings:
        arguments.append(f"--hires-strengths={settings.pop('Denoising strength')}")
    upscaler = settings.pop("Hires upscaler", "Latent")
    if upscaler.lower().startswith("latent"):
        arguments.append("--hires-upscaler=latent")
        if upscaler.lower() != "latent":
            not_mapped.append(f"Hires upscaler {upscaler} (read as Latent, bilinear)")
    elif upscaler.lower() == "lanczos":
        arguments.append("--hires-upscaler=lanczos")
    else:
        arguments.append("--hires-upscaler=lanczos")
        not_mapped.append(f"Hires upscaler {upscaler} (read as lanczos; give its model with --hires-upscaler PATH)")
    return arguments


def _rendered_size(width: int, height: int, not_mapped: list[str]) -> str:
    """The size AUTOMATIC1111 and Forge render for a `Size`: their latents are an eighth of it, rounded down, so
    892x1156 comes out 888x1152."""
    rendered = f"{width - width % 8}x{height - height % 8}"
    if rendered != f"{width}x{height}":
        not_mapped.append(f"Size {width}x{height} as given (read as {rendered}, the size AUTOMATIC1111 renders for it)")
    return rendered


def _textual_inversions(hashes: str) -> list[str]:
    """AUTOMATIC1111's `TI hashes: "name: hash, ..."`: each embedding once, with the option that loads it here."""
    names = dict.fromkeys(entry.split(":")[0].strip() for entry in hashes.split(",") if entry.strip())
    return [f"textual inversion {name} (give it with --textual-inversions PATH)" for name in names]


def _guidance(settings: dict[str, str]) -> list[str]:
    """Forge's Flux images: "Distilled CFG Scale" is Flux's embedded guidance and "CFG scale" its true guidance."""
    arguments = [f"--guidance-scales={settings.pop('Distilled CFG Scale')}"]
    true_scale = settings.pop("CFG scale", "1")
    if _number(true_scale) != 1.0:
        arguments.append(f"--true-guidance-scales={true_scale}")
    return arguments


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def describe(record: ImageRecord) -> str:
    """What `--inspect` prints for one image."""
    if record.empty:
        found = f" (it has {', '.join(record.foreign)}, which dgenerate does not read)" if record.foreign else ""
        return f"{record.path}: no dgenerate config and no AUTOMATIC1111 parameters{found}\n"
    parts = [f"{record.path}:"]
    for title, text in (("dgenerate config", record.config), ("parameters", record.parameters)):
        if text is not None:
            parts.append(f"  {title}:")
            parts += [f"    {printable(line)}" for line in text.rstrip("\n").split("\n")]
    return "\n".join(parts) + "\n"


def recorded_job(record: ImageRecord) -> Job:
    """The one Job a record's config describes, read through the strict config table."""
    from dgenerate.reproduce import read_config

    assert record.config is not None
    try:
        jobs = read_config(record.config)
    except ConfigError as error:
        raise ConfigError(f"--from-image '{record.path}': {error}") from error
    if len(jobs) != 1:
        raise ConfigError(f"--from-image '{record.path}' holds {len(jobs)} invocations; replay one image's config, "
                          "or run the file as a batch: dgenerate < file")
    return jobs[0]
