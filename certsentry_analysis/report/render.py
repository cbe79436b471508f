"""Compile a `Document` to PDF with Typst, reproducibly.

The template is read from this package's `templates/` folder (its Typst root, so
templates may import each other); the document arrives as JSON in `sys.inputs`.
Only Typst's embedded fonts are used and the PDF's creation date is taken from the
data, so the same inputs give the same bytes on any machine.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import typst

from certsentry_analysis.report.document import Document

log = logging.getLogger(__name__)

TEMPLATES = Path(str(resources.files("certsentry_analysis.report") / "templates"))


class ReportBuildError(RuntimeError):
    """Typst rejected a template or document; the message carries its diagnostic."""


def compile_pdf(document: Document, template: str, built_at: datetime) -> bytes:
    """Typeset `document` with `templates/<template>.typ`; `built_at` becomes the PDF date."""
    source = TEMPLATES / f"{template}.typ"
    if not source.exists():
        raise FileNotFoundError(f"no Typst template {source}")

    started = time.perf_counter()
    stamp = built_at if built_at.tzinfo else built_at.replace(tzinfo=UTC)
    try:
        pdf = typst.compile(
            str(source),
            root=str(TEMPLATES),
            sys_inputs={"document": document.to_json()},
            ignore_system_fonts=True,
            timestamp=stamp,
        )
    except typst.TypstError as exc:
        raise ReportBuildError(
            f"typst failed on {source.name}: {exc.message}\n{exc.diagnostic}"
        ) from exc
    log.debug("typst %s: %d bytes in %.2f s", template, len(pdf), time.perf_counter() - started)

    return pdf


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` unless it already holds exactly those bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)

    return True
