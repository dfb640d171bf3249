"""One pipeline call: a fresh scheduler, one CPU generator per image, the recorded thread count, the prompts; and the
two calls of a model with a refiner.

With a refiner, the base denoises the first `high_noise_fraction` of the schedule (denoising_end) and hands its
latents to the refiner, which does the rest (denoising_start), as in diffusers' "ensemble of expert denoisers".
"""

from __future__ import annotations

from typing import Any

from dgenerate.caching import StepClock, cached_steps
from dgenerate.errors import UsageError
from dgenerate.families import Pipeline, family
from dgenerate.jobs import Job
from dgenerate.media.sound import Sound
from dgenerate.models.loader import LoadedModel
from dgenerate.models.schedulers import fresh_scheduler
from dgenerate.plan import varied
from dgenerate.render.noise import generators, varied_noise
from dgenerate.render.progress import Progress
from dgenerate.render.results import Voiced


def call_slots(group: list[Job]) -> list[Job]:
    """The images of one pipeline call, each job at its slot; unused slots repeat the first job and are dropped.

    Every call runs at exactly the batch size, so an image's pixels depend on its seed, settings and slot, never on
    which other images share its call: a config regenerates it alone, byte-identical.
    """
    slots = [group[0]] * group[0].batch_size
    for job in group:
        slots[job.batch_slot] = job
    return slots


def call_pipeline(pipeline: Any, takes: Pipeline, group: list[Job], progress: Progress, output_type: str = "pil",
                  **inputs: Any) -> Any:
    """Run `pipeline` (the model's own, its refiner, or one built from its components), of which `takes` says what
    it takes, once for `group`.

    The call gets a fresh scheduler of the jobs' scheduler class, built from this pipeline's own scheduler
    configuration, fresh CPU generators, one per image seeded with its seed, and the CPU thread count the jobs record;
    the pipeline's scheduler and the thread count are put back afterwards.
    """
    import torch

    first = group[0]
    assert first.scheduler is not None, "resolved jobs name their scheduler"
    seeds = [job.seed for job in group]
    threads, original_scheduler = torch.get_num_threads(), pipeline.scheduler
    if first.cpu_threads is not None:
        torch.set_num_threads(first.cpu_threads)
    config = original_scheduler.config
    if takes.video_latents and config.get("use_dynamic_shifting", False):  # it plans unshifted timesteps of its own
        config = {**config, "use_dynamic_shifting": False}
    pipeline.scheduler = fresh_scheduler(config, first.scheduler, seeds, first.flow_shift)
    inputs.update(_recorded_inputs(first))
    _vae_memory(pipeline, first)
    if takes.video_latents:
        inputs = _video_as_latents(pipeline, inputs)
    image_generators = generators(seeds)
    # text to image (a refiner's call is handed the base's latents, LTX's video to video its video's)
    if varied(first) and "image" not in inputs and "latents" not in inputs:
        inputs["latents"] = starting_noise(pipeline, group, image_generators)
    denoiser = getattr(pipeline, family(first.model.model_type).denoiser)
    try:
        with cached_steps(denoiser, first.cache) as clock:
            result = pipeline(
                **_prompt_inputs(pipeline, takes, group),
                num_inference_steps=first.inference_steps,
                guidance_scale=first.guidance_scale,
                generator=image_generators,
                output_type=output_type,
                **_step_callback(takes, progress, clock),
                **inputs,
            )
            if clock is not None:
                progress.add_cached(first.cache, clock.computed, clock.calls)
    finally:
        pipeline.scheduler = original_scheduler
        torch.set_num_threads(threads)
    made = result.frames if hasattr(result, "frames") else result.images  # a video pipeline's clips, or pictures
    if output_type == "latent":
        return made
    if getattr(result, "audio", None) is not None:
        return _voiced(pipeline, made, result.audio)
    return list(made)


def _voiced(pipeline: Any, clips: Any, audio: Any) -> list[Voiced]:
    """Each clip's frames with its sound, at the vocoder's sample rate."""
    rate = int(pipeline.vocoder.config.output_sampling_rate)
    return [Voiced(list(frames), Sound(sound.detach().float().cpu().numpy(), rate))
            for frames, sound in zip(clips, audio, strict=True)]


def _video_as_latents(pipeline: Any, inputs: dict[str, Any]) -> dict[str, Any]:
    """LTXConditionPipeline's video to video: it denoises from the video's latents (the mean of what the model's VAE
    encodes, normalised as the pipeline normalises its conditioning frames) by `denoise_strength`."""
    import torch

    video, strength = inputs.pop("video"), inputs.pop("strength")
    frames = pipeline.video_processor.preprocess_video(video, inputs["height"], inputs["width"])
    vae = pipeline.vae
    with torch.no_grad():
        encoded = vae.encode(frames.to(pipeline._execution_device, vae.dtype)).latent_dist.mode()
    latents = pipeline._normalize_latents(encoded, vae.latents_mean, vae.latents_std)
    return {**inputs, "latents": latents, "denoise_strength": strength}


