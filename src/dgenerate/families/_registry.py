"""The registry of families: every module of this package not named with a leading "_", and lookups over them."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable
from pathlib import Path

from dgenerate.errors import UsageError
from dgenerate.families._family import Checkpoint, Family, article
from dgenerate.jobs import Job

MAX_SEQUENCE_LENGTH = 1024  # the most prompt tokens any family's pipelines read (LTX-2's Gemma; T5 and Qwen 512)


def _discovered() -> dict[str, Family]:
    package = __name__.rpartition(".")[0]
    found = [importlib.import_module(f"{package}.{module.name}").FAMILY
             for module in pkgutil.iter_modules([str(Path(__file__).parent)]) if not module.name.startswith("_")]
    return {each.model_type: each for each in sorted(found, key=lambda each: each.order)}


FAMILIES: dict[str, Family] = _discovered()
MODEL_TYPES: tuple[str, ...] = tuple(FAMILIES)


def family(model_type: str) -> Family:
    return FAMILIES[model_type]


def picture_size(job: Job) -> tuple[int, int]:
    """The size of a resolved job's picture: its size, times the family's output scale (4 for the x4 upscaler)."""
    assert job.width is not None and job.height is not None, "resolved jobs have a size"
    scale = FAMILIES[job.model.model_type].output_scale
    return job.width * scale, job.height * scale


def listed(families: Iterable[Family], with_types: bool = True) -> str:
    """'Stable Diffusion 3 (torch-sd3) and Flux (torch-flux)', or with `with_types` False 'Stable Diffusion 3 and
    Flux'."""
    names = [each.label if with_types else each.name for each in families]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def model_types_of(families: Iterable[Family]) -> str:
    """'torch-sd3, torch-flux'."""
    return ", ".join(each.model_type for each in families)


def flow_matching_families() -> list[Family]:
    return [each for each in FAMILIES.values() if each.flow_matching]


def family_of_index(class_name: str, path: str) -> Family:
    """The family of a model folder, from the pipeline class its model_index.json names."""
    for each in FAMILIES.values():
        if class_name in each.index_classes:
            return each
    raise UsageError(f"model_path {path!r} is a {class_name or 'pipeline of no named class'}, which dgenerate does "
                     f"not run; give a model of one of: {', '.join(each.label for each in FAMILIES.values())}")


def check_given_type(given: str, found: Family, path: str) -> None:
    """An explicit --model-type must be the folder's own (diffusers would load it with parts missing)."""
    if given != found.model_type:
        raise UsageError(f"model_path {path!r} is {article(found.name)} model, not {FAMILIES[given].name}: use "
                         f"--model-type {found.model_type}, or leave --model-type out and it is read from the model")


def checkpoints() -> list[tuple[Family, Checkpoint]]:
    """Every checkpoint architecture with its family, the newest families first: a later architecture's checkpoint
    may also carry an earlier one's text encoder, never the other way round."""
    return [(each, checkpoint) for each in reversed(FAMILIES.values()) for checkpoint in each.checkpoints]


def checkpoint(architecture: str) -> tuple[Family, Checkpoint]:
    return next(pair for pair in checkpoints() if pair[1].architecture == architecture)


def architecture_of(names: Iterable[str], in_channels: int | None = None) -> str | None:
    """The checkpoint architecture a set of weight names (original layout, alone or in a whole checkpoint) is; a
    UNet's input channels (`in_channels`, where known) tell apart architectures with the same names (InstructPix2Pix
    reads 8 where SD 1.x reads 4)."""
    names = set(names)
    for _, each in checkpoints():
        if each.in_channels is not None and each.in_channels != in_channels:
            continue
        if any(name.startswith(each.prefixes) for name in names):
            return each.architecture
    return None


def transformer_weights_of(names: Iterable[str]) -> tuple[Family, str] | None:
    """The family whose transformer a file's weight names are (original layout or diffusers'), and what to call the
    weights in a message; a whole checkpoint of a UNet family gives that family."""
    names = set(names)
    architecture = architecture_of(names)
    if architecture is not None:
        owner, found = checkpoint(architecture)
        return owner, found.name
    for each in reversed(FAMILIES.values()):
        if each.transformer_markers and any(name.startswith(each.transformer_markers) for name in names):
            return each, each.name
    return None


