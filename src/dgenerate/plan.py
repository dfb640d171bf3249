"""Pure planning: a RenderRequest becomes the ordered grid of Jobs. No torch, no I/O.

Grid order (documented in the README): prompts, image seeds, image seed strengths, SDXL high noise fractions,
guidance scales, true guidance scales, image guidance scales, upscaler noise levels, inference steps, then seeds,
with the seed varying fastest. Cells that differ only by seed are neighbours, which is what batching uses.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace

from dgenerate.caching import cache_method
from dgenerate.errors import UsageError
from dgenerate.jobs import (
    HIRES_UPSCALERS,
    VAE_CLASSES,
    ControlNetSpec,
    ImageSeedSpec,
    Job,
    LoraSpec,
    ModelSpec,
    OutputSpec,
    TextualInversionSpec,
)
from dgenerate.processors import ProcessorSpec

DEFAULT_HIRES_STRENGTH = 0.7  # AUTOMATIC1111's default denoising strength of its hires fix
DEFAULT_GUIDANCE_SCALE = 5.0
DEFAULT_INFERENCE_STEPS = 30
DEFAULT_STRENGTH = 0.8  # --image-seed-strengths
MAX_SEED = 99_999_999_999_999
MAX_BATCH_SIZE = 64
MAX_SEED_VALUE = 2**64 - 1  # what a torch.Generator can be seeded with
MAX_GEN_SEEDS = 100_000
MAX_INFERENCE_STEPS = 10_000
MAX_FRAMES = 1025  # --frames: longer than any video model makes in one call
MAX_NOISE_LEVEL = 350  # --upscaler-noise-levels: the published x4 upscaler's max_noise_level (diffusers refuses more)
MAX_SIDE = 16_384  # pixels, each side of an output size
# More threads than cores is allowed (slow, but it regenerates a config made on a bigger machine exactly); a
# thread count the C runtime cannot start crashes the process, so there is a ceiling.
MAX_CPU_THREADS = 256


@dataclass(frozen=True)
class Prompt:
    positive: str
    negative: str | None = None
    # Where prompt syntax made it: the text as given, and what each of its slots became (for curation, not pixels).
    template: str | None = field(default=None, compare=False)
    choices: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def __str__(self) -> str:
        return self.positive if self.negative is None else f"{self.positive}; {self.negative}"


@dataclass(frozen=True)
class RenderRequest:
    """One invocation of dgenerate, with every value explicit (random seeds already drawn)."""

    model: ModelSpec
    seeds: tuple[int, ...]
    prompts: tuple[Prompt, ...] = (Prompt(""),)
    guidance_scales: tuple[float, ...] | None = None  # None: the model's own (see guidance_scales())
    inference_steps: tuple[int, ...] = (DEFAULT_INFERENCE_STEPS,)
    output_size: tuple[int, int] | None = None
    scheduler: str | None = None
    output: OutputSpec = field(default_factory=OutputSpec)
    batch_size: int = 1
    batch_slot: int | None = None
    cpu_threads: int | None = None
    image_seeds: tuple[ImageSeedSpec, ...] = ()
    image_seed_strengths: tuple[float, ...] = ()  # none given: DEFAULT_STRENGTH where the pipeline takes one
    frame_start: int | None = None
    frame_end: int | None = None
    high_noise_fractions: tuple[float, ...] | None = None
    sdxl_original_size: tuple[int, int] | None = None
    sdxl_target_size: tuple[int, int] | None = None
    true_guidance_scales: tuple[float, ...] | None = None
    max_sequence_length: int | None = None
    prompt_weighting: str | None = None
    control_nets: tuple[ControlNetSpec, ...] = ()
    image_guidance_scales: tuple[float, ...] | None = None
    upscaler_noise_levels: tuple[int, ...] | None = None
    variation_seeds: tuple[int, ...] | None = None
    variation_strengths: tuple[float, ...] | None = None
    resize_seed_from: tuple[int, int] | None = None
    seed_image_processors: tuple[ProcessorSpec, ...] = ()
    mask_image_processors: tuple[ProcessorSpec, ...] = ()
    control_image_processors: tuple[ProcessorSpec, ...] = ()
    post_processors: tuple[ProcessorSpec, ...] = ()
    hires_scales: tuple[float, ...] | None = None
    hires_upscaler: str | None = None
    hires_strengths: tuple[float, ...] | None = None
    hires_steps: int | None = None
    vae_tiling: bool = False
    vae_slicing: bool = False
    caches: tuple[str | None, ...] | None = None  # recorded --cache values (dgenerate.caching); None: no caching
    frames: tuple[int, ...] | None = None  # a video model's clip lengths (None: its default)
    frame_rate: float | None = None
    flow_shifts: tuple[float, ...] | None = None
    low_noise_guidance_scales: tuple[float, ...] | None = None
    ltx_decode_timestep: float | None = None
    ltx_decode_noise_scale: float | None = None


def parse_prompt(text: str) -> Prompt:
    """'positive; negative' -> Prompt; only the first ';' splits, so a negative prompt may contain more."""
    positive, sep, negative = text.partition(";")
    negative = negative.strip()
    return Prompt(positive.strip(), negative if sep and negative else None)


def parse_number(text: str, option: str, number: type[int] | type[float], low: float,
                 high: float | None = None) -> int | float:
    """One value of a numeric option, checked against its range: '7' -> 7."""
    try:
        value = number(text)
    except ValueError:
        noun = "a whole number" if number is int else "a number"
        raise UsageError(f"{option} {text!r} is not {noun}") from None
    if value < low or (high is not None and value > high):
        bounds = f"at least {low:g}" if high is None else f"from {_shown(low)} to {_shown(high)}"
        raise UsageError(f"{option} {text!r} is out of range: use a value {bounds}")
    return value


def _shown(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def check_cpu_threads(threads: int) -> int:
    if not 1 <= threads <= MAX_CPU_THREADS:
        raise UsageError(f"--cpu-threads {threads} is out of range: use 1 to {MAX_CPU_THREADS} "
                         f"(this machine has {os.cpu_count()} logical CPUs)")
    return threads


def parse_size(text: str, option: str = "--output-size") -> tuple[int, int]:
    """'512x768' -> (512, 768); '512' -> (512, 512)."""
    parts = text.lower().split("x")
    if len(parts) > 2 or not all(p.strip().isdigit() for p in parts):
        raise UsageError(f"{option} {text!r} is not a size: use WIDTHxHEIGHT (e.g. 512x768) or one number (e.g. 512)")
    width, height = (int(parts[0]), int(parts[-1]))
    if width < 8 or height < 8:
        raise UsageError(f"{option} {text!r} is too small: each dimension must be at least 8")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise UsageError(f"{option} {text!r} is too large: each dimension must be at most {MAX_SIDE}")
    return width, height


def parse_vae(text: str) -> tuple[str, str]:
    """'AutoencoderKL;path' -> ('AutoencoderKL', 'path'), the class name checked (any case)."""
    class_name, sep, path = text.partition(";")
    by_lower = {name.lower(): name for name in VAE_CLASSES}
    found = by_lower.get(class_name.strip().lower())
    if not sep or not path.strip():
        raise UsageError(f"--vae {text!r} needs a class and a path: 'AutoencoderKL;path/or/repo'")
    if found is None:
        raise UsageError(f"--vae {text!r}: {class_name.strip()!r} is not a VAE class; use one of: "
                         f"{', '.join(VAE_CLASSES)}")
    return found, path.strip()


def _keywords(text: str, option: str, allowed: tuple[str, ...], example: str) -> tuple[list[str], dict[str, str]]:
    """'path;0.5;weight-name=x' -> (['path', '0.5'], {'weight-name': 'x'}); an unknown key is one line."""
    positional: list[str] = []
    keywords: dict[str, str] = {}
    for part in text.split(";"):
        key, equals, value = part.partition("=")
        if not equals:
            positional.append(part.strip())
        elif key.strip().lower() in allowed and value.strip():
            keywords[key.strip().lower()] = value.strip()
        else:
            raise UsageError(f"{option} {text!r}: {part.strip()!r} is not one of {', '.join(k + '=' for k in allowed)}"
                             f" with a value; use for example {example!r}")
    if not positional or not positional[0]:
        raise UsageError(f"{option} {text!r} needs a path first: {example!r}")
    return positional, keywords


def _float_in(text: str, option: str, whole: str, low: float, high: float | None = None) -> float:
    """One number inside a compound value, its error naming the whole value: "--lora 'x;big': 'big' is not..."."""
    return float(parse_number(text, f"{option} {whole!r}:", float, low, high))


def parse_lora(text: str) -> LoraSpec:
    """'path;scale;weight-name=file;revision=r;subfolder=s' -> LoraSpec (scale 1.0 when not given)."""
    positional, keywords = _keywords(text, "--lora", ("scale", "weight-name", "revision", "subfolder"),
                                     "my_lora.safetensors;0.5")
    if len(positional) > 2 or (len(positional) == 2 and "scale" in keywords):
        raise UsageError(f"--lora {text!r} has more than a path and a scale; use 'path;0.5;weight-name=file'")
    scale = keywords.get("scale", positional[1] if len(positional) == 2 else None)
    value = 1.0 if scale is None else _float_in(scale, "--lora", text, float("-inf"))
    return LoraSpec(positional[0], value, keywords.get("weight-name"), keywords.get("revision"),
                    keywords.get("subfolder"))


def parse_textual_inversion(text: str) -> TextualInversionSpec:
    """'path;token=NAME' -> TextualInversionSpec (the token defaults to the file's own)."""
    positional, keywords = _keywords(text, "--textual-inversions", ("token",), "easynegative.safetensors;token=bad")
    if len(positional) > 1:
        raise UsageError(f"--textual-inversions {text!r}: give one path, then token=NAME if needed")
    return TextualInversionSpec(positional[0], keywords.get("token"))


def parse_hires_upscaler(text: str) -> str:
    """latent, lanczos, or a model file (made absolute, so a config finds it from any folder)."""
    if text.lower() in HIRES_UPSCALERS:
        return text.lower()
    path = os.path.abspath(os.path.expanduser(text))
    if not os.path.isfile(path):
        raise UsageError(f"--hires-upscaler {text!r} is neither latent, lanczos nor an upscaling model's weights file")
    return path


def parse_control_net(text: str) -> ControlNetSpec:
    """'path;scale=S;start=A;end=B' -> ControlNetSpec (1, 0 and 1 by default)."""
    positional, keywords = _keywords(text, "--control-nets", ("scale", "start", "end"),
                                     "controlnet-canny;scale=0.8;start=0;end=0.6")
    if len(positional) > 1:
        raise UsageError(f"--control-nets {text!r}: give one path, then scale=, start=, end=")
    scale = _float_in(keywords.get("scale", "1"), "--control-nets", text, 0.0)
    start = _float_in(keywords.get("start", "0"), "--control-nets", text, 0.0, 1.0)
    end = _float_in(keywords.get("end", "1"), "--control-nets", text, 0.0, 1.0)
    if end <= start:
        raise UsageError(f"--control-nets {text!r}: end={end:g} must come after start={start:g}")
    return ControlNetSpec(positional[0], scale, start, end)


_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?$")


def parse_image_seed(text: str) -> ImageSeedSpec:
    """'image', 'image;mask', 'image;WxH', 'image;mask;WxH' (or ';W': width, height from the aspect ratio); the mask
    may be written 'mask=m.png', ControlNets' images 'control=a.png,b.png' (alone, for text to image), the reference
    images of models that read several 'reference=a.png,b.png', and a clip's last frame 'last=l.png'.

    Paths become absolute, so a config written for the image finds its seed from any folder.
    """
    parts = [part.strip() for part in text.split(";")]
    size = None
    if len(parts) > 1 and (match := _SIZE.match(parts[-1])):
        parts.pop()
        size = (int(match.group(1)), int(match.group(2)) if match.group(2) else None)
    keywords = {part.partition("=")[0].lower(): part.partition("=")[2].strip() for part in parts
                if part.partition("=")[0].lower() in ("mask", "control", "reference", "last")}
    positional = [part for part in parts if part.partition("=")[0].lower() not in keywords]
    if "mask" in keywords:
        positional.append(keywords["mask"])
    control, references = (tuple(_absolute(path.strip()) for path in keywords.get(name, "").split(",") if path.strip())
                           for name in ("control", "reference"))
    if not all(positional) or len(positional) > 2 or (not positional and not control) or \
            ("control" in keywords and not control) or (not positional and "mask" in keywords) or \
            ("reference" in keywords and (not references or not positional)) or \
            ("last" in keywords and (not keywords["last"] or not positional)):
        raise UsageError(f"--image-seeds {text!r} is not 'image', 'image;mask', 'image;WxH', 'image;mask;WxH', or "
                         "one of those with ';control=c.png' (or 'control=c.png' alone, with --control-nets) or "
                         "';reference=r.png,s.png' or ';last=l.png'")
    image = _absolute(positional[0]) if positional else None
    mask = _absolute(positional[1]) if len(positional) == 2 else None
    last = _absolute(keywords["last"]) if keywords.get("last") else None
    return ImageSeedSpec(image, mask, size, control, references, last)


def control_seeds(seeds: Sequence[ImageSeedSpec], control_nets: int) -> tuple[ImageSeedSpec, ...]:
    """With --control-nets, a plain 'c.png' seed is the control image of text to image; every seed then needs one
    control image per ControlNet."""
    if not control_nets:
        for seed in seeds:
            if seed.control:
                raise UsageError(f"--image-seeds {str(seed)!r} gives control images: add --control-nets")
        return tuple(seeds)
    made = tuple(ImageSeedSpec(None, None, seed.size, (seed.image,)) if seed.image and not seed.mask
                 and not seed.control else seed for seed in seeds)
    for seed in made:
        if len(seed.control) != control_nets:
            raise UsageError(f"--image-seeds {str(seed)!r} has {len(seed.control)} control image(s) for {control_nets} "
                             "--control-nets; give one per ControlNet: 'control=a.png,b.png'")
    if len({seed.image is None for seed in made}) > 1:
        raise UsageError("--image-seeds mixes control images alone (text to image) with images to change; run them "
                         "in two invocations")
    return made


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(os.path.expanduser(path))


def random_seeds(count: int) -> tuple[int, ...]:
    return tuple(secrets.randbelow(MAX_SEED + 1) for _ in range(count))


def _batch_key(job: Job) -> tuple[object, ...]:
    """What the images of one pipeline call must share; seeds and prompts may differ."""
    return (job.model, job.guidance_scale, job.inference_steps, job.width, job.height, job.scheduler,
            job.high_noise_fraction, job.sdxl_original_size, job.sdxl_target_size, job.cpu_threads,
            job.true_guidance_scale, job.max_sequence_length, job.prompt_weighting, job.control_nets,
            job.image_guidance_scale, job.upscaler_noise_level, varied(job), job.hires_scale, job.hires_upscaler,
            job.hires_strength, job.hires_steps, job.vae_tiling, job.vae_slicing, job.cache, job.frames,
            job.frame_rate, job.flow_shift, job.low_noise_guidance_scale, job.ltx_decode_timestep,
            job.ltx_decode_noise_scale)


def varied(job: Job) -> bool:
    """Whether the job's starting noise is made here (a variation seed mixed in, or drawn at another size) rather than
    by the pipeline; such images share a call only with each other."""
    return bool(job.variation_seed is not None and job.variation_strength) or job.resize_seed_from is not None


def assign_batch_slots(jobs: Sequence[Job], size: int, slot: int | None = None) -> tuple[Job, ...]:
    """Jobs in the order they run, each with its pipeline call's shape and its slot in that call.

    Jobs that share a batch key (wherever they stand in the grid) run together, in calls of
    min(size, how many share the key) images; the last call of a key is padded to that shape. An explicit `slot`
    (from a config that regenerates one image of a batch) puts every job alone at that slot of a call of `size`.
    """
    if slot is not None:
        if not 0 <= slot < size:
            raise UsageError(f"--batch-slot {slot} is outside the batch: use 0 to {size - 1} for --batch-size {size}")
        return tuple(replace(job, batch_size=size, batch_slot=slot) for job in jobs)
    if size == 1:
        return tuple(replace(job, batch_size=1, batch_slot=0) for job in jobs)
    buckets: dict[object, list[Job]] = {}
    for job in jobs:
        key = ("alone", job.index) if _alone(job) else _batch_key(job)
        buckets.setdefault(key, []).append(job)
    placed: list[Job] = []
    for bucket in buckets.values():
        shape = 1 if _alone(bucket[0]) else min(size, len(bucket))
        placed += [replace(job, batch_size=shape, batch_slot=n % shape) for n, job in enumerate(bucket)]
    return tuple(placed)


def _alone(job: Job) -> bool:
    """Image seed jobs (animations among them) run one image per call, and so do jobs whose --cache decides over the
    whole call (an image would depend on the others in it)."""
    return job.image_seed is not None or (job.cache is not None and cache_method(job.cache)[1].per_image)


def batch_groups(jobs: Sequence[Job]) -> list[list[Job]]:
    """Jobs split into pipeline calls: a call starts wherever the slot does not go up by one or the settings change."""
    groups: list[list[Job]] = []
    for job in jobs:
        last = groups[-1][-1] if groups else None
        if (last is not None and job.image_seed is None and job.batch_slot == last.batch_slot + 1
                and job.batch_size == last.batch_size and _batch_key(job) == _batch_key(last)):
            groups[-1].append(job)
        else:
            groups.append([job])
    return groups


def plan(request: RenderRequest) -> tuple[Job, ...]:
    """The grid as Jobs, numbered from 1 in grid order, each with its place in a pipeline call."""
    return assign_batch_slots(_grid(request), request.batch_size, request.batch_slot)


def _grid(request: RenderRequest) -> tuple[Job, ...]:
    return tuple(cells(request))


def guidance_scales(request: RenderRequest) -> tuple[float, ...]:
    """The guidance scales asked for, or the model's own: 5, or a built-in model's recorded default."""
    from dgenerate.models.paths import default_guidance_scale

    if request.guidance_scales is not None:
        return request.guidance_scales
    return (default_guidance_scale(request.model.path, DEFAULT_GUIDANCE_SCALE),)


def cells(request: RenderRequest) -> Iterator[Job]:
    """The grid's cells in order, made one at a time (before batch slots are given)."""
    width, height = request.output_size or (None, None)
    fractions = request.high_noise_fractions or (None,)
    image_seeds: tuple[ImageSeedSpec | None, ...] = request.image_seeds or (None,)
    with_images = any(seed.image for seed in request.image_seeds)
    strengths: tuple[float | None, ...] = (request.image_seed_strengths or (None,)) if with_images else (None,)
    true_guidance: tuple[float | None, ...] = request.true_guidance_scales or (None,)
    image_guidance: tuple[float | None, ...] = request.image_guidance_scales or (None,)
    noise_levels: tuple[int | None, ...] = request.upscaler_noise_levels or (None,)
    flow_shifts: tuple[float | None, ...] = request.flow_shifts or (None,)
    low_noise: tuple[float | None, ...] = request.low_noise_guidance_scales or (None,)
    variations: tuple[int | None, ...] = request.variation_seeds or (None,)
    variation_strengths: tuple[float | None, ...] = request.variation_strengths or (None,)
    hires_scales: tuple[float | None, ...] = request.hires_scales or (None,)
    hires_strengths: tuple[float | None, ...] = (request.hires_strengths or (DEFAULT_HIRES_STRENGTH,)) \
        if request.hires_scales else (None,)
    caches: tuple[str | None, ...] = request.caches or (None,)
    frame_counts: tuple[int | None, ...] = request.frames or (None,)
    seeds = list(itertools.product(low_noise, flow_shifts, frame_counts, caches, hires_scales, hires_strengths,
                                   variation_strengths, variations, request.seeds))
    cells = itertools.product(request.prompts, image_seeds, strengths, fractions, guidance_scales(request),
                              true_guidance, image_guidance, noise_levels, request.inference_steps, seeds)
    return (
        Job(
            model=request.model,
            prompt=prompt.positive,
            negative_prompt=prompt.negative,
            seed=seed,
            guidance_scale=guidance,
            inference_steps=steps,
            width=width,
            height=height,
            scheduler=request.scheduler,
            image_seed=image_seed,
            strength=strength,
            frame_start=request.frame_start if image_seed else None,
            frame_end=request.frame_end if image_seed else None,
            high_noise_fraction=fraction,
            cpu_threads=request.cpu_threads,
            sdxl_original_size=request.sdxl_original_size,
            sdxl_target_size=request.sdxl_target_size,
            true_guidance_scale=true_scale,
            max_sequence_length=request.max_sequence_length,
            prompt_weighting=request.prompt_weighting,
            control_nets=request.control_nets,
            image_guidance_scale=image_scale,
            upscaler_noise_level=noise_level,
            prompt_template=prompt.template,
            prompt_choices=prompt.choices,
            variation_seed=variation_seed,
            variation_strength=variation_strength,
            resize_seed_from=request.resize_seed_from,
            seed_image_processors=request.seed_image_processors if image_seed and image_seed.image else (),
            mask_image_processors=request.mask_image_processors if image_seed and image_seed.mask else (),
            control_image_processors=request.control_image_processors if request.control_nets else (),
            post_processors=request.post_processors,
            hires_scale=hires_scale,
            hires_upscaler=(request.hires_upscaler or "latent") if hires_scale is not None else None,
            hires_strength=hires_strength,
            hires_steps=request.hires_steps if hires_scale is not None else None,
            vae_tiling=request.vae_tiling,
            vae_slicing=request.vae_slicing,
            cache=cache,
            frames=frames,
            frame_rate=request.frame_rate,
            flow_shift=flow_shift,
            low_noise_guidance_scale=low_noise_scale,
            ltx_decode_timestep=request.ltx_decode_timestep,
            ltx_decode_noise_scale=request.ltx_decode_noise_scale,
            index=index,
            output=request.output,
        )
        for index, (prompt, image_seed, strength, fraction, guidance, true_scale, image_scale, noise_level, steps,
                    (low_noise_scale, flow_shift, frames, cache, hires_scale, hires_strength, variation_strength,
                     variation_seed, seed))
        in enumerate(cells, start=1)
    )


def describe_grid(request: RenderRequest) -> str:
    """'16 images (2 prompts x 4 seeds x 2 guidance scales x 1 inference steps)'."""
    axes = [
        (len(request.prompts), "prompt"),
        (len(request.seeds), "seed"),
        (len(guidance_scales(request)), "guidance scale"),
        (len(request.inference_steps), "inference steps value"),
    ]
    if request.image_seeds:
        strengths = [(len(request.image_seed_strengths), "strength")] if request.image_seed_strengths else []
        axes[1:1] = [(len(request.image_seeds), "image seed"), *strengths]
    optional: tuple[tuple[Sequence[object] | None, str], ...] = (
        (request.high_noise_fractions, "high noise fraction"), (request.true_guidance_scales, "true guidance scale"),
        (request.image_guidance_scales, "image guidance scale"),
        (request.upscaler_noise_levels, "upscaler noise level"), (request.hires_scales, "hires scale"),
        ((request.hires_strengths or (0,)) if request.hires_scales else None, "hires strength"),
        (request.caches, "cache setting"), (request.frames, "frame count"), (request.flow_shifts, "flow shift"),
        (request.low_noise_guidance_scales, "low-noise guidance scale"))
    axes += [(len(values), name) for values, name in optional if values]
    if request.variation_seeds:
        axes += [(len(request.variation_seeds), "variation seed"),
                 (len(request.variation_strengths or ()), "variation strength")]
    total = 1
    for count, _ in axes:
        total *= count
    detail = " x ".join(f"{count} {name}{'s' if count != 1 else ''}" for count, name in axes)
    return f"{total} image{'s' if total != 1 else ''} ({detail})"
