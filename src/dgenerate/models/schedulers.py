"""Schedulers by name. Names are checked without importing diffusers; the class is made when a model is loaded."""

from __future__ import annotations

from typing import Any

from dgenerate.errors import UsageError

SCHEDULER_NAMES = (
    "DDIMScheduler",
    "DDPMScheduler",
    "PNDMScheduler",
    "LMSDiscreteScheduler",
    "EulerDiscreteScheduler",
    "HeunDiscreteScheduler",
    "EulerAncestralDiscreteScheduler",
    "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler",
    "KDPM2DiscreteScheduler",
    "KDPM2AncestralDiscreteScheduler",
    "DEISMultistepScheduler",
    "UniPCMultistepScheduler",
    "DPMSolverSDEScheduler",
)

# The names AUTOMATIC1111 shows for each scheduler, for the "parameters" text other tools read.
A1111_SAMPLER_NAMES = {
    "DDIMScheduler": "DDIM",
    "DDPMScheduler": "DDPM",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "EulerDiscreteScheduler": "Euler",
    "HeunDiscreteScheduler": "Heun",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DPMSolverSinglestepScheduler": "DPM++ SDE",
    "KDPM2DiscreteScheduler": "DPM2",
    "KDPM2AncestralDiscreteScheduler": "DPM2 a",
    "DEISMultistepScheduler": "DEIS",
    "UniPCMultistepScheduler": "UniPC",
    "DPMSolverSDEScheduler": "DPM++ SDE Karras",
}


def canonical_scheduler_name(name: str) -> str:
    """The documented spelling of a scheduler name, matched without regard to case.

    Another diffusers scheduler class (a model's own, say) is accepted as written and checked when it is built.
    """
    by_lower = {known.lower(): known for known in SCHEDULER_NAMES}
    found = by_lower.get(name.strip().lower())
    if found is None and not (name.isidentifier() and name.endswith("Scheduler")):
        raise UsageError(f"--scheduler {name!r} is not a known scheduler; use one of: {', '.join(SCHEDULER_NAMES)}")
    return found or name


def fresh_scheduler(config: Any, name: str, seeds: list[int]) -> Any:
    """A new scheduler of class `name` (no state carried between calls) built from a pipeline's scheduler `config`.

    DPMSolverSDEScheduler draws its Brownian noise from a seed of its own, not from the generators; it gets one
    seed per image (the image's own), so its images repeat byte for byte and do not depend on the batch.
    """
    fresh = make_scheduler(name, config)
    if "noise_sampler_seed" in fresh.config:
        fresh = type(fresh).from_config(fresh.config, noise_sampler_seed=list(seeds))
    return fresh


def make_scheduler(name: str, config: Any) -> Any:
    """A scheduler of class `name` built from the model's own scheduler configuration."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if not isinstance(cls, type) or not issubclass(cls, diffusers.SchedulerMixin):
        raise UsageError(f"--scheduler {name!r} is not a diffusers scheduler; use one of: {', '.join(SCHEDULER_NAMES)}")
    return cls.from_config(config)
