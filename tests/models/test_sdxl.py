"""--model-type torch-sdxl and --sdxl-refiner: loading, sharing parts, the base + refiner call, micro-conditioning."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dgenerate.errors import ModelNotFoundError, UsageError
from dgenerate.families import family
from dgenerate.jobs import ModelSpec, RefinerSpec
from dgenerate.models.facts import model_facts
from dgenerate.models.loader import LoadedModel
from dgenerate.render.generate import generate
from dgenerate.render.progress import Progress
from dgenerate.resolve import DEFAULT_HIGH_NOISE_FRACTION
from tests.models.conftest import assert_close, job, loaded, pixels


def _no_progress() -> Progress:
    return Progress.start(0, 0, enabled=False)


def sdxl_images(model: LoadedModel, seeds: tuple[int, ...] = (7,), **fields: Any) -> list[bytes]:
    group = [job(model.spec, seed, batch_size=len(seeds), batch_slot=slot, **fields)
             for slot, seed in enumerate(seeds)]
    return pixels(generate(model, group, _no_progress()))


@pytest.fixture(scope="module")
def base(tiny_sdxl: Path) -> LoadedModel:
    return loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu"))


@pytest.fixture(scope="module")
def refined(tiny_sdxl: Path, tiny_refiner: Path) -> LoadedModel:
    return loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu", refiner=RefinerSpec(str(tiny_refiner))))


def test_sdxl_base_loads_and_renders_deterministically(base: LoadedModel) -> None:
    assert type(base.pipeline).__name__ == "StableDiffusionXLPipeline" and base.refiner is None
    assert model_facts(base.spec).default_size == (64, 64)
    first = sdxl_images(base, (1, 2))
    assert first[0] != first[1]
    assert sdxl_images(base, (1, 2)) == first, "same seeds, same batch shape: same bytes"
    alone = sdxl_images(base, (1,))
    assert alone == sdxl_images(base, (1,)), "same seed alone: same bytes"
    assert_close(alone[0], first[0])  # another batch shape: within one 8-bit level, never compared byte for byte
    assert_close(sdxl_images(base, (2,))[0], first[1])


def test_refiner_shares_the_bases_vae_and_second_text_encoder(refined: LoadedModel) -> None:
    assert type(refined.refiner).__name__ == "StableDiffusionXLImg2ImgPipeline"
    assert refined.refiner.vae is refined.pipeline.vae
    assert refined.refiner.text_encoder_2 is refined.pipeline.text_encoder_2


def test_refiner_changes_the_image_and_the_fraction_matters(base: LoadedModel, refined: LoadedModel) -> None:
    alone = sdxl_images(base, steps=4)
    default = sdxl_images(refined, steps=4)
    assert default == sdxl_images(refined, steps=4, high_noise_fraction=DEFAULT_HIGH_NOISE_FRACTION)
    half = sdxl_images(refined, steps=4, high_noise_fraction=0.5)
    assert len({alone[0], default[0], half[0]}) == 3
    assert_close(sdxl_images(refined, (3, 7), steps=4, high_noise_fraction=0.5)[1], half[0])


def test_high_noise_fraction_without_refiner_is_the_plain_base(base: LoadedModel) -> None:
    assert sdxl_images(base, high_noise_fraction=0.5) == sdxl_images(base)


def test_micro_conditioning_is_height_width_and_changes_the_image(base: LoadedModel) -> None:
    spec = base.spec
    sized = job(spec, sdxl_original_size=(1024, 512), sdxl_target_size=(64, 32))
    assert family("torch-sdxl").call_arguments(sized) == {"original_size": (512, 1024), "target_size": (32, 64)}
    plain = sdxl_images(base)
    assert sdxl_images(base, sdxl_original_size=(64, 64), sdxl_target_size=(64, 64)) == plain, "default: output size"
    assert sdxl_images(base, sdxl_original_size=(128, 32)) != plain
    assert sdxl_images(base, sdxl_target_size=(32, 128)) != plain


def test_refiner_with_another_dtype_loads_its_own_parts(tiny_sdxl: Path, tiny_refiner: Path) -> None:
    spec = ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu",
                     refiner=RefinerSpec(str(tiny_refiner), dtype="float16"))
    model = loaded(spec)
    assert model.refiner.vae is not model.pipeline.vae
    assert model.refiner.unet.dtype.itemsize == 2 and model.pipeline.unet.dtype.itemsize == 4


def test_refiner_errors_are_one_line(tiny_model: Path, tiny_sdxl: Path, tiny_refiner: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--sdxl-refiner .* is for Stable Diffusion XL models \(torch-sdxl\); "
                                         r"model_path .* is Stable Diffusion 1.x/2.x: leave it out$"):
        loaded(ModelSpec(str(tiny_model), device="cpu", refiner=RefinerSpec(str(tiny_refiner))))
    with pytest.raises(ModelNotFoundError, match=r"^model_path .*missing-refiner.* is not a folder or file on disk"):
        loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu",
                         refiner=RefinerSpec(str(tmp_path / "missing-refiner"))))
    with pytest.raises(ModelNotFoundError, match=r"^model 'nobody/refiner' is not on disk or in the Hugging Face "):
        loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu", refiner=RefinerSpec("nobody/refiner")))


def test_wrong_model_type_is_one_line(tiny_model: Path, tiny_sdxl: Path, tiny_refiner: Path) -> None:
    with pytest.raises(UsageError, match=r"^model_path .* is a Stable Diffusion 1.x/2.x model, not Stable Diffusion "
                                         r"XL: use --model-type torch, or leave --model-type out"):
        loaded(ModelSpec(str(tiny_model), "torch-sdxl", device="cpu"))
    with pytest.raises(UsageError, match=r"^model_path .* is a Stable Diffusion XL model, not Stable Diffusion "
                                         r"1.x/2.x: use --model-type torch-sdxl"):
        loaded(ModelSpec(str(tiny_sdxl), "torch", device="cpu"))
    assert loaded(ModelSpec(str(tiny_sdxl), device="cpu")).spec.model_type == "torch-sdxl", "read from the folder"
    with pytest.raises(UsageError, match=r"^model_path .* is an SDXL refiner, not a base model; pass it with "):
        loaded(ModelSpec(str(tiny_refiner), "torch-sdxl", device="cpu"))
