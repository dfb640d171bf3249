"""The reproduction contract, written once and applied to every kind of job.

For each kind: every resolved Job -> config -> Job is equal (and keeps its job id); an image regenerated from its
config (through the library) and from its PNG metadata (through `dgenerate` on standard input) is byte-identical on
this machine; an image of a batch of 4 is within one 8-bit level of the same image made alone, and an image of a
batch of 1 is identical to it. Nothing compares bytes across batch shapes or thread counts: every run here records
and uses --cpu-threads 1.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.jobs import Job
from dgenerate.models.cache import ModelCache
from dgenerate.models.schedulers import SCHEDULER_NAMES
from dgenerate.reproduce import config_text, read_config, read_png_config, recorded_job_id
from tests.conftest import RunCli
from tests.models.conftest import assert_close

Fixtures = Callable[[str], Path]
_CACHE = ModelCache()  # shared by the library renders of this module: a tiny model still takes a second to load


@dataclass(frozen=True)
class Kind:
    """A kind of job: how to build its command line from session fixtures, and whether it batches."""

    name: str
    argv: Callable[[Fixtures], list[str]]
    batches: bool = True
    steps: int = 3
    seed_size: tuple[int, int] = (72, 48)  # the 72x48 image seed at the model's size multiple (16 for SD3 and Flux)
    prompt: str = "a red circle; blue"
    scale: int = 1  # the picture is this many times the job's size (4 for the x4 upscaler)
    alone: bool = False  # text to image run one image per call whatever the batch size (--cache first-block)


def _sd(*options: str) -> Callable[[Fixtures], list[str]]:
    return lambda fixture: [str(fixture("tiny_model")), *options]


def _sdxl(fixture: Fixtures) -> list[str]:
    return [str(fixture("tiny_sdxl")), "--model-type", "torch-sdxl"]


def _sdxl_with(*options: str) -> Callable[[Fixtures], list[str]]:
    return lambda fixture: [*_sdxl(fixture), *options]


def _refined(fixture: Fixtures) -> list[str]:
    return [*_sdxl(fixture), "--sdxl-refiner", str(fixture("tiny_refiner")), "--sdxl-high-noise-fractions", "0.6"]


def _seeded(name: str, model: str = "tiny_model") -> Callable[[Fixtures], list[str]]:
    def argv(fixture: Fixtures) -> list[str]:
        inputs = fixture("contract_inputs")
        seed = {"img2img": f"{inputs / 'seed.png'}", "inpainting": f"{inputs / 'seed.png'};{inputs / 'mask.png'}",
                "animation": f"{inputs / 'clip.mp4'}"}[name]
        return [str(fixture(model)), "--image-seeds", seed, "--image-seed-strengths", "0.6"]

    return argv


def _edited(model: str, *options: str) -> Callable[[Fixtures], list[str]]:
    """The contract's image seed as the image an edit model changes (no strength: the prompt says what changes)."""
    return lambda fixture: [str(fixture(model)), "--image-seeds", str(fixture("contract_inputs") / "seed.png"),
                            *options]


def _flux2_seed(seed: str, *options: str) -> Callable[[Fixtures], list[str]]:
    """Flux.2 reads images of 64 pixels a side or more: the contract's seed at 96x64, with {seed}, {mask}, {reference}
    naming the contract inputs."""

    def argv(fixture: Fixtures) -> list[str]:
        inputs = fixture("contract_inputs")
        paths = {name: inputs / f"{name}.png" for name in ("seed", "mask", "reference")}
        return [str(fixture("tiny_flux2")), "--image-seeds", seed.format(**paths) + ";96x64", *options]

    return argv


def _with(base: Callable[[Fixtures], list[str]], *options: str) -> Callable[[Fixtures], list[str]]:
    """Options naming fixtures as {name}: '{tiny_lora};0.7' becomes that fixture's path and ';0.7'."""

    def argv(fixture: Fixtures) -> list[str]:
        names = [part[:part.index("}")] for option in options for part in option.split("{")[1:]]
        values = {name: str(fixture(name)) for name in names}
        return [*base(fixture), *(option.format(**values) for option in options)]

    return argv


