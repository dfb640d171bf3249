"""Stable Diffusion 3 (torch-sd3) and Flux (torch-flux): the model type read from the folder, their own options,
img2img and inpainting, a VAE file, single files, and one clear line for every option that does not fit the model.

The reproduction contract (configs, PNG metadata, batches) is applied to both families in tests/test_reproduction.py.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.errors import ModelError, UsageError
from dgenerate.jobs import Job, ModelSpec
from dgenerate.reproduce import a1111_parameters, config_text, read_config
from tests.conftest import RunCli
from tests.models.conftest import loaded

CPU = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "5")


def _jobs(*argv: str) -> tuple[Job, ...]:
    return dgenerate.resolve(dgenerate.plan(parse_invocation(list(argv))[0]))


def _render(tmp_path: Path, *argv: str) -> list[np.ndarray]:
    folder = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
    paths = dgenerate.render(parse_invocation([*argv, *CPU, "-o", str(folder)])[0], progress=False)
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


@pytest.mark.parametrize(("fixture", "model_type"), [("tiny_model", "torch"), ("tiny_sdxl", "torch-sdxl"),
                                                     ("tiny_sd3", "torch-sd3"), ("tiny_flux", "torch-flux"),
                                                     ("tiny_flux_fill", "torch-flux")])
def test_the_model_type_is_read_from_the_folder(fixture: str, model_type: str, request: pytest.FixtureRequest,
                                                tmp_path: Path) -> None:
    folder = request.getfixturevalue(fixture)
    seed = ["--image-seeds", f"{_inputs(tmp_path)[0]};{_inputs(tmp_path)[1]}"] if fixture == "tiny_flux_fill" else []
    (job,) = _jobs(str(folder), *seed, *CPU)
    assert job.model.model_type == model_type
    assert "--model-type " + model_type in config_text(job, "test").replace(" \\\n   ", "")


def test_the_families_record_their_own_settings(tiny_sd3: Path, tiny_flux: Path) -> None:
    (sd3,) = _jobs(str(tiny_sd3), *CPU)
    assert (sd3.width, sd3.height, sd3.scheduler) == (64, 64, "FlowMatchEulerDiscreteScheduler")
    assert sd3.max_sequence_length == 256 and sd3.true_guidance_scale is None
    (flux,) = _jobs(str(tiny_flux), *CPU)
    assert (flux.width, flux.height) == (1024, 1024), "FluxPipeline's own default size"
    assert flux.max_sequence_length == 512 and flux.true_guidance_scale == 1.0
    grid = _jobs(str(tiny_flux), *CPU, "--true-guidance-scales", "1", "4", "-gs", "2", "3.5", "-s", "32")
    assert [(job.guidance_scale, job.true_guidance_scale) for job in grid] == [(2, 1), (2, 4), (3.5, 1), (3.5, 4)]
    for job in grid:
        assert read_config(config_text(job, "test")) == [job]


def test_a_job_id_without_the_new_fields_is_unchanged(tiny_model: Path) -> None:
    """Fields added for SD3 and Flux stay out of an SD job's canonical JSON, so older job ids still match."""
    (job,) = _jobs(str(tiny_model), *CPU)
    for name in ("true_guidance_scale", "max_sequence_length", "no_t5", "offload", "transformer"):
        assert name not in job.canonical_json()
    assert replace(job, max_sequence_length=77).job_id != job.job_id


