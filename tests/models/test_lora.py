"""--lora: from a file, a folder with --lora-weight-name, the hub cache; the scale changes pixels, 0 changes none."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from dgenerate.errors import ModelError, ModelNotFoundError
from dgenerate.jobs import LoraSpec, ModelSpec
from dgenerate.models.lora import lora_source
from tests.models.conftest import loaded, sd_images


def test_lora_scale_changes_the_image_and_zero_changes_nothing(tiny_model: Path, tiny_lora: Path) -> None:
    plain = ModelSpec(str(tiny_model), device="cpu")
    without = sd_images(plain)
    full = sd_images(replace(plain, loras=(LoraSpec(str(tiny_lora), 1.0),)))
    half = sd_images(replace(plain, loras=(LoraSpec(str(tiny_lora), 0.5),)))
    assert len({full[0], half[0], without[0]}) == 3
    assert sd_images(replace(plain, loras=(LoraSpec(str(tiny_lora), 0.0),))) == without, "scale 0: byte-identical"


def test_lora_leaves_no_adapter_layers_behind(tiny_model: Path, tiny_lora: Path) -> None:
    model = loaded(ModelSpec(str(tiny_model), device="cpu", loras=(LoraSpec(str(tiny_lora), 0.5),)))
    assert model.pipeline.get_list_adapters() == {}, "fused into the weights: generation runs at the plain speed"


def test_lora_from_a_folder_with_weight_name_equals_the_file(tiny_model: Path, tiny_lora: Path, tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "loras"
    folder.mkdir(parents=True)
    shutil.copy(tiny_lora, folder / "style.safetensors")
    plain = ModelSpec(str(tiny_model), device="cpu")
    by_folder = LoraSpec(str(tmp_path / "repo"), 0.5, weight_name="style.safetensors", subfolder="loras")
    by_file = LoraSpec(str(tiny_lora), 0.5)
    assert sd_images(replace(plain, loras=(by_folder,))) == sd_images(replace(plain, loras=(by_file,)))


def test_lora_slug_resolves_from_the_hub_cache(tiny_model: Path, tiny_lora: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "snapshot"
    (snapshot / "sub").mkdir(parents=True)
    shutil.copy(tiny_lora, snapshot / "sub" / "w.safetensors")
    calls: list[tuple[str, object, object]] = []

    def cached(repo: str, **kwargs: object) -> str:
        calls.append((repo, kwargs["revision"], kwargs["allow_patterns"]))
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.snapshot_download", cached)
    lora = LoraSpec("someone/style", 1.0, weight_name="w.safetensors", revision="r1", subfolder="sub")
    assert lora_source(lora, ModelSpec(str(tiny_model))) == (str(snapshot / "sub"), {"weight_name": "w.safetensors"})
    assert calls == [("someone/style", "r1", ["sub/w.safetensors"])], "only the LoRA is fetched, not the collection"


def test_lora_for_another_architecture_is_one_line(tiny_model: Path, sdxl_lora: Path) -> None:
    spec = ModelSpec(str(tiny_model), device="cpu", loras=(LoraSpec(str(sdxl_lora), 1.0),))
    with pytest.raises(ModelError, match=r"^--lora .*sdxl_lora.safetensors;1 (could not be loaded: its layer shapes "
                                         r"do not match this model|matches no layer of this model)"):
        loaded(spec)


def test_missing_lora_is_one_line(tiny_model: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^--lora /nowhere/x;0.5: no such file or folder; check the path$"):
        lora_source(LoraSpec("/nowhere/x", 0.5), ModelSpec(str(tiny_model)))
    with pytest.raises(ModelNotFoundError, match=r"^--lora nobody/lora;1: .*HF_HUB_OFFLINE is set"):
        lora_source(LoraSpec("nobody/lora", 1.0), ModelSpec(str(tiny_model)))


def test_lora_on_sdxl_scales_like_on_sd(tiny_sdxl: Path, sdxl_lora: Path) -> None:
    from tests.models.test_sdxl import sdxl_images

    plain = ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu")
    without = sdxl_images(loaded(plain))
    assert sdxl_images(loaded(replace(plain, loras=(LoraSpec(str(sdxl_lora), 1.0),)))) != without
    assert sdxl_images(loaded(replace(plain, loras=(LoraSpec(str(sdxl_lora), 0.0),)))) == without


def test_sd_lora_on_sdxl_is_one_line(tiny_sdxl: Path, tiny_lora: Path) -> None:
    with pytest.raises(ModelError, match=r"^--lora .*sd_lora.safetensors;1 (could not be loaded: its layer shapes "
                                         r"do not match this model|matches no layer of this model)"):
        loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu", loras=(LoraSpec(str(tiny_lora), 1.0),)))


def test_several_loras_apply_together_in_order(tiny_model: Path, tiny_lora: Path) -> None:
    """Two LoRAs at their own scales: each counts, a second one at scale 0 changes nothing, and the set (with its
    order and scales) is the cache key."""
    from diffusers import StableDiffusionPipeline

    from tests.tiny_models import save_lora

    other = save_lora(StableDiffusionPipeline, tiny_model, "second", seed=4)
    plain = ModelSpec(str(tiny_model), device="cpu")
    first = LoraSpec(str(tiny_lora), 0.7)
    alone = sd_images(replace(plain, loras=(first,)))
    both = sd_images(replace(plain, loras=(first, LoraSpec(str(other), 0.6))))
    assert both != alone and both != sd_images(replace(plain, loras=(LoraSpec(str(other), 0.6),)))
    assert sd_images(replace(plain, loras=(first, LoraSpec(str(other), 0.0)))) == alone, "scale 0: nothing"
    assert loaded(replace(plain, loras=(first, LoraSpec(str(other), 0.6)))).pipeline.get_list_adapters() == {}
