"""The modes the fourth wave's families add, on pixels: an edit changes its image seed by the prompt and its image
guidance axis matters; inpainting keeps the unmasked pixels; the x4 upscaler makes four times the image; Flux Kontext
keeps dgenerate's size; and what a family cannot take is one line before any work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.conftest import RunCli

COMMON = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "7")


@pytest.fixture(scope="module")
def seed_image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 64x48 picture and a mask whose right half is white."""
    folder = tmp_path_factory.mktemp("edit-inputs")
    image = Image.new("RGB", (64, 48), "navy")
    ImageDraw.Draw(image).ellipse((8, 8, 40, 40), fill="orange")
    image.save(folder / "seed.png")
    mask = Image.new("L", (64, 48), 0)
    ImageDraw.Draw(mask).rectangle((32, 0, 63, 47), fill=255)
    mask.save(folder / "mask.png")
    return folder / "seed.png", folder / "mask.png"


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def _run(run_cli: RunCli, out: Path, *argv: str) -> list[Path]:
    result = run_cli(*argv, *COMMON, "-o", str(out))
    assert result.code == 0, result.err
    return sorted(out.glob("*.png"))


@pytest.mark.parametrize("model", ["tiny_pix2pix", "tiny_sdxl_pix2pix"])
def test_an_instruction_edit_changes_the_image_and_its_image_guidance_is_an_axis(
        model: str, seed_image: tuple[Path, Path], request: pytest.FixtureRequest, run_cli: RunCli,
        tmp_path: Path) -> None:
    seed, _ = seed_image
    low, high = _run(run_cli, tmp_path, str(request.getfixturevalue(model)), "--prompts", "make it green",
                     "--image-seeds", str(seed), "--image-guidance-scales", "1", "2.5")
    assert [low.name[:len("s_7_g_5-0_igs_1-0")], high.name[:len("s_7_g_5-0_igs_2-5")]] == \
        ["s_7_g_5-0_igs_1-0", "s_7_g_5-0_igs_2-5"]
    assert Image.open(low).size == (64, 48)
    original = _pixels(seed)
    assert np.abs(_pixels(low) - original).mean() > 2, "the edit changed nothing"
    assert np.abs(_pixels(low) - _pixels(high)).mean() > 0.5, "the image guidance scale changed nothing"


def test_flux_kontext_edits_at_the_size_dgenerate_gives(tiny_flux_kontext: Path, seed_image: tuple[Path, Path],
                                                         run_cli: RunCli, tmp_path: Path) -> None:
    """Kontext's pipeline scales to about a megapixel and snaps its image to a trained size; the seed's size wins."""
    seed, _ = seed_image
    (edited,) = _run(run_cli, tmp_path, str(tiny_flux_kontext), "--prompts", "make it green", "--image-seeds",
                     f"{seed};48x32")
    assert Image.open(edited).size == (48, 32)
    resized = np.asarray(Image.open(seed).convert("RGB").resize((48, 32)), dtype=np.int16)
    assert np.abs(_pixels(edited) - resized).mean() > 2


@pytest.mark.parametrize("model", ["tiny_chroma", "tiny_flux_kontext", "tiny_z_image", "tiny_qwen_image"])
def test_inpainting_keeps_the_unmasked_pixels(model: str, seed_image: tuple[Path, Path],
                                              request: pytest.FixtureRequest, run_cli: RunCli, tmp_path: Path) -> None:
    seed, mask = seed_image
    (inpainted,) = _run(run_cli, tmp_path, str(request.getfixturevalue(model)), "--prompts", "a red circle",
                        "--image-seeds", f"{seed};{mask}", "--image-seed-strengths", "0.9")
    kept, original = _pixels(inpainted), _pixels(seed)
    assert (kept[:, :32] == original[:, :32]).all(), "a pixel under the black of the mask changed"
    assert np.abs(kept[:, 32:] - original[:, 32:]).mean() > 2, "the white of the mask was not generated"


def test_the_x4_upscaler_makes_four_times_the_image_and_its_noise_level_is_an_axis(
        tiny_upscaler: Path, seed_image: tuple[Path, Path], run_cli: RunCli, tmp_path: Path) -> None:
    seed, _ = seed_image
    quiet, noisy = _run(run_cli, tmp_path, str(tiny_upscaler), "--prompts", "sharp", "--image-seeds", str(seed),
                        "--upscaler-noise-levels", "0", "200")
    assert "_unl_0_" in quiet.name and "_unl_200_" in noisy.name
    assert Image.open(quiet).size == Image.open(noisy).size == (256, 192)
    assert np.abs(_pixels(quiet) - _pixels(noisy)).mean() > 0.5