@pytest.mark.parametrize(("argv", "message"), [
    (["{flux}", "--model-type", "torch-sdxl"],
     r"^model_path '.*' is a Flux model, not Stable Diffusion XL: use --model-type torch-flux, or leave"),
    (["{sd3}", "--model-type", "torch"], r"is a Stable Diffusion 3 model, not Stable Diffusion 1.x/2.x: use "),
    (["{flux}", "--no-t5"], r"^--no-t5 is for Stable Diffusion 3 models \(torch-sd3\)"),
    (["{sd3}", "--true-guidance-scales", "3"], r"^--true-guidance-scales is for Flux, .* models \(torch-flux, "),
    (["{sd}", "--max-sequence-length", "77"], r"^--max-sequence-length is for models with a language-model text "),
    (["{flux}", "--offload", "model"], r"^--offload model moves model parts between the CPU and a GPU: it needs "),
    (["{flux}", "--scheduler", "DDIMScheduler"], r"^--scheduler DDIMScheduler does not run torch-flux models"),
    (["{sd}", "--scheduler", "FlowMatchEulerDiscreteScheduler"], r"is a flow-matching scheduler, for torch-sd3"),
    (["{flux}", "--scheduler", "FlowMatchHeunDiscreteScheduler", "-s", "32"],
     r"FlowMatchHeunDiscreteScheduler plans no custom sigmas, which this pipeline passes"),
    (["{flux}", "-s", "72x64"], r"^--output-size 72x64 is not a multiple of 16, which this model needs; use "),
    (["{sd3}", "-s", "40"], r"^--output-size 40x40 is not a multiple of 16"),
    (["{fill}"], r"is a Flux Fill model, which fills the white of a mask: give --image-seeds 'image;mask'$"),
])
def test_what_does_not_fit_the_model_is_one_line(argv: list[str], message: str, tiny_model: Path, tiny_sd3: Path,
                                                 tiny_flux: Path, tiny_flux_fill: Path, run_cli: RunCli,
                                                 tmp_path: Path) -> None:
    paths = {"{sd}": tiny_model, "{sd3}": tiny_sd3, "{flux}": tiny_flux, "{fill}": tiny_flux_fill}
    words = [str(paths.get(word, word)) for word in argv]
    with pytest.raises(UsageError, match=message):
        _jobs(*words, *CPU)
    result = run_cli(*words, *CPU, "-o", str(tmp_path / "out"))
    assert result.code == 2 and len(result.err.strip().splitlines()) == 2, result.err  # the grid line, the error
    assert "Traceback" not in result.err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["--max-sequence-length", "1025"], ["--max-sequence-length", "0"],
                                  ["--true-guidance-scales", "0.5"], ["--offload", "all"]])
def test_out_of_range_values_are_argument_errors(argv: list[str], tiny_flux: Path, run_cli: RunCli) -> None:
    result = run_cli(str(tiny_flux), *argv, *CPU)
    assert result.code == 2 and result.err.startswith("dgenerate: error: ") and len(result.err.splitlines()) == 1


def test_a_sequence_longer_than_the_familys_encoder_reads_is_one_line(tiny_flux: Path, run_cli: RunCli,
                                                                     tmp_path: Path) -> None:
    """The parser takes up to 1024 tokens (LTX-2's Gemma reads that many); Flux's T5 is refused past 512 as the model
    is resolved, before any work."""
    result = run_cli(str(tiny_flux), "--max-sequence-length", "513", *CPU, "-o", str(tmp_path / "out"))
    assert result.code == 2 and "--max-sequence-length 513 is too long for Flux: use 1 to 512" in result.err
    assert result.err.count("error:") == 1 and not (tmp_path / "out").exists()


def test_each_option_changes_the_image_and_the_off_value_does_not(tiny_sd3: Path, tiny_flux: Path,
                                                                    flux_lora: Path, tmp_path: Path) -> None:
    sd3 = _render(tmp_path, str(tiny_sd3), "-p", "a red circle; blue")
    assert not np.array_equal(_render(tmp_path, str(tiny_sd3), "-p", "a red circle; blue", "--no-t5")[0], sd3[0])
    assert not np.array_equal(_render(tmp_path, str(tiny_sd3), "-p", "a red circle; blue",
                                      "--max-sequence-length", "16")[0], sd3[0])
    flux = ["-s", "32", "-p", "a red circle; blue"]
    plain = _render(tmp_path, str(tiny_flux), *flux)[0]
    assert np.array_equal(_render(tmp_path, str(tiny_flux), *flux, "--true-guidance-scales", "1")[0], plain)
    assert not np.array_equal(_render(tmp_path, str(tiny_flux), *flux, "--true-guidance-scales", "4")[0], plain)
    assert not np.array_equal(_render(tmp_path, str(tiny_flux), *flux, "-gs", "1.5")[0], plain), "embedded guidance"
    assert np.array_equal(_render(tmp_path, str(tiny_flux), *flux, "--lora", f"{flux_lora};0")[0], plain)
    assert not np.array_equal(_render(tmp_path, str(tiny_flux), *flux, "--lora", f"{flux_lora};0.8")[0], plain)


