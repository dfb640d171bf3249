"""The model cache: each distinct resolved ModelSpec is loaded once per process and reused by every later request."""

from __future__ import annotations

from collections.abc import Callable

from dgenerate.jobs import ModelSpec
from dgenerate.models.loader import LoadedModel, load


class ModelCache:
    """Keyed by the whole resolved spec: path, type, revision, variant, subfolder, dtype, device, safety checker, and
    the VAE, LoRA (with its scale) and SDXL refiner with all their options."""

    def __init__(self, loader: Callable[[ModelSpec], LoadedModel] | None = None) -> None:
        self._loader = loader or load
        self._models: dict[ModelSpec, LoadedModel] = {}

    def get(self, spec: ModelSpec) -> LoadedModel:
        model = self._models.get(spec)
        if model is None:
            model = self._models[spec] = self._loader(spec)
        return model

    def __contains__(self, spec: object) -> bool:
        return spec in self._models

    def __len__(self) -> int:
        return len(self._models)