def _controlled(seed: str, *nets: str, model: str = "tiny_model") -> Callable[[Fixtures], list[str]]:
    """ControlNets and an image seed naming the contract inputs: {seed}, {mask}, {control} (the control image)."""

    def argv(fixture: Fixtures) -> list[str]:
        inputs = fixture("contract_inputs")
        paths = {"seed": inputs / "seed.png", "mask": inputs / "mask.png", "control": inputs / "control.png",
                 "clip": inputs / "clip.mp4"}
        strength = ["--image-seed-strengths", "0.6"] if seed.startswith("{seed}") else []  # an image to change
        return [str(fixture(model)), "--control-nets", *(f"{fixture(net)};scale=1.5;end=0.8" for net in nets),
                "--image-seeds", seed.format(**paths), *strength]

    return argv


def _flux(*options: str) -> Callable[[Fixtures], list[str]]:
    """Flux pipelines default to 1024x1024 whatever the model; the tiny one runs at 32x32."""
    return lambda fixture: [str(fixture("tiny_flux")), "--output-size", "32", *options]


def _sd3(*options: str) -> Callable[[Fixtures], list[str]]:
    return lambda fixture: [str(fixture("tiny_sd3")), *options]


def _chroma(*options: str) -> Callable[[Fixtures], list[str]]:
    """Chroma pipelines default to 1024x1024 whatever the model, as Flux's."""
    return _with(lambda fixture: [str(fixture("tiny_chroma")), "--output-size", "32"], *options)


