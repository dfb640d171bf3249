"""The render loop: plan a request, load its model once, run the grid in pipeline calls, write every image."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel, resolved
from dgenerate.models.schedulers import make_scheduler
from dgenerate.naming import image_stem
from dgenerate.plan import RenderRequest, batch_groups, describe_grid, plan
from dgenerate.render.noise import generators
from dgenerate.render.outputs import encode_png, write_new
from dgenerate.reproduce import A1111_CHUNK, CONFIG_CHUNK, a1111_parameters, config_text


@dataclass
class Progress:
    """A bar over every denoising step of the request; file names are printed above it."""

    bar: Any

    @classmethod
    def start(cls, total_steps: int, images: int, enabled: bool) -> Progress:
        from tqdm import tqdm

        return cls(tqdm(total=total_steps, unit="step", desc=f"0/{images} images", disable=not enabled,
                        file=sys.stderr, dynamic_ncols=True, leave=False))

    def on_step_end(self, _pipeline: Any, _step: int, _timestep: Any, _outputs: dict[str, Any]) -> dict[str, Any]:
        """diffusers' callback_on_step_end: count the step, change nothing."""
        self.bar.update(1)
        return {}

    def image_done(self, done: int, total: int, path: Path) -> None:
        self.bar.set_description(f"{done}/{total} images")
        self.bar.write(f"wrote {path}", file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


def output_size(request: RenderRequest, model: LoadedModel) -> tuple[int, int]:
    width, height = request.output_size or model.default_size
    multiple = model.size_multiple
    if width % multiple or height % multiple:
        fixed = f"{max(multiple, width // multiple * multiple)}x{max(multiple, height // multiple * multiple)}"
        raise UsageError(f"--output-size {width}x{height} is not a multiple of {multiple}, which this model "
                         f"needs; use for example {fixed}")
    return width, height


def call_slots(group: list[Job]) -> list[Job]:
    """The images of one pipeline call, each job at its slot; unused slots repeat the first job and are dropped.

    Every call runs at exactly the batch size, so an image's pixels depend on its seed, settings and slot, never on
    which other images share its call: a config regenerates it alone, byte-identical.
    """
    slots = [group[0]] * group[0].batch_size
    for job in group:
        slots[job.batch_slot] = job
    return slots


def _scheduler(model: LoadedModel, job: Job) -> Any:
    """A fresh scheduler for every call, so no state carries from one image to the next."""
    base = model.pipeline.scheduler
    return make_scheduler(job.scheduler, base.config) if job.scheduler else type(base).from_config(base.config)


def generate(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    """One pipeline call for a group of jobs; each image draws its noise from its own seed's CPU generator."""
    images = _call(model, call_slots(group), progress)
    return [images[job.batch_slot] for job in group]


def _call(model: LoadedModel, group: list[Job], progress: Progress) -> list[Any]:
    first = group[0]
    pipeline = model.pipeline
    original_scheduler = pipeline.scheduler
    pipeline.scheduler = _scheduler(model, first)
    try:
        result = pipeline(
            prompt=[job.prompt for job in group],
            negative_prompt=[job.negative_prompt or "" for job in group],
            num_inference_steps=first.inference_steps,
            guidance_scale=first.guidance_scale,
            width=first.width,
            height=first.height,
            generator=generators([job.seed for job in group]),
            output_type="pil",
            callback_on_step_end=progress.on_step_end,
        )
    finally:
        pipeline.scheduler = original_scheduler
    return list(result.images)


def environment(model: LoadedModel) -> str:
    import diffusers
    import torch

    threads = f", {torch.get_num_threads()} CPU threads" if model.spec.device == "cpu" else ""
    return f"made with torch {torch.__version__}, diffusers {diffusers.__version__} on {model.spec.device}{threads}"


def write_image(job: Job, image: Any, model: LoadedModel) -> Path:
    chunks: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if job.output.configs or job.output.metadata:
        config = config_text(job, environment(model))
        if job.output.metadata:
            chunks = {CONFIG_CHUNK: config, A1111_CHUNK: a1111_parameters(job, _scheduler_name(model, job))}
    files[".png"] = encode_png(image, chunks)
    if job.output.configs:
        files[".dgen"] = config.encode()
    return write_new(Path(job.output.path), image_stem(job), files)


def _scheduler_name(model: LoadedModel, job: Job) -> str:
    return job.scheduler or type(model.pipeline.scheduler).__name__


def render(request: RenderRequest, cache: ModelCache | None = None, progress: bool = True) -> list[Path]:
    """Generate every image of `request`; returns the written PNG paths in grid order."""
    cache = ModelCache() if cache is None else cache
    model = cache.get(resolved(request.model))
    width, height = output_size(request, model)
    jobs = [replace(job, model=model.spec, width=width, height=height) for job in plan(request)]
    groups = batch_groups(jobs)
    bar = Progress.start(sum(group[0].inference_steps for group in groups), len(jobs), progress)
    written: list[Path] = []
    try:
        for group in groups:
            for job, image in zip(group, generate(model, group, bar), strict=True):
                written.append(write_image(job, image, model))
                bar.image_done(len(written), len(jobs), written[-1])
    finally:
        bar.close()
    return written


def announce(request: RenderRequest) -> None:
    seeds = " ".join(str(seed) for seed in request.seeds)
    print(f"dgenerate: {describe_grid(request)}; seeds: {seeds}", file=sys.stderr)
