"""Turn result DataFrames into report tables: column choice, cell formatting, row limits."""

from __future__ import annotations

import pandas as pd

from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Cell, Document, Part, code
from certsentry_analysis.report.formatting import fmt_cell, fmt_int

MAX_ROWS = 25
MAX_COLUMNS = 8


def unsuppressed(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows the analysis did not blank for having too few clients."""
    if "suppressed" not in frame.columns:
        return frame

    return frame[~frame["suppressed"].fillna(False).astype(bool)]


def all_suppressed(doc: Document, name: str, frame: pd.DataFrame, shown: pd.DataFrame) -> bool:
    """Note and return True when the analysis suppressed every row of a non-empty table."""
    if len(shown) or frame.empty:
        return False

    doc.note(
        f"All {fmt_int(len(frame))} rows of ",
        code(f"results.{name}"),
        " are suppressed because each cell rests on too few distinct clients; the dataset "
        "is too small to publish this result.",
    )

    return True


def source(name: str, shown: int, total: int) -> list[Part]:
    """Caption tail naming the result table and how many of its rows are shown."""
    extent = f"{fmt_int(total)} rows" if shown == total else f"{fmt_int(shown)} of {total} rows"

    return [" Source: ", code(f"results.{name}"), f" ({extent})."]


def pick(frame: pd.DataFrame, *candidates: str) -> str | None:
    """The first of `candidates` that is a column of `frame`."""
    for name in candidates:
        if name in frame.columns:
            return name

    return None


def _is_numeric(series: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def show_frame(
    doc: Document,
    name: str,
    frame: pd.DataFrame,
    caption: list[Part],
    *,
    columns: list[str] | None = None,
    formatters: dict[str, object] | None = None,
    max_rows: int = MAX_ROWS,
) -> None:
    """Place `frame` (or its `columns`) as a table whose caption states rows shown of total."""
    formatters = formatters or {}
    chosen = [c for c in (columns or list(frame.columns)) if c in frame.columns][:MAX_COLUMNS]
    shown = frame.head(max_rows)
    rows: list[list[Cell]] = []
    for record in shown[chosen].itertuples(index=False):
        row: list[Cell] = []
        for column, value in zip(chosen, record, strict=True):
            formatter = formatters.get(column, fmt_cell)
            row.append(formatter(value))  # type: ignore[operator]
        rows.append(row)
    align = "".join("r" if _is_numeric(frame[c]) else "l" for c in chosen)
    extent: list[Part] = [" Source: ", code(f"results.{name}"), f"; {fmt_int(len(frame))} rows"]
    if len(frame) > len(shown):
        extent.append(f", first {fmt_int(len(shown))} shown")
    extent.append(".")
    doc.table([c.replace("_", " ") for c in chosen], rows, [*caption, *extent], align=align)


def other_tables(ctx: BuildContext, doc: Document, claimed: set[str]) -> None:
    """List result tables no section claimed, so nothing computed goes unmentioned."""
    rest = sorted(set(ctx.results) - claimed)
    if not rest:
        return

    doc.heading("Appendix: further result tables")
    rows: list[list[Cell]] = [
        [[code(name)], fmt_int(len(ctx.results[name])), ", ".join(ctx.results[name].columns)]
        for name in rest
    ]
    doc.table(
        ["table", "rows", "columns"],
        rows,
        ["Result tables not discussed above (available to notebooks)."],
        align="lrl",
        widths=[1.4, 0.5, 4],
    )
