"""Helpers for model tests: a shared model cache, jobs on tiny models, pixel comparisons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from dgenerate.jobs import Job, ModelSpec
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel
from dgenerate.resolve import resolve_spec
from tests.tiny_models import write_single_file

_CACHE = ModelCache()


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """On a shared CPU, two torch threads that wait for each other make these tiny models 10 to 40 times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def loaded(spec: ModelSpec) -> LoadedModel:
    """Models are shared by every test of the session: a tiny model still takes a second to load."""
    return _CACHE.get(resolve_spec(spec))


def job(spec: ModelSpec, seed: int = 7, steps: int = 2, **fields: Any) -> Job:
    """A resolved job on a loaded model's spec (scheduler and SDXL settings filled in as resolution does)."""
    from dgenerate.models.facts import model_facts
    from dgenerate.resolve import DEFAULT_HIGH_NOISE_FRACTION

    base: dict[str, Any] = {"prompt": "a red circle", "negative_prompt": None, "guidance_scale": 5.0,
                            "inference_steps": steps, "width": 64, "height": 64,
                            "scheduler": model_facts(spec).scheduler}
    if spec.model_type == "torch-sdxl":
        base.update(sdxl_original_size=(64, 64), sdxl_target_size=(64, 64))
    if spec.refiner is not None:
        base["high_noise_fraction"] = DEFAULT_HIGH_NOISE_FRACTION
    return Job(spec, seed=seed, **{**base, **fields})


def pixels(images: list[Any]) -> list[bytes]:
    return [np.asarray(image.convert("RGB")).tobytes() for image in images]


def assert_close(alone: bytes, batched: bytes) -> None:
    """An image alone and in a batch: the kernels round differently for another batch shape; the README's bound is
    one 8-bit level (in float32 a few values differ, in float16 a few percent)."""
    difference = np.abs(np.frombuffer(alone, np.uint8).astype(int) - np.frombuffer(batched, np.uint8).astype(int))
    assert difference.max() <= 1, f"{(difference > 1).sum()} values differ by more than one level"


def sd_images(spec: ModelSpec, seeds: tuple[int, ...] = (7,), **fields: Any) -> list[bytes]:
    """Images through the render loop's own pipeline call."""
    from dgenerate.render.generate import generate
    from dgenerate.render.progress import Progress

    model = loaded(spec)
    group = [job(model.spec, seed, batch_size=len(seeds), batch_slot=slot, **fields) for slot, seed in enumerate(seeds)]
    return pixels(generate(model, group, Progress.start(1, len(group), enabled=False)))


__all__ = ["assert_close", "job", "loaded", "pixels", "sd_images", "write_single_file"]
