"""--transformer: a fine-tuned SD3 or Flux transformer in place of the model's own, from a diffusers folder, a file in
the diffusers layout, or a file in the original layout (as a whole checkpoint holds it); what does not fit is one
line before any work. The reproduction contract over it is in tests/test_reproduction.py."""

from __future__ import annotations

import re
from pathlib import Path

import diffusers
import numpy as np
import pytest
from PIL import Image
from safetensors.torch import save_file

from dgenerate.reproduce import config_text, read_config
from tests.conftest import RunCli
from tests.tiny_adapters import save_tiny_transformer, sd3_original_layout

CPU = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3", "-s", "32")


def _image(run_cli: RunCli, out: Path, *argv: str) -> np.ndarray:
    result = run_cli(*argv, *CPU, "-o", str(out))
    assert result.code == 0, result.err
    (png,) = out.glob("*.png")
    return np.asarray(Image.open(png))


def test_the_models_own_transformer_from_a_file_gives_the_same_image(run_cli: RunCli, tiny_sd3: Path,
                                                                     tiny_flux: Path, tmp_path: Path) -> None:
    """The weights arrive exactly: the model's own transformer, as one file in either layout, changes no pixel."""
    own_sd3 = diffusers.SD3Transformer2DModel.from_pretrained(tiny_sd3 / "transformer").state_dict()
    save_file(sd3_original_layout(own_sd3), tmp_path / "sd3-original.safetensors")
    flux_file = tiny_flux / "transformer" / "diffusion_pytorch_model.safetensors"
    for model, file in ((tiny_sd3, tmp_path / "sd3-original.safetensors"), (tiny_flux, flux_file)):
        plain = _image(run_cli, tmp_path / f"{model.parent.name}-plain", str(model))
        assert np.array_equal(_image(run_cli, tmp_path / f"{model.parent.name}-own", str(model), "--transformer",
                                     str(file)), plain)


def test_another_transformer_changes_the_image_the_same_from_folder_or_file(
        run_cli: RunCli, tiny_sd3: Path, tiny_flux: Path, sd3_transformer: Path, flux_transformer: Path,
        tmp_path: Path) -> None:
    for model, other in ((tiny_sd3, sd3_transformer), (tiny_flux, flux_transformer)):
        name = model.parent.name
        plain = _image(run_cli, tmp_path / f"{name}-plain", str(model))
        folder = _image(run_cli, tmp_path / f"{name}-folder", str(model), "--transformer", str(other))
        file = _image(run_cli, tmp_path / f"{name}-file", str(model), "--transformer", f"{other}.safetensors")
        assert not np.array_equal(folder, plain) and np.array_equal(folder, file)


