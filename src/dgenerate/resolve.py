"""Resolution: planned Jobs become fully resolved Jobs, the only kind render, configs and metadata see.

A resolved Job leaves nothing open: the model spec names its type, device and every dtype, local paths are absolute,
the size is explicit (for an image seed, read from the image header and recorded in the seed's `;WxH`), the scheduler
is named, the fields its family fills in are set (SDXL's micro-conditioning sizes, the T5 sequence length, true
guidance), the SDXL high noise fraction is set where a refiner uses it, the CPU thread count is recorded on the CPU,
and the batch shape and slot come from the plan. Every option is checked against what the model's family supports.
Resolving reads model configurations and image headers, never weights; it imports torch only to see the devices and
the default thread count.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from dgenerate.errors import UsageError
from dgenerate.families import (
    FLOW_SHIFT,
    VARIATION_SEEDS,
    Mode,
    Pipeline,
    article,
    check_options,
    family,
    supporting,
)
from dgenerate.jobs import Job, ModelSpec
from dgenerate.media.info import MediaInfo
from dgenerate.models.facts import ModelFacts, model_facts
from dgenerate.models.location import family_of
from dgenerate.plan import DEFAULT_STRENGTH

AUTO_DTYPE = "float32"  # what --dtype auto means: diffusers' own default precision
DEFAULT_HIGH_NOISE_FRACTION = 0.8  # diffusers' documented split between the SDXL base and refiner


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
    spec = replace(spec, model_type=family_of(spec).model_type)
    check_options(spec, family(spec.model_type), f"model_path {spec.path!r}")
    if spec.textual_inversions and spec.refiner is not None:
        raise UsageError("--textual-inversions do not run with --sdxl-refiner (the refiner's tokenizer would read the "
                         "token as plain text); leave out one of them")
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
    if resolved.quantize is not None:
        from dgenerate.models.quantize import check_quantize

        check_quantize(resolved.quantize, resolved.device)
    if transformer is not None:
        from dgenerate.models.transformer import check_transformer

        check_transformer(resolved)
    return resolved


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


class Resolver:
    """Resolves Jobs, reading each model's configuration and each image seed's header once."""

    def __init__(self, downloads: Path) -> None:
        self.downloads = downloads
        self._specs: dict[ModelSpec, ModelSpec] = {}
        self._facts: dict[ModelSpec, ModelFacts] = {}
        self._media: dict[tuple[str | None, str | None, tuple[str, ...], int | None, int | None], MediaInfo] = {}
        self._schedules: set[tuple[ModelSpec, str, int]] = set()
        self._reference_sizes: dict[str, tuple[int, int]] = {}

    def resolve(self, jobs: Sequence[Job]) -> tuple[Job, ...]:
        return tuple(self.job(job) for job in jobs)

    def job(self, job: Job) -> Job:
        spec = self.spec(job.model)
        facts = self.facts(spec)
        job = replace(job, model=spec, scheduler=job.scheduler or facts.scheduler,
                      cpu_threads=_cpu_threads(job, spec), high_noise_fraction=_fraction(job, spec),
                      control_nets=tuple(replace(net, path=_absolute(net.path)) for net in job.control_nets))
        job = _clip(_family_fields(job, facts), facts)
        self._check_schedule(job, facts)
        width, height = self._size(job, facts)
        job = replace(job, width=width, height=height)
        _check_variation(job, facts)
        job = _hires(job, facts)
        if job.image_seed is not None:
            seed = replace(job.image_seed, size=(width, height))
            job = replace(job, image_seed=seed)
            if job.strength is not None:
                denoising_steps(job)
            self._check_sides(job)
            if job_pipeline(job, facts.index_class).video:
                self._check_video_seed(job, facts)
            if seed.last is not None and not facts.last_frame:  # the pipeline takes one, the model not
                raise UsageError(f"model_path {spec.path!r} reads no last frame (a first-and-last-frame model does, "
                                 f"such as Wan2.1-FLF2V): remove ';last={seed.last}' from --image-seeds")
        return family(spec.model_type).complete(job)

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
        from dgenerate.models.schedulers import check_kind, make_scheduler, plan_timesteps

        own = family(job.model.model_type)
        check_kind(job.scheduler, own, facts.scheduler_config)
        try:
            plan_timesteps(make_scheduler(job.scheduler, facts.scheduler_config), job.inference_steps,
                           custom_sigmas=own.custom_sigmas)
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

    def _check_sides(self, job: Job) -> None:
        """Families whose pipelines refuse small images (Flux.2: 64 pixels a side) are told before any work."""
        own = family(job.model.model_type)
        seed = job.image_seed
        assert seed is not None and job.width is not None and job.height is not None
        if not own.min_image_side or seed.image is None:
            return
        sizes = {f"image seed {seed.image!r} at {job.width}x{job.height}": (job.width, job.height)}
        for path in seed.references:
            width, height = self._reference_size(path)
            sizes[f"reference image {path!r} ({width}x{height})"] = (width, height)
        for what, size in sizes.items():
            if min(size) < own.min_image_side:
                raise UsageError(f"--image-seeds: the {what} is smaller than {own.min_image_side} pixels a side, "
                                 f"which {own.name} needs; give a larger image or size")

    def _check_video_seed(self, job: Job, facts: ModelFacts) -> None:
        """Video to video changes as many of the seed's frames as the clip has: a still, or a video too short, is one
        line before any work."""
        info, seed, own = self.media_info(job), job.image_seed, family(job.model.model_type)
        assert seed is not None and job.frames is not None
        if not info.animated:
            changes, start = (f"a {own.name} text-to-video model", "use an image-to-video model") \
                if own.video_to_video is None else (f"{article(own.name)} model given a strength",
                                                    "leave out --image-seed-strengths")
            raise UsageError(f"--image-seeds {seed.image!r} is a still image, and {changes} changes a video (video to "
                             f"video): give a video, or {start} to start a clip from a picture")
        if info.frame_count is not None and info.frame_count < job.frames:
            fits = (info.frame_count - 1) // facts.frames_multiple * facts.frames_multiple + 1
            raise UsageError(f"--image-seeds {seed.image!r} has {info.frame_count} frames (from --frame-start to "
                             f"--frame-end), fewer than --frames {job.frames}: use --frames {fits} or a longer video")

    def _reference_size(self, path: str) -> tuple[int, int]:
        """A reference image's size, from its header, read once however many jobs name it."""
        if path not in self._reference_sizes:
            from dgenerate.media import open_seed

            with open_seed(self.local(path)) as source:
                self._reference_sizes[path] = (source.info.width, source.info.height)
        return self._reference_sizes[path]

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


