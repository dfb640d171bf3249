"""Where a model's configuration is, and which family it is: read from its folder (or a checkpoint's), never from
its weights' values. The one place that turns a ModelSpec into its configuration folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dgenerate.families import Family, check_given_type, family, family_of_index
from dgenerate.jobs import AUTO_MODEL_TYPE, ModelSpec
from dgenerate.models.paths import hub_folder, index_class, local_folder
from dgenerate.models.single_file import config_for, is_single_file, model_type_of_file


def config_folder(spec: ModelSpec) -> Path:
    """The folder of a model's model_index.json and component configs (bundled for an SD/SDXL checkpoint)."""
    if is_single_file(spec.path):
        return config_for(Path(spec.path), "model_path")[0]
    folder = local_folder(spec)
    if folder is not None:
        return folder
    return hub_folder(spec, loading_class(spec))


def loading_class(spec: ModelSpec, folder_class: str = "") -> Any:
    """The diffusers class a model loads as: its family's (a variant's own, such as FluxFillPipeline, when its folder
    names one), or DiffusionPipeline while the type is still `auto`."""
    import diffusers

    if spec.model_type == AUTO_MODEL_TYPE:
        return diffusers.DiffusionPipeline
    return getattr(diffusers, family(spec.model_type).load_class(folder_class))


def folder_class(spec: ModelSpec) -> str:
    """The pipeline class a model's model_index.json names (for a checkpoint, its configuration's)."""
    return index_class(config_folder(spec), spec.path)


def family_of(spec: ModelSpec) -> Family:
    """The family of the model a spec names, read from its model_index.json (or a checkpoint's weight names); an
    explicit --model-type that contradicts it is one line."""
    if is_single_file(spec.path):
        return family(model_type_of_file(Path(spec.path), spec.model_type))
    found = family_of_index(folder_class(spec), spec.path)
    if spec.model_type != AUTO_MODEL_TYPE:
        check_given_type(spec.model_type, found, spec.path)
    return found
