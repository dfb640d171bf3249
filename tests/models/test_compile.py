"""--compile: the denoiser compiled by torch.compile once per loaded model, recorded, replayed byte for byte, and on
the CPU within one 8-bit level of the uncompiled pictures (the same bytes in our measurements)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import dgenerate
from dgenerate.cli import parse_invocation
from dgenerate.models.cache import ModelCache
from dgenerate.reproduce import read_config
from tests.conftest import RunCli

CPU = ["--device", "cpu", "--cpu-threads", "1", "--inference-steps", "3", "--seeds", "3", "4", "--output-size", "64",
       "--output-configs"]


def _pictures(paths: list[Path]) -> list[np.ndarray]:
    return [np.asarray(Image.open(path), dtype=np.int16) for path in paths]


def test_a_compiled_denoiser_is_compiled_once_recorded_and_replays(run_cli: RunCli, tiny_model: Path,
                                                                   tmp_path: Path) -> None:
    cache = ModelCache()
    plain = dgenerate.render(parse_invocation([str(tiny_model), *CPU, "-o", str(tmp_path / "plain")])[0], cache)
    compiled = dgenerate.render(parse_invocation([str(tiny_model), *CPU, "--compile", "-o",
                                                  str(tmp_path / "compiled")])[0], cache)
    dgenerate.render(parse_invocation([str(tiny_model), *CPU, "--compile", "--guidance-scales", "3", "-o",
                                       str(tmp_path / "more")])[0], cache)
    assert cache.loads == 2, "the compiled model is loaded (and compiled) once for both of its grids"
    compiled_models = [model for model, _size in cache._models.values() if model.spec.compile == "default"]
    assert len(compiled_models) == 1 and compiled_models[0].pipeline.unet._compiled_call_impl is not None
    for ours, theirs in zip(_pictures(compiled), _pictures(plain), strict=True):
        assert np.abs(ours - theirs).max() <= 1
    config = compiled[1].with_suffix(".dgen").read_text()
    (job,) = read_config(config)
    assert job.model.compile == "default" and "--compile default" in config
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    (replayed,) = (tmp_path / "again").glob("*.png")
    assert np.array_equal(_pictures([replayed])[0], _pictures(compiled)[1])