@pytest.mark.parametrize(("model", "argv", "needle"), [
    ("tiny_pix2pix", ["--image-seeds", "{seed}", "--image-seed-strengths", "0.5"],
     "InstructPix2Pix (editing) takes no strength"),
    ("tiny_flux_kontext", ["--image-seeds", "{seed}", "--image-seed-strengths", "0.5"],
     "Flux Kontext (editing) takes no strength"),
    ("tiny_pix2pix", [], "which runs editing only: give an image to change, without a mask"),
    ("tiny_upscaler", ["--image-seeds", "{seed};{mask}"], "which runs upscaling only: give an image to upscale"),
    ("tiny_upscaler", ["--image-seeds", "{seed}", "--image-guidance-scales", "2"],
     "--image-guidance-scales is for models that edit an image by instruction (torch-pix2pix, torch-sdxl-pix2pix)"),
    ("tiny_model", ["--image-seeds", "{seed}", "--upscaler-noise-levels", "20"],
     "--upscaler-noise-levels is for SD x4 upscaler models (torch-upscaler-x4)"),
    ("tiny_chroma", ["--true-guidance-scales", "2"],
     "--true-guidance-scales is for Flux, Flux Kontext and Qwen-Image models"),
    ("tiny_pix2pix", ["--image-seeds", "{seed}", "--upscaler-noise-levels", "351"],
     "--upscaler-noise-levels '351' is out of range: use a value from 0 to 350"),
])
def test_what_a_family_cannot_take_is_one_line_before_any_work(
        model: str, argv: list[str], needle: str, seed_image: tuple[Path, Path], request: pytest.FixtureRequest,
        run_cli: RunCli, tmp_path: Path) -> None:
    seed, mask = seed_image
    words = [word.format(seed=seed, mask=mask) for word in argv]
    result = run_cli(str(request.getfixturevalue(model)), "--prompts", "x", *words, *COMMON, "-o", str(tmp_path))
    assert result.code == 2 and needle in result.err and len(result.err.strip().splitlines()) <= 2, result.err
    assert list(tmp_path.iterdir()) == []


def test_an_image_to_change_takes_the_default_strength_only_where_the_pipeline_has_one(
        tiny_model: Path, tiny_pix2pix: Path, seed_image: tuple[Path, Path], run_cli: RunCli, tmp_path: Path) -> None:
    seed, _ = seed_image
    img2img = run_cli(str(tiny_model), "--image-seeds", str(seed), *COMMON, "--dry-run", "-o", str(tmp_path))
    edit = run_cli(str(tiny_pix2pix), "--image-seeds", str(seed), *COMMON, "--dry-run", "-o", str(tmp_path))
    assert img2img.code == edit.code == 0, img2img.err + edit.err
    assert "s_7_st_0-8_g_5-0_i_3_step_1.png" in img2img.out and "--image-seed-strengths 0.8" in img2img.out
    assert "s_7_g_5-0_igs_1-5_i_3_step_1.png" in edit.out and "--image-seed-strengths" not in edit.out
    assert "--image-guidance-scales 1.5" in edit.out


def test_qwen_image_guides_with_its_pipelines_true_guidance_by_default(tiny_qwen_image: Path, run_cli: RunCli,
                                                                         tmp_path: Path) -> None:
    """QwenImagePipeline's true_cfg_scale defaults to 4 (Flux's to 1): the family's default is resolved and recorded."""
    result = run_cli(str(tiny_qwen_image), "--prompts", "a fox; blur", "--output-size", "32", *COMMON, "--dry-run",
                     "-o", str(tmp_path))
    assert result.code == 0, result.err
    assert "s_7_g_5-0_tg_4-0_i_3_step_1.png" in result.out and "--true-guidance-scales 4" in result.out


def test_flux2_reads_reference_images_after_its_image_and_keeps_the_unmasked_pixels(
        tiny_flux2: Path, seed_image: tuple[Path, Path], run_cli: RunCli, tmp_path: Path) -> None:
    seed, mask = seed_image
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 96), "purple").save(reference)
    alone, referenced = (_run(run_cli, tmp_path / name, str(tiny_flux2), "--prompts", "as one", "--image-seeds",
                              f"{seed};{extra}96x64")[0] for name, extra in (("alone", ""),
                                                                             ("referenced", f"reference={reference};")))
    assert Image.open(referenced).size == (96, 64)
    assert (_pixels(alone) != _pixels(referenced)).any(), "the reference image changed nothing"
    (inpainted,) = _run(run_cli, tmp_path / "inpaint", str(tiny_flux2), "--prompts", "a tree", "--image-seeds",
                        f"{seed};{mask};reference={reference};96x64")
    resized = np.asarray(Image.open(seed).convert("RGB").resize((96, 64), Image.Resampling.LANCZOS), dtype=np.int16)
    assert (_pixels(inpainted)[:, :40] == resized[:, :40]).all(), "a pixel under the black of the mask changed"
    assert np.abs(_pixels(inpainted)[:, 56:] - resized[:, 56:]).mean() > 2, "the white of the mask was not generated"


