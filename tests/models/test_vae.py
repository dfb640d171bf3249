"""--vae: every class, from a folder, the hub cache and a single file; dtype and variant defaults; clear errors."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from dgenerate.errors import ModelError, ModelNotFoundError, UsageError
from dgenerate.jobs import ModelSpec, VaeSpec
from dgenerate.models.vae import load_vae as load_resolved_vae
from dgenerate.resolve import resolve_spec
from tests.models.conftest import loaded, sd_images
from tests.models.ldm_layout import vae_ldm_state_dict


def load_vae(vae: VaeSpec, model: ModelSpec) -> Any:
    """The VAE as the loader loads it: from the resolved spec (device and dtypes explicit)."""
    spec = resolve_spec(replace(model, device="cpu", vae=vae))
    assert spec.vae is not None
    return load_resolved_vae(spec.vae, spec)


def _other_vae(folder: Path, class_name: str) -> Path:
    """A VAE with the tiny model's latent shape and other random weights."""
    import diffusers

    torch.manual_seed(5)
    vae: Any
    if class_name == "AutoencoderKL":
        vae = diffusers.AutoencoderKL(block_out_channels=(8, 16, 16, 16), layers_per_block=1, norm_num_groups=8,
                                      down_block_types=("DownEncoderBlock2D",) * 4,
                                      up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64)
    elif class_name == "AsymmetricAutoencoderKL":
        vae = diffusers.AsymmetricAutoencoderKL(
            down_block_out_channels=(8, 16, 16, 16), up_block_out_channels=(8, 16, 16, 16), norm_num_groups=8,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_down_block=1, layers_per_up_block=1, sample_size=64)
    else:
        vae = diffusers.AutoencoderTiny(
            encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
            num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))
    vae.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def vaes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("vaes")
    names = ("AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny")
    return {name: _other_vae(root / name, name) for name in names}


def test_the_models_own_vae_as_a_folder_gives_identical_bytes(tiny_model: Path) -> None:
    plain = ModelSpec(str(tiny_model), device="cpu")
    own = replace(plain, vae=VaeSpec("AutoencoderKL", str(tiny_model), subfolder="vae"))
    assert sd_images(own) == sd_images(plain)


@pytest.mark.parametrize("class_name", ["AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny"])
def test_every_vae_class_loads_and_changes_the_image(tiny_model: Path, vaes: dict[str, Path], class_name: str) -> None:
    plain = ModelSpec(str(tiny_model), device="cpu")
    spec = replace(plain, vae=VaeSpec(class_name, str(vaes[class_name])))
    model = loaded(spec)
    assert type(model.pipeline.vae).__name__ == class_name
    first = sd_images(spec)
    assert first != sd_images(plain)
    assert first == sd_images(spec), "same VAE, same seed: same bytes"