def test_sd3_without_t5_loads_no_t5(tiny_sd3: Path) -> None:
    model = loaded(ModelSpec(str(tiny_sd3), device="cpu", no_t5=True))
    assert model.pipeline.text_encoder_3 is None and model.pipeline.tokenizer_3 is None
    assert loaded(ModelSpec(str(tiny_sd3), device="cpu")).pipeline.text_encoder_3 is not None


def test_bfloat16_loads_the_model_in_bfloat16(tiny_flux: Path, tmp_path: Path) -> None:
    model = loaded(ModelSpec(str(tiny_flux), device="cpu", dtype="bfloat16"))
    assert model.pipeline.transformer.dtype == torch.bfloat16
    (image,) = _render(tmp_path, str(tiny_flux), "-s", "32", "--dtype", "bfloat16")
    assert image.shape == (32, 32, 3) and image.std() > 1


def _inputs(folder: Path) -> tuple[Path, Path]:
    seed, mask = folder / "seed.png", folder / "mask.png"
    if not seed.exists():
        image = Image.new("RGB", (64, 48), "blue")
        ImageDraw.Draw(image).ellipse((16, 8, 48, 40), fill="red")
        image.save(seed)
        drawn = Image.new("L", (64, 48), 0)
        ImageDraw.Draw(drawn).rectangle((16, 16, 47, 31), fill=255)
        drawn.save(mask)
    return seed, mask