def _vae_memory(pipeline: Any, job: Job) -> None:
    """Tiling and slicing set on the VAE for this call, as the job records them (the VAE is shared by the calls of
    every job of its model, so each call sets both, on or off)."""
    vae = getattr(pipeline, "vae", None)
    for flag, wanted, name in (("--vae-tiling", job.vae_tiling, "tiling"), ("--vae-slicing", job.vae_slicing,
                                                                            "slicing")):
        method = getattr(vae, f"{'enable' if wanted else 'disable'}_{name}", None)
        if method is not None:
            method()
        elif wanted:
            raise UsageError(f"{flag}: this model's VAE ({type(vae).__name__}) has no {name}; leave {flag} out")


def starting_noise(pipeline: Any, group: list[Job], image_generators: list[Any]) -> Any:
    """The group's starting noise with variation seeds mixed in or drawn at --resize-seed-from, each image's from
    its own generator (which then goes on to the scheduler's steps as it would have), in the denoiser's dtype."""
    import torch

    first, factor = group[0], pipeline.vae_scale_factor
    denoiser = getattr(pipeline, family(first.model.model_type).denoiser)
    assert first.width is not None and first.height is not None, "resolved jobs have a size"
    shape = (denoiser.config.in_channels, first.height // factor, first.width // factor)
    resize = None if first.resize_seed_from is None else \
        (first.resize_seed_from[1] // factor, first.resize_seed_from[0] // factor)
    noise = [varied_noise(shape, job.seed, generator, job.variation_seed, job.variation_strength or 0.0, resize)
             for job, generator in zip(group, image_generators, strict=True)]
    return torch.cat(noise).to(denoiser.dtype)


def _step_callback(takes: Pipeline, progress: Progress, clock: StepClock | None) -> dict[str, Any]:
    """The progress bar's step callback, which also tells a --cache's clock that a step ended."""
    if takes.step_callback:
        def on_step_end(*args: Any) -> dict[str, Any]:
            if clock is not None:
                clock.step_ended()
            return progress.on_step_end(*args)
        return {"callback_on_step_end": on_step_end}

    def on_step(*args: Any) -> None:
        if clock is not None:
            clock.step_ended()
        progress.on_step(*args)
    return {"callback": on_step, "callback_steps": 1}


def _prompt_inputs(pipeline: Any, takes: Pipeline, group: list[Job]) -> dict[str, Any]:
    """The prompts as text, or with --prompt-weighting a1111 as embeddings read the way AUTOMATIC1111 reads them
    (computed here, under the jobs' thread count, each prompt alone)."""
    prompts = [job.prompt for job in group]
    negatives = [job.negative_prompt or "" for job in group]
    if group[0].model.textual_inversions:
        from dgenerate.models.textual_inversion import expandable_prompt

        prompts, negatives = ([expandable_prompt(pipeline, text) for text in texts] for texts in (prompts, negatives))
    if group[0].prompt_weighting == "a1111":
        from dgenerate.render.weighting import weighted_embeddings

        return weighted_embeddings(pipeline, prompts, negatives)
    if takes.negative_prompt:  # resolution refuses a negative prompt where the pipeline reads none
        return {"prompt": prompts, "negative_prompt": negatives}
    return {"prompt": prompts}


def _recorded_inputs(job: Job) -> dict[str, Any]:
    """The T5 sequence length, the true and image guidance scales and the upscaler's noise level, where resolved jobs
    record them."""
    inputs: dict[str, Any] = {}
    if job.max_sequence_length is not None:
        inputs["max_sequence_length"] = job.max_sequence_length
    if job.true_guidance_scale is not None:
        inputs["true_cfg_scale"] = job.true_guidance_scale
    if job.image_guidance_scale is not None:
        inputs["image_guidance_scale"] = job.image_guidance_scale
    if job.upscaler_noise_level is not None:
        inputs["noise_level"] = job.upscaler_noise_level
    return inputs


def refined(model: LoadedModel, pipelines: tuple[Pipeline, Pipeline], group: list[Job], progress: Progress,
            inputs: dict[str, Any], refiner_inputs: dict[str, Any]) -> list[Any]:
    """The base's latents for the high noise fraction (its pipeline of `pipelines[0]`'s class), finished by the
    refiner's pipeline of `pipelines[1]`'s class from them."""
    base, refiner = pipelines
    fraction = high_noise_fraction(group[0])
    latents = call_pipeline(model.pipeline_of(base.class_name), base, group, progress, output_type="latent",
                            denoising_end=fraction, **inputs)
    return list(call_pipeline(model.pipeline_of(refiner.class_name, refiner=True), refiner, group, progress,
                              image=latents, denoising_start=fraction, **refiner_inputs))


def high_noise_fraction(job: Job) -> float:
    assert job.high_noise_fraction is not None, "resolved jobs with a refiner record their high noise fraction"
    return job.high_noise_fraction
