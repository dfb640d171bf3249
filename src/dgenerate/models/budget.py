"""--model-cache-memory: how much memory cached models may hold, read without importing torch."""

from __future__ import annotations

from dgenerate.errors import UsageError

DEFAULT_SHARE = 0.5  # of the RAM (or a GPU's memory) that cached models may hold when no budget is given
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_budget(text: str, option: str = "--model-cache-memory") -> int | float:
    """'8GB', '1.5GiB', '500MB', '1000000' -> bytes (an int); '40%' -> 0.4, a share of the device's memory (a float)."""
    value = text.strip().lower().replace(" ", "")
    number = value.rstrip("abcdefghijklmnopqrstuvwxyz%")
    unit = value[len(number):]
    try:
        amount = float(number)
    except ValueError:
        amount = -1.0
    if unit == "%" and 0 < amount <= 100:
        return amount / 100
    if unit in _UNITS and amount > 0 and unit != "%":
        return max(1, round(amount * _UNITS[unit]))
    raise UsageError(f"{option} {text!r} is not a memory size: use a size such as 8GB, 1.5GiB or 500MB, or a share "
                     "of the device's memory such as 40%")
