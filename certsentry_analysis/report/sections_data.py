"""Title-page scope, and the data-and-methods section: format, privacy, ingestion."""

from __future__ import annotations

from certsentry_analysis import logformat
from certsentry_analysis.report import sections_methods
from certsentry_analysis.report.context import BuildContext
from certsentry_analysis.report.document import Document, code, strong
from certsentry_analysis.report.formatting import fmt_date, fmt_int, fmt_pct


def scope_rows(ctx: BuildContext) -> list[tuple[str, str]]:
    """(label, value) lines describing what the dataset covers."""
    s = ctx.scope
    prov = ctx.provenance
    source = "user-supplied logs (no simulator manifest)"
    if prov.scenario is not None:
        source = f"simulated scenario {prov.scenario}"
        if prov.seed is not None:
            source += f", seed {prov.seed}"

    return [
        ("Source", source),
        ("Period", f"{fmt_date(s.first_day)} to {fmt_date(s.last_day)} ({fmt_int(s.days)} days)"),
        ("Clients", f"{fmt_int(s.clients)} pseudonymous clients in {fmt_int(s.regions)} regions"),
        (
            "Checks",
            f"{fmt_int(s.checks)} revocation checks ({fmt_int(s.ocsp_checks)} OCSP, "
            f"{fmt_int(s.crl_checks)} CRL; {fmt_int(s.wire_checks)} on the wire)",
        ),
        (
            "PKI",
            f"{fmt_int(s.cas)} certificate authorities, {fmt_int(s.issuers)} issuing CA keys, "
            f"{fmt_int(s.responders)} responders and CRL endpoints",
        ),
        ("Built from data of", fmt_date(prov.built_at)),
    ]


def data_and_methods(ctx: BuildContext, doc: Document) -> None:
    """Section: log format, privacy properties, ingestion counts."""
    s = ctx.scope
    doc.heading("Data and methods")

    doc.heading("The client logs", 2)
    doc.para(
        "Each CertSentry client uploads daily, gzip-compressed, tab-separated logs with one "
        f"line per revocation check ({len(logformat.FIELDS)} fields in format version "
        f"{logformat.LATEST_VERSION}): the time, the host process, the chain and position of "
        "the certificate checked, the issuing CA (SHA-1 thumbprint and SPKI hash), the "
        "mechanism (OCSP or CRL) and URL, the outcome (good, revoked, unknown, error) with "
        "a Windows error code, HTTP status, response size, latency, and whether the answer "
        "came from the wire, a cache or a stapled response. A header records the client's "
        "product, operating system, failure mode and opt-in choices; a ",
        code("#close"),
        " footer marks a complete upload. The warehouse holds ",
        strong(fmt_int(s.checks)),
        " current checks from ",
        strong(fmt_int(s.clients)),
        " clients over ",
        strong(fmt_int(s.days)),
        " days.",
    )
    classes = ", ".join(logformat.FAILURE_CLASSES)
    doc.para(
        f"Errors fall into {len(logformat.FAILURE_CLASSES)} failure classes ({classes}) "
        f"derived from {len(logformat.ERROR_CODES)} error codes; 'revoked' and 'unknown' "
        "statuses are answers, not failures of the check.",
    )

    sections_methods.estimators(ctx, doc)
    privacy_section(ctx, doc)
    ingestion_section(ctx, doc)


def privacy_section(ctx: BuildContext, doc: Document) -> None:
    """Subsection: what identifies whom, and what was kept."""
    p = ctx.privacy
    doc.heading("Privacy properties", 2)
    lengths = ", ".join(str(n) for n in p.pseudonym_lengths) or "no"
    doc.para(
        "Client identifiers never enter the warehouse: ingestion replaces each with a keyed "
        f"HMAC-SHA256 pseudonym ({lengths} hex digits), and the key stays outside the data. "
        "Upload file names are random and unrelated to clients. End-entity certificate "
        "serials and hashes are kept only for clients whose log header opted in: ",
        strong(fmt_int(p.optin_clients)),
        f" of {fmt_int(p.clients)} clients opted in, and ",
        strong(fmt_int(p.rows_with_ee)),
        " checks carry end-entity identifiers. This report prints no client pseudonym and "
        "no end-entity identifier; result cells resting on too few distinct clients are "
        "suppressed by the analysis.",
    )
    if p.optin_clients == 0:
        doc.note(
            "No client opted in to end-entity logging, so analyses that need per-certificate "
            "identity (exposure of individual revoked certificates) rely on issuer-level data."
        )


def ingestion_section(ctx: BuildContext, doc: Document) -> None:
    """Subsection: files loaded, quarantined and rejected, with reasons."""
    ing = ctx.ingestion
    doc.heading("Ingestion", 2)
    share = ing.rows_quarantined / (ing.rows_loaded + ing.rows_quarantined or 1)
    doc.para(
        f"Ingestion read {fmt_int(ing.files_total)} files and loaded ",
        strong(fmt_int(ing.rows_loaded)),
        " check lines; ",
        strong(fmt_int(ing.rows_quarantined)),
        f" lines ({fmt_pct(share)}) were quarantined with the reason recorded, and whole "
        "files were set aside when truncated, duplicated or unreadable.",
    )
    rows = [
        [str(r.status), fmt_int(r.files), fmt_int(r.rows_loaded), fmt_int(r.rows_quarantined)]
        for r in ing.files_by_status.itertuples()
    ]
    doc.table(
        ["status", "files", "lines loaded", "lines quarantined"],
        rows,
        [f"Input files by ingest status (n = {fmt_int(ing.files_total)} files)."],
    )
    if len(ing.reasons):
        rows = [
            [str(r.status), str(r.reason) or "(none given)", fmt_int(r.files)]
            for r in ing.reasons.head(15).itertuples()
        ]
        shown = min(15, len(ing.reasons))
        doc.table(
            ["status", "reason", "files"],
            rows,
            [f"Why files were not loaded as they came ({shown} of {len(ing.reasons)} reasons)."],
            align="llr",
            widths=[1, 4, 1],
        )
    if len(ing.quarantine_reasons):
        rows = [
            [str(r.field) or "(line)", str(r.reason), fmt_int(r.rows)]
            for r in ing.quarantine_reasons.head(15).itertuples()
        ]
        shown = min(15, len(ing.quarantine_reasons))
        doc.table(
            ["field", "reason", "lines"],
            rows,
            [
                f"Quarantined lines by field and reason ({shown} of "
                f"{len(ing.quarantine_reasons)} reasons; n = {fmt_int(ing.rows_quarantined)} "
                "lines)."
            ],
            align="llr",
            widths=[1, 4, 1],
        )
