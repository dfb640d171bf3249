"""Generators: one per image, on the CPU, so a seed means the same noise on every device and in every batch.

Variation seeds mix a second seed's starting noise into an image's as AUTOMATIC1111 does (its CPU random number
mode): both are drawn on the CPU in float32, the variation's is joined by spherical interpolation at the variation
strength, and --resize-seed-from draws the seed's noise at another size and pastes its centre into the noise of the
image's size, so a composition found at one size survives another.
"""

from __future__ import annotations

from typing import Any


def cpu_generator(seed: int) -> Any:
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


def generators(seeds: list[int]) -> list[Any]:
    """One independent generator per image; diffusers draws each image's noise from its own (randn_tensor)."""
    return [cpu_generator(seed) for seed in seeds]


def varied_noise(shape: tuple[int, int, int], seed: int, generator: Any, variation_seed: int | None,
                 strength: float, resize_from: tuple[int, int] | None) -> Any:
    """The starting noise (1, C, H, W) of one image, drawn from `generator` (seeded with `seed`) as its plain noise
    would be, so the generator goes on to the scheduler exactly as without a variation.

    `resize_from` is the (channels-less) latent size (height, width) the seed's noise is drawn at before its centre
    is pasted into the image's; `variation_seed`'s noise is drawn at that size too.
    """
    import torch

    noise_shape = shape if resize_from is None else (shape[0], *resize_from)
    if noise_shape == shape:
        noise = torch.randn(shape, generator=generator)
    else:
        noise = torch.randn(noise_shape, generator=cpu_generator(seed))
    if variation_seed is not None and strength != 0:
        noise = slerp(strength, noise, torch.randn(noise_shape, generator=cpu_generator(variation_seed)))
    if noise_shape != shape:
        noise = _pasted(torch.randn(shape, generator=generator), noise)
    return noise.unsqueeze(0)


def slerp(strength: float, low: Any, high: Any) -> Any:
    """AUTOMATIC1111's spherical interpolation of (C, H, W) noise: norms over dim 1, a plain blend when the two are
    almost parallel."""
    import torch

    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * (1 - strength) + high * strength
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - strength) * omega) / so).unsqueeze(1) * low + (
        torch.sin(strength * omega) / so).unsqueeze(1) * high


def _pasted(into: Any, noise: Any) -> Any:
    """`noise`'s centre written over the centre of `into` (both (C, H, W)), as far as the smaller of the two."""
    dx = (into.shape[2] - noise.shape[2]) // 2
    dy = (into.shape[1] - noise.shape[1]) // 2
    width = noise.shape[2] if dx >= 0 else noise.shape[2] + 2 * dx
    height = noise.shape[1] if dy >= 0 else noise.shape[1] + 2 * dy
    tx, ty = max(dx, 0), max(dy, 0)
    dx, dy = max(-dx, 0), max(-dy, 0)
    into[:, ty:ty + height, tx:tx + width] = noise[:, dy:dy + height, dx:dx + width]
    return into
