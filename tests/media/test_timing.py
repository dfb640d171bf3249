from __future__ import annotations

from fractions import Fraction

import pytest

from dgenerate.media.timing import COMMON_RATES, fps_from_delays, frame_delay, frame_time

CS, MS = Fraction(1, 100), Fraction(1, 1000)


@pytest.mark.parametrize("fps", COMMON_RATES)
@pytest.mark.parametrize("unit", [CS, MS])
@pytest.mark.parametrize("count", [2, 7, 30, 101, 1000])
def test_delays_sum_to_the_exact_duration_rounded_once(fps: Fraction, unit: Fraction, count: int) -> None:
    delays = [frame_delay(index, fps, unit) for index in range(count)]
    assert sum(delays) == frame_time(count, fps, unit)
    assert abs(sum(delays) * unit - count / fps) <= unit / 2


@pytest.mark.parametrize("fps", COMMON_RATES)
@pytest.mark.parametrize("count", [30, 101, 1000])
def test_common_rates_survive_millisecond_delays(fps: Fraction, count: int) -> None:
    delays = [frame_delay(index, fps, MS) * MS for index in range(count)]
    assert fps_from_delays(delays, MS) == fps


def test_uneven_rates_are_kept_as_written() -> None:
    assert fps_from_delays([Fraction(7, 100)] * 50, CS) == Fraction(100, 7)
    assert fps_from_delays([Fraction(33, 1000)] * 500, MS) == Fraction(1000, 33)
    assert fps_from_delays([Fraction(1001, 30000)] * 3, Fraction(0)) == Fraction(30000, 1001)


def test_no_delays_means_no_rate() -> None:
    assert fps_from_delays([], CS) is None
