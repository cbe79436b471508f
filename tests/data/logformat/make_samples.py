"""Regenerate the golden log samples in this folder (run from the project root).

The samples are committed; tests/test_logformat.py checks them against the reader,
so a change of the writer that alters them shows up as a diff here.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

from certsentry_analysis import logformat as lf

HERE = Path(__file__).resolve().parent
DAY = datetime(2012, 10, 1, tzinfo=UTC)
NEXT_DAY = datetime(2012, 10, 2, tzinfo=UTC)


def header(version: int, optin: bool = False) -> lf.LogHeader:
    """The header shared by the samples."""
    return lf.LogHeader(
        version=version,
        client_id="9c1e2f0a5b7d4e3f8a6b2c1d0e9f8a7b",
        product="Dragon",
        product_version="26.1",
        os="Windows 7 SP1 (6.1.7601)",
        failure_mode=0,
        ee_optin=optin,
        opened=DAY,
        timeout_ms=15000 if version == 2 else None,
        region="EU",
    )


def rows(version: int, optin: bool = False) -> list[dict[str, object]]:
    """Four checks: a good OCSP answer, a cache hit, a revocation and a timeout."""
    base = {
        "process": "chrome.exe",
        "issuer_sha1": "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678",
        "issuer_spki_sha256": "3f9c" + "0" * 56 + "beef",
        "method": "OCSP",
        "url": "http://ocsp.example-ca.com/",
    }
    out: list[dict[str, object]] = [
        base
        | {
            "ts": datetime(2012, 10, 1, 9, 0, 1, 123000, tzinfo=UTC),
            "chain_id": 1,
            "chain_pos": 0,
            "outcome": "good",
            "http_status": 200,
            "bytes": 1432,
            "latency_ms": 184.2,
            "source": "wire",
            "this_update": datetime(2012, 9, 30, tzinfo=UTC),
            "next_update": datetime(2012, 10, 7, tzinfo=UTC),
        },
        base
        | {
            "ts": datetime(2012, 10, 1, 9, 5, 0, tzinfo=UTC),
            "chain_id": 2,
            "chain_pos": 0,
            "outcome": "good",
            "latency_ms": 0.3,
            "source": "cache",
            "this_update": datetime(2012, 9, 30, tzinfo=UTC),
            "next_update": datetime(2012, 10, 7, tzinfo=UTC),
        },
        base
        | {
            "ts": datetime(2012, 10, 1, 12, 30, 0, 5000, tzinfo=UTC),
            "chain_id": 3,
            "chain_pos": 0,
            "outcome": "revoked",
            "error": "CRYPT_E_REVOKED",
            "http_status": 200,
            "bytes": 1610,
            "latency_ms": 201.0,
            "source": "wire",
            "revocation_reason": "keyCompromise",
            "url": "http://crl.example-ca.com/ca.crl#frag\twith tab",
            "method": "CRL",
            "this_update": datetime(2012, 10, 1, tzinfo=UTC),
            "next_update": datetime(2012, 10, 8, tzinfo=UTC),
        },
        base
        | {
            "ts": datetime(2012, 10, 1, 18, 0, 0, tzinfo=UTC),
            "chain_id": 4,
            "chain_pos": 1,
            "outcome": "error",
            "error": "ERROR_INTERNET_TIMEOUT",
            "latency_ms": 15000.0,
            "source": "wire",
            "process": "outlook.exe",
        },
    ]
    if version == 2:
        for row in out:
            row["stapled"] = False
        if optin:
            out[0]["ee_serial"] = "00e3b0c44298fc1c14"
            out[0]["ee_sha256"] = "ab" * 32

    return out


def main() -> None:
    """Write every sample file."""
    body1 = lf.format_body(_frame(1), 1)
    body2 = lf.format_body(_frame(2, optin=True), 2)
    v1 = lf.render_log(header(1), body1, closed=NEXT_DAY)
    v2 = lf.render_log(header(2, optin=True), body2, closed=NEXT_DAY)
    (HERE / "v1.log").write_bytes(v1)
    (HERE / "v2-optin.log.gz").write_bytes(lf.gzip_bytes(v2))
    (HERE / "v2-crlf-bom.log").write_bytes(b"\xef\xbb\xbf" + v2.replace(b"\n", b"\r\n"))
    (HERE / "v2-truncated.log.gz").write_bytes(
        lf.gzip_bytes(lf.render_log(header(2, optin=True), body2, closed=None))
    )
    (HERE / "v2-utf16.log").write_bytes(v2.decode().encode("utf-16"))
    broken = gzip.compress(v2, mtime=0)
    (HERE / "broken-gzip.log.gz").write_bytes(broken[: len(broken) // 2])

    lines = v2.decode().split("\n")
    first_data = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    samples = {
        "bad-field-count.log": _replace(lines, first_data, lines[first_data] + "\textra"),
        "bad-latency.log": _replace(
            lines, first_data + 1, lines[first_data + 1].replace("\t0.3\t", "\tfast\t")
        ),
        "bad-enum.log": _replace(lines, first_data, lines[first_data].replace("OCSP", "SCVP")),
        "unknown-version.log": [ln.replace("certsentry\t2", "certsentry\t9") for ln in lines],
        "missing-header.log": lines[first_data:],
    }
    for name, sample in samples.items():
        (HERE / name).write_text("\n".join(sample), encoding="utf-8")


def _frame(version: int, optin: bool = False):  # type: ignore[no-untyped-def]
    import polars as pl

    records = rows(version, optin)
    names = [f.name for f in lf.fields_for(version)]
    return pl.DataFrame(
        {n: [r.get(n) for r in records] for n in names},
        schema=lf.polars_schema(version),
        strict=False,
    )


def _replace(lines: list[str], index: int, new: str) -> list[str]:
    out = list(lines)
    out[index] = new
    return out


if __name__ == "__main__":
    main()
