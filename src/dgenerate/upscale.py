"""The `upscale` processor: ESRGAN, SwinIR, DAT and the other super-resolution models spandrel knows, from a weights
file, run in tiles so that any picture fits in memory.

Only weights are read: a .safetensors file, or a .pth/.pt/.ckpt/.bin read by torch.load(weights_only=True), which
refuses a pickle that would run code (spandrel's own loader would run a TorchScript .pt). spandrel declares
torchvision, which here is not installed (PyPI's is a CUDA build that does not load beside the CPU torch): it imports
torchvision.transforms.functional for two architectures as it loads (LaMa, an inpainter, and RestoreFormer, a face
restorer), so it is imported with a stand-in for that module that is removed again at once, and those two
architectures are refused in one line. Every other architecture runs without torchvision.

Tiles: the picture is cut into `tile`-pixel squares, each run with `overlap` pixels of its neighbours around it and
only its own part kept, so a tile sees what the untiled model sees up to `overlap` pixels away; tile 0 runs the
whole picture at once.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import importlib
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dgenerate.errors import UsageError

if TYPE_CHECKING:
    from PIL import Image

NEEDS_TORCHVISION = ("LaMa", "RestoreFormer")
_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
_STAND_IN = ("torchvision", "torchvision.transforms", "torchvision.transforms.functional")


def upscale(image: Image.Image, model: str, tile: int, overlap: int, dtype: str, device: str) -> Image.Image:
    """`image` upscaled by the model in file `model`, in `dtype` on `device`, deterministically."""
    import numpy as np
    import torch
    from PIL import Image as PilImage

    descriptor = load_upscaler(model, dtype, device)
    pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.inference_mode():
        made = _tiled(descriptor, pixels.to(device=device, dtype=getattr(torch, dtype)), tile, overlap)
    out = made[0].float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    return PilImage.fromarray(out)


def _tiled(descriptor: Any, pixels: Any, tile: int, overlap: int) -> Any:
    import torch

    height, width = pixels.shape[-2:]
    if tile <= 0 or (height <= tile and width <= tile):
        return descriptor(pixels)
    scale = descriptor.scale
    out = torch.zeros((1, 3, height * scale, width * scale), dtype=pixels.dtype, device=pixels.device)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            y0, x0 = max(0, top - overlap), max(0, left - overlap)
            y1, x1 = min(height, bottom + overlap), min(width, right + overlap)
            made = descriptor(pixels[:, :, y0:y1, x0:x1])
            out[:, :, top * scale:bottom * scale, left * scale:right * scale] = \
                made[:, :, (top - y0) * scale:(bottom - y0) * scale, (left - x0) * scale:(right - x0) * scale]
    return out


@functools.lru_cache(maxsize=4)
def load_upscaler(model: str, dtype: str = "float32", device: str = "cpu") -> Any:
    """spandrel's descriptor of the model in file `model`, weights only, in eval mode on `device` in `dtype`."""
    import torch

    spandrel = import_spandrel()
    try:
        descriptor = spandrel.ModelLoader().load_from_state_dict(read_weights(Path(model)))
    except spandrel.UnsupportedModelError:
        raise UsageError(f"upscale;model={model}: spandrel knows no architecture with these weights; give an "
                         "ESRGAN, SwinIR, DAT or other super-resolution model") from None
    name = descriptor.architecture.name
    if name in NEEDS_TORCHVISION:
        raise UsageError(f"upscale;model={model}: a {name} model needs torchvision, which dgenerate runs without; "
                         "use a super-resolution model (ESRGAN, SwinIR, DAT...)")
    if not isinstance(descriptor, spandrel.ImageModelDescriptor) or descriptor.purpose != "SR":
        raise UsageError(f"upscale;model={model} is a {name} model for {descriptor.purpose}, not an upscaler")
    return descriptor.to(device=torch.device(device), dtype=getattr(torch, dtype)).eval()


def read_weights(path: Path) -> dict[str, Any]:
    """A state dict from a weights file, never running code from it."""
    import pickle

    import torch

    if path.suffix.lower() not in _WEIGHT_SUFFIXES or not path.is_file():
        what = "is not a file" if not path.is_file() else "is not a weights file"
        raise UsageError(f"upscale;model={path} {what}; give a {', '.join(_WEIGHT_SUFFIXES)} file")
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    if _is_torchscript(path):  # torch.load would hand it to torch.jit.load, which runs its program
        raise UsageError(f"upscale;model={path} is a TorchScript program, not weights; dgenerate runs no code from a "
                         "model file: give the model's .safetensors or .pth weights")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"upscale;model={path} holds more than weights ({first}); dgenerate runs no code from a "
                         "model file: convert it to .safetensors where it came from") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"upscale;model={path} holds a {type(loaded).__name__}, not a state dict of weights")
    return loaded


def _is_torchscript(path: Path) -> bool:
    """A zip archive with TorchScript's code folder or constants (torch.save's own archives have neither)."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist())


def import_spandrel() -> Any:
    """spandrel, imported with the stand-in for torchvision's functional transforms where torchvision will not load."""
    if "spandrel" in sys.modules:
        return sys.modules["spandrel"]
    try:
        with _torchvision_stand_in():
            return importlib.import_module("spandrel")
    except ImportError as error:
        raise UsageError('the upscale processor needs spandrel, which is not installed: pip install --no-deps '
                         f'"spandrel>=0.4" einops (--no-deps: its torchvision would replace the CPU torch) ({error})'
                         ) from None


@contextlib.contextmanager
def _torchvision_stand_in() -> Iterator[None]:
    """torchvision.transforms.functional as spandrel's import needs it, only while spandrel is imported and only if
    the real one does not load; the two functions raise if a refused architecture ever calls them."""
    if _real_torchvision_loads():
        yield
        return
    saved = {name: sys.modules.get(name) for name in _STAND_IN}
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.InterpolationMode = enum.Enum("InterpolationMode", "NEAREST BILINEAR BICUBIC")  # type: ignore[attr-defined,misc]
    functional.rotate = functional.normalize = _needs_torchvision  # type: ignore[attr-defined]
    transforms = types.ModuleType("torchvision.transforms")
    transforms.functional = functional  # type: ignore[attr-defined]
    package = types.ModuleType("torchvision")
    package.transforms = transforms  # type: ignore[attr-defined]
    sys.modules.update(zip(_STAND_IN, (package, transforms, functional), strict=True))
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def _real_torchvision_loads() -> bool:
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision.transforms.functional")
    except Exception:  # a CUDA build beside the CPU torch fails in its compiled ops, with RuntimeError among others
        for name in [name for name in sys.modules if name == "torchvision" or name.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def _needs_torchvision(*_args: object, **_kwargs: object) -> None:
    raise UsageError("this model needs torchvision, which dgenerate runs without")
