"""Small-cell suppression: published cells with fewer than k distinct clients are blanked."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_K = 10
SUPPRESSED = "suppressed"


def suppress(
    frame: pd.DataFrame,
    *,
    clients: str = "clients",
    k: int = DEFAULT_K,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """A copy where rows with `clients` < k keep only key columns; flags them `suppressed`.

    Key columns are the string/date/bool columns plus `keep`; every other numeric
    column (counts, rates, intervals, latencies, and `clients` itself) is set to NaN
    on a suppressed row, so neither a value nor a difference of totals reveals it.
    """
    if clients not in frame.columns:
        raise KeyError(f"cannot suppress: no column {clients!r} in {list(frame.columns)}")

    out = frame.copy()
    small = out[clients].fillna(0).to_numpy() < k
    numeric = [
        c
        for c in out.columns
        if c not in keep
        and pd.api.types.is_numeric_dtype(out[c])
        and not pd.api.types.is_bool_dtype(out[c])
    ]
    for column in numeric:
        out[column] = out[column].astype("float64")
        out.loc[small, column] = np.nan
    out[SUPPRESSED] = small

    return out
