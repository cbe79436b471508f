"""Number formatting shared by the report text, its tables and the tests.

Tests format the values they query from the warehouse with these same functions
and look for the result in the PDF's text, so one spelling rules both.
"""

from __future__ import annotations

import math
import numbers
from datetime import date, datetime

import numpy as np
import pandas as pd

DASH = "–"
MISSING = "n/a"


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def fmt_int(value: object) -> str:
    """An integer count with thousands separators: 12,345."""
    if _is_missing(value):
        return MISSING

    return f"{round(float(value)):,}"  # type: ignore[arg-type]


def fmt_num(value: object, digits: int = 2) -> str:
    """A plain decimal with `digits` significant figures after the point."""
    if _is_missing(value):
        return MISSING

    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def _pct_digits(share: float) -> int:
    # Small shares need more places to stay distinguishable from zero.
    magnitude = abs(share) * 100
    if magnitude == 0 or magnitude >= 10:
        return 1
    if magnitude >= 1:
        return 2
    if magnitude >= 0.1:
        return 2

    return min(4, 1 - math.floor(math.log10(magnitude)))


def fmt_pct(share: object, digits: int | None = None) -> str:
    """A share in [0, 1] as a percentage: 0.0123 -> 1.23%."""
    if _is_missing(share):
        return MISSING
    value = float(share)  # type: ignore[arg-type]
    places = _pct_digits(value) if digits is None else digits

    return f"{value * 100:.{places}f}%"


def fmt_pct_ci(share: object, low: object, high: object) -> str:
    """A share with its interval: 1.23% [0.98–1.51%], all at the same precision."""
    if _is_missing(share):
        return MISSING
    places = _pct_digits(float(share))  # type: ignore[arg-type]
    if _is_missing(low) or _is_missing(high):
        return fmt_pct(share, places)
    lo = float(low) * 100  # type: ignore[arg-type]
    hi = float(high) * 100  # type: ignore[arg-type]

    return f"{fmt_pct(share, places)} [{lo:.{places}f}{DASH}{hi:.{places}f}%]"


def fmt_ms(value: object) -> str:
    """A latency in milliseconds: 186 ms, 12.4 ms, 1,520 ms."""
    if _is_missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]

    return f"{v:,.1f} ms" if abs(v) < 100 else f"{v:,.0f} ms"


def fmt_ms_ci(value: object, low: object, high: object) -> str:
    """A latency with its interval at the point's precision: 186 ms [170–201]."""
    if _is_missing(value):
        return MISSING
    if _is_missing(low) or _is_missing(high):
        return fmt_ms(value)
    places = 1 if abs(float(value)) < 100 else 0  # type: ignore[arg-type]
    lo = float(low)  # type: ignore[arg-type]
    hi = float(high)  # type: ignore[arg-type]

    return f"{fmt_ms(value)} [{lo:,.{places}f}{DASH}{hi:,.{places}f}]"


def fmt_bytes(value: object) -> str:
    """A byte count in binary units: 512 B, 1.5 KiB, 2.3 MiB."""
    if _is_missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(v) < 1024 or unit == "GiB":
            return f"{v:,.0f} {unit}" if unit == "B" else f"{v:,.1f} {unit}"
        v /= 1024

    return MISSING


def fmt_duration_s(seconds: object) -> str:
    """A duration in seconds, hours or days, whichever reads best."""
    if _is_missing(seconds):
        return MISSING
    s = float(seconds)  # type: ignore[arg-type]
    if abs(s) < 120:
        return f"{s:,.1f} s"
    if abs(s) < 2 * 3600:
        return f"{s / 60:,.1f} min"
    if abs(s) < 2 * 86400:
        return f"{s / 3600:,.1f} h"

    return f"{s / 86400:,.1f} days"


def fmt_date(value: date | datetime | pd.Timestamp | None) -> str:
    """An ISO date (YYYY-MM-DD)."""
    if value is None or _is_missing(value):
        return MISSING

    return pd.Timestamp(value).strftime("%Y-%m-%d")


def fmt_cell(value: object) -> str:
    """A generic table cell: integers with separators, floats to 3 significant digits."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return fmt_int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if value.is_integer():
            return fmt_int(value)
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"

    return str(value)
