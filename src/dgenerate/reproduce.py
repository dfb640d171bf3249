"""Resolved Job <-> config text, through one table of Job fields and their options; and the PNG metadata chunks.

A config is dgenerate batch text: `dgenerate < file.dgen` regenerates the image, and `read_config` reads it back to
an equal Job without the command line. Both directions go through OPTIONS, so a field cannot be written one way and
read another. A config is data, never code: its words are split as a POSIX shell would, with nothing executed.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from dgenerate._version import __version__
from dgenerate.batch import escape_variables, read_invocations
from dgenerate.caching import parse_cache
from dgenerate.errors import ConfigError, DgenerateError
from dgenerate.families import MAX_SEQUENCE_LENGTH, MODEL_TYPES, family, picture_size
from dgenerate.jobs import (
    AUTO_MODEL_TYPE,
    COMPILE_MODES,
    DTYPES,
    OFFLOAD_MODES,
    PROMPT_WEIGHTINGS,
    ControlNetSpec,
    Job,
    LoraSpec,
    ModelSpec,
    OutputSpec,
    RefinerSpec,
    TextualInversionSpec,
    VaeSpec,
)
from dgenerate.media.writers import ANIMATION_FORMATS
from dgenerate.models.paths import default_guidance_scale
from dgenerate.models.quantize import parse_quantize
from dgenerate.models.schedulers import A1111_SAMPLER_NAMES, canonical_scheduler_name
from dgenerate.naming import format_number
from dgenerate.plan import (
    DEFAULT_GUIDANCE_SCALE,
    DEFAULT_INFERENCE_STEPS,
    MAX_BATCH_SIZE,
    MAX_FRAMES,
    MAX_INFERENCE_STEPS,
    MAX_NOISE_LEVEL,
    MAX_SEED_VALUE,
    check_cpu_threads,
    parse_control_net,
    parse_hires_upscaler,
    parse_image_seed,
    parse_lora,
    parse_number,
    parse_prompt,
    parse_size,
    parse_textual_inversion,
    parse_vae,
)
from dgenerate.processors import ProcessorSpec, parse_processor

CONFIG_CHUNK = "DgenerateConfig"
A1111_CHUNK = "parameters"
_JOB_ID = re.compile(r"^# job id ([0-9a-f]{16})$", re.MULTILINE)

Draft = dict[str, Any]  # a Job being read: its fields, with "model", "vae", "lora", "refiner", "output" as dicts


@dataclass(frozen=True)
class Option:
    """One option of a config: how it reads its value off a Job, and how it puts it back into a Job being read.

    `get` returns the text to write, True for a switch that is on, None to leave the option out, or (for an option
    given once per item, `repeat`) a list of texts.
    """

    flag: str
    get: Callable[[Job], str | bool | list[str] | None]
    put: Callable[[Draft, str | None], None]
    switch: bool = False
    repeat: bool = False


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: float | None) -> str | None:
    return None if value is None else format_number(value)


def _size(size: tuple[int, int] | None) -> str | None:
    return None if size is None else f"{size[0]}x{size[1]}"


def _part(draft: Draft, name: str, flag: str) -> Draft:
    """The dict of a sub-spec (model, vae, lora, refiner, output); a --vae-* option needs its --vae first."""
    if name in ("model", "output"):
        return draft.setdefault(name, {})
    model = draft.setdefault("model", {})
    if name not in model:
        raise ConfigError(f"{flag} needs --{'sdxl-refiner' if name == 'refiner' else name} before it")
    return model[name]


def _verbatim(text: str, _flag: str) -> str:
    return text


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(text: str, flag: str) -> str:
        if text not in choices:
            raise ConfigError(f"{flag} {text!r} is not one of: {', '.join(choices)}")
        return text

    return parse


def _field(part: str, name: str, text: Callable[[Any], str | None] = _text,
           parse: Callable[[str, str], Any] = _verbatim) -> Callable[[str], Option]:
    """An option whose value is one field of a sub-spec of the Job (model, vae, lora, refiner or output)."""

    def make(flag: str) -> Option:
        def get(job: Job) -> str | None:
            owner = job.output if part == "output" else job.model if part == "model" else getattr(job.model, part)
            return None if owner is None else text(getattr(owner, name))

        def put(draft: Draft, value: str | None) -> None:
            _part(draft, part, flag)[name] = parse(_value(value, flag), flag)

        return Option(flag, get, put)

    return make


def _job_field(name: str, text: Callable[[Any], str | None],
               parse: Callable[[str, str], Any]) -> Callable[[str], Option]:
    def make(flag: str) -> Option:
        def put(draft: Draft, value: str | None) -> None:
            draft[name] = parse(_value(value, flag), flag)

        return Option(flag, lambda job: text(getattr(job, name)), put)

    return make


def _switch(part: str, name: str) -> Callable[[str], Option]:
    def make(flag: str) -> Option:
        def put(draft: Draft, value: str | None) -> None:
            if value is not None:
                raise ConfigError(f"{flag} takes no value, not {value!r}")
            (draft if part == "job" else _part(draft, part, flag))[name] = True

        def get(job: Job) -> bool | None:
            owner = {"job": job, "output": job.output}.get(part, job.model)
            return getattr(owner, name) or None

        return Option(flag, get, put, switch=True)

    return make


def _value(value: str | None, flag: str) -> str:
    if value is None:
        raise ConfigError(f"{flag} needs a value")
    return value


def _int(low: int, high: int | None = None) -> Callable[[str, str], int]:
    return lambda text, flag: int(parse_number(text, flag, int, low, high))


def _float(low: float, high: float | None = None) -> Callable[[str, str], float]:
    return lambda text, flag: float(parse_number(text, flag, float, low, high))


def _threads(text: str, flag: str) -> int:
    return check_cpu_threads(int(parse_number(text, flag, int, 1)))


def _vae(flag: str) -> Option:
    def put(draft: Draft, value: str | None) -> None:
        class_name, path = parse_vae(_value(value, flag))
        draft.setdefault("model", {})["vae"] = {"class_name": class_name, "path": path}

    def get(job: Job) -> str | None:
        vae = job.model.vae
        return None if vae is None else f"{vae.class_name};{vae.path}"

    return Option(flag, get, put)


def _lora(flag: str) -> Option:
    """One --lora per LoRA, in the order they are applied."""

    def put(draft: Draft, value: str | None) -> None:
        draft.setdefault("model", {}).setdefault("loras", []).append(asdict(parse_lora(_value(value, flag))))

    def get(job: Job) -> list[str]:
        return [lora_text(lora) for lora in job.model.loras]

    return Option(flag, get, put, repeat=True)


def lora_text(lora: LoraSpec) -> str:
    extra = [f"{key}={value}" for key, value in (("weight-name", lora.weight_name), ("revision", lora.revision),
                                                 ("subfolder", lora.subfolder)) if value is not None]
    return ";".join([lora.path, format_number(lora.scale), *extra])


def _lora_part(name: str) -> Callable[[str], Option]:
    """--lora-weight-name and friends, as configs before several LoRAs wrote them: read, never written."""

    def make(flag: str) -> Option:
        def put(draft: Draft, value: str | None) -> None:
            loras = draft.setdefault("model", {}).get("loras")
            if not loras:
                raise ConfigError(f"{flag} needs --lora before it")
            loras[-1][name] = _value(value, flag)

        return Option(flag, lambda _job: None, put)

    return make


def _repeated(name: str, parse: Callable[[str], Any], text: Callable[[Any], str],
              part: str = "job") -> Callable[[str], Option]:
    """An option given once per item of a tuple field (--textual-inversions, --control-nets)."""

    def make(flag: str) -> Option:
        def put(draft: Draft, value: str | None) -> None:
            owner = draft.setdefault("model", {}) if part == "model" else draft
            owner.setdefault(name, []).append(asdict(parse(_value(value, flag))))

        def get(job: Job) -> list[str]:
            return [text(item) for item in getattr(job.model if part == "model" else job, name)]

        return Option(flag, get, put, repeat=True)

    return make


def _processor(flag: str) -> Callable[[str], ProcessorSpec]:
    return lambda text: parse_processor(text, flag)


def _inversion_text(inversion: TextualInversionSpec) -> str:
    return inversion.path + (f";token={inversion.token}" if inversion.token else "")


def _control_net_text(net: ControlNetSpec) -> str:
    return f"{net.path};scale={format_number(net.scale)};start={format_number(net.start)};end={format_number(net.end)}"


def _prompt_weighting(flag: str) -> Option:
    def put(draft: Draft, value: str | None) -> None:
        chosen = _choice(PROMPT_WEIGHTINGS)(_value(value, flag), flag)
        draft["prompt_weighting"] = None if chosen == "none" else chosen

    return Option(flag, lambda job: job.prompt_weighting, put)


def _refiner(flag: str) -> Option:
    def put(draft: Draft, value: str | None) -> None:
        draft.setdefault("model", {})["refiner"] = {"path": _value(value, flag)}

    return Option(flag, lambda job: None if job.model.refiner is None else job.model.refiner.path, put)


def _image_seed(flag: str) -> Option:
    def put(draft: Draft, value: str | None) -> None:
        seed = parse_image_seed(_value(value, flag))
        draft["image_seed"] = seed
        if seed.size is not None and seed.size[1] is not None:
            draft["width"], draft["height"] = seed.size

    return Option(flag, lambda job: _text(job.image_seed), put)


def _output_size(flag: str) -> Option:
    """Text-to-image jobs record their size here; image seed jobs in the seed's ';WxH'."""

    def get(job: Job) -> str | None:
        return f"{job.width}x{job.height}" if job.width is not None and job.image_seed is None else None

    def put(draft: Draft, value: str | None) -> None:
        draft["width"], draft["height"] = parse_size(_value(value, flag))

    return Option(flag, get, put)


