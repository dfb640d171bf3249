"""model_path and --sdxl-refiner as one original-layout checkpoint: offline configs, weights-only, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from dgenerate.errors import ModelError, UsageError
from dgenerate.jobs import ModelSpec, RefinerSpec, VaeSpec
from dgenerate.models.single_file import (
    bundled_config,
    detect_architecture,
    tokenizers,
    unet_in_channels,
    weight_names,
)
from dgenerate.resolve import resolve_spec
from tests.conftest import RunCli
from tests.models.conftest import loaded, sd_images, write_single_file
from tests.models.ldm_layout import ldm_state_dict
from tests.models.test_sdxl import sdxl_images


def test_safetensors_file_gives_the_folders_bytes(tiny_model: Path, sd_single_file: Path) -> None:
    folder = sd_images(ModelSpec(str(tiny_model), device="cpu"))
    assert sd_images(ModelSpec(str(sd_single_file), device="cpu")) == folder
    own_vae = VaeSpec("AutoencoderKL", str(tiny_model / "vae"))
    assert sd_images(ModelSpec(str(sd_single_file), device="cpu", vae=own_vae)) == folder, "--vae with a file"


def test_ckpt_file_loads_weights_only_and_gives_the_folders_bytes(tiny_model: Path, sd_single_file: Path,
                                                                  tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = tmp_path / "tiny.ckpt"
    torch.save({"state_dict": load_file(sd_single_file), "global_step": 1}, path)
    shutil.copytree(sd_single_file.with_name("tiny.config"), tmp_path / "tiny.config")
    assert sd_images(ModelSpec(str(path), device="cpu")) == sd_images(ModelSpec(str(tiny_model), device="cpu"))


def test_sdxl_base_and_refiner_files_give_the_folders_bytes(tiny_sdxl: Path, tiny_refiner: Path,
                                                           tmp_path: Path) -> None:
    from diffusers import StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    base = write_single_file(StableDiffusionXLPipeline, tiny_sdxl, tmp_path / "base.safetensors")
    refiner = write_single_file(StableDiffusionXLImg2ImgPipeline, tiny_refiner, tmp_path / "refiner.safetensors")
    from_files = loaded(ModelSpec(str(base), "torch-sdxl", device="cpu", refiner=RefinerSpec(str(refiner))))
    from_folders = loaded(ModelSpec(str(tiny_sdxl), "torch-sdxl", device="cpu", refiner=RefinerSpec(str(tiny_refiner))))
    assert from_files.refiner.vae is from_files.pipeline.vae, "the refiner file shares the base's VAE too"
    assert sdxl_images(from_files, steps=3, high_noise_fraction=0.5) == sdxl_images(
        from_folders, steps=3, high_noise_fraction=0.5)


def test_architecture_is_read_from_the_weight_names(tiny_model: Path, tiny_sdxl: Path, tiny_refiner: Path) -> None:
    from diffusers import StableDiffusionPipeline, StableDiffusionXLImg2ImgPipeline, StableDiffusionXLPipeline

    found = [detect_architecture(set(ldm_state_dict(cls.from_pretrained(folder)))) for cls, folder in (
        (StableDiffusionPipeline, tiny_model), (StableDiffusionXLPipeline, tiny_sdxl),
        (StableDiffusionXLImg2ImgPipeline, tiny_refiner))]
    assert found == ["sd1", "sdxl-base", "sdxl-refiner"]
    assert detect_architecture({"cond_stage_model.model.transformer.resblocks.0.ln_1.weight"}) == "sd2"
    assert detect_architecture({"model.diffusion_model.out.0.weight"}) is None


@pytest.mark.parametrize("architecture", ["sd1", "pix2pix", "sd2", "sdxl-base", "sdxl-refiner"])
def test_bundled_configs_are_consistent(architecture: str) -> None:
    """The UNet's cross-attention and added-conditioning sizes must fit the text encoders the config names."""
    folder = bundled_config(architecture)
    index = json.loads((folder / "model_index.json").read_text())
    unet = json.loads((folder / "unet" / "config.json").read_text())
    encoders = [json.loads((folder / name / "config.json").read_text()) for name in ("text_encoder", "text_encoder_2")
                if (index.get(name) or [None])[0]]
    assert unet["cross_attention_dim"] == sum(encoder["hidden_size"] for encoder in encoders)
    if architecture.startswith("sdxl"):
        time_ids = 5 if architecture == "sdxl-refiner" else 6
        assert unet["projection_class_embeddings_input_dim"] == time_ids * 256 + encoders[-1]["projection_dim"]
    built = tokenizers(folder)
    assert set(built) == {name for name in ("tokenizer", "tokenizer_2") if (index.get(name) or [None])[0]}
    assert all(tokenizer("a cat").input_ids == [49406, 320, 2368, 49407] for tokenizer in built.values())


