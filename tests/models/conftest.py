"""Fixtures for model loading: tiny SDXL base and refiner, tiny LoRAs and VAEs, single-file checkpoints."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dgenerate.jobs import Job, ModelSpec
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel, resolved
from tests.models.ldm_layout import ldm_state_dict
from tests.tiny_models import build_tiny_sdxl, build_tiny_sdxl_refiner

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
    return _CACHE.get(resolved(spec))


def job(spec: ModelSpec, seed: int = 7, steps: int = 2, **fields: Any) -> Job:
    base: dict[str, Any] = {"prompt": "a red circle", "negative_prompt": None, "guidance_scale": 5.0,
                            "inference_steps": steps, "width": 64, "height": 64}
    return Job(spec, seed=seed, **{**base, **fields})


def pixels(images: list[Any]) -> list[bytes]:
    return [np.asarray(image.convert("RGB")).tobytes() for image in images]


def assert_close(alone: bytes, batched: bytes) -> None:
    """An image alone and in a batch: the CPU kernels may round a few values differently (at most one level)."""
    difference = np.abs(np.frombuffer(alone, np.uint8).astype(int) - np.frombuffer(batched, np.uint8).astype(int))
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def sd_images(spec: ModelSpec, seeds: tuple[int, ...] = (7,), **fields: Any) -> list[bytes]:
    """Images through the render loop's own pipeline call."""
    from dgenerate.render.loop import Progress, generate

    model = loaded(spec)
    group = [job(model.spec, seed, **fields) for seed in seeds]
    return pixels(generate(model, group, Progress.start(1, len(group), enabled=False)))


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl") / "base")


@pytest.fixture(scope="session")
def tiny_refiner(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl: Path) -> Path:
    return build_tiny_sdxl_refiner(tmp_path_factory.mktemp("tiny-sdxl") / "refiner", base=tiny_sdxl)


def _save_lora(pipeline_class: Any, folder: Path, name: str) -> Path:
    """A LoRA on the UNet's attention projections with random (non-zero) A and B, as a trained one has."""
    import torch
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig, get_peft_model_state_dict

    torch.manual_seed(3)
    pipeline = pipeline_class.from_pretrained(folder)
    pipeline.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                         target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipeline.unet))
    out = folder.parent / f"{name}-lora"
    pipeline_class.save_lora_weights(out, unet_lora_layers=layers, weight_name=f"{name}_lora.safetensors")
    return out / f"{name}_lora.safetensors"


@pytest.fixture(scope="session")
def tiny_lora(tiny_model: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    return _save_lora(StableDiffusionPipeline, tiny_model, "sd")


@pytest.fixture(scope="session")
def sdxl_lora(tiny_sdxl: Path) -> Path:
    from diffusers import StableDiffusionXLPipeline

    return _save_lora(StableDiffusionXLPipeline, tiny_sdxl, "sdxl")


def copy_configs(model: Path, destination: Path) -> Path:
    """A model folder's configuration files (and tokenizers), without its weights."""
    shutil.copytree(model, destination, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    return destination


def write_single_file(pipeline_class: Any, model: Path, destination: Path, with_config: bool = True) -> Path:
    """The model as one original-layout .safetensors file, with its '<stem>.config' folder next to it."""
    from safetensors.torch import save_file

    save_file(ldm_state_dict(pipeline_class.from_pretrained(model)), destination)
    if with_config:
        copy_configs(model, destination.with_name(destination.stem + ".config"))
    return destination


@pytest.fixture(scope="session")
def sd_single_file(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    destination = tmp_path_factory.mktemp("single") / "tiny.safetensors"
    return write_single_file(StableDiffusionPipeline, tiny_model, destination)