@pytest.mark.parametrize(("model", "seed", "needle"), [
    ("tiny_z_image", "{seed};reference={seed}", "Z-Image (img2img) reads no reference images: remove "),
    ("tiny_flux2", "{seed}", "the image seed '{seed}' at 64x48 is smaller than 64 pixels a side, which Flux.2 needs"),
    ("tiny_flux2", "{seed};reference={seed};96x64", "the reference image '{seed}' (64x48) is smaller than 64 pixels"),
    ("tiny_flux2", "reference={seed}", "is not 'image', 'image;mask'"),
])
def test_reference_images_are_checked_before_any_work(model: str, seed: str, needle: str,
                                                      seed_image: tuple[Path, Path], request: pytest.FixtureRequest,
                                                      run_cli: RunCli, tmp_path: Path) -> None:
    path = str(seed_image[0])
    result = run_cli(str(request.getfixturevalue(model)), "--prompts", "x", "--image-seeds", seed.format(seed=path),
                     *COMMON, "-o", str(tmp_path))
    assert result.code == 2 and needle.format(seed=path) in result.err, result.err
    assert list(tmp_path.iterdir()) == []


def test_qwen_image_edit_is_the_pipelines_edit_at_the_size_dgenerate_gives(
        tiny_qwen_edit: Path, seed_image: tuple[Path, Path], run_cli: RunCli, tmp_path: Path) -> None:
    """A Qwen-Image-Edit folder edits its image seed by the prompt, byte for byte as diffusers' pipeline does with its
    Qwen2-VL processor loaded without torchvision; the true guidance is an axis (its norm-preserving guidance moves
    the tiny random model's picture only a little), and the recorded type is Qwen-Image's."""
    import torch
    from diffusers import QwenImageEditPipeline

    from dgenerate.models.paths import model_index
    from dgenerate.models.torchvision_free import processor_parts

    seed, _ = seed_image
    low, high = _run(run_cli, tmp_path, str(tiny_qwen_edit), "--prompts", "make it green", "--image-seeds", str(seed),
                     "--true-guidance-scales", "1.5", "4")
    assert Image.open(low).size == (64, 48)
    assert "--model-type torch-qwen-image" in run_cli(str(tiny_qwen_edit), "--prompts", "make it green",
                                                      "--image-seeds", str(seed), *COMMON, "--dry-run").out
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipeline = QwenImageEditPipeline.from_pretrained(
            tiny_qwen_edit, **processor_parts(tiny_qwen_edit, model_index(tiny_qwen_edit, "x")))
        plain = pipeline(image=Image.open(seed).convert("RGB"), prompt="make it green", negative_prompt="", width=64,
                         height=48, num_inference_steps=3, true_cfg_scale=4.0, guidance_scale=5.0,
                         generator=[torch.Generator().manual_seed(7)]).images[0]
    finally:
        torch.set_num_threads(threads)
    assert Image.open(high).tobytes() == plain.tobytes(), "plain diffusers, byte for byte"
    from transformers.utils import is_torchvision_available

    assert not is_torchvision_available(), "the processor loads without torchvision"
    assert np.abs(_pixels(low) - _pixels(seed)).mean() > 2, "the edit changed nothing"
    assert (_pixels(low) != _pixels(high)).any(), "the true guidance scale changed nothing"


def test_qwen_image_edit_plus_reads_reference_images_after_its_image(
        tiny_qwen_edit_plus: Path, seed_image: tuple[Path, Path], run_cli: RunCli, tmp_path: Path) -> None:
    seed, _ = seed_image
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 96), "purple").save(reference)
    alone, referenced = (_run(run_cli, tmp_path / name, str(tiny_qwen_edit_plus), "--prompts", "as one",
                              "--image-seeds", f"{seed}{more}")[0]
                         for name, more in (("alone", ""), ("referenced", f";reference={reference}")))
    assert Image.open(referenced).size == (64, 48)
    assert (_pixels(alone) != _pixels(referenced)).any(), "the reference image changed nothing"


