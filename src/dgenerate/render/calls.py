"""One pipeline call and its outputs: the progress bar, schedulers, generators, and writing images."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dgenerate.jobs import Job
from dgenerate.media.writers import encode_png
from dgenerate.models.loader import LoadedModel
from dgenerate.models.schedulers import fresh_scheduler
from dgenerate.naming import image_stem
from dgenerate.render.noise import generators
from dgenerate.render.outputs import write_new
from dgenerate.reproduce import A1111_CHUNK, CONFIG_CHUNK, a1111_parameters, config_text


@dataclass
class Progress:
    """A bar over every denoising step of the request; file names are printed above it."""

    bar: Any
    images: int
    enabled: bool
    done: int = 0

    @classmethod
    def start(cls, total_steps: int, images: int, enabled: bool) -> Progress:
        """With `enabled` False nothing is printed at all: a library call is silent unless asked."""
        from tqdm import tqdm

        return cls(tqdm(total=total_steps, unit="step", desc=f"0/{images} images", disable=not enabled,
                        file=sys.stderr, dynamic_ncols=True, leave=False), images, enabled)

    def on_step_end(self, _pipeline: Any, _step: int, _timestep: Any, _outputs: dict[str, Any]) -> dict[str, Any]:
        """diffusers' callback_on_step_end: count the step, change nothing."""
        self.bar.update(1)
        return {}

    def add_steps(self, steps: int) -> None:
        """Steps known only once an input is open (img2img runs steps x strength, animations per frame)."""
        self.bar.total += steps
        self.bar.refresh()

    def add_images(self, count: int) -> None:
        self.images += count

    def image_done(self, path: Path) -> None:
        self.done += 1
        self.bar.set_description(f"{self.done}/{self.images} images")
        if self.enabled:
            self.bar.write(f"wrote {path}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def call_slots(group: list[Job]) -> list[Job]:
    """The images of one pipeline call, each job at its slot; unused slots repeat the first job and are dropped.

    Every call runs at exactly the batch size, so an image's pixels depend on its seed, settings and slot, never on
    which other images share its call: a config regenerates it alone, byte-identical.
    """
    slots = [group[0]] * group[0].batch_size
    for job in group:
        slots[job.batch_slot] = job
    return slots


def call_pipeline(pipeline: Any, group: list[Job], progress: Progress, output_type: str = "pil", **inputs: Any) -> Any:
    """Run `pipeline` (the model's own, its refiner, or one built from its components) once for `group`.

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
    pipeline.scheduler = fresh_scheduler(original_scheduler.config, first.scheduler, seeds)
    inputs.update(_family_inputs(first))
    try:
        result = pipeline(
            **_prompt_inputs(pipeline, group),
            num_inference_steps=first.inference_steps,
            guidance_scale=first.guidance_scale,
            generator=generators(seeds),
            output_type=output_type,
            callback_on_step_end=progress.on_step_end,
            **inputs,
        )
    finally:
        pipeline.scheduler = original_scheduler
        torch.set_num_threads(threads)
    return result.images if output_type == "latent" else list(result.images)


def _prompt_inputs(pipeline: Any, group: list[Job]) -> dict[str, Any]:
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
    if takes(pipeline, "negative_prompt"):  # all but Flux Fill, whose jobs have none (resolve refuses one)
        return {"prompt": prompts, "negative_prompt": negatives}
    return {"prompt": prompts}


def takes(pipeline: Any, argument: str) -> bool:
    import inspect

    return argument in inspect.signature(pipeline.__call__).parameters


def _family_inputs(job: Job) -> dict[str, Any]:
    """The T5 sequence length (SD3, Flux) and the true guidance scale (Flux) resolved jobs record."""
    inputs: dict[str, Any] = {}
    if job.max_sequence_length is not None:
        inputs["max_sequence_length"] = job.max_sequence_length
    if job.true_guidance_scale is not None:
        inputs["true_cfg_scale"] = job.true_guidance_scale
    return inputs


def environment(model: LoadedModel) -> str:
    import platform

    import diffusers
    import torch

    machine = platform.processor() or platform.machine()
    return f"made with torch {torch.__version__}, diffusers {diffusers.__version__} on {model.spec.device} ({machine})"


def write_image(job: Job, image: Any, model: LoadedModel, stem: str | None = None) -> Path:
    chunks: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if job.output.configs or job.output.metadata:
        config = config_text(job, environment(model))
        if job.output.metadata:
            chunks = {CONFIG_CHUNK: config, A1111_CHUNK: a1111_parameters(job)}
    files[".png"] = encode_png(image, chunks)
    if job.output.configs:
        files[".dgen"] = config.encode()
    return write_new(Path(job.output.path), stem or image_stem(job), files)