def _prompt(flag: str) -> Option:
    def get(job: Job) -> str:
        return job.prompt if job.negative_prompt is None else f"{job.prompt}; {job.negative_prompt}"

    def put(draft: Draft, value: str | None) -> None:
        prompt = parse_prompt(_value(value, flag))
        draft["prompt"], draft["negative_prompt"] = prompt.positive, prompt.negative

    return Option(flag, get, put)


def _seeded(make_option: Callable[[str], Option]) -> Callable[[str], Option]:
    """An option written only for image seed jobs and clips (the animation format does not concern a picture made from
    text)."""

    def make(flag: str) -> Option:
        option = make_option(flag)
        return replace(option, get=lambda job: option.get(job) if job.image_seed is not None or job.frames is not None
                       else None)

    return make


def _batch(name: str) -> Callable[[str], Option]:
    """--batch-size and --batch-slot are written only for batches, where they decide the call's shape."""

    def make(flag: str) -> Option:
        limits = (0, MAX_BATCH_SIZE - 1) if name == "batch_slot" else (1, MAX_BATCH_SIZE)
        option = _job_field(name, _text, _int(*limits))(flag)
        return replace(option, get=lambda job: str(getattr(job, name)) if job.batch_size > 1 else None)

    return make


# Every option a config holds, in the order it is written. Reading accepts them in any order.
_TABLE: tuple[tuple[str, Callable[[str], Option]], ...] = (
    ("--model-type", _field("model", "model_type", parse=_choice((AUTO_MODEL_TYPE, *MODEL_TYPES)))),
    ("--revision", _field("model", "revision")),
    ("--variant", _field("model", "variant")),
    ("--subfolder", _field("model", "subfolder")),
    ("--dtype", _field("model", "dtype", parse=_choice(DTYPES))),
    ("--device", _field("model", "device")),
    ("--safety-checker", _switch("model", "safety_checker")),
    ("--no-t5", _switch("model", "no_t5")),
    ("--offload", _field("model", "offload", parse=_choice(OFFLOAD_MODES))),
    ("--quantize", _field("model", "quantize", parse=parse_quantize)),
    ("--compile", _field("model", "compile", parse=_choice(COMPILE_MODES))),
    ("--transformer", _field("model", "transformer")),
    ("--vae", _vae),
    ("--vae-revision", _field("vae", "revision")),
    ("--vae-variant", _field("vae", "variant")),
    ("--vae-subfolder", _field("vae", "subfolder")),
    ("--vae-dtype", _field("vae", "dtype", parse=_choice(DTYPES))),
    ("--lora", _lora),
    ("--lora-weight-name", _lora_part("weight_name")),
    ("--lora-revision", _lora_part("revision")),
    ("--lora-subfolder", _lora_part("subfolder")),
    ("--textual-inversions", _repeated("textual_inversions", parse_textual_inversion, _inversion_text, "model")),
    ("--sdxl-refiner", _refiner),
    ("--sdxl-refiner-revision", _field("refiner", "revision")),
    ("--sdxl-refiner-variant", _field("refiner", "variant")),
    ("--sdxl-refiner-subfolder", _field("refiner", "subfolder")),
    ("--sdxl-refiner-dtype", _field("refiner", "dtype", parse=_choice(DTYPES))),
    ("--control-nets", _repeated("control_nets", parse_control_net, _control_net_text)),
    ("--image-seeds", _image_seed),
    ("--seed-image-processors", _repeated("seed_image_processors", _processor("--seed-image-processors"), str)),
    ("--mask-image-processors", _repeated("mask_image_processors", _processor("--mask-image-processors"), str)),
    ("--control-image-processors", _repeated("control_image_processors", _processor("--control-image-processors"),
                                             str)),
    ("--image-seed-strengths", _job_field("strength", _number, _float(0.0, 1.0))),
    ("--post-processors", _repeated("post_processors", _processor("--post-processors"), str)),
    ("--frame-start", _job_field("frame_start", _text, _int(0))),
    ("--frame-end", _job_field("frame_end", _text, _int(0))),
    ("--animation-format", _seeded(_field("output", "animation_format", parse=_choice(ANIMATION_FORMATS)))),
    ("--output-size", _output_size),
    ("--scheduler", _job_field("scheduler", _text, lambda text, _flag: canonical_scheduler_name(text))),
    ("--sdxl-original-size", _job_field("sdxl_original_size", _size, parse_size)),
    ("--sdxl-target-size", _job_field("sdxl_target_size", _size, parse_size)),
    ("--cpu-threads", _job_field("cpu_threads", _text, _threads)),
    ("--batch-size", _batch("batch_size")),
    ("--batch-slot", _batch("batch_slot")),
    ("--sdxl-high-noise-fractions", _job_field("high_noise_fraction", _number, _float(0.0, 1.0))),
    ("--vae-tiling", _switch("job", "vae_tiling")),
    ("--vae-slicing", _switch("job", "vae_slicing")),
    ("--cache", _job_field("cache", _text, parse_cache)),
    ("--frames", _job_field("frames", _text, _int(1, MAX_FRAMES))),
    ("--frame-rate", _job_field("frame_rate", _number, _float(0.01, 240))),
    ("--flow-shifts", _job_field("flow_shift", _number, _float(0.01, 100))),
    ("--low-noise-guidance-scales", _job_field("low_noise_guidance_scale", _number, _float(0.0))),
    ("--ltx-decode-timestep", _job_field("ltx_decode_timestep", _number, _float(0.0, 1.0))),
    ("--ltx-decode-noise-scale", _job_field("ltx_decode_noise_scale", _number, _float(0.0, 1.0))),
    ("--hires-scales", _job_field("hires_scale", _number, _float(1.0, 8.0))),
    ("--hires-upscaler", _job_field("hires_upscaler", _text, lambda text, _flag: parse_hires_upscaler(text))),
    ("--hires-strengths", _job_field("hires_strength", _number, _float(0.0, 1.0))),
    ("--hires-steps", _job_field("hires_steps", _text, _int(1, MAX_INFERENCE_STEPS))),
    ("--prompt-weighting", _prompt_weighting),
    ("--prompts", _prompt),
    ("--seeds", _job_field("seed", _text, _int(0, MAX_SEED_VALUE))),
    ("--variation-seeds", _job_field("variation_seed", _text, _int(0, MAX_SEED_VALUE))),
    ("--variation-strengths", _job_field("variation_strength", _number, _float(0.0, 1.0))),
    ("--resize-seed-from", _job_field("resize_seed_from", _size, parse_size)),
    ("--guidance-scales", _job_field("guidance_scale", _number, _float(0.0))),
    ("--true-guidance-scales", _job_field("true_guidance_scale", _number, _float(1.0))),
    ("--image-guidance-scales", _job_field("image_guidance_scale", _number, _float(0.0))),
    ("--upscaler-noise-levels", _job_field("upscaler_noise_level", _text, _int(0, MAX_NOISE_LEVEL))),
    ("--max-sequence-length", _job_field("max_sequence_length", _text, _int(1, MAX_SEQUENCE_LENGTH))),
    ("--inference-steps", _job_field("inference_steps", _text, _int(1, MAX_INFERENCE_STEPS))),
    ("--output-configs", _switch("output", "configs")),
    ("--output-metadata", _switch("output", "metadata")),
)
OPTIONS: dict[str, Option] = {flag: make(flag) for flag, make in _TABLE}