def _checked_size(width: int | None, height: int | None, facts: ModelFacts,
                  flag: str = "--output-size") -> tuple[int, int]:
    if width is None or height is None:
        return facts.default_size
    multiple = facts.size_multiple
    if width % multiple or height % multiple:
        fixed = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        raise UsageError(f"{flag} {width}x{height} is not a multiple of {multiple}, which this model "
                         f"needs; use for example {fixed}")
    return width, height


def _check_variation(job: Job, facts: ModelFacts) -> None:
    """Variation seeds and --resize-seed-from make the starting noise of text to image (the families that support
    them, checked with the other options, take it unpacked), as AUTOMATIC1111 makes it."""
    if job.variation_seed is None and job.resize_seed_from is None:
        if job.variation_strength is not None:
            raise UsageError("--variation-strengths needs --variation-seeds")
        return
    if job.variation_seed is not None and job.variation_strength is None:
        raise UsageError("--variation-seeds needs --variation-strengths (a variation seed is mixed in at a strength "
                         "from 0 to 1)")
    flag = "--variation-seeds" if job.variation_seed is not None else "--resize-seed-from"
    if job_mode(job) != "text":
        raise UsageError(f"{flag} makes the starting noise of text to image; an image seed's {job_mode(job)} starts "
                         f"from its image: leave {flag} out")
    if job.resize_seed_from is not None:
        _checked_size(*job.resize_seed_from, facts, "--resize-seed-from")


