"""Loading options: --dtype on the CPU, what the cache key covers, and one-line errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dgenerate.errors import ModelNotFoundError, UsageError
from dgenerate.jobs import LoraSpec, ModelSpec, RefinerSpec, VaeSpec
from dgenerate.models.cache import ModelCache
from dgenerate.models.loader import LoadedModel, check_dtype_runs
from tests.models.conftest import loaded, sd_images


def test_float16_runs_on_this_cpu_and_draws_an_image(tiny_model: Path) -> None:
    spec = ModelSpec(str(tiny_model), dtype="float16", device="cpu")
    assert loaded(spec).pipeline.unet.dtype.itemsize == 2
    (image,) = sd_images(spec)
    values = np.frombuffer(image, np.uint8)
    assert values.std() > 5, "not a black or flat image"
    assert sd_images(spec) == [image]


def test_float16_on_a_cpu_without_half_kernels_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    def no_half(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError('"baddbmm_cpu" not implemented for \'Half\'')

    monkeypatch.setattr(torch, "baddbmm", no_half)
    with pytest.raises(UsageError, match=r"^--dtype float16 does not run on this CPU \(.*Half.*\); use --dtype "):
        check_dtype_runs(ModelSpec("m", dtype="float16", device="cpu"))
    check_dtype_runs(ModelSpec("m", dtype="float32", device="cpu"))


def test_every_loading_option_misses_the_cache() -> None:
    loads: list[ModelSpec] = []

    def fake_load(spec: ModelSpec) -> LoadedModel:
        loads.append(spec)
        return LoadedModel(spec, None)

    cache = ModelCache(fake_load)
    base = ModelSpec("model", "torch", device="cpu", dtype="float32")  # resolved as it is: no folder to read
    variants = [
        base, replace(base, dtype="float16"), replace(base, vae=VaeSpec("AutoencoderKL", "vae")),
        replace(base, vae=VaeSpec("AutoencoderKL", "vae", dtype="float16")), replace(base, loras=(LoraSpec("l", 1.0),)),
        replace(base, loras=(LoraSpec("l", 0.5),)), replace(base, loras=(LoraSpec("l", 0.5, weight_name="w"),)),
        replace(base, model_type="torch-sdxl", refiner=RefinerSpec("r")),
        replace(base, model_type="torch-sdxl", refiner=RefinerSpec("r", dtype="float16")),
        replace(base, variant="fp16"), replace(base, revision="v2"), replace(base, subfolder="s"),
    ]
    for spec in variants:
        cache.get(spec)
    assert len(loads) == len(variants) == len(set(variants))
    cache.get(replace(base, auth_token="secret"))
    cache.get(replace(base, vae=VaeSpec("AutoencoderKL", "vae")))
    assert len(loads) == len(variants), "the token does not change what is loaded; equal specs hit the cache"


def test_missing_model_file_or_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^model_path '.*nothing' is not a folder or file on disk"):
        loaded(ModelSpec(str(tmp_path / "nothing"), device="cpu"))
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(ModelNotFoundError, match=r"^model_path '.*notes.txt' is a file but not a checkpoint"):
        loaded(ModelSpec(str(text), device="cpu"))