def job_arguments(job: Job) -> list[tuple[str, str | None]]:
    """The options that regenerate a resolved `job`, in table order; a switch has the value None."""
    arguments: list[tuple[str, str | None]] = []
    for option in OPTIONS.values():
        value = option.get(job)
        if value is True:
            arguments.append((option.flag, None))
        elif isinstance(value, str):
            arguments.append((option.flag, value))
        elif isinstance(value, list):
            arguments += [(option.flag, item) for item in value]
    return arguments


def job_words(job: Job) -> list[str]:
    """The model path and options that regenerate `job`, as command-line words; a value that starts with '-' (a
    prompt, say) is joined to its option, `--prompts=-x`, so that it stays a value."""
    words = [job.model.path]
    for flag, value in job_arguments(job):
        if value is None:
            words.append(flag)
        else:
            words += [f"{flag}={value}"] if value.startswith("-") else [flag, value]
    return words


def _quote(value: str) -> str:
    return shlex.quote(escape_variables(value))


def batch_line(job: Job) -> str:
    """One line of a batch (`dgenerate < file`) that regenerates `job`: its config on one line."""
    return " ".join(_quote(word) for word in job_words(job))


def config_text(job: Job, environment: str) -> str:
    """A config that regenerates `job`; `environment` is a comment naming the versions and machine it ran on."""
    lines = [f"# dgenerate {__version__} config: `dgenerate < this-file` regenerates the image",
             f"# {environment}", f"# job id {job.job_id}", _quote(job.model.path) + " \\"]
    options = job_arguments(job)
    for position, (flag, value) in enumerate(options, start=1):
        text = flag if value is None else f"{flag} {_quote(value)}"
        lines.append(f"    {text}" + (" \\" if position < len(options) else ""))
    return "\n".join(lines) + "\n"


