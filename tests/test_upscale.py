"""The upscale processor: spandrel models from weights only, without torchvision, tiled, deterministic."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dgenerate.errors import UsageError
from dgenerate.processors import apply_processors, parse_processor
from tests.conftest import RunCli

torch = pytest.importorskip("torch")


def picture(width: int = 56, height: int = 40) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))


def up(image: Image.Image, model: Path, settings: str = "") -> np.ndarray:
    spec = parse_processor(f"upscale;model={model}{settings}", "--processors")
    return np.asarray(apply_processors(image, (spec,)))


def test_a_tiny_esrgan_upscales_four_times_the_same_way_every_time(tiny_esrgan: Path) -> None:
    once = up(picture(), tiny_esrgan)
    assert once.shape == (160, 224, 3)
    assert once.tobytes() == up(picture(), tiny_esrgan).tobytes()
    assert 'torchvision' not in sys.modules, "the stand-in is gone once spandrel is imported"
    from transformers.utils import is_torchvision_available

    assert not is_torchvision_available(), "transformers still sees no torchvision"


def _largest_difference(first: np.ndarray, second: np.ndarray) -> int:
    return int(np.abs(first.astype(np.int16) - second.astype(np.int16)).max())


def test_tiles_give_the_untiled_picture(tiny_esrgan: Path) -> None:
    """The documented bound: with an overlap at least the model's reach (8 pixels for this one-block ESRGAN) tiles
    give the untiled picture within one 8-bit level (tiles are other tensor shapes, which may round differently;
    measured here: identical); with none, their seams show (12 levels here)."""
    whole = up(picture(), tiny_esrgan, ";tile=0")
    assert _largest_difference(up(picture(), tiny_esrgan, ";tile=16;overlap=8"), whole) <= 1
    assert _largest_difference(up(picture(), tiny_esrgan, ";tile=24;overlap=12"), whole) <= 1
    assert _largest_difference(up(picture(), tiny_esrgan, ";tile=16;overlap=0"), whole) > 1


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {os.environ['DGENERATE_TEST_MARK']}",)


def test_a_pickle_with_code_is_refused_and_never_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mark = tmp_path / "ran"
    monkeypatch.setenv("DGENERATE_TEST_MARK", str(mark))
    evil = tmp_path / "4x-evil.pth"
    evil.write_bytes(pickle.dumps({"weights": _Payload()}))
    with pytest.raises(UsageError, match=r"holds more than weights .*runs no code from a model file"):
        apply_processors(picture(), (parse_processor(f"upscale;model={evil}", "--processors"),))
    assert not mark.exists()


def test_torchscript_is_refused(tmp_path: Path) -> None:
    scripted = tmp_path / "4x-scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(3, 3, 1)), str(scripted))
    with pytest.raises(UsageError, match="is a TorchScript program, not weights"):
        apply_processors(picture(), (parse_processor(f"upscale;model={scripted}", "--processors"),))


def test_weights_of_no_upscaler_are_one_line(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"linear.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(UsageError, match="spandrel knows no architecture with these weights"):
        apply_processors(picture(), (parse_processor(f"upscale;model={other}", "--processors"),))
    with pytest.raises(UsageError, match="model= is missing"):
        parse_processor("upscale", "--processors")


def test_post_processors_upscale_and_the_config_makes_it_again(run_cli: RunCli, tiny_model: Path, tiny_esrgan: Path,
                                                               tmp_path: Path) -> None:
    common = (str(tiny_model), "--device", "cpu", "--cpu-threads", "1", "--inference-steps", "2", "--seeds", "4",
              "--output-size", "64x48")
    result = run_cli(*common, "--post-processors", f"upscale;model={tiny_esrgan};tile=32;overlap=8",
                     "--output-configs", "--output-metadata", "-o", str(tmp_path / "up"))
    assert result.code == 0, result.err
    (made,) = (tmp_path / "up").glob("*.png")
    assert Image.open(made).size == (256, 192)
    again = run_cli("--from-image", str(made), "-o", str(tmp_path / "again"))
    assert again.code == 0, again.err
    (remade,) = (tmp_path / "again").glob("*.png")
    assert np.asarray(Image.open(remade)).tobytes() == np.asarray(Image.open(made)).tobytes()
    plain = run_cli(*common, "-o", str(tmp_path / "plain"))
    assert plain.code == 0
    (plain_png,) = (tmp_path / "plain").glob("*.png")
    assert np.array_equal(np.asarray(Image.open(made)), up(Image.open(plain_png), tiny_esrgan, ";tile=32;overlap=8"))
    shown = run_cli(*common, "--post-processors", f"upscale;model={tiny_esrgan}", "--dry-run")
    assert "64x48 before upscaling" in shown.out


def test_a_pth_state_dict_loads_as_its_safetensors(tiny_esrgan: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    pth = tmp_path / "4x-tiny.pth"
    torch.save({"params_ema": load_file(tiny_esrgan)}, pth)
    assert np.array_equal(up(picture(), pth), up(picture(), tiny_esrgan))
