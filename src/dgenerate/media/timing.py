"""Exact frame rates from container timings, and drift-free per-frame durations for writers.

GIF stores delays in 1/100 s and WebP in 1/1000 s, so 30000/1001 fps cannot be stored per frame. Writers place
frame ``i`` at ``round(i / fps)`` in the container's unit (the rounding error never accumulates), and readers turn
the total back into a rate, preferring a standard rate when it explains the total within the unit's rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

_NTSC = Fraction(1000, 1001)
COMMON_RATES: tuple[Fraction, ...] = (
    *(Fraction(rate) for rate in (5, 6, 8, 10, 12, 15, 20)),
    *(rate for base in (24, 30, 60) for rate in (base * _NTSC, Fraction(base))),
    Fraction(25),
    Fraction(48),
    Fraction(50),
)

# Browsers show GIF/WebP/APNG frames of ~0 delay for 100 ms; a rate of "infinity" helps no one.
_DEFAULT_DELAY = Fraction(1, 10)


def frame_time(index: int, fps: Fraction, unit: Fraction) -> int:
    """Start of frame ``index`` in ``unit`` seconds, rounded half up: round(index / fps / unit)."""
    return math.floor(Fraction(index) / fps / unit + Fraction(1, 2))


def frame_delay(index: int, fps: Fraction, unit: Fraction) -> int:
    """Length of frame ``index`` in ``unit`` seconds, so that the delays sum to the exact total."""
    return frame_time(index + 1, fps, unit) - frame_time(index, fps, unit)


def clamp_delays(delays: Sequence[Fraction], minimum: Fraction) -> list[Fraction]:
    return [d if d >= minimum else _DEFAULT_DELAY for d in delays]


def fps_from_delays(delays: Sequence[Fraction], unit: Fraction) -> Fraction | None:
    """The frame rate that ``delays`` (seconds each, stored in multiples of ``unit``) stand for."""
    total = sum(delays, Fraction(0))
    if not delays or total <= 0:
        return None
    exact = len(delays) / total
    if exact in COMMON_RATES or unit == 0:
        return exact
    low = len(delays) / (total + unit / 2)
    high = len(delays) / (total - unit / 2) if total > unit / 2 else exact * 2
    near = [rate for rate in COMMON_RATES if low <= rate <= high]
    return min(near, key=lambda rate: abs(rate - exact)) if near else exact