def recorded_job_id(text: str) -> str | None:
    """The job id a config written by dgenerate records in its comments (None for older configs)."""
    match = _JOB_ID.search(text)
    return match.group(1) if match else None


def read_config(text: str) -> list[Job]:
    """The Jobs of a config (one per invocation), read through the same table that wrote it; errors name the line.

    A config is data, whoever wrote it: no environment variable is read ('$$' is '$', as configs are written, and any
    other '$' stays as it is), no '~' is expanded and no directive is run (such a line is refused). Only a batch the
    user runs on standard input reads variables."""
    jobs = []
    for invocation in read_invocations(text, expand=False):
        try:
            jobs.append(_read_job(invocation.argv))
        except DgenerateError as error:
            raise ConfigError(f"line {invocation.line}: {error}") from error
    return jobs


def _read_job(argv: tuple[str, ...]) -> Job:
    if not argv or argv[0].startswith("-"):
        raise ConfigError("a config starts with the model path")
    _refuse_home("model_path", argv[0])
    draft: Draft = {"model": {"path": argv[0]}}
    words = list(argv[1:])
    seen = set()
    while words:
        flag, equals, value = words.pop(0).partition("=")
        option = OPTIONS.get(flag)
        if option is None:
            raise ConfigError(f"{flag!r} is not an option a config holds; run grids and other options through "
                              "`dgenerate < file`")
        if flag in seen and not option.repeat:
            raise ConfigError(f"{flag} is given twice; a config holds one value per option")
        seen.add(flag)
        if not equals and not option.switch:
            value = _value(words.pop(0) if words else None, flag)
        if words and not words[0].startswith("-"):
            raise ConfigError(f"{flag} is followed by {words[0]!r}, which is no option; a config holds one value "
                              "per option: it describes one image, not a grid")
        if flag != "--prompts" and value:
            _refuse_home(flag, value)
        option.put(draft, value if equals or not option.switch else None)
    return _build(draft)


