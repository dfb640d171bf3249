"""The options some families support: one table, and one check of a model spec or a job against what its family
declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dgenerate.errors import UsageError
from dgenerate.families._family import (
    DEEPCACHE,
    FIRST_BLOCK_CACHE,
    FLOW_SHIFT,
    IMAGE_GUIDANCE,
    LOW_NOISE_GUIDANCE,
    LTX_DECODE,
    MAX_SEQUENCE_LENGTH,
    NO_T5,
    PROMPT_WEIGHTING,
    REFINER,
    TAYLORSEER,
    TEXTUAL_INVERSIONS,
    TRANSFORMER,
    TRUE_GUIDANCE,
    UPSCALER_NOISE,
    VARIATION_SEEDS,
    VIDEO,
    Family,
)
from dgenerate.families._registry import FAMILIES, listed, model_types_of
from dgenerate.jobs import Job, ModelSpec


@dataclass(frozen=True)
class _Option:
    name: str  # what Family.supports calls it
    given: Callable[[Any], str | None]  # the option as the user gave it (of a ModelSpec or a Job), None if not given
    job: bool = False  # an option of the job (else of its model spec)
    audience: str = ""  # who it is for, when not simply the families' names: "models with a T5 encoder"
    note: str = ""  # why, after the families


_TABLE = (
    _Option(REFINER, lambda spec: None if spec.refiner is None else f"--sdxl-refiner {spec.refiner.path!r}"),
    _Option(TEXTUAL_INVERSIONS, lambda spec: "--textual-inversions" if spec.textual_inversions else None),
    _Option(TRANSFORMER, lambda spec: None if spec.transformer is None else "--transformer",
            note=", whose transformer it replaces"),
    _Option(NO_T5, lambda spec: "--no-t5" if spec.no_t5 else None, note=", whose T5 encoder is optional"),
    _Option(MAX_SEQUENCE_LENGTH, lambda job: None if job.max_sequence_length is None else "--max-sequence-length",
            job=True, audience="models with a language-model text encoder (T5, Qwen, ChatGLM)"),
    _Option(PROMPT_WEIGHTING, lambda job: job.prompt_weighting and f"--prompt-weighting {job.prompt_weighting}",
            job=True),
    _Option(TRUE_GUIDANCE, lambda job: None if job.true_guidance_scale is None else "--true-guidance-scales",
            job=True, note=", whose --guidance-scales are distilled guidance"),
    _Option(IMAGE_GUIDANCE, lambda job: None if job.image_guidance_scale is None else "--image-guidance-scales",
            job=True, audience="models that edit an image by instruction"),
    _Option(UPSCALER_NOISE, lambda job: None if job.upscaler_noise_level is None else "--upscaler-noise-levels",
            job=True),
    _Option(VARIATION_SEEDS, lambda job: None if job.variation_seed is None else "--variation-seeds", job=True,
            note=", whose pipelines take their starting noise as AUTOMATIC1111 draws it"),
    _Option(VARIATION_SEEDS, lambda job: None if job.resize_seed_from is None else "--resize-seed-from", job=True,
            note=", whose pipelines take their starting noise as AUTOMATIC1111 draws it"),
    _Option(FLOW_SHIFT, lambda job: None if job.flow_shift is None else "--flow-shifts", job=True,
            note=", whose scheduler's shift is set per job"),
    _Option(LOW_NOISE_GUIDANCE, lambda job: None if job.low_noise_guidance_scale is None
            else "--low-noise-guidance-scales", job=True, note=", whose two-expert models (Wan 2.2) guide each expert"),
    _Option(LTX_DECODE, lambda job: None if job.ltx_decode_timestep is None else "--ltx-decode-timestep", job=True),
    _Option(LTX_DECODE, lambda job: None if job.ltx_decode_noise_scale is None else "--ltx-decode-noise-scale",
            job=True),
    _Option(VIDEO, lambda job: None if job.frames is None else "--frames", job=True, audience="video models"),
    _Option(VIDEO, lambda job: None if job.frame_rate is None else "--frame-rate", job=True,
            audience="video models"),
    _Option(DEEPCACHE, lambda job: _cache_flag(job, DEEPCACHE), job=True, note=", whose denoiser is a UNet"),
    _Option(FIRST_BLOCK_CACHE, lambda job: _cache_flag(job, FIRST_BLOCK_CACHE), job=True,
            note=", whose transformer blocks diffusers' First Block Cache knows"),
    _Option(TAYLORSEER, lambda job: _cache_flag(job, TAYLORSEER), job=True,
            note=", whose transformer's attention diffusers' TaylorSeer finds"),
)


def _cache_flag(job: Job, name: str) -> str | None:
    """'--cache first-block' where the job caches with the method `name`."""
    return f"--cache {name}" if job.cache is not None and job.cache.split(";")[0] == name else None


def check_options(given: ModelSpec | Job, family: Family, subject: str) -> None:
    """Every option of a model spec (or of a job, its model's included) that not every family has is one `family`
    supports; `subject` names the model in the message ("model_path 'x'", "--model-type torch")."""
    checked: list[tuple[_Option, Any]] = [(option, given.model) for option in _TABLE if not option.job] \
        if isinstance(given, Job) else []
    checked += [(option, given) for option in _TABLE if option.job == isinstance(given, Job)]
    for option, owner in checked:
        flag = option.given(owner)
        if flag is None or option.name in family.supports:
            continue
        owners = [each for each in FAMILIES.values() if option.name in each.supports]
        audience = option.audience or f"{listed(owners, with_types=False)} models"
        raise UsageError(f"{flag} is for {audience} ({model_types_of(owners)}){option.note}; {subject} is "
                         f"{family.name}: leave it out")


def supporting(option: str) -> str:
    """'torch-sd3, torch-flux': the model types whose families support `option` (a name of the table above), for
    --help."""
    return model_types_of(each for each in FAMILIES.values() if option in each.supports)


def default_sequence_lengths() -> str:
    """'256 for Stable Diffusion 3; 512 for Flux and Chroma': the T5 or Qwen prompt tokens each family's pipelines
    read by default."""
    lengths: dict[int, list[Family]] = {}
    for each in FAMILIES.values():
        if each.default_sequence_length is not None:
            lengths.setdefault(each.default_sequence_length, []).append(each)
    return "; ".join(f"{length} for {listed(owners, with_types=False)}" for length, owners in lengths.items())
