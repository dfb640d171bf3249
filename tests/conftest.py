"""Shared fixtures: tiny random SD, SDXL, SD3 and Flux pipelines, LoRAs and checkpoints built once per session, and an
in-process CLI runner."""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dgenerate.cli import main
from tests.tiny_flow_models import build_tiny_flux, build_tiny_sd3
from tests.tiny_models import build_tiny_sd, build_tiny_sdxl, build_tiny_sdxl_refiner, save_lora, write_single_file


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "model")


@pytest.fixture(scope="session")
def tiny_sdxl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("tiny-sdxl") / "base")


@pytest.fixture(scope="session")
def tiny_refiner(tmp_path_factory: pytest.TempPathFactory, tiny_sdxl: Path) -> Path:
    return build_tiny_sdxl_refiner(tmp_path_factory.mktemp("tiny-sdxl") / "refiner", base=tiny_sdxl)


@pytest.fixture(scope="session")
def tiny_lora(tiny_model: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    return save_lora(StableDiffusionPipeline, tiny_model, "sd")


@pytest.fixture(scope="session")
def sdxl_lora(tiny_sdxl: Path) -> Path:
    from diffusers import StableDiffusionXLPipeline

    return save_lora(StableDiffusionXLPipeline, tiny_sdxl, "sdxl")


@pytest.fixture(scope="session")
def second_lora(tiny_model: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    return save_lora(StableDiffusionPipeline, tiny_model, "second", seed=4)


@pytest.fixture(scope="session")
def sd_embedding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AUTOMATIC1111 embedding for the tiny SD model (width 32), its token the file's name: tinystyle."""
    from tests.tiny_adapters import write_a1111_safetensors

    return write_a1111_safetensors(tmp_path_factory.mktemp("embeddings") / "tinystyle.safetensors", 32, seed=1)


@pytest.fixture(scope="session")
def sdxl_embedding(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An AUTOMATIC1111 SDXL embedding (clip_l 32, clip_g 48 wide), its token: tinyxlstyle."""
    from tests.tiny_adapters import write_a1111_sdxl

    return write_a1111_sdxl(tmp_path_factory.mktemp("embeddings") / "tinyxlstyle.safetensors", 32, 48, seed=2)


@pytest.fixture(scope="session")
def sd_controlnet(tiny_model: Path) -> Path:
    from tests.tiny_adapters import build_tiny_controlnet

    return build_tiny_controlnet(tiny_model / "unet", tiny_model.parent / "controlnet", seed=1)


@pytest.fixture(scope="session")
def sd_controlnet_2(tiny_model: Path) -> Path:
    from tests.tiny_adapters import build_tiny_controlnet

    return build_tiny_controlnet(tiny_model / "unet", tiny_model.parent / "controlnet-2", seed=2)


@pytest.fixture(scope="session")
def sdxl_controlnet(tiny_sdxl: Path) -> Path:
    from tests.tiny_adapters import build_tiny_controlnet

    return build_tiny_controlnet(tiny_sdxl / "unet", tiny_sdxl.parent / "controlnet", seed=1)


@pytest.fixture(scope="session")
def flux_controlnet(tiny_flux: Path) -> Path:
    from tests.tiny_adapters import build_tiny_flow_controlnet

    return build_tiny_flow_controlnet(tiny_flux, tiny_flux.parent / "controlnet", seed=1)


@pytest.fixture(scope="session")
def sd3_controlnet(tiny_sd3: Path) -> Path:
    from tests.tiny_adapters import build_tiny_flow_controlnet

    return build_tiny_flow_controlnet(tiny_sd3, tiny_sd3.parent / "controlnet", seed=1)


@pytest.fixture(scope="session")
def tiny_flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux") / "model")


@pytest.fixture(scope="session")
def tiny_flux_fill(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_flux(tmp_path_factory.mktemp("tiny-flux-fill") / "model", fill=True)


@pytest.fixture(scope="session")
def tiny_sd3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sd3(tmp_path_factory.mktemp("tiny-sd3") / "model")


def _as_released(name: str) -> Any:
    """A session fixture built by tests/release_fixtures.py's builder of the same name (the same seeds and folder
    names), in a temporary folder of its own; the fixtures it needs are the session's."""

    @pytest.fixture(scope="session", name=name)
    def fixture(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
        from tests.release_fixtures import BUILDERS

        return BUILDERS[name](tmp_path_factory.mktemp(name), request.getfixturevalue)

    return fixture


# The fourth wave's families (Chroma, Flux Kontext, Flux.2, Z-Image, Qwen-Image, Kolors, InstructPix2Pix, the x4
# upscaler), their LoRAs and transformers
tiny_flux_kontext = _as_released("tiny_flux_kontext")
tiny_pix2pix = _as_released("tiny_pix2pix")
tiny_sdxl_pix2pix = _as_released("tiny_sdxl_pix2pix")
tiny_upscaler = _as_released("tiny_upscaler")
tiny_z_image = _as_released("tiny_z_image")
z_image_lora = _as_released("z_image_lora")
z_image_transformer = _as_released("z_image_transformer")
tiny_qwen_image = _as_released("tiny_qwen_image")
qwen_image_lora = _as_released("qwen_image_lora")
qwen_image_transformer = _as_released("qwen_image_transformer")
tiny_flux2 = _as_released("tiny_flux2")
flux2_lora = _as_released("flux2_lora")
flux2_transformer = _as_released("flux2_transformer")
tiny_kolors = _as_released("tiny_kolors")
kolors_lora = _as_released("kolors_lora")
tiny_chroma = _as_released("tiny_chroma")
chroma_lora = _as_released("chroma_lora")
chroma_transformer = _as_released("chroma_transformer")
flux_gguf = _as_released("flux_gguf")  # the fifth wave's GGUF transformer
tiny_depth = _as_released("tiny_depth")  # the depth processor's model
tiny_pose = _as_released("tiny_pose")  # the pose processor's model
tiny_wan = _as_released("tiny_wan")  # the video families
tiny_ltx = _as_released("tiny_ltx")
tiny_ltx_091 = _as_released("tiny_ltx_091")
tiny_ltx2 = _as_released("tiny_ltx2")
tiny_qwen_edit = _as_released("tiny_qwen_edit")
tiny_flux2_dev = _as_released("tiny_flux2_dev")
tiny_qwen_edit_plus = _as_released("tiny_qwen_edit_plus")
tiny_wan_i2v = _as_released("tiny_wan_i2v")
tiny_wan22 = _as_released("tiny_wan22")
tiny_wan_flf2v = _as_released("tiny_wan_flf2v")


@pytest.fixture(scope="session")
def flux_transformer(tiny_flux: Path) -> Path:
    """Another tiny Flux transformer (seed 1): a diffusers folder, and the same weights as flux-transformer.safetensors
    (the diffusers layout) beside it."""
    from tests.tiny_adapters import save_tiny_transformer

    return save_tiny_transformer(tiny_flux, tiny_flux.parent / "flux-transformer", seed=1)


@pytest.fixture(scope="session")
def sd3_transformer(tiny_sd3: Path) -> Path:
    """Another tiny SD3 transformer (seed 1) as a diffusers folder; sd3-transformer.safetensors beside it holds it in
    Stability's original layout, under model.diffusion_model. as in a whole checkpoint."""
    import diffusers
    from safetensors.torch import save_file

    from tests.tiny_adapters import save_tiny_transformer, sd3_original_layout

    folder = save_tiny_transformer(tiny_sd3, tiny_sd3.parent / "sd3-transformer", seed=1)
    state = diffusers.SD3Transformer2DModel.from_pretrained(folder).state_dict()
    save_file(sd3_original_layout(state, "model.diffusion_model."), folder.with_suffix(".safetensors"))
    return folder


@pytest.fixture(scope="session")
def flux_lora(tiny_flux: Path) -> Path:
    from diffusers import FluxPipeline

    return save_lora(FluxPipeline, tiny_flux, "flux", "transformer")


@pytest.fixture(scope="session")
def sd3_lora(tiny_sd3: Path) -> Path:
    from diffusers import StableDiffusion3Pipeline

    return save_lora(StableDiffusion3Pipeline, tiny_sd3, "sd3", "transformer")


@pytest.fixture(scope="session")
def sd_single_file(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    from diffusers import StableDiffusionPipeline

    destination = tmp_path_factory.mktemp("single") / "tiny.safetensors"
    return write_single_file(StableDiffusionPipeline, tiny_model, destination)


# No test may reach the network or the user's Hugging Face cache. Set before any test module imports
# huggingface_hub, which reads these once, at import.
os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="dgenerate-tests-hf-")
os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _remove_test_hub_cache() -> Iterator[None]:
    yield
    shutil.rmtree(os.environ["HF_HOME"], ignore_errors=True)


@pytest.fixture(autouse=True)
def _thread_count_is_left_as_found(request: pytest.FixtureRequest) -> Iterator[None]:
    """No test may leave torch's CPU thread count changed for the tests after it."""
    if "torch" not in sys.modules:
        yield
        return
    import torch

    threads = torch.get_num_threads()
    yield
    assert torch.get_num_threads() == threads, f"{request.node.nodeid} left torch at {torch.get_num_threads()} threads"


@dataclass
class Result:
    code: int
    err: str
    out: str


RunCli = Callable[..., Result]


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run dgenerate in this process (argv, or a batch text on standard input) and capture its output."""

    def run(*argv: str, stdin: str | None = None) -> Result:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.err, captured.out)

    return run


@pytest.fixture(scope="session")
def tiny_esrgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import importlib.util

    if importlib.util.find_spec("spandrel") is None:
        message = "spandrel is not installed (scripts/setup --test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from tests.tiny_upscaler_model import build_tiny_esrgan

    return build_tiny_esrgan(tmp_path_factory.mktemp("esrgan"))