_PATH_PARTS = re.compile(r"[;,=]")


def _refuse_home(flag: str, value: str) -> None:
    """A path in a config starting with '~' would name a folder of whoever reads it: configs hold absolute paths."""
    if any(part.strip().startswith("~") for part in _PATH_PARTS.split(value)):
        raise ConfigError(f"{flag} {value!r} names a path from '~', which a config cannot expand (it would be the home "
                          "folder of whoever reads it); write the path out in full")


def _build(draft: Draft) -> Job:
    model = draft.pop("model")
    for name, cls in (("vae", VaeSpec), ("refiner", RefinerSpec)):
        if name in model:
            model[name] = cls(**model[name])
    model["loras"] = tuple(LoraSpec(**lora) for lora in model.get("loras", ()))
    model["textual_inversions"] = tuple(TextualInversionSpec(**each) for each in model.get("textual_inversions", ()))
    draft["control_nets"] = tuple(ControlNetSpec(**each) for each in draft.get("control_nets", ()))
    for name in ("seed_image_processors", "mask_image_processors", "control_image_processors", "post_processors"):
        draft[name] = tuple(ProcessorSpec(each["name"], tuple(map(tuple, each["settings"])))
                            for each in draft.get(name, ()))
    output = OutputSpec(**draft.pop("output", {}))
    missing = [flag for flag, name in (("--seeds", "seed"), ("--prompts", "prompt")) if name not in draft]
    if missing:
        raise ConfigError(f"the config has no {missing[0]}; it was not written by dgenerate")
    guidance = default_guidance_scale(str(model.get("path", "")), DEFAULT_GUIDANCE_SCALE)
    defaults = {"guidance_scale": guidance, "inference_steps": DEFAULT_INFERENCE_STEPS, "width": None, "height": None}
    job = Job(model=ModelSpec(**model), output=output, **{**defaults, **draft})
    if job.cpu_threads is not None:
        check_cpu_threads(job.cpu_threads)
    return job


