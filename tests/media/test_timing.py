from __future__ import annotations

from fractions import Fraction

import pytest

from dgenerate.media.timing import COMMON_RATES, FrameClock, fps_from_delays

CS, MS = Fraction(1, 100), Fraction(1, 1000)


@pytest.mark.parametrize("fps", COMMON_RATES)
@pytest.mark.parametrize("unit", [CS, MS])
@pytest.mark.parametrize("count", [2, 7, 30, 101, 1000])
def test_delays_sum_to_the_exact_duration_rounded_once(fps: Fraction, unit: Fraction, count: int) -> None:
    clock = FrameClock(fps, unit)
    delays = [clock.delay(index) for index in range(count)]
    assert sum(delays) == clock.start(count)
    assert abs(sum(delays) * unit - count / fps) <= unit / 2


@pytest.mark.parametrize("fps", COMMON_RATES)
@pytest.mark.parametrize("count", [30, 101, 1000])
def test_common_rates_survive_millisecond_delays(fps: Fraction, count: int) -> None:
    delays = [FrameClock(fps, MS).delay(index) * MS for index in range(count)]
    assert fps_from_delays(delays, MS) == fps


def test_uneven_rates_are_kept_as_written() -> None:
    assert fps_from_delays([Fraction(7, 100)] * 50, CS) == Fraction(100, 7)
    assert fps_from_delays([Fraction(33, 1000)] * 500, MS) == Fraction(1000, 33)
    assert fps_from_delays([Fraction(1001, 30000)] * 3, Fraction(0)) == Fraction(30000, 1001)


def test_no_delays_means_no_rate() -> None:
    assert fps_from_delays([], CS) is None


def test_a_clock_follows_the_inputs_own_delays_then_its_rate() -> None:
    delays = [Fraction(0), Fraction(7, 100), Fraction(1, 16), Fraction(6, 100)]
    clock = FrameClock(Fraction(10), MS, delays)
    assert [clock.delay(index) for index in range(6)] == [0, 70, 63, 60, 100, 100]
    assert clock.start(4) == 193  # 0 + 70 + 62.5 + 60, rounded once
    centiseconds = FrameClock(Fraction(10), CS, delays)
    assert [centiseconds.delay(index) for index in range(4)] == [0, 7, 6, 6] and centiseconds.start(4) == 19
