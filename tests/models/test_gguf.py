"""--transformer FILE.gguf: a GGUF transformer (Q8_0 matrices, written by the gguf package in the fixture) loads
without dequantizing its weights, matches its float weights within Q8_0's bound, renders near the float transformer's
picture, and replays; what is not this family's is one line."""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from dgenerate.jobs import ModelSpec
from dgenerate.models.transformer import load_transformer
from dgenerate.reproduce import read_config
from dgenerate.resolve import resolve_spec
from tests.conftest import RunCli
from tests.tiny_adapters import save_gguf

CPU = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "3", "-s", "32",
       "--output-configs")


def test_a_gguf_transformer_keeps_its_quantized_weights_within_q8_0s_bound(tiny_flux: Path, flux_transformer: Path,
                                                                            flux_gguf: Path) -> None:
    from diffusers.quantizers.gguf.utils import GGUFParameter, dequantize_gguf_tensor

    spec = resolve_spec(ModelSpec(str(tiny_flux), device="cpu", transformer=str(flux_gguf)))
    loaded = load_transformer(spec)
    floats = diffusers.FluxTransformer2DModel.from_pretrained(flux_transformer).state_dict()
    quantized = {name: value for name, value in loaded.named_parameters() if isinstance(value, GGUFParameter)}
    assert len(quantized) > 10 and all(value.dtype == torch.uint8 for value in quantized.values()), \
        "the Q8_0 matrices stay as the file holds them, 34 bytes per 32 weights"
    for name, value in quantized.items():
        blocks = floats[name].reshape(-1, 32)
        error = (dequantize_gguf_tensor(value).reshape(-1, 32) - blocks).abs()
        step = blocks.abs().amax(dim=1, keepdim=True) / 127  # a block of 32 shares one fp16 scale
        # half a step, the scale stored in fp16 and the product computed in fp16 (diffusers dequantizes in half
        # precision), each off by up to 2^-11 of 127 steps: 0.5 + 2 * 0.062
        bound = step * 0.625
        assert bool((error <= bound).all()), (name, float((error / step).max()))
    plain = {name: value for name, value in loaded.named_parameters() if name not in quantized}
    assert all(torch.equal(value, floats[name]) for name, value in plain.items()), "float32 tensors arrive exactly"


def _picture(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


def test_a_gguf_transformer_renders_near_its_float_weights_and_replays(run_cli: RunCli, tiny_flux: Path,
                                                                       flux_transformer: Path, flux_gguf: Path,
                                                                       tmp_path: Path) -> None:
    floats = run_cli(str(tiny_flux), *CPU, "--transformer", f"{flux_transformer}.safetensors", "-o",
                     str(tmp_path / "float"))
    quantized = run_cli(str(tiny_flux), *CPU, "--transformer", str(flux_gguf), "-o", str(tmp_path / "gguf"))
    assert floats.code == 0 and quantized.code == 0, floats.err + quantized.err
    (float_png,), (gguf_png,) = (tmp_path / "float").glob("*.png"), (tmp_path / "gguf").glob("*.png")
    difference = np.abs(_picture(float_png) - _picture(gguf_png))
    assert difference.max() > 0 and difference.mean() < 2, "Q8_0 moves the picture by a level or two at most"
    config = gguf_png.with_suffix(".dgen").read_text()
    (job,) = read_config(config)
    assert job.model.transformer == str(flux_gguf)
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (replayed,) = (tmp_path / "again").glob("*.png")
    assert np.array_equal(_picture(replayed), _picture(gguf_png))


def test_a_gguf_of_another_family_or_not_gguf_at_all_is_one_line(run_cli: RunCli, tiny_flux: Path,
                                                                 sd3_transformer: Path, tmp_path: Path) -> None:
    state = diffusers.SD3Transformer2DModel.from_pretrained(sd3_transformer).state_dict()
    other = save_gguf(state, tmp_path / "sd3.gguf")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + bytes(40))
    for given, message in ((other, "holds Stable Diffusion 3 weights, and model_path"),
                           (broken, "is not a readable GGUF file"),
                           (tmp_path / "missing.gguf", ": no such file; check the path")):
        result = run_cli(str(tiny_flux), *CPU, "--transformer", str(given), "-o", str(tmp_path / "out"))
        assert result.code != 0 and message in result.err, result.err
        assert "Traceback" not in result.err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("fixture", ["tiny_sd3", "tiny_chroma", "tiny_z_image", "tiny_qwen_image", "tiny_flux2"])
def test_every_transformer_family_loads_its_own_transformer_as_gguf(run_cli: RunCli, fixture: str, tmp_path: Path,
                                                                    request: pytest.FixtureRequest) -> None:
    model: Path = request.getfixturevalue(fixture)
    cls = getattr(diffusers, json.loads((model / "transformer" / "config.json").read_text())["_class_name"])
    own = save_gguf(cls.from_pretrained(model / "transformer").state_dict(), tmp_path / "own.gguf")
    plain = run_cli(str(model), *CPU, "-o", str(tmp_path / "plain"))
    quantized = run_cli(str(model), *CPU, "--transformer", str(own), "-o", str(tmp_path / "gguf"))
    assert plain.code == 0 and quantized.code == 0, plain.err + quantized.err
    (plain_png,), (gguf_png,) = (tmp_path / "plain").glob("*.png"), (tmp_path / "gguf").glob("*.png")
    assert np.abs(_picture(plain_png) - _picture(gguf_png)).mean() < 2
