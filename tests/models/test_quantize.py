"""--quantize: torchao's int8 and float8 layers on the CPU (the denoiser's and the text encoders', or one of them),
pictures near the float ones that replay byte for byte; bitsandbytes off a GPU, or a method or part that does not
exist, is one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.jobs import ModelSpec
from dgenerate.models.loader import load
from dgenerate.models.quantize import parse_quantize
from dgenerate.reproduce import read_config
from dgenerate.resolve import resolve_spec
from tests.conftest import RunCli

CPU = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "3", "--output-size", "64",
       "--output-configs")


def _int8_layers(module: Any) -> tuple[int, int]:
    """(int8 linear layers, all linear layers) of a module."""
    linears = [each for each in module.modules() if isinstance(each, torch.nn.Linear)]
    return sum(getattr(each.weight, "qdata", torch.empty(0)).dtype == torch.int8 for each in linears), len(linears)


def test_int8_weights_replace_the_chosen_components_linear_layers(tiny_sdxl: Path) -> None:
    both = load(resolve_spec(ModelSpec(str(tiny_sdxl), device="cpu", quantize=parse_quantize("int8-weight-only"))))
    for part in (both.pipeline.unet, both.pipeline.text_encoder, both.pipeline.text_encoder_2):
        quantized, linears = _int8_layers(part)
        assert linears > 0 and quantized == linears, type(part).__name__
    denoiser = load(resolve_spec(ModelSpec(str(tiny_sdxl), device="cpu",
                                           quantize=parse_quantize("int8-weight-only;parts=denoiser"))))
    assert _int8_layers(denoiser.pipeline.unet)[0] > 0
    assert _int8_layers(denoiser.pipeline.text_encoder)[0] == _int8_layers(denoiser.pipeline.text_encoder_2)[0] == 0


def _picture(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


@pytest.mark.parametrize("method", ["int8-weight-only", "int8-dynamic;parts=denoiser", "float8-weight-only"])
def test_a_quantized_model_renders_near_the_float_one_and_replays(run_cli: RunCli, tiny_model: Path, tmp_path: Path,
                                                                  method: str) -> None:
    plain = run_cli(str(tiny_model), *CPU, "-o", str(tmp_path / "plain"))
    quantized = run_cli(str(tiny_model), *CPU, "--quantize", method, "-o", str(tmp_path / "quantized"))
    assert plain.code == 0 and quantized.code == 0, plain.err + quantized.err
    (plain_png,), (quantized_png,) = (tmp_path / "plain").glob("*.png"), (tmp_path / "quantized").glob("*.png")
    difference = np.abs(_picture(plain_png) - _picture(quantized_png))
    assert difference.max() > 0 and difference.mean() < 4, "a few 8-bit levels, not another picture"
    config = quantized_png.with_suffix(".dgen").read_text()
    (job,) = read_config(config)
    assert job.model.quantize == parse_quantize(method) and f"--quantize '{job.model.quantize}'" in config
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (replayed,) = (tmp_path / "again").glob("*.png")
    assert np.array_equal(_picture(replayed), _picture(quantized_png))


@pytest.mark.parametrize(("given", "message"), [
    ("bnb-4bit", "--quantize bnb-4bit runs on NVIDIA GPUs only (bitsandbytes), and this run is on cpu"),
    ("int4", "'int4' is not a quantization; use one of int8-weight-only, int8-dynamic, float8-weight-only, bnb-8bit"),
    ("int8-weight-only;parts=vae", "parts=vae is not a list of denoiser and text-encoders"),
    ("int8-weight-only;bits=4", "'bits=4' is not a setting of int8-weight-only; it takes parts="),
])
def test_a_quantization_that_cannot_run_is_one_line(run_cli: RunCli, tiny_model: Path, tmp_path: Path, given: str,
                                                    message: str) -> None:
    result = run_cli(str(tiny_model), *CPU, "--quantize", given, "-o", str(tmp_path / "out"))
    assert result.code == 2 and message in result.err, result.err
    assert "Traceback" not in result.err and not (tmp_path / "out").exists()