def test_file_without_its_config_uses_the_bundled_one(sd_single_file: Path, tmp_path: Path) -> None:
    alone = tmp_path / "alone.safetensors"
    shutil.copy(sd_single_file, alone)
    with pytest.raises(ModelError, match=r"^model_path '.*alone.safetensors' could not be loaded as SD 1.x \("):
        loaded(ModelSpec(str(alone), device="cpu"))  # tiny weights in the SD 1.5-sized bundled configuration


def test_checkpoint_needing_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": shutil.rmtree}, path)
    with pytest.raises(ModelError, match=r"^model_path: '.*evil.ckpt' needs to run pickled code to load, which "
                                         r"dgenerate refuses \(.*\); convert it to .safetensors on a machine you "):
        loaded(ModelSpec(str(path), device="cpu"))


def test_unknown_or_mismatched_checkpoints_are_one_line(sd_single_file: Path, tiny_sdxl: Path,
                                                        tmp_path: Path) -> None:
    from diffusers import StableDiffusionXLPipeline
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"model.diffusion_model.out.0.weight": torch.zeros(2)}, other)
    with pytest.raises(ModelError, match=r"is not a checkpoint in an original layout dgenerate reads \(SD 1.x, SD 2.x, "
                                         r"SDXL, SDXL refiner, InstructPix2Pix, SD x4 upscaler\)"):
        loaded(ModelSpec(str(other), device="cpu"))
    with pytest.raises(UsageError, match=r"^model_path '.*tiny.safetensors' is an SD 1.x checkpoint; use --model-type"):
        loaded(ModelSpec(str(sd_single_file), "torch-sdxl", device="cpu"))
    xl = write_single_file(StableDiffusionXLPipeline, tiny_sdxl, tmp_path / "xl.safetensors", with_config=False)
    with pytest.raises(UsageError, match=r"^model_path '.*xl.safetensors' is an SDXL checkpoint; use --model-type "
                                         r"torch-sdxl, or leave --model-type out"):
        loaded(ModelSpec(str(xl), "torch", device="cpu"))
    assert resolve_spec(ModelSpec(str(xl), device="cpu")).model_type == "torch-sdxl", "read from the weight names"
    assert "conditioner.embedders.1.model.ln_final.weight" in weight_names(xl, "model_path")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"^model_path: '.*broken.safetensors' is not a readable .safetensors file"):
        loaded(ModelSpec(str(broken), device="cpu"))


@pytest.mark.parametrize("model", ["tiny_kolors", "tiny_z_image"])
def test_a_file_whose_config_folder_names_a_family_without_checkpoints_is_one_line(
        model: str, request: pytest.FixtureRequest, run_cli: RunCli, tmp_path: Path) -> None:
    """Kolors, Z-Image and the other newer families but InstructPix2Pix load from diffusers folders only: a
    '<stem>.config' folder that describes one is said so, not an IndexError."""
    from safetensors.torch import save_file

    from tests.tiny_models import copy_configs

    copy_configs(request.getfixturevalue(model), tmp_path / "model.config")
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2)}, tmp_path / "model.safetensors")
    result = run_cli(str(tmp_path / "model.safetensors"), "--image-seeds", str(tmp_path / "none.png"), "--device",
                     "cpu", "-o", str(tmp_path / "out"))
    assert result.code == 1 and "its configuration folder 'model.config' describes a" in result.err, result.err
    assert "models from their diffusers folders only; give the model's diffusers folder" in result.err
    assert "Traceback" not in result.err and not (tmp_path / "out").exists()