def _hires(job: Job, facts: ModelFacts) -> Job:
    """A hi-res pass checked against the model, its steps filled in (the first pass's, unless told)."""
    if job.hires_scale is None:
        return job
    own = family(job.model.model_type)
    if VARIATION_SEEDS not in own.supports or job_mode(job) != "text":
        raise UsageError(f"--hires-scales makes a hi-res pass of text to image with {supporting(VARIATION_SEEDS)} "
                         f"models; model_path {job.model.path!r} is {own.name}: leave it out")
    for flag, used in (("--sdxl-refiner", job.model.refiner), ("--control-nets", job.control_nets)):
        if used:
            raise UsageError(f"--hires-scales does not run with {flag} (its second pass would read neither); leave "
                             "out one of them")
    steps = job.hires_steps or job.inference_steps
    assert job.hires_strength is not None, "the plan gives a hi-res pass its strength"
    if job.hires_strength <= 0:
        raise UsageError("--hires-strengths 0 leaves the hi-res pass nothing to do; give a strength above 0")
    width, height = hires_size(job, facts.size_multiple)
    if min(width, height) < facts.size_multiple:
        raise UsageError(f"--hires-scales {job.hires_scale:g} makes nothing of {job.width}x{job.height}")
    return replace(job, hires_steps=steps)


def hires_schedule(job: Job) -> int:
    """The inference steps the hi-res pass plans so that its strength runs --hires-steps of them: AUTOMATIC1111
    stretches its second pass's schedule the same way (steps / strength, strength at most 0.999)."""
    assert job.hires_steps is not None and job.hires_strength is not None
    return int(job.hires_steps / min(job.hires_strength, 0.999))