KINDS = [
    Kind("sd", _sd()),
    Kind("sdxl", _sdxl),
    Kind("sdxl-refiner", _refined),
    Kind("variation-seed-ancestral", _sd("--variation-seeds", "99", "--variation-strengths", "0.3", "--scheduler",
                                         "EulerAncestralDiscreteScheduler")),
    Kind("sdxl-variation-resize-seed", _sdxl_with("--variation-seeds", "7", "--variation-strengths", "0.5",
                                                  "--resize-seed-from", "96x32")),
    Kind("vae-tiling-slicing", _sd("--output-size", "160x128", "--vae-tiling", "--vae-slicing")),
    Kind("deepcache", _sd("--cache", "deepcache;interval=2")),
    Kind("sdxl-deepcache-hires", _sdxl_with("--cache", "deepcache", "--hires-scales", "1.5")),
    Kind("flux-taylorseer", _flux("--cache", "taylorseer;interval=2;warmup=1")),
    Kind("flux-true-guidance-first-block", _flux("--true-guidance-scales", "3", "--cache", "first-block;threshold=0.5"),
         alone=True),
    Kind("hires-latent", _sd("--output-size", "64x48", "--hires-scales", "1.5", "--hires-strengths", "0.4")),
    Kind("sdxl-hires-lanczos", _sdxl_with("--hires-scales", "1.25", "--hires-upscaler", "lanczos", "--hires-steps",
                                          "2", "--scheduler", "EulerAncestralDiscreteScheduler")),
    Kind("refiner-variation-seed", lambda fixture: [*_refined(fixture), "--variation-seeds", "8",
                                                    "--variation-strengths", "0.6"]),
    Kind("img2img", _seeded("img2img"), batches=False),
    Kind("inpainting", _seeded("inpainting"), batches=False),
    Kind("vae-folder", lambda fixture: _sd("--vae", f"AutoencoderKL;{fixture('other_vae')}")(fixture)),
    Kind("vae-file", lambda fixture: _sd("--vae", f"AutoencoderKL;{fixture('vae_file')}")(fixture)),
    Kind("lora", lambda fixture: _sd("--lora", f"{fixture('tiny_lora')};0.7")(fixture)),
    # Adapters: several LoRAs, textual inversions, weighted prompts, ControlNets
    Kind("two-loras", _with(_sd(), "--lora", "{tiny_lora};0.7", "{second_lora};0.4")),
    Kind("textual-inversion", _with(_sd(), "--textual-inversions", "{sd_embedding}"),
         prompt="a red circle, tinystyle; blue"),
    Kind("sdxl-textual-inversion", _with(_sdxl, "--textual-inversions", "{sdxl_embedding}"),
         prompt="a red circle, TinyXLStyle; blue"),
    Kind("weighted-prompt", _sd("--prompt-weighting", "a1111"), prompt="a (red:1.4) circle, [square]; (blue)"),
    Kind("sdxl-weighted-prompt", _sdxl_with("--prompt-weighting", "a1111"), prompt="a ((red)) circle BREAK sun; "),
    Kind("controlnet", _controlled("{control}", "sd_controlnet"), batches=False),
    Kind("two-controlnets", _controlled("control={control},{seed}", "sd_controlnet", "sd_controlnet_2"),
         batches=False),
    Kind("controlnet-img2img", _controlled("{seed};control={control}", "sd_controlnet"), batches=False),
    Kind("seed-and-mask-processors", _with(_seeded("inpainting"), "--seed-image-processors", "invert",
                                           "posterize;bits=4", "--mask-image-processors", "dilate;size=3"),
         batches=False),
    Kind("control-processors", _with(_controlled("{seed};control={control}", "sd_controlnet"),
                                     "--control-image-processors", "canny;low=50;high=150", "gaussian-blur;radius=1"),
         batches=False),
    Kind("control-depth", _with(_controlled("{control}", "sd_controlnet"), "--control-image-processors",
                                "depth;model={tiny_depth}"), batches=False),
    Kind("control-pose", _with(_controlled("{control}", "sd_controlnet"), "--control-image-processors",
                               "pose;model={tiny_pose};threshold=0"), batches=False),
    Kind("controlnet-inpainting", _controlled("{seed};{mask};control={control}", "sd_controlnet"), batches=False),
    Kind("sdxl-controlnet", _controlled("{control}", "sdxl_controlnet", model="tiny_sdxl"), batches=False),
    Kind("sd3-controlnet", _controlled("{control}", "sd3_controlnet", model="tiny_sd3"), batches=False,
         seed_size=(80, 48)),
    Kind("flux-controlnet", _controlled("{control}", "flux_controlnet", model="tiny_flux"), batches=False,
         seed_size=(80, 48)),
    Kind("flux-controlnet-img2img", _controlled("{seed};control={control}", "flux_controlnet", model="tiny_flux"),
         batches=False, seed_size=(80, 48), prompt="a red circle"),
    Kind("flux-controlnet-inpainting", _controlled("{seed};{mask};control={control}", "flux_controlnet",
                                                   model="tiny_flux"),
         batches=False, seed_size=(80, 48), prompt="a red circle"),
    Kind("all-adapters", _with(_controlled("{seed};{mask};control={control}", "sd_controlnet"), "--lora",
                               "{tiny_lora};0.7", "{second_lora};0.4", "--textual-inversions", "{sd_embedding}",
                               "--prompt-weighting", "a1111"),
         batches=False, prompt="a (red:1.3) circle, tinystyle; [blue]"),
    Kind("sdxl-all-adapters", _with(_controlled("{control}", "sdxl_controlnet", model="tiny_sdxl"), "--lora",
                                    "{sdxl_lora};0.6", "--textual-inversions", "{sdxl_embedding}",
                                    "--prompt-weighting", "a1111"),
         batches=False, prompt="a ((red)) circle, tinyxlstyle; blue"),
    Kind("single-file", lambda fixture: [str(fixture("sd_single_file"))]),
    Kind("float16", _sd("--dtype", "float16")),
    # PNDM plans its Runge-Kutta warm-up over 4 steps when the model's configuration does not skip it.
    *(Kind(f"scheduler-{name}", _sd("--scheduler", name), steps=4 if name == "PNDMScheduler" else 3)
      for name in SCHEDULER_NAMES),
    # Stable Diffusion 3 and Flux (their model type is read from the folder)
    Kind("sd3", _sd3()),
    Kind("sd3-variation-seed", _sd3("--variation-seeds", "7", "--variation-strengths", "0.4")),
    Kind("sd3-no-t5", _sd3("--no-t5", "--max-sequence-length", "77")),
    Kind("sd3-heun", _sd3("--scheduler", "FlowMatchHeunDiscreteScheduler")),
    Kind("sd3-lora", lambda fixture: _sd3("--lora", f"{fixture('sd3_lora')};0.7")(fixture)),
    Kind("sd3-vae", lambda fixture: _sd3("--vae", f"AutoencoderKL;{fixture('other_flow_vae')}")(fixture)),
    Kind("flux", _flux("--model-type", "torch-flux")),
    Kind("flux-true-guidance", _flux("--true-guidance-scales", "3", "--max-sequence-length", "64")),
    Kind("flux-lcm", _flux("--scheduler", "FlowMatchLCMScheduler")),
    Kind("flux-lora", lambda fixture: _flux("--lora", f"{fixture('flux_lora')};0.7")(fixture)),
    Kind("flux-bfloat16", _flux("--dtype", "bfloat16")),
    Kind("flux-transformer", _with(_flux(), "--transformer", "{flux_transformer}")),
    Kind("flux-gguf-transformer", _with(_flux(), "--transformer", "{flux_gguf}")),
    Kind("flux-quantize-int8-dynamic", _flux("--quantize", "int8-dynamic;parts=denoiser")),
    Kind("sdxl-quantize-int8", _sdxl_with("--quantize", "int8-weight-only")),
    Kind("quantize-int8-lora", _with(_sd(), "--lora", "{tiny_lora};0.7", "--quantize", "int8-weight-only")),
    Kind("sd3-transformer-file", _with(_sd3(), "--transformer", "{sd3_transformer}.safetensors")),
    Kind("sd3-img2img", _seeded("img2img", "tiny_sd3"), batches=False, seed_size=(80, 48)),
    Kind("sd3-inpainting", _seeded("inpainting", "tiny_sd3"), batches=False, seed_size=(80, 48)),
    Kind("flux-img2img", _seeded("img2img", "tiny_flux"), batches=False, seed_size=(80, 48)),
    Kind("flux-inpainting", _seeded("inpainting", "tiny_flux"), batches=False, seed_size=(80, 48)),
    Kind("flux-fill", _seeded("inpainting", "tiny_flux_fill"), batches=False, seed_size=(80, 48),
         prompt="a red circle"),  # Flux Fill reads no negative prompt
    # The families of the fourth wave
    Kind("chroma", _chroma("--model-type", "torch-chroma")),
    Kind("chroma-lora-transformer", _chroma("--lora", "{chroma_lora};0.7", "--transformer", "{chroma_transformer}",
                                            "--max-sequence-length", "64")),
    Kind("chroma-img2img", _seeded("img2img", "tiny_chroma"), batches=False, seed_size=(80, 48)),
    Kind("chroma-inpainting", _seeded("inpainting", "tiny_chroma"), batches=False, seed_size=(80, 48)),
    Kind("flux-kontext", lambda fixture: [str(fixture("tiny_flux_kontext")), "--output-size", "32x48"]),
    Kind("flux-kontext-edit", _edited("tiny_flux_kontext", "--true-guidance-scales", "2"), batches=False,
         seed_size=(80, 48)),
    Kind("flux-kontext-inpainting", _seeded("inpainting", "tiny_flux_kontext"), batches=False, seed_size=(80, 48)),
    Kind("z-image", lambda fixture: [str(fixture("tiny_z_image")), "--output-size", "48x32"]),
    Kind("z-image-lora-transformer", _with(lambda fixture: [str(fixture("tiny_z_image")), "--output-size", "32"],
                                           "--lora", "{z_image_lora};0.8", "--transformer",
                                           "{z_image_transformer}.safetensors", "--max-sequence-length", "100")),
    Kind("z-image-img2img", _seeded("img2img", "tiny_z_image"), batches=False, seed_size=(80, 48)),
    Kind("z-image-inpainting", _seeded("inpainting", "tiny_z_image"), batches=False, seed_size=(80, 48)),
    Kind("qwen-image", lambda fixture: [str(fixture("tiny_qwen_image")), "--output-size", "48x32"]),
    Kind("qwen-image-lora-transformer-cfg", _with(
        lambda fixture: [str(fixture("tiny_qwen_image")), "--output-size", "32"], "--lora", "{qwen_image_lora};0.8",
        "--transformer", "{qwen_image_transformer}", "--true-guidance-scales", "1.5")),
    Kind("qwen-image-img2img", _seeded("img2img", "tiny_qwen_image"), batches=False, seed_size=(80, 48)),
    Kind("qwen-image-inpainting", _seeded("inpainting", "tiny_qwen_image"), batches=False, seed_size=(80, 48)),
    Kind("flux2", lambda fixture: [str(fixture("tiny_flux2")), "--output-size", "48x32"], prompt="a red circle"),
    Kind("flux2-lora-transformer", _with(lambda fixture: [str(fixture("tiny_flux2")), "--output-size", "32"],
                                         "--lora", "{flux2_lora};0.8", "--transformer", "{flux2_transformer}"),
         prompt="a red circle"),
    Kind("flux2-edit", _flux2_seed("{seed}"), batches=False, seed_size=(96, 64), prompt="make it green"),
    Kind("flux2-edit-references", _flux2_seed("{seed};reference={reference},{reference}"), batches=False,
         seed_size=(96, 64), prompt="the two as one"),
    Kind("flux2-inpainting-reference", _flux2_seed("{seed};{mask};reference={reference}", "--image-seed-strengths",
                                                   "0.7"), batches=False, seed_size=(96, 64), prompt="a tree"),
    Kind("qwen-image-edit-lora", _with(_edited("tiny_qwen_edit", "--true-guidance-scales", "2"), "--lora",
                                       "{qwen_image_lora};0.8"), batches=False, seed_size=(80, 48)),
    Kind("qwen-image-edit-plus-reference", lambda fixture: [
        str(fixture("tiny_qwen_edit_plus")), "--image-seeds",
        f"{fixture('contract_inputs') / 'seed.png'};reference={fixture('contract_inputs') / 'reference.png'}"],
         batches=False, seed_size=(80, 48)),
    Kind("flux2-dev-lora", _with(lambda fixture: [str(fixture("tiny_flux2_dev")), "--output-size", "48x32"],
                                 "--lora", "{flux2_lora};0.8", "--max-sequence-length", "64"), prompt="a red circle"),
    Kind("flux2-dev-edit-references", lambda fixture: [
        str(fixture("tiny_flux2_dev")), "--image-seeds",
        f"{fixture('contract_inputs') / 'seed.png'};reference={fixture('contract_inputs') / 'reference.png'};96x64",
        "--max-sequence-length", "64"], batches=False, seed_size=(96, 64), prompt="the two as one"),
    Kind("kolors", lambda fixture: [str(fixture("tiny_kolors")), "--output-size", "48x64"]),
    Kind("kolors-lora", _with(lambda fixture: [str(fixture("tiny_kolors"))], "--lora", "{kolors_lora};0.7",
                              "--max-sequence-length", "32", "--sdxl-original-size", "96x128")),
    Kind("kolors-img2img", _seeded("img2img", "tiny_kolors"), batches=False),
    Kind("pix2pix", _edited("tiny_pix2pix", "--image-guidance-scales", "1.2"), batches=False),
    Kind("pix2pix-default-image-guidance", _edited("tiny_pix2pix", "--scheduler", "EulerAncestralDiscreteScheduler"),
         batches=False),
    Kind("sdxl-pix2pix", _edited("tiny_sdxl_pix2pix", "--image-guidance-scales", "2"), batches=False),
    Kind("upscaler-x4", _edited("tiny_upscaler", "--upscaler-noise-levels", "50"), batches=False, scale=4),
]
COMMON = ("--device", "cpu", "--cpu-threads", "1", "--output-configs", "--output-metadata")
SEEDS = ("--seeds", "11", "22", "33", "44")