def _plain_flux2_dev(model: Path, **arguments: object) -> Image.Image:
    """What a plain diffusers script can do with a FLUX.2 [dev] folder without torchvision: its parts loaded one by
    one, the tokenizer from its folder, at one thread."""
    import torch
    from diffusers import AutoencoderKLFlux2, FlowMatchEulerDiscreteScheduler, Flux2Pipeline, Flux2Transformer2DModel
    from transformers import Mistral3ForConditionalGeneration, PreTrainedTokenizerFast

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pipeline = Flux2Pipeline(
            scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(model / "scheduler"),
            vae=AutoencoderKLFlux2.from_pretrained(model / "vae"),
            text_encoder=Mistral3ForConditionalGeneration.from_pretrained(model / "text_encoder"),
            tokenizer=PreTrainedTokenizerFast.from_pretrained(model / "tokenizer"),
            transformer=Flux2Transformer2DModel.from_pretrained(model / "transformer"))
        return pipeline(num_inference_steps=3, guidance_scale=5.0, max_sequence_length=64,
                        generator=[torch.Generator().manual_seed(7)], **arguments).images[0]
    finally:
        torch.set_num_threads(threads)


def test_flux2_dev_draws_and_edits_as_diffusers_does(tiny_flux2_dev: Path, seed_image: tuple[Path, Path],
                                                     run_cli: RunCli, tmp_path: Path) -> None:
    """A FLUX.2 [dev] folder names transformers' PixtralProcessor, which needs torchvision; dgenerate loads it with
    its tokenizer, through links it removes after loading, and draws and edits byte for byte as diffusers' pipeline
    does with that tokenizer."""
    import tempfile

    seed, _ = seed_image
    reference = tmp_path / "reference.png"
    Image.new("RGB", (64, 96), "purple").save(reference)
    before = set(Path(tempfile.gettempdir()).glob("dgenerate-parts-*"))
    (drawn,) = _run(run_cli, tmp_path / "text", str(tiny_flux2_dev), "--prompts", "a red circle", "--output-size",
                    "48x32", "--max-sequence-length", "64", "--output-configs")
    assert "--model-type torch-flux2" in drawn.with_suffix(".dgen").read_text()
    assert Image.open(drawn).tobytes() == _plain_flux2_dev(tiny_flux2_dev, prompt="a red circle", width=48,
                                                           height=32).tobytes(), "plain diffusers, byte for byte"
    (edited,) = _run(run_cli, tmp_path / "edit", str(tiny_flux2_dev), "--prompts", "as one", "--image-seeds",
                     f"{seed};reference={reference};96x64", "--max-sequence-length", "64")
    images = [Image.open(seed).convert("RGB").resize((96, 64), Image.Resampling.LANCZOS),
              Image.open(reference).convert("RGB")]
    assert Image.open(edited).size == (96, 64)
    assert Image.open(edited).tobytes() == _plain_flux2_dev(tiny_flux2_dev, prompt="as one", image=images, width=96,
                                                            height=64).tobytes()
    assert set(Path(tempfile.gettempdir()).glob("dgenerate-parts-*")) == before, "the links are removed"


@pytest.mark.parametrize(("model", "words", "message"), [
    ("tiny_qwen_edit", ("--image-seeds", "{seed}", "--image-seed-strengths", "0.5"),
     "a Qwen-Image-Edit model takes no strength"),
    ("tiny_qwen_edit", ("--image-seeds", "{seed};{mask}"),
     "is a Qwen-Image-Edit model, which edits an image by the prompt"),
    ("tiny_qwen_edit", ("--image-seeds", "{seed};reference={seed}"), "reads no reference images"),
    ("tiny_flux2_dev", ("--prompts", "p; blurry", "--output-size", "48x32"), "reads no negative prompt"),
    ("tiny_flux2_dev", ("--image-seeds", "{seed};{mask};96x64", "--output-size", "48x32"),
     "is a Flux.2 [dev] model, which draws from text or edits an image"),
])
def test_what_an_edit_variant_cannot_take_is_one_line(model: str, words: tuple[str, ...], message: str,
                                                      seed_image: tuple[Path, Path], request: pytest.FixtureRequest,
                                                      run_cli: RunCli, tmp_path: Path) -> None:
    seed, mask = seed_image
    result = run_cli(str(request.getfixturevalue(model)), "--prompts", "p",
                     *(word.format(seed=seed, mask=mask) for word in words), *COMMON, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err and "Traceback" not in result.err, result.err
    assert not (tmp_path / "out").exists()