@pytest.mark.parametrize("fixture", ["tiny_sd3", "tiny_flux", "tiny_flux_fill"])
def test_inpainting_keeps_the_unmasked_pixels(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    seed, mask = _inputs(tmp_path)
    (image,) = _render(tmp_path, str(request.getfixturevalue(fixture)), "--image-seeds", f"{seed};{mask}",
                       "--image-seed-strengths", "0.9")
    original, white = np.asarray(Image.open(seed).convert("RGB")), np.asarray(Image.open(mask)) > 0
    assert image.shape == original.shape
    assert np.array_equal(image[~white], original[~white])
    assert not np.array_equal(image[white], original[white])


@pytest.mark.parametrize("fixture", ["tiny_sd3", "tiny_flux"])
def test_img2img_reads_the_seed_image_at_its_strength(fixture: str, request: pytest.FixtureRequest,
                                                       tmp_path: Path) -> None:
    """The random tiny VAE cannot give an image back, so this checks that the image and the strength are used."""
    seed, _ = _inputs(tmp_path)
    other = tmp_path / "other.png"
    Image.new("RGB", (64, 48), "yellow").save(other)
    model = str(request.getfixturevalue(fixture))
    light = _render(tmp_path, model, "--image-seeds", str(seed), "--image-seed-strengths", "0.3")[0]
    assert light.shape == (48, 64, 3)
    assert not np.array_equal(_render(tmp_path, model, "--image-seeds", str(other), "--image-seed-strengths",
                                      "0.3")[0], light)
    assert not np.array_equal(_render(tmp_path, model, "--image-seeds", str(seed), "--image-seed-strengths",
                                      "0.9")[0], light)


def test_a_vae_file_takes_the_models_own_vae_configuration(tiny_flux: Path, tmp_path: Path) -> None:
    """A Flux VAE as one file with no config.json beside it: the model's VAE configuration describes it."""
    lone = tmp_path / "vae-file" / "flux_vae.safetensors"
    lone.parent.mkdir()
    shutil.copy(tiny_flux / "vae" / "diffusion_pytorch_model.safetensors", lone)
    plain = _render(tmp_path, str(tiny_flux), "-s", "32")[0]
    assert np.array_equal(_render(tmp_path, str(tiny_flux), "-s", "32", "--vae", f"AutoencoderKL;{lone}")[0], plain)


@pytest.mark.parametrize(("key", "name"), [("double_blocks.0.img_attn.qkv.weight", "a Flux"),
                                           ("model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight",
                                            "a Stable Diffusion 3")])
def test_sd3_and_flux_checkpoints_are_refused_in_one_line(key: str, name: str, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "checkpoint.safetensors"
    save_file({key: torch.zeros(2)}, path)
    with pytest.raises(ModelError, match=rf"^model_path '.*checkpoint.safetensors' is {name} checkpoint: dgenerate "
                                         r"loads Stable Diffusion 3, Flux and Chroma from their diffusers folders "
                                         r"only"):
        _jobs(str(path), *CPU)


def test_flux_parameters_text_is_forges(tiny_flux: Path) -> None:
    (job,) = _jobs(str(tiny_flux), *CPU, "-gs", "3.5", "--true-guidance-scales", "2", "-s", "32")
    assert "Sampler: Euler, CFG scale: 2, Distilled CFG Scale: 3.5, Seed: 5, Size: 32x32" in a1111_parameters(job)


def test_a_forge_flux_image_replays_with_its_guidance(tiny_flux: Path, tmp_path: Path) -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a red circle\nSteps: 3, Sampler: Euler, Schedule type: Simple, CFG scale: 2, "
                                "Distilled CFG Scale: 3.5, Seed: 9, Size: 32x32, Model: flux1-dev")
    png = tmp_path / "forge.png"
    Image.new("RGB", (32, 32)).save(png, pnginfo=info)
    (job,) = _jobs(str(tiny_flux), "--from-image", str(png), "--device", "cpu")
    assert (job.guidance_scale, job.true_guidance_scale, job.scheduler) == (3.5, 2.0, "FlowMatchEulerDiscreteScheduler")
    assert (job.seed, job.inference_steps, job.width, job.height) == (9, 3, 32, 32)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CPU offload moves models to a GPU; none here")
@pytest.mark.parametrize("offload", ["model", "sequential"])
@pytest.mark.parametrize("family", ["flux", "sd3"])
def test_offload_leaves_the_pixels_as_they_are(family: str, offload: str, tiny_flux: Path, tiny_sd3: Path,
                                               tmp_path: Path) -> None:
    """Text to image, and img2img, whose pipeline is derived from the offloaded one and shares its hooks."""
    model = str({"flux": tiny_flux, "sd3": tiny_sd3}[family])
    seed = tmp_path / "seed.png"
    Image.fromarray(np.arange(32 * 32 * 3, dtype=np.uint8).reshape(32, 32, 3)).save(seed)
    for image_seeds in ([], ["--image-seeds", str(seed)]):
        cuda = ["--device", "cuda", "-s", "32", "--inference-steps", "4", "--seeds", "5", *image_seeds]
        whole = dgenerate.render(parse_invocation([model, *cuda, "-o", str(tmp_path / "a")])[0], progress=False)
        offloaded = dgenerate.render(parse_invocation([model, *cuda, "--offload", offload, "-o",
                                                       str(tmp_path / "b")])[0], progress=False)
        assert np.array_equal(np.asarray(Image.open(whole[-1])), np.asarray(Image.open(offloaded[-1]))), image_seeds


def test_offload_is_recorded(tiny_flux: Path) -> None:
    (job,) = _jobs(str(tiny_flux), *CPU, "-s", "32")
    offloaded = replace(job, model=replace(job.model, device="cuda", offload="sequential"))
    text = config_text(offloaded, "test")
    assert "--offload sequential" in text and read_config(text) == [offloaded]
    assert offloaded.job_id != replace(offloaded, model=replace(offloaded.model, offload=None)).job_id


def test_true_guidance_is_an_axis_for_curation(tiny_flux: Path) -> None:
    from dgenerate.curate.axes import values, varying

    grid = _jobs(str(tiny_flux), *CPU, "-s", "32", "--true-guidance-scales", "1", "2.5")
    assert varying(grid) == ["true-guidance"] and values(grid, "true-guidance") == ["1", "2.5"]


def test_a_checkpoint_described_as_flux_by_its_config_folder_is_refused(tiny_flux: Path, tmp_path: Path) -> None:
    """The '<stem>.config' folder names the architecture without the weights being read; Flux is refused there too."""
    from tests.tiny_models import copy_configs

    path = tmp_path / "flux.safetensors"
    path.write_bytes(b"not read")
    copy_configs(tiny_flux, tmp_path / "flux.config")
    with pytest.raises(ModelError, match=r"^model_path '.*flux.safetensors' is a Flux checkpoint: dgenerate loads "):
        _jobs(str(path), *CPU)