@pytest.mark.parametrize(("model", "given", "message"), [
    ("flux", "{sd3_transformer}", r"is an SD3Transformer2DModel, and this model takes a FluxTransformer2DModel"),
    ("flux", "{sd3_transformer}.safetensors", r"holds Stable Diffusion 3 weights, and model_path '.*' is Flux"),
    ("sd3", "{flux_transformer}.safetensors", r"holds Flux weights, and model_path '.*' is Stable Diffusion 3"),
    ("sd3", "{sd3}/vae/diffusion_pytorch_model.safetensors", r"holds no transformer weights dgenerate knows"),
    ("sd3", "{sd3}", r"has no config.json: it is not a diffusers transformer folder"),
    ("sd3", "{tmp}/missing", r": no such folder or file; check the path"),
    ("sd3", "{tmp}/missing.safetensors", r": no such file; check the path"),
])
def test_a_transformer_that_does_not_fit_is_one_line_before_any_work(
        model: str, given: str, message: str, run_cli: RunCli, tiny_sd3: Path, tiny_flux: Path,
        sd3_transformer: Path, flux_transformer: Path, tmp_path: Path) -> None:
    path = given.format(sd3_transformer=sd3_transformer, flux_transformer=flux_transformer, sd3=tiny_sd3, tmp=tmp_path)
    result = run_cli(str({"flux": tiny_flux, "sd3": tiny_sd3}[model]), "--transformer", path, *CPU,
                     "-o", str(tmp_path / "out"))
    assert result.code == 1 and "Traceback" not in result.err and "wrote" not in result.err, result.err
    assert not any((tmp_path / "out").glob("*")), "nothing written"
    (line,) = [line for line in result.err.splitlines() if line.startswith("dgenerate: error:")]
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_diffusers_file_of_another_configuration_says_how_it_differs(run_cli: RunCli, tiny_flux: Path,
                                                                       tmp_path: Path) -> None:
    """A transformer with a layer more than the model's: loading it with the model's configuration would drop weights
    without a word, so it is refused, counted."""
    import json
    import shutil

    deeper = tmp_path / "deeper-model"
    shutil.copytree(tiny_flux / "transformer", deeper / "transformer")
    config = json.loads((deeper / "transformer" / "config.json").read_text())
    (deeper / "transformer" / "config.json").write_text(json.dumps({**config, "num_layers": 2}))
    save_tiny_transformer(deeper, tmp_path / "deeper", seed=2)
    result = run_cli(str(tiny_flux), "--transformer", str(tmp_path / "deeper.safetensors"), *CPU, "-o",
                     str(tmp_path / "out"))
    assert result.code == 1, result.err
    assert "does not fit the model's transformer: " in result.err and "weights it does not have " \
        "(transformer_blocks.1." in result.err


def test_the_transformer_is_recorded_and_refused_where_there_is_none(run_cli: RunCli, tiny_model: Path,
                                                                      tiny_flux: Path, flux_transformer: Path,
                                                                      tmp_path: Path) -> None:
    result = run_cli(str(tiny_flux), "--transformer", str(flux_transformer), *CPU, "--output-configs", "-o",
                     str(tmp_path / "out"))
    assert result.code == 0, result.err
    (config,) = (tmp_path / "out").glob("*.dgen")
    (job,) = read_config(config.read_text())
    assert job.model.transformer == str(flux_transformer) and f"--transformer {flux_transformer}" in config_text(
        job, "test")
    result = run_cli(str(tiny_model), "--transformer", str(flux_transformer), *CPU, "-o", str(tmp_path / "sd"))
    assert result.code == 2
    assert "--transformer is for Stable Diffusion 3, Flux, Chroma, " in result.err


@pytest.mark.parametrize("prefix", ["", "model.diffusion_model."])
def test_a_flux_file_in_the_original_layout_of_another_width_is_one_line(run_cli: RunCli, tiny_flux: Path,
                                                                         tmp_path: Path, prefix: str) -> None:
    """diffusers converts Black Forest Labs' layout at FLUX.1's width (3072) only: for a narrower transformer, as the
    tiny Flux's, a file in that layout is refused before any work rather than failing inside the converter."""
    import json

    import torch

    config = json.loads((tiny_flux / "transformer" / "config.json").read_text())
    width = config["num_attention_heads"] * config["attention_head_dim"]
    assert width != 3072
    file = tmp_path / "bfl.safetensors"
    save_file({f"{prefix}double_blocks.0.img_attn.qkv.weight": torch.zeros(3 * width, width),
               f"{prefix}single_blocks.0.linear1.weight": torch.zeros(7 * width, width)}, file)
    result = run_cli(str(tiny_flux), "--transformer", str(file), *CPU, "-o", str(tmp_path / "out"))
    assert result.code == 1 and "Traceback" not in result.err, result.err
    (line,) = [line for line in result.err.splitlines() if line.startswith("dgenerate: error:")]
    assert (f"is in the original Flux layout, and the transformer of model_path '{tiny_flux}' is {width} wide, and "
            "diffusers converts that layout only at FLUX.1's width of 3072; give the transformer in the diffusers "
            "layout") in line
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