def _edited_alike(path: Path, folder: Path, photo: Path, prompt: str, run_cli: RunCli, tmp_path: Path) -> Path:
    """The picture a one-file checkpoint makes of `photo`, which is its diffusers folder's, byte for byte."""
    from PIL import Image

    runs = {}
    for name, model in (("file", path), ("folder", folder)):
        result = run_cli(str(model), "--image-seeds", str(photo), "--prompts", prompt, "--device", "cpu",
                         "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3", "--output-configs", "-o",
                         str(tmp_path / name))
        assert result.code == 0, result.err
        (runs[name],) = (tmp_path / name).glob("*.png")
    assert Image.open(runs["file"]).tobytes() == Image.open(runs["folder"]).tobytes()
    return runs["file"]


def test_an_instruct_pix2pix_file_is_told_by_its_unets_eight_input_channels(tiny_model: Path, tiny_pix2pix: Path,
                                                                            run_cli: RunCli, tmp_path: Path) -> None:
    """InstructPix2Pix checkpoints have SD 1.x's weight names; the first convolution reads 8 channels, not 4. As one
    file (with its '<stem>.config' beside it) the tiny one edits byte for byte as its folder does; without one it is
    read with the bundled InstructPix2Pix configuration."""
    from diffusers import StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline
    from safetensors.torch import save_file

    from tests.tiny_models import write_single_file

    path = write_single_file(StableDiffusionInstructPix2PixPipeline, tiny_pix2pix, tmp_path / "p2p.safetensors")
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.new("RGB", (64, 48), "teal").save(photo)
    picture = _edited_alike(path, tiny_pix2pix, photo, "make it red", run_cli, tmp_path)
    assert "--model-type torch-pix2pix" in picture.with_suffix(".dgen").read_text()
    sd = ldm_state_dict(StableDiffusionPipeline.from_pretrained(tiny_model))
    names = {name: torch.zeros(1) for name in sd if name.startswith("cond_stage_model.transformer.")}
    for channels, architecture in ((8, "pix2pix"), (4, "sd1"), (9, "sd1")):
        alone = tmp_path / f"in{channels}.safetensors"
        save_file({**names, "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(320, channels, 3, 3)}, alone)
        assert detect_architecture(weight_names(alone, "x"), unet_in_channels(alone, "x")) == architecture
    assert json.loads((bundled_config("pix2pix") / "unet" / "config.json").read_text())["in_channels"] == 8


def test_an_x4_upscaler_file_is_told_by_its_unets_seven_input_channels(tiny_upscaler: Path, run_cli: RunCli,
                                                                       tmp_path: Path) -> None:
    """x4-upscaler-ema has SD 2.x's weight names and a UNet reading 7 channels (the image's 3 beside the latents' 4).
    As one file (with its '<stem>.config' beside it) the tiny one upscales byte for byte as its folder does; without
    one it is read with the bundled x4 upscaler configuration."""
    from diffusers import StableDiffusionUpscalePipeline
    from PIL import Image
    from safetensors.torch import save_file

    from tests.tiny_models import write_single_file

    path = write_single_file(StableDiffusionUpscalePipeline, tiny_upscaler, tmp_path / "x4.safetensors")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (16, 16), "teal").save(photo)
    picture = _edited_alike(path, tiny_upscaler, photo, "sharp", run_cli, tmp_path)
    assert Image.open(picture).size == (64, 64)
    assert "--model-type torch-upscaler-x4" in picture.with_suffix(".dgen").read_text()
    names = {f"cond_stage_model.model.{name}": torch.zeros(1) for name in ("positional_embedding", "ln_final.weight")}
    for channels, architecture in ((7, "upscaler-x4"), (4, "sd2")):
        alone = tmp_path / f"in{channels}.safetensors"
        save_file({**names, "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(256, channels, 3, 3)}, alone)
        assert detect_architecture(weight_names(alone, "x"), unet_in_channels(alone, "x")) == architecture
    bundled = bundled_config("upscaler-x4")
    unet = json.loads((bundled / "unet" / "config.json").read_text())
    assert (unet["in_channels"], unet["num_class_embeds"], unet["block_out_channels"]) == \
        (7, 1000, [256, 512, 512, 1024])
    assert json.loads((bundled / "vae" / "config.json").read_text())["scaling_factor"] == 0.08333
    assert json.loads((bundled / "model_index.json").read_text())["max_noise_level"] == 350
