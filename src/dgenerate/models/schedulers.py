"""Schedulers by name. Names are checked without importing diffusers; the class is made when a model is loaded."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.families import Family, flow_matching_families, model_types_of

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
# The flow-matching schedulers, for the families that denoise by flow matching (FlowMatchHeun plans no custom sigmas,
# which some families' pipelines pass: it runs with the others only).
FLOW_SCHEDULER_NAMES = (
    "FlowMatchEulerDiscreteScheduler",
    "FlowMatchHeunDiscreteScheduler",
    "FlowMatchLCMScheduler",
)
# Multistep solvers that run flow matching when their configuration says use_flow_sigmas (Wan's own scheduler)
FLOW_SIGMA_SCHEDULER_NAMES = ("UniPCMultistepScheduler", "DPMSolverMultistepScheduler")
_STEP_NOISE_OFFSET = 0x9E3779B97F4A7C15  # step noise of image `seed` comes from seed + this (mod 2**64)

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
    "FlowMatchEulerDiscreteScheduler": "Euler",
    "FlowMatchHeunDiscreteScheduler": "Heun",
    "FlowMatchLCMScheduler": "LCM",
}


def canonical_scheduler_name(name: str) -> str:
    """The documented spelling of a scheduler name, matched without regard to case.

    Another diffusers scheduler class (a model's own, say) is accepted as written and checked when it is built.
    """
    by_lower = {known.lower(): known for known in (*SCHEDULER_NAMES, *FLOW_SCHEDULER_NAMES)}
    found = by_lower.get(name.strip().lower())
    if found is None and not (name.isidentifier() and name.endswith("Scheduler")):
        raise UsageError(f"--scheduler {name!r} is not a known scheduler; use one of: {', '.join(SCHEDULER_NAMES)}; "
                         f"for {flow_matching_types()}: {', '.join(FLOW_SCHEDULER_NAMES)}")
    return found or name


def is_flow_scheduler(name: str) -> bool:
    return name.startswith("FlowMatch")


def flow_matching_types() -> str:
    """'torch-sd3 and torch-flux': the families the flow-matching schedulers run."""
    types = model_types_of(flow_matching_families()).split(", ")
    return types[0] if len(types) == 1 else ", ".join(types[:-1]) + " and " + types[-1]


def check_kind(name: str, family: Family, config: Mapping[str, Any] | None = None) -> None:
    """Flow-matching families take flow-matching schedulers and the others the rest: one line before any work. A
    model whose own scheduler predicts flow with flow sigmas (Wan's UniPC) also takes the schedulers that can."""
    if is_flow_scheduler(name) == family.flow_matching:
        return
    if family.flow_matching and config is not None and config.get("use_flow_sigmas") \
            and name in FLOW_SIGMA_SCHEDULER_NAMES:
        return
    if family.flow_matching:
        flow_sigmas = FLOW_SIGMA_SCHEDULER_NAMES if config is not None and config.get("use_flow_sigmas") else ()
        raise UsageError(f"--scheduler {name} does not run {family.model_type} models, which denoise by flow matching; "
                         f"use one of: {', '.join((*FLOW_SCHEDULER_NAMES, *flow_sigmas))}")
    raise UsageError(f"--scheduler {name} is a flow-matching scheduler, for {flow_matching_types()} models; "
                     f"{family.model_type} models use: {', '.join(SCHEDULER_NAMES)}")


def plan_timesteps(scheduler: Any, steps: int, custom_sigmas: bool) -> None:
    """set_timesteps as the pipelines call it: Flux passes its own sigmas, and a dynamically shifted schedule needs
    a shift (its value is the pipeline's, from the image size; any value tells whether the scheduler can plan)."""
    import inspect

    import numpy as np

    accepted = inspect.signature(scheduler.set_timesteps).parameters
    kwargs: dict[str, Any] = {}
    if custom_sigmas and not scheduler.config.get("use_flow_sigmas", False):
        if "sigmas" not in accepted:
            raise ValueError(f"{type(scheduler).__name__} plans no custom sigmas, which this pipeline passes")
        kwargs["sigmas"] = np.linspace(1.0, 1 / steps, steps)
    if scheduler.config.get("use_dynamic_shifting", False) or (custom_sigmas and "mu" in accepted):
        kwargs["mu"] = 1.0
    scheduler.set_timesteps(steps, **kwargs)


def fresh_scheduler(config: Any, name: str, seeds: list[int], shift: float | None = None) -> Any:
    """A new scheduler of class `name` (no state carried between calls) built from a pipeline's scheduler `config`.

    DPMSolverSDEScheduler draws its Brownian noise from a seed of its own, not from the generators; it gets one
    seed per image (the image's own), so its images repeat byte for byte and do not depend on the batch.
    """
    fresh = make_scheduler(name, config)
    if shift is not None:  # flow shift: FlowMatch schedulers call it shift, the flow-sigma solvers flow_shift
        fresh = type(fresh).from_config(fresh.config, **{"shift" if is_flow_scheduler(name) else "flow_shift": shift})
    if "noise_sampler_seed" in fresh.config:
        fresh = type(fresh).from_config(fresh.config, noise_sampler_seed=list(seeds))
    if is_flow_scheduler(name):
        _seed_step_noise(fresh, seeds)
    return fresh


def _seed_step_noise(scheduler: Any, seeds: list[int]) -> None:
    """Flow-matching schedulers that add noise at each step (FlowMatchLCM; FlowMatchEuler with stochastic_sampling)
    draw it from the generator `step` is given, and the SD3 and Flux pipelines give none: the noise would come from
    torch's global generator. Each image gets a CPU generator of its own, seeded apart from its starting noise."""
    import functools

    from dgenerate.render.noise import generators

    step_seeds = [(seed + _STEP_NOISE_OFFSET) % 2**64 for seed in seeds]
    scheduler.step = functools.partial(scheduler.step, generator=generators(step_seeds))


def make_scheduler(name: str, config: Any) -> Any:
    """A scheduler of class `name` built from the model's own scheduler configuration."""
    import diffusers

    cls = getattr(diffusers, name, None)
    if not isinstance(cls, type) or not issubclass(cls, diffusers.SchedulerMixin):
        raise UsageError(f"--scheduler {name!r} is not a diffusers scheduler; use one of: {', '.join(SCHEDULER_NAMES)}")
    return cls.from_config(config)
