"""Number formatting shared by the documents and their tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from certsentry_analysis.report.formatting import (
    MISSING,
    fmt_bytes,
    fmt_cell,
    fmt_duration_s,
    fmt_int,
    fmt_ms,
    fmt_ms_ci,
    fmt_pct,
    fmt_pct_ci,
)


@pytest.mark.parametrize(
    ("share", "text"),
    [(0.0, "0.0%"), (0.5, "50.0%"), (0.0123, "1.23%"), (0.00003, "0.0030%"), (1.0, "100.0%")],
)
def test_percentages_keep_small_shares_distinguishable(share: float, text: str) -> None:
    assert fmt_pct(share) == text


@given(st.floats(min_value=1e-6, max_value=1.0))
def test_a_nonzero_share_never_prints_as_zero(share: float) -> None:
    assert fmt_pct(share).strip("0.%") != ""


def test_interval_uses_the_point_estimates_precision() -> None:
    assert fmt_pct_ci(0.0123, 0.005, 0.029) == "1.23% [0.50–2.90%]"
    assert fmt_ms_ci(95.0, 90.0, 101.0) == "95.0 ms [90.0–101.0]"
    assert fmt_ms_ci(186.0, 170.2, 201.7) == "186 ms [170–202]"


@pytest.mark.parametrize("missing", [None, float("nan"), np.nan])
def test_missing_values_print_as_na(missing: object) -> None:
    assert fmt_int(missing) == MISSING
    assert fmt_pct(missing) == MISSING
    assert fmt_pct_ci(missing, 0.1, 0.2) == MISSING
    assert fmt_ms(missing) == MISSING
    assert fmt_bytes(missing) == MISSING


def test_units_scale_to_readable_magnitudes() -> None:
    assert fmt_int(12345) == "12,345"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(1536) == "1.5 KiB"
    assert fmt_duration_s(3.0) == "3.0 s"
    assert fmt_duration_s(7200) == "2.0 h"
    assert fmt_ms(12.44) == "12.4 ms"
    assert fmt_ms(1520.0) == "1,520 ms"


def test_cells_format_by_type() -> None:
    assert fmt_cell(np.int64(1200)) == "1,200"
    assert fmt_cell(np.bool_(True)) == "yes"
    assert fmt_cell(0.12345) == "0.123"
    assert fmt_cell(3.0) == "3"
    assert fmt_cell("x") == "x"
    assert fmt_cell(math.inf) == "inf"