def test_vae_from_the_hub_cache_offline(tiny_model: Path, vaes: dict[str, Path], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "hub"
    shutil.copytree(vaes["AutoencoderKL"], snapshot / "vae")
    calls: list[dict[str, object]] = []

    def cached_only(repo: str, **kwargs: object) -> str:
        calls.append({"repo": repo, **kwargs})
        return str(snapshot)

    monkeypatch.setattr("huggingface_hub.snapshot_download", cached_only)
    vae = load_vae(VaeSpec("AutoencoderKL", "someone/tiny-vae", revision="v2", subfolder="vae"),
                   ModelSpec(str(tiny_model)))
    assert type(vae).__name__ == "AutoencoderKL"
    assert calls == [{"repo": "someone/tiny-vae", "revision": "v2", "token": None, "local_files_only": True,
                      "allow_patterns": ["vae/*"]}]


def test_vae_slug_missing_offline_is_one_line(tiny_model: Path) -> None:
    with pytest.raises(ModelNotFoundError, match=r"^--vae AutoencoderKL;nobody/missing-vae: .*HF_HUB_OFFLINE is set.*"
                                                 r"hf download nobody/missing-vae"):
        load_vae(VaeSpec("AutoencoderKL", "nobody/missing-vae"), ModelSpec(str(tiny_model)))


def test_vae_dtype_defaults_to_the_models(tiny_model: Path, vaes: dict[str, Path]) -> None:
    vae = VaeSpec("AutoencoderKL", str(vaes["AutoencoderKL"]))

    def resolved_dtype(vae: VaeSpec, dtype: str) -> str | None:
        resolved = resolve_spec(ModelSpec(str(tiny_model), device="cpu", dtype=dtype, vae=vae)).vae
        return None if resolved is None else resolved.dtype

    assert resolved_dtype(vae, "float16") == "float16"
    assert resolved_dtype(vae, "auto") == "float32"
    assert resolved_dtype(replace(vae, dtype="float16"), "auto") == "float16"
    assert load_vae(replace(vae, dtype="float16"), ModelSpec(str(tiny_model))).dtype == torch.float16


def test_vae_variant_defaults_to_the_models_and_falls_back(tiny_model: Path, vaes: dict[str, Path],
                                                           tmp_path: Path) -> None:
    folder = tmp_path / "variant-vae"
    shutil.copytree(vaes["AutoencoderKL"], folder)
    (folder / "diffusion_pytorch_model.safetensors").rename(folder / "diffusion_pytorch_model.fp16.safetensors")
    vae = VaeSpec("AutoencoderKL", str(folder))
    assert load_vae(vae, ModelSpec(str(tiny_model), variant="fp16")) is not None
    plain = VaeSpec("AutoencoderKL", str(vaes["AutoencoderKL"]))
    assert load_vae(plain, ModelSpec(str(tiny_model), variant="fp16")) is not None, "no fp16 files: plain weights"
    with pytest.raises(ModelError, match=r"^--vae AutoencoderKL;.* could not be loaded"):
        load_vae(replace(plain, variant="fp16"), ModelSpec(str(tiny_model)))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".ckpt", ".bin", ".pth"])
def test_autoencoder_kl_from_a_single_file_matches_the_folder(tiny_model: Path, vaes: dict[str, Path],
                                                              tmp_path: Path, suffix: str) -> None:
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    folder = vaes["AutoencoderKL"]
    original = AutoencoderKL.from_pretrained(folder)
    state = vae_ldm_state_dict(original)
    path = tmp_path / f"vae{suffix}"
    save_file(state, path) if suffix == ".safetensors" else torch.save({"state_dict": state}, path)
    shutil.copytree(folder, tmp_path / "vae.config", ignore=shutil.ignore_patterns("*.safetensors"))
    vae = load_vae(VaeSpec("AutoencoderKL", str(path)), ModelSpec(str(tiny_model)))
    theirs, ours = original.state_dict(), vae.state_dict()
    assert theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in theirs)


def test_single_file_vae_uses_the_bundled_sd_config_without_a_config_folder(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny-vae.safetensors"
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    save_file(vae_ldm_state_dict(AutoencoderKL.from_pretrained(tiny_model / "vae")), path)
    with pytest.raises(ModelError, match=r"^--vae AutoencoderKL;.*tiny-vae.safetensors: its weights do not fit .*"
                                         r"sd1/vae/config.json \(encoder.conv_in.weight is \[8, 3, 3, 3\] in the file, "
                                         r"\[128, 3, 3, 3\] in the configuration\); put the VAE's own config.json in a "
                                         r"folder 'tiny-vae.config' next to the file$"):
        load_vae(VaeSpec("AutoencoderKL", str(path)), ModelSpec(str(tiny_model)))  # tiny weights, SD-sized config


def test_pickled_vae_that_needs_code_is_refused(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "callback": shutil.rmtree}, path)
    with pytest.raises(ModelError, match=r"needs to run pickled code to load, which dgenerate refuses.*\.safetensors"):
        load_vae(VaeSpec("AutoencoderKL", str(path)), ModelSpec(str(tiny_model)))