def a1111_parameters(job: Job) -> str:
    """The "parameters" text AUTOMATIC1111 writes, which image browsers and other tools read."""
    scheduler = job.scheduler or ""
    sampler = A1111_SAMPLER_NAMES.get(scheduler, scheduler)
    model_name = Path(job.model.path.removeprefix("builtin:")).name or job.model.path
    loras = "".join(f" <lora:{_stem(lora.path)}:{format_number(lora.scale)}>" for lora in job.model.loras)
    lines = [job.prompt + loras]
    if job.negative_prompt:
        lines.append(f"Negative prompt: {job.negative_prompt}")
    guidance = family(job.model.model_type).a1111_guidance(job)
    settings = [f"Steps: {job.inference_steps}", f"Sampler: {sampler}", guidance, f"Seed: {job.seed}",
                "Size: {}x{}".format(*picture_size(job)), f"Model: {model_name}", *_a1111_variation(job),
                *_a1111_hires(job),
                *_a1111_adapters(job), f"Version: dgenerate {__version__}"]
    lines.append(", ".join(settings))
    return "\n".join(lines)


def _a1111_hires(job: Job) -> list[str]:
    """AUTOMATIC1111's hires fix fields; its upscalers are named by name (Latent, Lanczos, a model's file stem)."""
    if job.hires_scale is None or job.hires_strength is None:
        return []
    upscaler = {"latent": "Latent", "lanczos": "Lanczos"}.get(job.hires_upscaler or "", _stem(job.hires_upscaler or ""))
    return [f"Denoising strength: {format_number(job.hires_strength)}",
            f"Hires upscale: {format_number(job.hires_scale)}", f"Hires steps: {job.hires_steps}",
            f"Hires upscaler: {upscaler}"]


