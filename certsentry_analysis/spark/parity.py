"""Comparing one table as computed by two engines (DuckDB and Spark).

Engines agree on values but not on pandas dtypes: DuckDB hands dates over as
datetime64 and nullable sums as Int64, Spark as `datetime.date` objects, float64 and
`Decimal` objects.
`table_differences` normalises those representations and then demands equality:
exact for integers, dates and strings, and to a relative 1e-9 for floating point.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

FLOAT_RTOL = 1e-9


def _normalised(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return pd.to_datetime(column).astype("datetime64[us]")

    if column.dtype == object:
        sample = column.dropna()
        if len(sample) and all(hasattr(v, "isoformat") for v in sample.head(20)):
            return pd.to_datetime(column).astype("datetime64[us]")
        # Spark hands DECIMAL(20,0) (DuckDB's UBIGINT) over as Decimal objects.
        if len(sample) and all(isinstance(v, Decimal) for v in sample.head(20)):
            if all(v == v.to_integral_value() for v in sample):
                return pd.array([None if pd.isna(v) else int(v) for v in column], dtype="Int64")
            return column.astype("Float64")

    if pd.api.types.is_integer_dtype(column):
        return column.astype("Int64")

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        values = pd.to_numeric(column).astype("Float64")
        finite = values.dropna()
        if (finite == finite.round()).all():
            return values.astype("Int64")
        return values

    return column.astype("string")


def table_differences(
    left: pd.DataFrame, right: pd.DataFrame, keys: list[str], limit: int = 5
) -> list[str]:
    """Describe how two versions of one table differ (empty when they are equal).

    Rows are matched after sorting by `keys`; messages name the column and show
    up to `limit` differing rows.
    """
    if sorted(left.columns) != sorted(right.columns):
        return [f"columns differ: {sorted(left.columns)} vs {sorted(right.columns)}"]

    if len(left) != len(right):
        return [f"row counts differ: {len(left)} vs {len(right)}"]

    columns = list(left.columns)
    a = left[columns].apply(_normalised).sort_values(keys, kind="stable").reset_index(drop=True)
    b = right[columns].apply(_normalised).sort_values(keys, kind="stable").reset_index(drop=True)
    problems: list[str] = []
    for name in columns:
        x, y = a[name], b[name]
        both_null = (x.isna() & y.isna()).to_numpy(dtype=bool)
        if x.dtype == "Float64" or y.dtype == "Float64":
            xf = x.astype("float64").to_numpy(na_value=np.nan)
            yf = y.astype("float64").to_numpy(na_value=np.nan)
            same = np.isclose(xf, yf, rtol=FLOAT_RTOL, atol=0.0, equal_nan=True) | both_null
        else:
            same = (x == y).fillna(False).to_numpy(dtype=bool) | both_null
        if not same.all():
            bad = (~same).nonzero()[0][:limit]
            shown = ", ".join(f"row {i}: {x.iloc[i]!r} vs {y.iloc[i]!r}" for i in bad)
            problems.append(f"{name}: {int((~same).sum())} values differ ({shown})")

    return problems
