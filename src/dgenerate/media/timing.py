"""Exact frame rates from container timings, and drift-free per-frame durations for writers.

GIF stores delays in 1/100 s and WebP in 1/1000 s, so 30000/1001 fps cannot be stored per frame. Writers place
frame ``i`` at ``round(i / fps)`` in the container's unit (the rounding error never accumulates), and readers turn
the total back into a rate, preferring a standard rate when it explains the total within the unit's rounding.
"""

from __future__ import annotations

import itertools
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

class FrameClock:
    """Where each frame starts in a container's ``unit``: at ``fps``, or at the input's own ``delays`` when it has
    them (a GIF or WebP's frames each last what the input said, 0 included). Frame ``i`` starts at the exact time
    rounded half up, so the rounding never accumulates and the delays sum to the exact total, rounded once."""

    def __init__(self, fps: Fraction, unit: Fraction, delays: Sequence[Fraction] | None = None) -> None:
        self.fps, self.unit = fps, unit
        self.follows_delays = bool(delays)
        self._starts = [Fraction(0), *itertools.accumulate(delays or ())]

    def start(self, index: int) -> int:
        known = min(index, len(self._starts) - 1)  # frames past the input's own delays go on at fps
        exact = self._starts[known] + (index - known) / self.fps
        return math.floor(exact / self.unit + Fraction(1, 2))

    def delay(self, index: int) -> int:
        return self.start(index + 1) - self.start(index)


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
