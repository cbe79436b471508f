"""Small hand-made log files for the ingest tests: good, malformed and oddly encoded.

`write_samples(folder)` writes one file per case and returns what ingestion must make
of each (status, lines loaded, lines quarantined). The tests at the bottom pin the
samples themselves against `logformat.read_log`, the reference reader.
"""

from __future__ import annotations

import codecs
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certsentry_analysis import logformat

DAY = datetime(2012, 3, 14, tzinfo=UTC)
ISSUER_SHA1 = "A" * 40
ISSUER_SPKI = "b" * 64


def client_id(n: int) -> str:
    """A raw 32-hex client id."""
    return f"{n:032x}"


def header(n: int = 1, version: int = 2, optin: bool = False, day: datetime = DAY) -> Any:
    """A valid header for client `n`."""
    return logformat.LogHeader(
        version=version,
        client_id=client_id(n),
        product="CertSentry",
        product_version="1.4",
        os="Windows 7 SP1",
        failure_mode=n % 3,
        ee_optin=optin,
        opened=day + timedelta(minutes=5),
        timeout_ms=15000 if version == 2 else None,
        region="eu-west",
    )


def good_rows(
    count: int, seed: int = 0, day: datetime = DAY, optin: bool = False
) -> list[dict[str, Any]]:
    """Well-formed check rows (a mix of methods, outcomes and sources)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        method = rng.choice(logformat.METHODS)
        outcome = rng.choice(logformat.OUTCOMES)
        error = {
            "error": "ERROR_INTERNET_TIMEOUT",
            "revoked": "CRYPT_E_REVOKED",
            "unknown": "CRYPT_E_NOT_IN_REVOCATION_DATABASE",
        }.get(outcome)
        failed = outcome == "error"
        ts = day + timedelta(seconds=600 + i * 37, milliseconds=rng.randrange(1000))
        rows.append(
            {
                "ts": ts,
                "process": rng.choice(["iexplore.exe", "chrome.exe", "outlook.exe"]),
                "chain_id": 1000 + i // 2,
                "chain_pos": i % 2,
                "issuer_sha1": ISSUER_SHA1,
                "issuer_spki_sha256": ISSUER_SPKI,
                "method": method,
                "url": f"http://OCSP{rng.randrange(3)}.example.com/path?q={i}#frag",
                "outcome": outcome,
                "error": error,
                "http_status": None if failed else 200,
                "bytes": None if failed else rng.randrange(100, 5000),
                "latency_ms": round(rng.uniform(1, 900), 1),
                "source": rng.choice(logformat.SOURCES),
                "this_update": None if failed else ts - timedelta(hours=3),
                "next_update": None if failed else ts + timedelta(days=4),
                "revocation_reason": "keyCompromise" if outcome == "revoked" else None,
                "stapled": rng.random() < 0.2,
                "ee_serial": f"{rng.getrandbits(64):x}" if optin else None,
                "ee_sha256": f"{rng.getrandbits(256):064x}" if optin else None,
            }
        )

    return rows


def body(rows: list[dict[str, Any]], version: int = 2) -> bytes:
    """Tab-separated body lines for `rows`."""
    import polars as pl

    schema = logformat.polars_schema(version)
    names = [f.name for f in logformat.fields_for(version)]
    frame = pl.DataFrame({n: [r.get(n) for r in rows] for n in names}, schema=schema)

    return logformat.format_body(frame, version)


def render(hdr: Any, data: bytes, closed: bool = True) -> bytes:
    """Whole file bytes (header, body, footer unless `closed` is false)."""
    when = DAY + timedelta(hours=23) if closed else None

    return logformat.render_log(hdr, data, closed=when)


@dataclass(frozen=True)
class Expected:
    """What ingestion must make of one sample file."""

    status: str
    loaded: int = 0
    quarantined: int = 0
    reason_contains: str = ""


def _lines_replaced(data: bytes, replacements: dict[int, bytes]) -> bytes:
    lines = data.split(b"\n")
    for index, text in replacements.items():
        lines[index] = text

    return b"\n".join(lines)


def write_samples(folder: Path) -> dict[str, Expected]:
    """Write every sample under `folder`; returns relative path -> expectation."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Expected] = {}

    def put(name: str, data: bytes, expected: Expected, compress: bool = True) -> None:
        name = name + (".log.gz" if compress else ".log")
        (folder / name).write_bytes(logformat.gzip_bytes(data) if compress else data)
        out[name] = expected

    rows = good_rows(6)
    put("good-v2", render(header(1), body(rows)), Expected("loaded", 6))
    put("good-v1", render(header(2, version=1), body(rows, 1), True), Expected("loaded", 6))
    optin_rows = good_rows(6, optin=True)
    put("good-optin", render(header(3, optin=True), body(optin_rows)), Expected("loaded", 6))
    # End-entity data in a file that did not opt in: rows kept, the fields dropped.
    put("ee-without-optin", render(header(18), body(optin_rows)), Expected("loaded", 6))
    put("plain", render(header(4), body(rows)), Expected("loaded", 6), compress=False)
    put("crlf", render(header(5), body(rows)).replace(b"\n", b"\r\n"), Expected("loaded", 6))
    put("bom", codecs.BOM_UTF8 + render(header(6), body(rows)), Expected("loaded", 6))
    utf16 = codecs.BOM_UTF16_LE + render(header(7), body(rows)).decode().encode("utf-16-le")
    put("utf16", utf16, Expected("loaded", 6), compress=False)
    put(
        "utf16-nobom",
        render(header(8), body(rows)).decode().encode("utf-16-le"),
        Expected("rejected", reason_contains="UTF-16"),
        compress=False,
    )
    put("truncated", render(header(9), body(rows), closed=False), Expected("truncated", 6))
    cut = render(header(10), body(rows), closed=False)
    put("cut-midline", cut[:-20], Expected("truncated", 5, 1))
    whole = logformat.gzip_bytes(render(header(11), body(good_rows(400, 1))))
    (folder / "broken-gzip.log.gz").write_bytes(whole[: len(whole) // 2])
    out["broken-gzip.log.gz"] = Expected("rejected", reason_contains="gzip")
    (folder / "not-gzip.log.gz").write_bytes(render(header(12), body(rows)))
    out["not-gzip.log.gz"] = Expected("rejected", reason_contains="not gzip")
    put("garbage", b"\x00\x01binary nonsense\n" * 5, Expected("rejected"), compress=False)
    put("empty", b"", Expected("rejected"))
    put(
        "unknown-version",
        render(header(13), body(rows)).replace(b"certsentry\t2", b"certsentry\t7"),
        Expected("rejected", reason_contains="unknown version"),
    )
    put(
        "bad-header",
        render(header(14), body(rows)).replace(b"#failure_mode\t2", b"#failure_mode\tX"),
        Expected("rejected", reason_contains="failure_mode"),
    )

    good = render(header(15), body(rows))
    head = len(header(15).lines())
    bad_lines = {
        head + 0: b"only\tthree\tfields",
        head + 1: b"x" * 20 + b"\t" * 25,
        head + 2: b"",
        head + 3: b"#comment in the middle",
    }
    put("bad-lines", _lines_replaced(good, bad_lines), Expected("loaded", 2, 4))

    values = good.split(b"\n")[head + 0].split(b"\t")
    bad_value_lines: dict[int, bytes] = {}
    for offset, (index, value) in enumerate(
        [(0, b"yesterday"), (6, b"LDAP"), (12, b"-3.0"), (9, b"E_NOPE"), (4, b"abc")]
    ):
        changed = list(values)
        changed[index] = value
        bad_value_lines[head + offset] = b"\t".join(changed)
    put("bad-values", _lines_replaced(good, bad_value_lines), Expected("loaded", 1, 5))

    escaped = good_rows(3)
    escaped[0]["process"] = "my\tproc\\name.exe"
    escaped[1]["url"] = "http://ocsp.example.com/a b\tc#d"
    escaped[2]["process"] = "-"
    put("escapes", render(header(16), body(escaped)), Expected("loaded", 3))

    inconsistent = good_rows(4)
    inconsistent[0].update(outcome="good", error="ERROR_INTERNET_TIMEOUT")
    inconsistent[1].update(outcome="revoked", error="CRYPT_E_REVOKED", revocation_reason=None)
    inconsistent[2].update(outcome="error", error="CRYPT_E_REVOKED")
    inconsistent[3].update(outcome="error", error="HTTP_STATUS_ERROR", http_status=200)
    put("inconsistent", render(header(19), body(inconsistent)), Expected("loaded", 0, 4))

    data = render(header(17), body(rows)) + b"after\tthe\tfooter\n"
    put("after-close", data, Expected("truncated", 6, 2))

    return out


def test_samples_that_read_log_accepts_are_the_loaded_ones(tmp_path: Path) -> None:
    """The reference reader accepts exactly the samples expected to load cleanly."""
    expected = write_samples(tmp_path)
    for name, exp in expected.items():
        clean = exp.status == "loaded" and exp.quarantined == 0 and not name.startswith("ee-")
        if clean:
            assert len(logformat.read_log(tmp_path / name).rows) == exp.loaded, name
        elif exp.status == "rejected" and name != "not-gzip.log.gz":
            # The reference reader sniffs gzip by content; ingestion also rejects a .gz
            # name over plain text, since the upload server promised compression.
            with pytest.raises((logformat.LogFormatError, ValueError, EOFError)):
                logformat.read_log(tmp_path / name)


def test_gzip_of_samples_is_deterministic(tmp_path: Path) -> None:
    """Writing the samples twice gives byte-identical files (stable content hashes)."""
    write_samples(tmp_path / "a")
    write_samples(tmp_path / "b")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
