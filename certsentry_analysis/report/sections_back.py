"""Limitations and the provenance appendix."""

from __future__ import annotations

import json

from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Document, code
from certsentry_analysis.report.formatting import fmt_int

# Manifest values longer than this are summarised: the appendix is not a dump.
_MAX_VALUE_CHARS = 90


def limitations(ctx: BuildContext, doc: Document) -> None:
    """Section: what the numbers cannot say."""
    doc.heading("Limitations")
    items: list[list[str | dict[str, str]]] = [
        [
            "Clients choose to run CertSentry and to upload; their networks, regions and "
            "software are not a random sample of all users, so rates describe this "
            "population only."
        ],
        [
            "A failed check is observed from the client: when client-side and server-side "
            "causes overlap (a captive portal during a responder outage) the attribution "
            "model assigns one cause, and its assumptions are stated with the results."
        ],
        [
            "Hard-fail breakage is replayed from logged soft-fail behaviour; users who would "
            "have retried, or sites that would have changed responder, are not modelled."
        ],
        [
            "Protection figures count revoked certificates seen by clients; certificates "
            "never checked cannot be counted, and a CRLSet's coverage depends on which CRLs "
            "the builder could fetch."
        ],
    ]
    if ctx.provenance.manifest_sha256 is None:
        items.append(
            [
                "No simulator manifest was found, so no calibration against a known truth "
                "is possible for this dataset."
            ]
        )
    else:
        items.append(
            [
                "The data is simulated: its realism is bounded by the published measurements "
                "it was calibrated to (see the calibration section)."
            ]
        )
    if ctx.privacy.optin_clients == 0:
        items.append(
            ["Without opt-in clients, no per-certificate exposure can be measured directly."]
        )
    doc.bullets(items)


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if len(text) > _MAX_VALUE_CHARS:
        return text[: _MAX_VALUE_CHARS - 1] + "…"

    return text


def provenance_appendix(ctx: BuildContext, doc: Document) -> None:
    """Appendix: raw files, manifest hash, scenario and seed, versions, build date."""
    p = ctx.provenance
    doc.pagebreak()
    doc.heading("Appendix: provenance")
    rows = [
        ["raw data folder", p.raw_dir or "(not given)"],
        ["raw log files", fmt_int(p.raw_log_files) if p.raw_log_files is not None else "n/a"],
        ["files in warehouse", fmt_int(ctx.ingestion.files_total)],
        ["manifest SHA-256", p.manifest_sha256 or "(no manifest.json)"],
        ["scenario", p.scenario or "n/a"],
        ["seed", p.seed or "n/a"],
        ["build date (from data)", p.built_at.strftime("%Y-%m-%d %H:%M:%S UTC")],
        ["result tables", fmt_int(len(ctx.results))],
    ]
    doc.table(
        ["item", "value"],
        rows,
        ["Inputs of this build. The date is the data's own, so rebuilds reproduce it."],
        align="ll",
        widths=[1, 3],
    )
    doc.table(
        ["distribution", "version"],
        [[name, version] for name, version in p.versions],
        ["Package and dependency versions that computed and typeset the numbers."],
        align="ll",
        widths=[1, 1],
    )
    scalar = [
        [str(k), _short(v)]
        for k, v in sorted(p.manifest.items())
        if not isinstance(v, dict | list) or len(json.dumps(v)) <= _MAX_VALUE_CHARS
    ]
    if scalar:
        doc.table(
            ["manifest key", "value"],
            scalar,
            ["Top-level entries of the simulator's manifest.json (long entries omitted)."],
            align="ll",
            widths=[1, 3],
        )
    if ctx.results:
        rows = [
            [name, fmt_int(len(frame)), fmt_int(len(frame.columns))]
            for name, frame in sorted(ctx.results.items())
        ]
        doc.table(
            ["result table", "rows", "columns"],
            rows,
            ["Analysis tables in the warehouse schema ", code("results"), " read by this report."],
            align="lrr",
        )