def _a1111_variation(job: Job) -> list[str]:
    """AUTOMATIC1111's names for the variation seed, its strength and the size the seed's noise was drawn at."""
    settings = []
    if job.variation_seed is not None and job.variation_strength is not None:
        settings += [f"Variation seed: {job.variation_seed}",
                     f"Variation seed strength: {format_number(job.variation_strength)}"]
    if job.resize_seed_from is not None:
        settings.append("Seed resize from: {}x{}".format(*job.resize_seed_from))
    return settings


def _stem(path: str) -> str:
    return Path(path).stem or path


def _a1111_adapters(job: Job) -> list[str]:
    """Textual inversions as "TI hashes" (the embedding file's SHA-256, first 12 digits, as AUTOMATIC1111 writes
    it) and ControlNets as the sd-webui-controlnet extension writes them."""
    settings = []
    if job.model.textual_inversions:
        names = [f"{each.token or _stem(each.path)}: {_short_hash(each.path)}" for each in job.model.textual_inversions]
        settings.append(f'TI hashes: "{", ".join(names)}"')
    for number, net in enumerate(job.control_nets):
        settings.append(f'ControlNet {number}: "Module: none, Model: {_stem(net.path)}, Weight: '
                        f'{format_number(net.scale)}, Guidance Start: {format_number(net.start)}, Guidance End: '
                        f'{format_number(net.end)}"')
    return settings


@functools.lru_cache(maxsize=64)
def _short_hash(path: str) -> str:
    """Read once per process and file: the parameters text of every image (and frame) carries it."""
    import hashlib

    file = Path(path)
    if file.is_dir():
        file = next((file / name for name in ("learned_embeds.safetensors", "learned_embeds.bin")
                     if (file / name).is_file()), file)
    if not file.is_file():
        return "unknown"
    return hashlib.sha256(file.read_bytes()).hexdigest()[:12]


def read_png_config(path: Path) -> str:
    """The DgenerateConfig text stored in a PNG written with --output-metadata."""
    from dgenerate.errors import MediaError
    from dgenerate.media.png_text import png_text

    try:
        text = png_text(path).get(CONFIG_CHUNK)
    except MediaError as error:
        raise ConfigError(f"{path}: cannot read PNG metadata ({error})") from error
    if text is None:
        raise ConfigError(f"{path} has no {CONFIG_CHUNK} metadata: it was not written with --output-metadata")
    return text
