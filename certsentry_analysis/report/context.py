"""Everything a document builder reads, gathered once from the warehouse and raw folder."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd
from matplotlib.figure import Figure

from certsentry_analysis.analysis import load_table, result_tables
from certsentry_analysis.figures.style import svg_bytes
from certsentry_analysis.report import facts, provenance
from certsentry_analysis.report.document import Document, Part, code
from certsentry_analysis.report.render import compile_pdf, write_if_changed

log = logging.getLogger(__name__)


@dataclass
class BuildContext:
    """The warehouse facts, result tables and provenance one document is built from."""

    scope: facts.Scope
    ingestion: facts.Ingestion
    privacy: facts.Privacy
    provenance: provenance.Provenance
    results: dict[str, pd.DataFrame]
    raw_dir: Path | None
    figures_dir: Path
    db_path: Path
    figures_written: list[Path] = field(default_factory=list)
    # Sentences with computed numbers that sections offer to the abstract.
    headlines: list[list[Part]] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame | None:
        """The result table `results.<name>`, or None when the analysis did not write it."""
        return self.results.get(name)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """A read-only connection to the warehouse (for sections that query base tables)."""
        return duckdb.connect(str(self.db_path), read_only=True)

    def first_table(self, *names: str) -> tuple[str, pd.DataFrame] | None:
        """The first of `names` that exists (tables renamed across versions)."""
        for name in names:
            frame = self.results.get(name)
            if frame is not None:
                return name, frame

        return None


def load_context(db_path: Path, raw_dir: Path | None, figures_dir: Path) -> BuildContext:
    """Read the warehouse at `db_path` (read-only) and the raw folder's manifest."""
    if not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}; run `certsentry ingest` first")
    if raw_dir is not None and not raw_dir.is_dir():
        raise FileNotFoundError(f"raw data folder {raw_dir} does not exist")

    with duckdb.connect(str(db_path), read_only=True) as con:
        facts.require_warehouse(con)
        scope = facts.scope(con)
        ingestion = facts.ingestion(con)
        privacy = facts.privacy(con)
        results = {name: load_table(con, name) for name in result_tables(con)}
    log.debug("loaded %d result tables from %s", len(results), db_path)

    return BuildContext(
        scope=scope,
        ingestion=ingestion,
        privacy=privacy,
        provenance=provenance.collect(raw_dir, scope.last_ts),
        results=results,
        raw_dir=raw_dir,
        figures_dir=figures_dir,
        db_path=db_path,
    )


def missing_table(doc: Document, *names: str, what: str) -> None:
    """Say in the document that `what` cannot be shown because its table is absent."""
    listed: list[str | dict[str, str]] = []
    for i, name in enumerate(names):
        if i:
            listed.append(" or ")
        listed.append(code(f"results.{name}"))
    doc.note(
        f"Not available for this warehouse: {what} (no table ",
        *listed,
        "; ",
        code("certsentry analyze"),
        " writes it when its inputs exist).",
    )


def missing_columns(doc: Document, name: str, frame: pd.DataFrame, needed: list[str]) -> bool:
    """Note and return True when `results.<name>` lacks any of `needed` columns."""
    absent = [c for c in needed if c not in frame.columns]
    if not absent:
        return False

    doc.note(
        "Table ",
        code(f"results.{name}"),
        f" lacks the column(s) {', '.join(absent)} this section needs; it is skipped.",
    )

    return True


def add_figure(
    ctx: BuildContext, doc: Document, name: str, fig: Figure, caption: list[Part]
) -> None:
    """Save `fig` as `<figures_dir>/<name>.svg` and place it in the document."""
    data = svg_bytes(fig)
    path = ctx.figures_dir / f"{name}.svg"
    write_if_changed(path, data)
    ctx.figures_written.append(path)
    doc.figure(name, data, caption)


def write_document_pdf(
    kind: str,
    build: Callable[[BuildContext], Document],
    db_path: Path,
    out: Path,
    *,
    raw_dir: Path | None,
    figures_dir: Path | None,
) -> tuple[BuildContext, int]:
    """Lay out one document from the warehouse, typeset it as `kind` and write it to `out`.

    Figures go to `figures_dir`, by default figures/ beside the PDF. Returns the build
    context (for the caller's summary) and the PDF's size in bytes.
    """
    ctx = load_context(db_path, raw_dir, figures_dir or out.parent / "figures")
    pdf = compile_pdf(build(ctx), kind, ctx.provenance.built_at)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(pdf)

    return ctx, len(pdf)
