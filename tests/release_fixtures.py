"""The reproduction contract's fixtures as files in one lasting folder, for scripts that run other releases' code.

The same builders as the test session's fixtures (tests/conftest.py, tests/test_reproduction.py), with the same
seeds and the same folder and file names, so a command written against `FixtureFolder` names the same kind of path
as the tests do. Each fixture is built once, when first asked for; a marker file says it was finished, so a build
that was stopped is redone rather than trusted.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

Fixtures = Callable[[str], Path]
Builder = Callable[[Path, Fixtures], Path]


def _tiny_model(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_models import build_tiny_sd

    return build_tiny_sd(root / "tiny-sd" / "model")


def _tiny_sdxl(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_models import build_tiny_sdxl

    return build_tiny_sdxl(root / "tiny-sdxl" / "base")


def _tiny_refiner(root: Path, get: Fixtures) -> Path:
    from tests.tiny_models import build_tiny_sdxl_refiner

    return build_tiny_sdxl_refiner(root / "tiny-sdxl" / "refiner", base=get("tiny_sdxl"))


def _tiny_flux(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_flow_models import build_tiny_flux

    return build_tiny_flux(root / "tiny-flux" / "model")


def _tiny_flux_fill(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_flow_models import build_tiny_flux

    return build_tiny_flux(root / "tiny-flux-fill" / "model", fill=True)


def _tiny_sd3(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_flow_models import build_tiny_sd3

    return build_tiny_sd3(root / "tiny-sd3" / "model")


def _built(module: str, function: str, folder: str, base: str | None = None) -> Builder:
    """A tiny pipeline of the fourth wave's families, as the test session's fixture builds it."""

    def build(root: Path, get: Fixtures) -> Path:
        import importlib

        builder = getattr(importlib.import_module(f"tests.{module}"), function)
        if base is None:
            return Path(builder(root / folder / "model"))
        return Path(builder(get(base).parent / folder, get(base)))

    return build


def _transformer(model: str, name: str) -> Builder:
    def build(_root: Path, get: Fixtures) -> Path:
        from tests.tiny_adapters import save_tiny_transformer

        return save_tiny_transformer(get(model), get(model).parent / f"{name}-transformer", seed=1)

    return build


def _lora(pipeline: str, model: str, name: str, component: str = "unet", seed: int = 3) -> Builder:
    def build(_root: Path, get: Fixtures) -> Path:
        import diffusers

        from tests.tiny_models import save_lora

        return save_lora(getattr(diffusers, pipeline), get(model), name, component, seed=seed)

    return build


def _sd_embedding(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_adapters import write_a1111_safetensors

    (root / "embeddings").mkdir(exist_ok=True)
    return write_a1111_safetensors(root / "embeddings" / "tinystyle.safetensors", 32, seed=1)


def _sdxl_embedding(root: Path, _get: Fixtures) -> Path:
    from tests.tiny_adapters import write_a1111_sdxl

    (root / "embeddings").mkdir(exist_ok=True)
    return write_a1111_sdxl(root / "embeddings" / "tinyxlstyle.safetensors", 32, 48, seed=2)


def _controlnet(model: str, folder: str, seed: int) -> Builder:
    def build(_root: Path, get: Fixtures) -> Path:
        from tests.tiny_adapters import build_tiny_controlnet

        return build_tiny_controlnet(get(model) / "unet", get(model).parent / folder, seed=seed)

    return build


def _flow_controlnet(model: str) -> Builder:
    def build(_root: Path, get: Fixtures) -> Path:
        from tests.tiny_adapters import build_tiny_flow_controlnet

        return build_tiny_flow_controlnet(get(model), get(model).parent / "controlnet", seed=1)

    return build


def _flux_transformer(_root: Path, get: Fixtures) -> Path:
    from tests.tiny_adapters import save_tiny_transformer

    return save_tiny_transformer(get("tiny_flux"), get("tiny_flux").parent / "flux-transformer", seed=1)


def _flux_gguf(_root: Path, get: Fixtures) -> Path:
    """The seed-1 tiny Flux transformer as a GGUF file of Q8_0 matrices (flux-transformer.gguf)."""
    import diffusers

    from tests.tiny_adapters import save_gguf

    state = diffusers.FluxTransformer2DModel.from_pretrained(get("flux_transformer")).state_dict()
    return save_gguf(state, get("flux_transformer").with_suffix(".gguf"))


def _tiny_depth(root: Path, _get: Fixtures) -> Path:
    """The depth processor's model: a tiny Depth Anything trained on near and far planes (tests/tiny_depth.py)."""
    from tests.tiny_depth import build_tiny_depth

    return build_tiny_depth(root / "tiny-depth")


