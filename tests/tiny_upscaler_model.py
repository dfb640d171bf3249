"""A tiny ESRGAN (spandrel's own RRDBNet) with seeded random weights, saved as the upscale processor reads it."""

from __future__ import annotations

from pathlib import Path


def build_tiny_esrgan(folder: Path, seed: int = 0) -> Path:
    """4x, 8 filters, 1 block: an upscaler in the ESRGAN layout spandrel recognises, in a .safetensors file."""
    import torch
    from safetensors.torch import save_file

    from dgenerate.upscale import import_spandrel

    import_spandrel()
    from spandrel.architectures.ESRGAN.__arch.RRDB import RRDBNet

    torch.manual_seed(seed)
    model = RRDBNet(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=4)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "4x-tiny-esrgan.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, path)
    return path