def test_original_layout_file_needs_autoencoder_kl(tiny_model: Path, tmp_path: Path) -> None:
    from diffusers import AutoencoderKL
    from safetensors.torch import save_file

    path = tmp_path / "vae.safetensors"
    save_file(vae_ldm_state_dict(AutoencoderKL.from_pretrained(tiny_model / "vae")), path)
    with pytest.raises(UsageError, match=r"^--vae AutoencoderTiny;.*only AutoencoderKL loads from a file in the "
                                         r"original layout"):
        load_vae(VaeSpec("AutoencoderTiny", str(path)), ModelSpec(str(tiny_model)))


def test_vae_errors_are_one_line(tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^--vae 'Autoencoder' is not a VAE class; use one of: AutoencoderKL"):
        load_vae(VaeSpec("Autoencoder", str(tiny_model)), ModelSpec(str(tiny_model)))
    with pytest.raises(ModelNotFoundError, match=r"^--vae AutoencoderKL;/nowhere/vae: no such folder or file"):
        load_vae(VaeSpec("AutoencoderKL", "/nowhere/vae"), ModelSpec(str(tiny_model)))
    with pytest.raises(ModelNotFoundError, match=r"^--vae AutoencoderKL;.*: no such file"):
        load_vae(VaeSpec("AutoencoderKL", str(tmp_path / "gone.safetensors")), ModelSpec(str(tiny_model)))
    with pytest.raises(ModelNotFoundError, match=r"has no config.json.*use --vae-subfolder vae"):
        load_vae(VaeSpec("AutoencoderKL", str(tiny_model)), ModelSpec(str(tiny_model)))


@pytest.mark.parametrize("class_name", ["AutoencoderKL", "AsymmetricAutoencoderKL", "AutoencoderTiny"])
def test_a_diffusers_format_file_loads_with_the_config_beside_it(tiny_model: Path, vaes: dict[str, Path],
                                                                 class_name: str) -> None:
    """The file people download from a repository's vae/ folder, named directly (it is not in the original layout)."""
    folder = vaes[class_name]
    from_folder = ModelSpec(str(tiny_model), device="cpu", vae=VaeSpec(class_name, str(folder)))
    from_file = replace(from_folder, vae=VaeSpec(class_name, str(folder / "diffusion_pytorch_model.safetensors")))
    assert type(loaded(from_file).pipeline.vae).__name__ == class_name
    assert sd_images(from_file) == sd_images(from_folder)


def test_a_diffusers_format_file_alone_takes_its_config_from_a_stem_folder(tiny_model: Path, vaes: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    folder = vaes["AutoencoderKL"]
    path = tmp_path / "downloaded.safetensors"
    shutil.copy(folder / "diffusion_pytorch_model.safetensors", path)
    (tmp_path / "downloaded.config").mkdir()
    shutil.copy(folder / "config.json", tmp_path / "downloaded.config" / "config.json")
    ours = load_vae(VaeSpec("AutoencoderKL", str(path)), ModelSpec(str(tiny_model)))
    theirs = load_vae(VaeSpec("AutoencoderKL", str(folder)), ModelSpec(str(tiny_model)))
    assert all(torch.equal(theirs.state_dict()[k], value) for k, value in ours.state_dict().items())


def test_a_file_of_other_weights_names_the_file_and_the_layouts(tiny_model: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "not-a-vae.safetensors"
    save_file({"text_model.embeddings.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ModelError, match=r"^--vae AutoencoderKL;.*not-a-vae.safetensors: the file holds no "
                                         r"AutoencoderKL weights in the diffusers layout of .*config.json nor in the "
                                         r"original Stable Diffusion layout \(its weights: "
                                         r"text_model.embeddings.weight...\)"):
        load_vae(VaeSpec("AutoencoderKL", str(path)), ModelSpec(str(tiny_model)))