def _tiny_pose(root: Path, _get: Fixtures) -> Path:
    """The pose processor's model: a tiny ViTPose trained on drawn stick figures (tests/tiny_pose.py)."""
    from tests.tiny_pose import build_tiny_pose

    return build_tiny_pose(root / "tiny-pose")


def _sd3_transformer(_root: Path, get: Fixtures) -> Path:
    """A diffusers folder, and sd3-transformer.safetensors beside it in Stability's original layout."""
    import diffusers
    from safetensors.torch import save_file

    from tests.tiny_adapters import save_tiny_transformer, sd3_original_layout

    folder = save_tiny_transformer(get("tiny_sd3"), get("tiny_sd3").parent / "sd3-transformer", seed=1)
    state = diffusers.SD3Transformer2DModel.from_pretrained(folder).state_dict()
    save_file(sd3_original_layout(state, "model.diffusion_model."), folder.with_suffix(".safetensors"))
    return folder


def _sd_single_file(root: Path, get: Fixtures) -> Path:
    from diffusers import StableDiffusionPipeline

    from tests.tiny_models import write_single_file

    destination = root / "single" / "tiny.safetensors"
    destination.parent.mkdir(parents=True, exist_ok=True)
    return write_single_file(StableDiffusionPipeline, get("tiny_model"), destination)


def _contract_inputs(root: Path, _get: Fixtures) -> Path:
    folder = root / "contract-inputs"
    folder.mkdir(parents=True, exist_ok=True)
    return draw_contract_inputs(folder)


def draw_contract_inputs(folder: Path) -> Path:
    """seed.png and mask.png (72x48), control.png, a three-frame clip.mp4, and reference.png (80x96, for the models
    that read reference images): the reproduction contract's inputs."""
    from PIL import Image, ImageDraw

    from tests.media.conftest import write_video

    seed = Image.new("RGB", (72, 48), "blue")
    ImageDraw.Draw(seed).ellipse((20, 8, 52, 40), fill="red")
    seed.save(folder / "seed.png")
    mask = Image.new("L", (72, 48), 0)
    ImageDraw.Draw(mask).rectangle((16, 4, 56, 44), fill=255)
    mask.save(folder / "mask.png")
    control = Image.new("RGB", (72, 48), "black")
    ImageDraw.Draw(control).rectangle((0, 0, 35, 47), fill="white")
    control.save(folder / "control.png")
    write_video(folder / "clip.mp4", "libx264", Fraction(24), 3)
    reference = Image.new("RGB", (80, 96), "yellow")
    ImageDraw.Draw(reference).polygon([(40, 8), (72, 88), (8, 88)], fill="green")
    reference.save(folder / "reference.png")
    return folder


