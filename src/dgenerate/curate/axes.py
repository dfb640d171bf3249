"""The grid's axes as curation sees them: a name a user can type, and each job's value on it as a label."""

from __future__ import annotations

import re
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
    "hires-scale": lambda job: _optional_number(job.hires_scale),
    "hires-strength": lambda job: _optional_number(job.hires_strength),
    "guidance": lambda job: format_number(job.guidance_scale),
    "true-guidance": lambda job: _optional_number(job.true_guidance_scale),
    "low-noise-guidance": lambda job: _optional_number(job.low_noise_guidance_scale),
    "image-guidance": lambda job: _optional_number(job.image_guidance_scale),
    "noise-level": lambda job: _optional_number(job.upscaler_noise_level),
    "steps": lambda job: str(job.inference_steps),
    "flow-shift": lambda job: _optional_number(job.flow_shift),
    "frames": lambda job: "" if job.frames is None else str(job.frames),
    "cache": lambda job: job.cache or "none",
    "variation-strength": lambda job: _optional_number(job.variation_strength),
    "variation-seed": lambda job: "" if job.variation_seed is None else str(job.variation_seed),
    "seed": lambda job: str(job.seed),
}


# The slots prompt syntax expands (dgenerate.prompt_syntax): each is an axis of its own, named as it is written.
_SLOT = re.compile(r"(negative )?(__[A-Za-z0-9][A-Za-z0-9_\-/]*__( \d+)?|\{\d+\}|matrix)")


def value(job: Job, axis: str) -> str:
    if axis in AXES:
        return AXES[axis](job)
    if axis == "template":
        return job.prompt_template or _prompt(job)
    return dict(job.prompt_choices).get(axis, "")


def varying(jobs: Sequence[Job]) -> list[str]:
    """The axes on which `jobs` take more than one value, in grid order. Where prompt syntax made the prompts, its
    slots stand in the prompt's place (with `template`, the prompt as given, when several were)."""
    moving = [axis for axis, read in AXES.items() if len({read(job) for job in jobs}) > 1]
    slots = [name for name in dict.fromkeys(name for job in jobs for name, _ in job.prompt_choices)
             if len({value(job, name) for job in jobs}) > 1]
    if slots and moving and moving[0] == "prompt":
        templates = ["template"] if len({value(job, "template") for job in jobs}) > 1 else []
        moving[:1] = [*templates, *slots]
    return moving


def values(jobs: Sequence[Job], axis: str) -> list[str]:
    """The values `jobs` take on `axis`, in the order they first appear (the grid's order)."""
    return list(dict.fromkeys(value(job, axis) for job in jobs))


def check_axes(names: Sequence[str], option: str) -> tuple[str, ...]:
    for name in names:
        if name not in AXES and name != "template" and not _SLOT.fullmatch(name):
            raise UsageError(f"{option} {name!r} is not an axis; use {', '.join(AXES)}, or a prompt syntax slot: "
                             "'__name__' (a wildcard), '{1}' (the first brace group), 'matrix', 'template'")
    if len(set(names)) != len(names):
        raise UsageError(f"{option} names {names[0]!r} twice; give one axis across and another down")
    return tuple(names)
