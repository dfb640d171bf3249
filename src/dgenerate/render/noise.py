"""Generators: one per image, on the CPU, so a seed means the same noise on every device and in every batch."""

from __future__ import annotations

from typing import Any


def cpu_generator(seed: int) -> Any:
    import torch

    return torch.Generator(device="cpu").manual_seed(seed)


def generators(seeds: list[int]) -> list[Any]:
    """One independent generator per image; diffusers draws each image's noise from its own (randn_tensor)."""
    return [cpu_generator(seed) for seed in seeds]
