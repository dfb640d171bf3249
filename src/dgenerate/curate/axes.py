"""The grid's axes as curation sees them: a name a user can type, and each job's value on it as a label."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from dgenerate.errors import UsageError
from dgenerate.jobs import Job
from dgenerate.naming import format_number


def _prompt(job: Job) -> str:
    return job.prompt if job.negative_prompt is None else f"{job.prompt}; {job.negative_prompt}"


def _image_seed(job: Job) -> str:
    if job.image_seed is None:
        return ""
    seed = job.image_seed
    parts = [Path(path).name for path in (seed.image, seed.mask) if path]
    if seed.control:
        parts.append("control=" + ",".join(Path(path).name for path in seed.control))
    return ";".join(parts)


def _optional_number(value: float | None) -> str:
    return "" if value is None else format_number(value)


# Grid order, slowest first: what the file numbering follows.
AXES: dict[str, Callable[[Job], str]] = {
    "prompt": _prompt,
    "image-seed": _image_seed,
    "strength": lambda job: _optional_number(job.strength),
    "high-noise-fraction": lambda job: _optional_number(job.high_noise_fraction),
    "guidance": lambda job: format_number(job.guidance_scale),
    "true-guidance": lambda job: _optional_number(job.true_guidance_scale),
    "image-guidance": lambda job: _optional_number(job.image_guidance_scale),
    "noise-level": lambda job: _optional_number(job.upscaler_noise_level),
    "steps": lambda job: str(job.inference_steps),
    "variation-strength": lambda job: _optional_number(job.variation_strength),
    "variation-seed": lambda job: "" if job.variation_seed is None else str(job.variation_seed),
    "seed": lambda job: str(job.seed),
}


def value(job: Job, axis: str) -> str:
    return AXES[axis](job)


def varying(jobs: Sequence[Job]) -> list[str]:
    """The axes on which `jobs` take more than one value, in grid order."""
    return [axis for axis, read in AXES.items() if len({read(job) for job in jobs}) > 1]


def values(jobs: Sequence[Job], axis: str) -> list[str]:
    """The values `jobs` take on `axis`, in the order they first appear (the grid's order)."""
    return list(dict.fromkeys(AXES[axis](job) for job in jobs))


def check_axes(names: Sequence[str], option: str) -> tuple[str, ...]:
    for name in names:
        if name not in AXES:
            raise UsageError(f"{option} {name!r} is not an axis; use {', '.join(AXES)}")
    if len(set(names)) != len(names):
        raise UsageError(f"{option} names {names[0]!r} twice; give one axis across and another down")
    return tuple(names)
