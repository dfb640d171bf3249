"""--vae-tiling and --vae-slicing: recorded, replayed byte for byte, and in effect (tiles change a large picture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dgenerate.reproduce import read_config
from tests.conftest import RunCli

FAST = ("--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "3", "4",
        "--output-size", "160x128", "--output-configs")


def _pictures(folder: Path) -> list[bytes]:
    return [np.asarray(Image.open(path)).tobytes() for path in sorted(folder.glob("*.png"))]


def test_tiling_and_slicing_are_recorded_and_replay(run_cli: RunCli, tiny_model: Path, tmp_path: Path) -> None:
    plain = run_cli(str(tiny_model), *FAST, "-o", str(tmp_path / "plain"))
    tiled = run_cli(str(tiny_model), *FAST, "--vae-tiling", "--vae-slicing", "--batch-size", "2",
                    "-o", str(tmp_path / "tiled"))
    assert plain.code == 0 and tiled.code == 0, plain.err + tiled.err
    made = _pictures(tmp_path / "tiled")
    assert made != _pictures(tmp_path / "plain"), "the tiny VAE tiles pictures over 64 pixels a side"
    config = sorted((tmp_path / "tiled").glob("*.dgen"))[1].read_text()
    (job,) = read_config(config)
    assert job.vae_tiling and job.vae_slicing and "--vae-tiling" in config
    again = run_cli(stdin=config.replace("--output-configs", f"-o {tmp_path / 'again'}"))
    assert again.code == 0, again.err
    assert _pictures(tmp_path / "again") == made[1:]
    words = " ".join([str(tiny_model), *FAST])
    batch = run_cli(stdin=f"{words} --vae-tiling -o {tmp_path / 'b1'}\n{words} -o {tmp_path / 'b2'}\n")
    assert batch.code == 0, batch.err
    assert _pictures(tmp_path / "b2") == _pictures(tmp_path / "plain"), \
        "a later line without tiling is untiled again: the VAE its model shares is set per call"