@pytest.fixture(scope="module")
def contract_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.release_fixtures import draw_contract_inputs

    return draw_contract_inputs(tmp_path_factory.mktemp("contract-inputs"))


@pytest.fixture(scope="module")
def other_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import diffusers
    import torch

    torch.manual_seed(5)
    folder = tmp_path_factory.mktemp("other-vae")
    diffusers.AutoencoderKL(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=8,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            sample_size=64).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def other_flow_vae(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another 16-channel VAE of the tiny SD3 and Flux models' shape (SD3's shift and scaling)."""
    import torch

    from tests.tiny_flow_models import tiny_flow_vae

    torch.manual_seed(6)
    folder = tmp_path_factory.mktemp("other-flow-vae")
    tiny_flow_vae(shift_factor=0.0609, scaling_factor=1.5035).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vae_file(other_vae: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The other VAE as one original-layout file, its configuration in '<stem>.config' beside it."""
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from tests.models.ldm_layout import vae_ldm_state_dict

    path = tmp_path_factory.mktemp("vae-file") / "vae.safetensors"
    save_file(vae_ldm_state_dict(AutoencoderKL.from_pretrained(other_vae)), path)
    shutil.copytree(other_vae, path.with_name("vae.config"), ignore=shutil.ignore_patterns("*.safetensors"))
    return path


