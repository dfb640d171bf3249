"""The model cache: each distinct resolved ModelSpec is loaded once and reused by every later request, within a
memory budget: when a new model would pass it, the least recently used models are let go first."""

from __future__ import annotations

import gc
import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dgenerate.jobs import ModelSpec
from dgenerate.models.budget import DEFAULT_SHARE
from dgenerate.models.loader import LoadedModel, load


def model_bytes(model: LoadedModel) -> int:
    """The memory a loaded model holds: the parameters and buffers of every torch module of its pipelines, and of the
    ControlNets jobs have loaded onto it since (a tensor two of them share counts once)."""
    total, seen = 0, set()
    components = [component for pipeline in (model.pipeline, model.refiner) if pipeline is not None
                  for component in getattr(pipeline, "components", {}).values()]
    for component in (*components, *model.control_nets.values()):
        for tensor in _tensors(component):
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def _tensors(component: Any) -> list[Any]:
    parameters, buffers = getattr(component, "parameters", None), getattr(component, "buffers", None)
    if not callable(parameters) or not callable(buffers):
        return []
    return [*parameters(), *buffers()]


def device_memory(device: str) -> int:
    """The memory of the device a model lives on: a GPU's, or the machine's RAM."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class ModelCache:
    """Keyed by the whole resolved spec: path, type, revision, variant, subfolder, dtype, device, safety checker, and
    the VAE, LoRA (with its scale) and SDXL refiner with all their options.

    `budget` is bytes (an int) or a share of each device's memory (a float; default DEFAULT_SHARE). The models of a
    device may hold that much; a model that alone is larger is still loaded, once the others are let go.
    """

    def __init__(self, loader: Callable[[ModelSpec], LoadedModel] | None = None,
                 budget: int | float = DEFAULT_SHARE) -> None:
        self._loader = loader or load
        self._models: OrderedDict[ModelSpec, tuple[LoadedModel, int]] = OrderedDict()
        self.budget = budget
        self.loads = self.evictions = 0

    def get(self, spec: ModelSpec) -> LoadedModel:
        if spec in self._models:
            self._models.move_to_end(spec)
            return self._models[spec][0]
        model = self._loader(spec)
        size = model_bytes(model)
        self.loads += 1
        self._make_room(spec.device, size)
        self._models[spec] = (model, size)
        return model

    def _limit(self, device: str) -> float:
        return self.budget * device_memory(device) if isinstance(self.budget, float) else self.budget

    def _make_room(self, device: str, size: int) -> None:
        """Let go of the least recently used models of `device` until `size` more bytes fit the budget."""
        def held() -> int:
            return sum(bytes_ for spec, (_, bytes_) in self._models.items() if spec.device == device)

        self._measure_again()
        limit, evicted = self._limit(device), False
        while held() + size > limit and any(spec.device == device for spec in self._models):
            oldest = next(spec for spec in self._models if spec.device == device)
            del self._models[oldest]
            self.evictions, evicted = self.evictions + 1, True
        if not evicted:
            return
        gc.collect()
        if device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def _measure_again(self) -> None:
        """A model grows after it loads when a job loads a ControlNet onto it: count what each model holds now."""
        for spec, (model, _) in list(self._models.items()):
            self._models[spec] = (model, model_bytes(model))

    def held_bytes(self) -> int:
        self._measure_again()
        return sum(size for _, size in self._models.values())

    def __contains__(self, spec: object) -> bool:
        return spec in self._models

    def __len__(self) -> int:
        return len(self._models)