def hires_size(job: Job, multiple: int) -> tuple[int, int]:
    """The hi-res pass's size: the first pass's times the scale, rounded down to the model's multiple (as
    AUTOMATIC1111 rounds its latents down to an eighth)."""
    assert job.width is not None and job.height is not None and job.hires_scale is not None
    return (int(job.width * job.hires_scale) // multiple * multiple,
            int(job.height * job.hires_scale) // multiple * multiple)


def job_mode(job: Job) -> Mode:
    """Text to image (control images alone included), img2img, or inpainting."""
    seed = job.image_seed
    if seed is None or seed.image is None:
        return "text"
    return "img2img" if seed.mask is None else "inpaint"


def job_pipeline(job: Job, folder_class: str) -> Pipeline:
    """The pipeline a resolved job runs on its model (whose model_index.json names `folder_class`)."""
    return family(job.model.model_type).pipeline(job_mode(job), bool(job.control_nets), folder_class, job.model.path,
                                                 job.strength is not None)


def _family_fields(job: Job, facts: ModelFacts) -> Job:
    """The options checked against what the model's family and the job's pipeline take, and the fields they leave
    open filled in: the text encoder's sequence length and the true guidance (the family's defaults, recorded)."""
    own = family(job.model.model_type)
    check_options(job, own, f"model_path {job.model.path!r}")
    if job.max_sequence_length is not None and job.max_sequence_length > own.longest_sequence:
        raise UsageError(f"--max-sequence-length {job.max_sequence_length} is too long for {own.name}: use 1 to "
                         f"{own.longest_sequence}")
    for flag, used in (("--control-nets", job.control_nets), ("--prompt-weighting a1111", job.prompt_weighting)):
        if used and job.model.refiner is not None:
            raise UsageError(f"{flag} does not run with --sdxl-refiner (the refiner would read neither); leave out "
                             "one of them")
    pipeline = job_pipeline(job, facts.index_class)
    what = own.describe(job_mode(job), bool(job.control_nets), facts.index_class, job.strength is not None)
    _check_pipeline_takes(job, pipeline, what)
    length = job.max_sequence_length or own.default_sequence_length
    true_guidance = (job.true_guidance_scale if job.true_guidance_scale is not None else own.default_true_guidance) \
        if pipeline.true_cfg else None
    return replace(job, max_sequence_length=length, true_guidance_scale=true_guidance,
                   strength=_strength(job, pipeline, what))


def _clip(job: Job, facts: ModelFacts) -> Job:
    """A video model's frame count (checked against its VAE's rule) and frame rate, its family's defaults where not
    given."""
    own, multiple = family(job.model.model_type), facts.frames_multiple
    if not multiple:
        return job
    frames = job.frames or own.default_frames
    if (frames - 1) % multiple:
        below = (frames - 1) // multiple * multiple + 1
        nearest = " or ".join(str(count) for count in (below, below + multiple) if count >= 1)
        raise UsageError(f"--frames {frames} is not a multiple of {multiple} plus one, which this {own.name} model "
                         f"needs; use {nearest}")
    shift = job.flow_shift
    if shift is None and FLOW_SHIFT in own.supports:  # the model's own, recorded
        shift = float(facts.scheduler_config.get("flow_shift", facts.scheduler_config.get("shift", 1.0)))
    for flag, value in (("--ltx-decode-timestep", job.ltx_decode_timestep),
                        ("--ltx-decode-noise-scale", job.ltx_decode_noise_scale)):
        if value is not None and not facts.vae_timestep:
            raise UsageError(f"{flag} is for {own.name} models whose VAE decodes at a timestep (0.9.1 and later); "
                             f"model_path {job.model.path!r} has a VAE without timestep conditioning: leave it out")
    if job.low_noise_guidance_scale is not None and not facts.two_experts:
        raise UsageError(f"--low-noise-guidance-scales is for {own.name} models with two experts (Wan 2.2's "
                         f"transformer_2 and boundary_ratio); model_path {job.model.path!r} has one: leave it out")
    return replace(job, frames=frames, frame_rate=job.frame_rate or own.default_frame_rate, flow_shift=shift)


def _strength(job: Job, pipeline: Pipeline, what: str) -> float | None:
    """An image to change is changed by DEFAULT_STRENGTH unless told; a pipeline that edits by the prompt takes none."""
    if job_mode(job) == "text":
        return None
    if pipeline.strength:
        return DEFAULT_STRENGTH if job.strength is None else job.strength
    if job.strength is not None:
        raise UsageError(f"{what} takes no strength (the prompt says what to change): leave --image-seed-strengths "
                         f"{job.strength:g} out")
    return None


def _check_pipeline_takes(job: Job, pipeline: Pipeline, what: str) -> None:
    if job.negative_prompt is not None and not pipeline.negative_prompt:
        raise UsageError(f"{what} reads no negative prompt (diffusers' pipeline takes none): remove "
                         f"'; {job.negative_prompt}' from --prompts")
    if job.true_guidance_scale is not None and not pipeline.true_cfg:
        raise UsageError(f"{what} has no true guidance (diffusers' pipeline takes none): leave --true-guidance-scales "
                         "out")
    if job.image_seed is not None and job.image_seed.last and not pipeline.last_image:
        raise UsageError(f"{what} takes no last frame: remove ';last={job.image_seed.last}' from --image-seeds")
    if job.image_seed is not None and job.image_seed.references and not pipeline.references:
        raise UsageError(f"{what} reads no reference images: remove ';reference={','.join(job.image_seed.references)}'"
                         " from --image-seeds")


def denoising_steps(job: Job) -> int:
    """The steps img2img and inpainting run: inference steps x strength, rounded as the family's pipelines round it,
    at least one."""
    assert job.strength is not None
    steps = family(job.model.model_type).strength_steps(job.inference_steps, job.strength)
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