def _pixels(path: Path) -> bytes:
    """An image's pixels; a blank one (what NaNs in a pipeline become) would reproduce trivially, so it fails here."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.std() > 1, f"{path.name} is blank"
    return pixels.tobytes()


def _request(argv: Sequence[str]) -> dgenerate.RenderRequest:
    return parse_invocation(argv)[0]


def _regenerated_from_config(config: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The library path: load_config -> render, in `folder` (a config writes to ./output like any command)."""
    folder.mkdir()
    monkeypatch.chdir(folder)
    return dgenerate.render(dgenerate.load_config(config.read_text()), _CACHE)


def _regenerated_from_png(png: Path, folder: Path, run_cli: RunCli, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line path: the PNG's DgenerateConfig text on dgenerate's standard input."""
    folder.mkdir()
    monkeypatch.chdir(folder)
    result = run_cli(stdin=read_png_config(png))
    assert result.code == 0, result.err
    (again,) = (folder / "output").glob("*.png")
    return again


def _assert_round_trip(job: Job, written_config: Path) -> None:
    text = config_text(job, "test")
    assert read_config(text) == [job]
    assert read_config(text)[0].job_id == job.job_id == recorded_job_id(text)
    recorded = written_config.read_text()
    assert read_config(recorded) == [job] and recorded_job_id(recorded) == job.job_id


@pytest.mark.parametrize("batch_size", [1, 4])
@pytest.mark.parametrize("kind", [kind for kind in KINDS if kind.batches], ids=lambda kind: kind.name)
def test_text_to_image_kinds_keep_the_contract(kind: Kind, batch_size: int, request: pytest.FixtureRequest,
                                               run_cli: RunCli, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [*kind.argv(request.getfixturevalue), *COMMON, "--prompts", kind.prompt, "--inference-steps",
            str(kind.steps), *SEEDS,
            "--batch-size", str(batch_size)]
    request_ = _request([*argv, "-o", str(tmp_path / "run")])
    jobs = dgenerate.resolve(dgenerate.plan(request_))
    written = dgenerate.render(jobs, _CACHE)
    assert len(written) == 4 and [job.batch_size for job in jobs] == [1 if kind.alone else batch_size] * 4
    for job, png in zip(jobs, written, strict=True):
        _assert_round_trip(job, png.with_suffix(".dgen"))
    chosen, png = jobs[2], written[2]  # slot 2 of the batch of 4, or an image of its own
    (again,) = _regenerated_from_config(png.with_suffix(".dgen"), tmp_path / "config", monkeypatch)
    assert _pixels(again) == _pixels(png)
    assert _pixels(_regenerated_from_png(png, tmp_path / "png", run_cli, monkeypatch)) == _pixels(png)
    alone = _request([*argv[:argv.index("--seeds")], "--seeds", str(chosen.seed), "-o", str(tmp_path / "alone")])
    (single,) = dgenerate.render(alone, _CACHE)
    if batch_size == 1:
        assert _pixels(single) == _pixels(png)
    else:
        assert_close(_pixels(single), _pixels(png))


@pytest.mark.parametrize("kind", [kind for kind in KINDS if not kind.batches], ids=lambda kind: kind.name)
def test_image_seed_kinds_keep_the_contract(kind: Kind, request: pytest.FixtureRequest, run_cli: RunCli,
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = [*kind.argv(request.getfixturevalue), *COMMON, "--prompts", kind.prompt, "--inference-steps",
            str(kind.steps), "--seeds", "11",
            "--batch-size", "4"]
    (job,) = dgenerate.resolve(dgenerate.plan(_request([*argv, "-o", str(tmp_path / "run")])))
    assert job.image_seed is not None and job.image_seed.size == kind.seed_size and job.batch_size == 1
    (png,) = dgenerate.render([job], _CACHE)
    assert Image.open(png).size == (kind.seed_size[0] * kind.scale, kind.seed_size[1] * kind.scale)
    _assert_round_trip(job, png.with_suffix(".dgen"))
    (again,) = _regenerated_from_config(png.with_suffix(".dgen"), tmp_path / "config", monkeypatch)
    assert _pixels(again) == _pixels(png)
    assert _pixels(_regenerated_from_png(png, tmp_path / "png", run_cli, monkeypatch)) == _pixels(png)


_EDITS = ("tiny_flux_kontext", "tiny_pix2pix", "tiny_upscaler", "tiny_flux2", "tiny_flux2_dev",
          "tiny_qwen_edit")  # edits by the prompt: no strength


_PROCESSED = ("--seed-image-processors", "mirror", "posterize;bits=4", "--post-processors", "resize;size=48x40")


@pytest.mark.parametrize(("model", "extra"), [
    *((model, ()) for model in ("tiny_model", "tiny_flux", "tiny_chroma", "tiny_z_image", "tiny_qwen_image",
                                "tiny_kolors", *_EDITS)),
    ("tiny_model", _PROCESSED),  # processors on every frame, before and after
], ids=lambda value: value if isinstance(value, str) else "processed" if value else "")
def test_an_animation_and_each_of_its_frames_keep_the_contract(
        model: str, extra: tuple[str, ...], request: pytest.FixtureRequest, run_cli: RunCli, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seeded = [*_seeded("animation", model)(request.getfixturevalue), *extra]
    prompt = "a red circle; blue"
    if model in ("tiny_flux2", "tiny_flux2_dev"):  # they read images of 64 pixels a side or more, no negative prompt
        seeded[2], prompt = seeded[2] + ";96x64", "a red circle"
    argv = [*(seeded[:-2] if model in _EDITS else seeded), *COMMON, "--prompts", prompt,
            "--inference-steps", "3", "--seeds", "11"]
    (job,) = dgenerate.resolve(dgenerate.plan(_request([*argv, "-o", str(tmp_path / "run")])))
    animation, *frames = dgenerate.render([job], _CACHE)
    assert animation.suffix == ".mp4" and [frame.stem[-8:] for frame in frames] == ["_frame_0", "_frame_1", "_frame_2"]
    if extra:
        assert {Image.open(frame).size for frame in frames} == {(48, 40)}, "every frame post-processed"
    _assert_round_trip(job, animation.with_suffix(".dgen"))
    for number, frame in enumerate(frames):
        _assert_round_trip(replace(job, frame_start=number, frame_end=number), frame.with_suffix(".dgen"))
    _, *again = _regenerated_from_config(animation.with_suffix(".dgen"), tmp_path / "whole", monkeypatch)
    assert [_pixels(path) for path in again] == [_pixels(path) for path in frames], "the whole animation"
    (one,) = _regenerated_from_config(frames[1].with_suffix(".dgen"), tmp_path / "one", monkeypatch)
    assert _pixels(one) == _pixels(frames[1]), "one frame, alone"
    assert _pixels(_regenerated_from_png(frames[2], tmp_path / "png", run_cli, monkeypatch)) == _pixels(frames[2])


def test_resolving_a_resolved_job_changes_nothing(tiny_sdxl: Path, tiny_refiner: Path, tmp_path: Path) -> None:
    fixtures = {"tiny_sdxl": tiny_sdxl, "tiny_refiner": tiny_refiner}
    argv = [*_refined(fixtures.__getitem__), "--seeds", "1", "2", "--batch-size", "2", "-o", str(tmp_path)]
    request_ = _request(argv)
    jobs = dgenerate.resolve(dgenerate.plan(request_))
    assert dgenerate.resolve(jobs) == jobs
    for job in jobs:
        assert job.model.device in ("cpu", "cuda") and job.model.dtype == "float32"
        assert job.model.refiner is not None and job.model.refiner.dtype == "float32"
        assert (job.width, job.height, job.scheduler) == (64, 64, "EulerDiscreteScheduler")
        assert job.sdxl_original_size == job.sdxl_target_size == (64, 64) and job.high_noise_fraction == 0.6
        assert job.cpu_threads is not None and job.cpu_threads >= 1