def _other_vae(root: Path, _get: Fixtures) -> Path:
    import diffusers
    import torch

    torch.manual_seed(5)
    folder = root / "other-vae"
    vae: Any = diffusers.AutoencoderKL(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=8,
                                       down_block_types=("DownEncoderBlock2D",) * 4,
                                       up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
    vae.save_pretrained(folder)
    return folder


def _other_flow_vae(root: Path, _get: Fixtures) -> Path:
    import torch

    from tests.tiny_flow_models import tiny_flow_vae

    torch.manual_seed(6)
    folder = root / "other-flow-vae"
    tiny_flow_vae(shift_factor=0.0609, scaling_factor=1.5035).save_pretrained(folder)
    return folder


def _vae_file(root: Path, get: Fixtures) -> Path:
    """The other VAE as one original-layout file, its configuration in 'vae.config' beside it."""
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    from tests.models.ldm_layout import vae_ldm_state_dict

    path = root / "vae-file" / "vae.safetensors"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(vae_ldm_state_dict(AutoencoderKL.from_pretrained(get("other_vae"))), path)
    shutil.copytree(get("other_vae"), path.with_name("vae.config"), ignore=shutil.ignore_patterns("*.safetensors"))
    return path


BUILDERS: dict[str, Builder] = {
    "tiny_model": _tiny_model,
    "tiny_sdxl": _tiny_sdxl,
    "tiny_refiner": _tiny_refiner,
    "tiny_flux": _tiny_flux,
    "tiny_flux_fill": _tiny_flux_fill,
    "tiny_sd3": _tiny_sd3,
    "tiny_lora": _lora("StableDiffusionPipeline", "tiny_model", "sd"),
    "second_lora": _lora("StableDiffusionPipeline", "tiny_model", "second", seed=4),
    "sdxl_lora": _lora("StableDiffusionXLPipeline", "tiny_sdxl", "sdxl"),
    "flux_lora": _lora("FluxPipeline", "tiny_flux", "flux", "transformer"),
    "sd3_lora": _lora("StableDiffusion3Pipeline", "tiny_sd3", "sd3", "transformer"),
    "sd_embedding": _sd_embedding,
    "sdxl_embedding": _sdxl_embedding,
    "sd_controlnet": _controlnet("tiny_model", "controlnet", seed=1),
    "sd_controlnet_2": _controlnet("tiny_model", "controlnet-2", seed=2),
    "sdxl_controlnet": _controlnet("tiny_sdxl", "controlnet", seed=1),
    "flux_controlnet": _flow_controlnet("tiny_flux"),
    "sd3_controlnet": _flow_controlnet("tiny_sd3"),
    "flux_transformer": _flux_transformer,
    "flux_gguf": _flux_gguf,
    "tiny_depth": _tiny_depth,
    "tiny_pose": _tiny_pose,
    "sd3_transformer": _sd3_transformer,
    "sd_single_file": _sd_single_file,
    "contract_inputs": _contract_inputs,
    "other_vae": _other_vae,
    "other_flow_vae": _other_flow_vae,
    "vae_file": _vae_file,
    "tiny_chroma": _built("tiny_chroma", "build_tiny_chroma", "tiny-chroma"),
    "tiny_flux_kontext": _built("tiny_flow_models", "build_tiny_flux_kontext", "tiny-flux-kontext"),
    "tiny_flux2": _built("tiny_flux2", "build_tiny_flux2_klein", "tiny-flux2-klein"),
    "tiny_flux2_dev": _built("tiny_flux2", "build_tiny_flux2_dev", "tiny-flux2-dev"),
    "tiny_z_image": _built("tiny_z_image", "build_tiny_z_image", "tiny-z-image"),
    "tiny_qwen_image": _built("tiny_qwen_image", "build_tiny_qwen_image", "tiny-qwen-image"),
    "tiny_qwen_edit": _built("tiny_qwen_image", "build_tiny_qwen_edit", "tiny-qwen-edit"),
    "tiny_qwen_edit_plus": _built("tiny_qwen_image", "build_tiny_qwen_edit_plus", "tiny-qwen-edit-plus"),
    "tiny_kolors": _built("tiny_kolors", "build_tiny_kolors", "tiny-kolors"),
    "tiny_wan": _built("tiny_wan", "build_tiny_wan", "tiny-wan"),
    "tiny_wan_i2v": _built("tiny_wan", "build_tiny_wan_i2v", "tiny-wan-i2v"),
    "tiny_wan22": _built("tiny_wan", "build_tiny_wan22", "tiny-wan22"),
    "tiny_wan_flf2v": _built("tiny_wan", "build_tiny_wan_flf2v", "tiny-wan-flf2v"),
    "tiny_ltx": _built("tiny_ltx", "build_tiny_ltx", "tiny-ltx"),
    "tiny_ltx_091": _built("tiny_ltx", "build_tiny_ltx_091", "tiny-ltx-091"),
    "tiny_ltx2": _built("tiny_ltx2", "build_tiny_ltx2", "tiny-ltx2"),
    "tiny_pix2pix": _built("tiny_edit_models", "build_tiny_pix2pix", "pix2pix", base="tiny_model"),
    "tiny_sdxl_pix2pix": _built("tiny_edit_models", "build_tiny_sdxl_pix2pix", "pix2pix", base="tiny_sdxl"),
    "tiny_upscaler": _built("tiny_edit_models", "build_tiny_upscaler", "upscaler-x4", base="tiny_model"),
    "chroma_lora": _lora("ChromaPipeline", "tiny_chroma", "chroma", "transformer"),
    "z_image_lora": _lora("ZImagePipeline", "tiny_z_image", "z-image", "transformer"),
    "qwen_image_lora": _lora("QwenImagePipeline", "tiny_qwen_image", "qwen-image", "transformer"),
    "flux2_lora": _lora("Flux2KleinPipeline", "tiny_flux2", "flux2", "transformer"),
    "kolors_lora": _lora("KolorsPipeline", "tiny_kolors", "kolors"),
    "chroma_transformer": _transformer("tiny_chroma", "chroma"),
    "z_image_transformer": _transformer("tiny_z_image", "z-image"),
    "qwen_image_transformer": _transformer("tiny_qwen_image", "qwen-image"),
    "flux2_transformer": _transformer("tiny_flux2", "flux2"),
}


class FixtureFolder:
    """Fixtures by name under `root`, each built by its builder the first time it is asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, name: str) -> Path:
        marker = self.root / f".built-{name}"
        self.root.mkdir(parents=True, exist_ok=True)
        if marker.is_file():
            return Path(marker.read_text())
        path = BUILDERS[name](self.root, self)
        marker.write_text(str(path))
        return path

    def build_all(self) -> None:
        for name in BUILDERS:
            self(name)
