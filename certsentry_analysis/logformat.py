"""The CertSentry client log format: schema, header model, writer and reader.

This module is the only place that knows the format (specified in
`docs/log-format.md`). The simulator writes through it; ingestion takes its
field schema, enumerations and escaping rules from it; the reader here is for
small files and tests (bulk ingestion uses DuckDB's CSV reader with this schema).

A log is a Zeek-style tab-separated text file: `#` directives, one line per
revocation check, and a `#close` footer whose absence marks a truncated upload.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from isal import isal_zlib

FORMAT_NAME = "certsentry"
VERSIONS = (1, 2)
LATEST_VERSION = 2
SEPARATOR = "\t"
SET_SEPARATOR = ","
EMPTY_FIELD = "(empty)"
UNSET_FIELD = "-"
HEADER_TIME_FORMAT = "%Y-%m-%d-%H-%M-%S"

METHODS = ("OCSP", "CRL")
OUTCOMES = ("good", "revoked", "unknown", "error")
SOURCES = ("wire", "cache", "staple")

# RFC 5280 section 5.3.1 CRLReason names (value 7 is unused in the RFC).
REVOCATION_REASONS = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}

# DefaultFailureMode registry value of the CertSentry provider.
FAILURE_MODES = {0: "soft-fail", 1: "hard-fail for Comodo-issued only", 2: "hard-fail for all"}


@dataclass(frozen=True)
class ErrorCode:
    """One entry of the error vocabulary a client writes in the `error` field."""

    code: str
    hresult: str
    failure_class: str
    subclass: str
    meaning: str


# The error vocabulary. failure_class is the taxonomy the statistics use;
# "revocation" and "status" are not failures of the check itself.
ERROR_CODES: dict[str, ErrorCode] = {
    e.code: e
    for e in (
        ErrorCode(
            "CRYPT_E_REVOKED",
            "0x80092010",
            "status",
            "revoked",
            "The certificate is revoked (outcome revoked).",
        ),
        ErrorCode(
            "CRYPT_E_NOT_IN_REVOCATION_DATABASE",
            "0x80092014",
            "status",
            "unknown",
            "The responder does not know the certificate (OCSP status unknown).",
        ),
        ErrorCode(
            "ERROR_INTERNET_NAME_NOT_RESOLVED",
            "12007",
            "network",
            "dns",
            "WinINet could not resolve the responder's host name.",
        ),
        ErrorCode(
            "ERROR_INTERNET_CANNOT_CONNECT",
            "12029",
            "network",
            "connect",
            "WinINet could not open a TCP connection to the responder.",
        ),
        ErrorCode(
            "ERROR_INTERNET_CONNECTION_RESET",
            "12031",
            "network",
            "connect",
            "The connection to the responder was reset.",
        ),
        ErrorCode(
            "ERROR_INTERNET_TIMEOUT",
            "12002",
            "network",
            "timeout",
            "The request exceeded the configured per-URL timeout.",
        ),
        ErrorCode(
            "CRYPT_E_REVOCATION_OFFLINE",
            "0x80092013",
            "network",
            "offline",
            "CryptoAPI gave up on the responder without a more specific "
            "network error (for example the per-chain time budget ran out).",
        ),
        ErrorCode(
            "HTTP_STATUS_ERROR",
            "-",
            "http",
            "http",
            "The responder answered with an HTTP status other than 200 (see http_status).",
        ),
        ErrorCode(
            "CRYPT_E_ASN1_CORRUPT",
            "0x80093103",
            "protocol",
            "malformed",
            "The response body is not a parseable OCSP response or CRL "
            "(often a captive portal's HTML page).",
        ),
        ErrorCode(
            "OCSP_TRY_LATER",
            "-",
            "protocol",
            "tryLater",
            "OCSPResponseStatus tryLater (3), RFC 6960 section 4.2.1.",
        ),
        ErrorCode(
            "OCSP_UNAUTHORIZED",
            "-",
            "protocol",
            "unauthorized",
            "OCSPResponseStatus unauthorized (6), RFC 6960 section 4.2.1.",
        ),
        ErrorCode(
            "OCSP_INTERNAL_ERROR",
            "-",
            "protocol",
            "internalError",
            "OCSPResponseStatus internalError (2), RFC 6960 section 4.2.1.",
        ),
        ErrorCode(
            "NTE_BAD_SIGNATURE",
            "0x80090006",
            "protocol",
            "signature",
            "The response's signature does not verify.",
        ),
        ErrorCode(
            "CS_STALE_RESPONSE",
            "-",
            "freshness",
            "stale",
            "The response's nextUpdate lies before the time of the check "
            "(CertSentry's own code: CryptoAPI reports it as offline).",
        ),
    )
}
FAILURE_CLASSES = ("network", "http", "protocol", "freshness")


@dataclass(frozen=True)
class Field:
    """One column of the log: name, Zeek type, unit and which versions carry it."""

    name: str
    zeek_type: str
    duckdb_type: str
    description: str
    versions: tuple[int, ...] = VERSIONS
    unit: str = ""
    allowed: tuple[str, ...] | None = None
    optin_only: bool = False


FIELDS: tuple[Field, ...] = (
    Field("ts", "time", "TIMESTAMP", "UTC time the check started", unit="s since epoch, ms"),
    Field("process", "string", "VARCHAR", "Image name of the host process"),
    Field("chain_id", "count", "UBIGINT", "Links the checks of one chain validation"),
    Field(
        "chain_pos",
        "count",
        "USMALLINT",
        "Position of the checked certificate in the chain (0 = end entity)",
    ),
    Field(
        "issuer_sha1",
        "string",
        "VARCHAR",
        "SHA-1 thumbprint of the issuing CA certificate (40 upper-case hex)",
    ),
    Field(
        "issuer_spki_sha256",
        "string",
        "VARCHAR",
        "SHA-256 of the issuing CA's SubjectPublicKeyInfo (64 lower-case hex)",
    ),
    Field("method", "enum", "VARCHAR", "Revocation mechanism", allowed=METHODS),
    Field("url", "string", "VARCHAR", "OCSP responder or CRL distribution point contacted"),
    Field("outcome", "enum", "VARCHAR", "Result of the check", allowed=OUTCOMES),
    Field(
        "error", "enum", "VARCHAR", "Error code as Windows reports it", allowed=tuple(ERROR_CODES)
    ),
    Field("http_status", "count", "USMALLINT", "HTTP status of the response"),
    Field("bytes", "count", "UINTEGER", "Response bytes received", unit="bytes"),
    Field("latency_ms", "interval", "DOUBLE", "Time until answer or error", unit="ms"),
    Field("source", "enum", "VARCHAR", "Where the answer came from", allowed=SOURCES),
    Field("this_update", "time", "TIMESTAMP", "thisUpdate of the response or CRL"),
    Field("next_update", "time", "TIMESTAMP", "nextUpdate of the response or CRL"),
    Field(
        "revocation_reason",
        "enum",
        "VARCHAR",
        "CRLReason when revoked",
        allowed=tuple(REVOCATION_REASONS),
    ),
    Field(
        "stapled", "bool", "BOOLEAN", "Whether the server stapled an OCSP response", versions=(2,)
    ),
    Field(
        "ee_serial",
        "string",
        "VARCHAR",
        "End-entity serial number (hex), only when the user opted in",
        versions=(2,),
        optin_only=True,
    ),
    Field(
        "ee_sha256",
        "string",
        "VARCHAR",
        "SHA-256 of the end-entity certificate, only when the user opted in",
        versions=(2,),
        optin_only=True,
    ),
)
FIELDS_BY_NAME = {f.name: f for f in FIELDS}
# Fields that a well-formed line must never leave unset.
REQUIRED_FIELDS = frozenset(
    {
        "ts",
        "process",
        "chain_id",
        "chain_pos",
        "issuer_sha1",
        "issuer_spki_sha256",
        "method",
        "url",
        "outcome",
        "latency_ms",
        "source",
    }
)


def fields_for(version: int) -> tuple[Field, ...]:
    """The fields of one format version, in file order."""
    if version not in VERSIONS:
        raise ValueError(f"unknown log format version {version!r}; known: {VERSIONS}")

    return tuple(f for f in FIELDS if version in f.versions)


def duckdb_columns(version: int) -> dict[str, str]:
    """Column name to DuckDB type for one version, in file order."""
    return {f.name: f.duckdb_type for f in fields_for(version)}


class LogFormatError(ValueError):
    """A log file violates the format; names the file, line and field."""

    def __init__(
        self, path: str | Path, line: int | None, field_name: str | None, message: str
    ) -> None:
        self.path = str(path)
        self.line = line
        self.field = field_name
        self.reason = message
        where = self.path if line is None else f"{self.path}:{line}"
        if field_name:
            where += f": field {field_name!r}"
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class LogHeader:
    """The `#` directives at the top of a log file."""

    version: int
    client_id: str
    product: str
    product_version: str
    os: str
    failure_mode: int
    ee_optin: bool
    opened: datetime
    timeout_ms: int | None = None
    region: str | None = None

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"unknown log format version {self.version!r}")
        if self.failure_mode not in FAILURE_MODES:
            raise ValueError(f"failure_mode must be one of {sorted(FAILURE_MODES)}")
        if self.version == 1 and (self.ee_optin or self.timeout_ms is not None):
            raise ValueError("format version 1 has no end-entity opt-in and no timeout_ms")
        if not re.fullmatch(r"[0-9a-f]{32}", self.client_id):
            raise ValueError(f"client_id must be 32 lower-case hex digits, got {self.client_id!r}")

    def lines(self) -> list[str]:
        """The header's directive lines (without line terminators)."""
        before, after = _header_parts(self._settings())

        return [*before, f"#open{SEPARATOR}{_header_time(self.opened)}", *after]

    def _settings(self) -> tuple[Any, ...]:
        """Everything but the open time: what the cached directive lines depend on."""
        return (
            self.version,
            self.client_id,
            self.product,
            self.product_version,
            self.os,
            self.failure_mode,
            self.ee_optin,
            self.timeout_ms,
            self.region,
        )


# A simulator writes thousands of files per client with the same settings; the
# directives around `#open` are built once per distinct header.
@functools.lru_cache(maxsize=4096)
def _header_parts(settings: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    version, client_id, product, product_version, os, failure_mode, optin, timeout_ms, region = (
        settings
    )
    fields = fields_for(version)
    out = [
        "#separator \\x09",
        f"#set_separator{SEPARATOR}{SET_SEPARATOR}",
        f"#empty_field{SEPARATOR}{EMPTY_FIELD}",
        f"#unset_field{SEPARATOR}{UNSET_FIELD}",
        f"#path{SEPARATOR}certsentry",
        f"#format{SEPARATOR}{FORMAT_NAME}{SEPARATOR}{version}",
        f"#client_id{SEPARATOR}{client_id}",
        f"#product{SEPARATOR}{escape(product)}{SEPARATOR}{escape(product_version)}",
        f"#os{SEPARATOR}{escape(os)}",
        f"#failure_mode{SEPARATOR}{failure_mode}",
    ]
    if version >= 2:
        out.append(f"#ee_optin{SEPARATOR}{'T' if optin else 'F'}")
        timeout = UNSET_FIELD if timeout_ms is None else str(timeout_ms)
        out.append(f"#timeout_ms{SEPARATOR}{timeout}")
    if region is not None:
        out.append(f"#region{SEPARATOR}{escape(region)}")
    after = (
        "#fields" + SEPARATOR + SEPARATOR.join(f.name for f in fields),
        "#types" + SEPARATOR + SEPARATOR.join(f.zeek_type for f in fields),
    )

    return tuple(out), after


def _header_time(when: datetime) -> str:
    """`when` as HEADER_TIME_FORMAT text (an f-string is much cheaper than strftime)."""
    if not 1000 <= when.year <= 9999:
        return when.strftime(HEADER_TIME_FORMAT)

    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}-"
        f"{when.hour:02d}-{when.minute:02d}-{when.second:02d}"
    )


def header_times(epoch_seconds: np.ndarray) -> list[bytes]:
    """Whole epoch seconds as HEADER_TIME_FORMAT text (UTC, years 1000-9999), vectorised."""
    iso = np.datetime_as_string(np.asarray(epoch_seconds, np.int64).astype("datetime64[s]"))
    text = np.char.replace(np.char.replace(iso, "T", "-"), ":", "-")

    return [value.encode() for value in text.tolist()]


def render_parts(header: LogHeader) -> tuple[bytes, bytes]:
    """The header's bytes before and after its `#open` line (cached per distinct header).

    With `header_times`, a writer of many files per header assembles each file as
    `before + b"#open\t" + opened + b"\n" + after + body + footer`, which is what
    `render_log` returns.
    """
    return _head_bytes(header._settings())


@functools.lru_cache(maxsize=4096)
def _head_bytes(settings: tuple[Any, ...]) -> tuple[bytes, bytes]:
    before, after = _header_parts(settings)

    return ("\n".join(before) + "\n").encode(), ("\n".join(after) + "\n").encode()


def close_line(closed: datetime) -> str:
    """The `#close` footer line."""
    return f"#close{SEPARATOR}{_header_time(closed)}"


# ---------------------------------------------------------------------------
# Escaping

_ESCAPE_RE = re.compile(r"[\x00-\x1f\x7f\\]")
_UNESCAPE_RE = re.compile(r"\\x([0-9a-fA-F]{2})")


def escape(value: str) -> str:
    """Escape one string value the way Zeek's ASCII writer does.

    Backslash, tab, line breaks and other control characters become `\\xHH`; an
    empty string becomes `(empty)` and a value equal to the unset marker `-` is
    written `\\x2d`, so neither can be confused with the markers.
    """
    if value == "":
        return EMPTY_FIELD
    if value == UNSET_FIELD:
        return "\\x2d"
    if value == EMPTY_FIELD:
        return "\\x28empty)"

    return _ESCAPE_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", value)


def unescape(value: str) -> str:
    """Invert `escape` for one raw field (markers are handled by the caller)."""
    if value == EMPTY_FIELD:
        return ""
    if "\\" not in value:
        return value

    return _UNESCAPE_RE.sub(lambda m: chr(int(m.group(1), 16)), value)


def _escape_expr(column: pl.Expr) -> pl.Expr:
    """Vectorised `escape` for a polars string column (nulls stay null)."""
    escaped = column
    for char in ["\\"] + [chr(c) for c in range(0x20) if c != 0x5C] + ["\x7f"]:
        escaped = escaped.str.replace_all(char, f"\\x{ord(char):02x}", literal=True)

    return (
        pl.when(column == "")
        .then(pl.lit(EMPTY_FIELD))
        .when(column == UNSET_FIELD)
        .then(pl.lit("\\x2d"))
        .when(column == EMPTY_FIELD)
        .then(pl.lit("\\x28empty)"))
        .otherwise(escaped)
    )


# ---------------------------------------------------------------------------
# Writer


def _time_text(column: pl.Expr) -> pl.Expr:
    """Epoch seconds with exactly three decimals, e.g. `1338768108.605`.

    Milliseconds as a scale-3 decimal times 0.001 is exact, and the CSV writer prints
    decimals with their full scale; this is twice as fast as assembling strings.
    """
    millis = column.dt.epoch("ms").cast(pl.Decimal(20, 3))

    return (millis * pl.lit(Decimal("0.001"))).cast(pl.Decimal(20, 3))


def format_body(
    rows: pl.DataFrame | Mapping[str, Any], version: int, *, check_strings: bool = True
) -> bytes:
    """Render check rows as the tab-separated body of a log (no header, no footer).

    `rows` holds one column per field of `version` (extra columns are ignored):
    times as datetimes (UTC), counts as integers, latency as float ms, booleans as
    bool, strings and enums as strings; null means unset. With `check_strings`
    false, string columns are trusted to need no escaping (the simulator's
    hashes and URLs), which is much faster.
    """
    frame = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(dict(rows))
    fields = fields_for(version)
    missing = [f.name for f in fields if f.name not in frame.columns]
    if missing:
        raise ValueError(f"rows lack fields {missing} of format version {version}")

    exprs = []
    for f in fields:
        col = pl.col(f.name)
        if f.zeek_type == "time":
            expr = _time_text(col.cast(pl.Datetime("ms", "UTC")))
        elif f.zeek_type == "bool":
            expr = pl.when(col).then(pl.lit("T")).otherwise(pl.lit("F"))
            expr = pl.when(col.is_null()).then(None).otherwise(expr)
        elif f.zeek_type == "interval":
            expr = col.cast(pl.Float64).round(1).cast(pl.String)
        elif f.zeek_type == "count":
            # The CSV writer prints integers as plain digits: no string column needed.
            expr = col.cast(pl.Int64)
        elif check_strings and f.zeek_type == "string":
            expr = _escape_expr(col.cast(pl.String))
        else:
            expr = col.cast(pl.String)
        exprs.append(expr.alias(f.name))

    buffer = io.BytesIO()
    frame.select(exprs).write_csv(
        buffer,
        separator=SEPARATOR,
        include_header=False,
        quote_style="never",
        null_value=UNSET_FIELD,
        line_terminator="\n",
    )

    return buffer.getvalue()


def split_body(body: bytes, row_counts: Sequence[int] | np.ndarray) -> list[bytes]:
    """Cut a body rendered for many files into one body per file, by row counts."""
    counts = np.asarray(row_counts, dtype=np.int64)
    newlines = np.flatnonzero(np.frombuffer(body, dtype=np.uint8) == 0x0A)
    if counts.sum() != len(newlines):
        raise ValueError(f"row counts sum to {counts.sum()} but body has {len(newlines)} lines")

    cumulative = np.cumsum(counts)
    safe = np.maximum(cumulative - 1, 0)
    ends = np.where(cumulative > 0, newlines[safe] + 1 if len(newlines) else 0, 0)
    bounds = np.concatenate(([0], ends)).tolist()  # Python ints slice much faster

    return [body[bounds[i] : bounds[i + 1]] for i in range(len(counts))]


def render_log(
    header: LogHeader,
    body: bytes,
    *,
    closed: datetime | None,
    line_terminator: str = "\n",
) -> bytes:
    """Assemble header, body and (unless `closed` is None: truncated) the footer."""
    before, after = _head_bytes(header._settings())
    opened = f"#open{SEPARATOR}{_header_time(header.opened)}\n".encode()
    foot = b"" if closed is None else (close_line(closed) + "\n").encode()
    text = b"".join((before, opened, after, body, foot))
    if line_terminator != "\n":
        text = text.replace(b"\n", line_terminator.encode())

    return text


def gzip_bytes(data: bytes, level: int = 1) -> bytes:
    """Gzip with a zero timestamp and no file name, so equal input gives equal bytes.

    Compresses with ISA-L (`isal`), several times faster than zlib at its level 1
    and smaller output; `level` is an ISA-L level 0-3 (higher values mean 3).
    """
    return isal_zlib.compress(data, min(max(level, 0), 3), 31)


def write_log(
    path: Path,
    header: LogHeader,
    body: bytes,
    *,
    closed: datetime | None,
    compresslevel: int = 1,
) -> None:
    """Write one log file; gzip-compressed when the name ends in `.gz`."""
    data = render_log(header, body, closed=closed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip_bytes(data, compresslevel) if path.suffix == ".gz" else data)


def write_log_rows(
    path: Path,
    header: LogHeader,
    rows: Iterable[Mapping[str, Any]],
    *,
    closed: datetime | None,
) -> None:
    """Write a log from row dictionaries (convenient for tests and small files)."""
    names = [f.name for f in fields_for(header.version)]
    records = list(rows)
    schema = polars_schema(header.version)
    frame = pl.DataFrame(
        {n: [r.get(n) for r in records] for n in names}, schema=schema, strict=False
    )
    write_log(path, header, format_body(frame, header.version), closed=closed)


def polars_schema(version: int) -> dict[str, pl.DataType]:
    """Column name to polars type for one version (what `format_body` expects)."""
    mapping: dict[str, pl.DataType] = {
        "time": pl.Datetime("ms", "UTC"),
        "count": pl.Int64(),
        "interval": pl.Float64(),
        "bool": pl.Boolean(),
        "string": pl.String(),
        "enum": pl.String(),
    }
    return {f.name: mapping[f.zeek_type] for f in fields_for(version)}


# ---------------------------------------------------------------------------
# Reader


@dataclass
class LogFile:
    """A parsed log: its header, its rows, and whether the `#close` footer was there."""

    path: Path
    header: LogHeader
    rows: list[dict[str, Any]] = field(default_factory=list)
    closed: datetime | None = None

    @property
    def truncated(self) -> bool:
        """True when the footer is missing (the upload was cut short)."""
        return self.closed is None


def decode_log_bytes(path: Path, raw: bytes) -> str:
    """Turn a file's bytes into text: gunzip, strip a BOM, decode UTF-16 with BOM.

    Raises LogFormatError for a broken gzip stream, UTF-16 without a byte-order
    mark, or bytes that are not UTF-8.
    """
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise LogFormatError(path, None, None, f"broken gzip stream ({exc})") from exc

    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if b"\x00" in raw[:4096]:
        raise LogFormatError(
            path, 1, None, "file looks like UTF-16 without a byte-order mark; re-save as UTF-8"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise LogFormatError(path, line, None, f"not valid UTF-8 ({exc.reason})") from exc


def _parse_header_time(path: Path, line: int, name: str, value: str) -> datetime:
    try:
        return datetime.strptime(value, HEADER_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError as exc:
        raise LogFormatError(path, line, name, f"bad time {value!r}") from exc


def parse_header(path: Path, lines: Sequence[str]) -> tuple[LogHeader, int]:
    """Parse the directive lines at the top; returns the header and its line count."""
    directives: dict[str, tuple[int, list[str]]] = {}
    count = 0
    for count, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            count -= 1
            break
        if line.startswith("#separator"):
            directives["separator"] = (count, [line[len("#separator") :].strip()])
            continue
        name, *values = line[1:].split(SEPARATOR)
        directives[name] = (count, values)
        if name == "types":
            break

    def get(name: str, n: int = 1) -> list[str]:
        if name not in directives:
            raise LogFormatError(path, None, f"#{name}", "missing header directive")
        line_no, values = directives[name]
        if len(values) != n:
            raise LogFormatError(
                path, line_no, f"#{name}", f"expected {n} value(s), got {len(values)}"
            )
        return values

    def line_of(name: str) -> int:
        return directives[name][0]

    if get("separator")[0] != "\\x09":
        raise LogFormatError(path, line_of("separator"), "#separator", "separator must be \\x09")
    name, version_text = get("format", 2)
    if name != FORMAT_NAME:
        raise LogFormatError(path, line_of("format"), "#format", f"not a {FORMAT_NAME} log")
    if not version_text.isdigit() or int(version_text) not in VERSIONS:
        raise LogFormatError(
            path, line_of("format"), "#format", f"unknown version {version_text!r}"
        )
    version = int(version_text)

    expected = [f.name for f in fields_for(version)]
    names = directives.get("fields", (0, []))[1]
    if names != expected:
        raise LogFormatError(
            path,
            directives.get("fields", (None,))[0],
            "#fields",
            f"fields do not match version {version}: expected {expected}, got {names}",
        )
    types = directives.get("types", (0, []))[1]
    if types != [f.zeek_type for f in fields_for(version)]:
        raise LogFormatError(
            path,
            directives.get("types", (None,))[0],
            "#types",
            "types do not match the format version",
        )

    mode_text = get("failure_mode")[0]
    if mode_text not in {"0", "1", "2"}:
        raise LogFormatError(
            path, line_of("failure_mode"), "#failure_mode", f"must be 0, 1 or 2, got {mode_text!r}"
        )
    optin = False
    timeout: int | None = None
    if version >= 2:
        optin_text = get("ee_optin")[0]
        if optin_text not in {"T", "F"}:
            raise LogFormatError(path, line_of("ee_optin"), "#ee_optin", "must be T or F")
        optin = optin_text == "T"
        timeout_text = get("timeout_ms")[0]
        if timeout_text != UNSET_FIELD:
            if not timeout_text.isdigit():
                raise LogFormatError(
                    path, line_of("timeout_ms"), "#timeout_ms", f"not a count: {timeout_text!r}"
                )
            timeout = int(timeout_text)

    product, product_version = get("product", 2)
    try:
        header = LogHeader(
            version=version,
            client_id=get("client_id")[0],
            product=unescape(product),
            product_version=unescape(product_version),
            os=unescape(get("os")[0]),
            failure_mode=int(mode_text),
            ee_optin=optin,
            opened=_parse_header_time(path, line_of("open"), "#open", get("open")[0]),
            timeout_ms=timeout,
            region=unescape(directives["region"][1][0]) if "region" in directives else None,
        )
    except ValueError as exc:
        if isinstance(exc, LogFormatError):
            raise
        raise LogFormatError(path, None, "header", str(exc)) from exc

    return header, count


def parse_value(path: Path, line: int, f: Field, raw: str) -> Any:
    """Parse one raw field into its Python value, raising LogFormatError when it is bad."""
    if raw == UNSET_FIELD:
        if f.name in REQUIRED_FIELDS:
            raise LogFormatError(path, line, f.name, "required field is unset")
        return None

    try:
        if f.zeek_type == "time":
            return datetime.fromtimestamp(float(raw), tz=UTC)
        if f.zeek_type == "count":
            if not raw.isdigit():
                raise ValueError
            return int(raw)
        if f.zeek_type == "interval":
            number = float(raw)
            if not number >= 0 or number == float("inf"):
                raise ValueError
            return number
        if f.zeek_type == "bool":
            if raw not in {"T", "F"}:
                raise ValueError
            return raw == "T"
    except (ValueError, OverflowError, OSError) as exc:
        raise LogFormatError(path, line, f.name, f"bad {f.zeek_type} value {raw!r}") from exc

    value = unescape(raw)
    if f.allowed is not None and value not in f.allowed:
        raise LogFormatError(path, line, f.name, f"{value!r} is not one of the allowed values")

    return value


def read_log(path: str | Path, data: bytes | None = None) -> LogFile:
    """Read and validate a whole log file (gzip or plain, v1 or v2).

    Raises LogFormatError at the first problem, naming file, line and field.
    A missing `#close` footer is not an error: the result is marked truncated.
    """
    path = Path(path)
    text = decode_log_bytes(path, path.read_bytes() if data is None else data)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]
    if not lines or not lines[0].startswith("#separator"):
        raise LogFormatError(path, 1, "#separator", "missing header: not a CertSentry log")

    header, header_lines = parse_header(path, lines)
    fields = fields_for(header.version)
    log = LogFile(path=path, header=header)
    for index in range(header_lines, len(lines)):
        line_no = index + 1
        line = lines[index]
        if line.startswith("#close"):
            log.closed = _parse_header_time(path, line_no, "#close", line.split(SEPARATOR)[-1])
            if index != len(lines) - 1:
                raise LogFormatError(path, line_no + 1, None, "data after #close footer")
            break
        if line.startswith("#"):
            raise LogFormatError(path, line_no, None, f"unexpected directive {line[:30]!r}")
        values = line.split(SEPARATOR)
        if len(values) != len(fields):
            raise LogFormatError(
                path, line_no, None, f"expected {len(fields)} fields, got {len(values)}"
            )
        pairs = zip(fields, values, strict=True)
        row = {f.name: parse_value(path, line_no, f, v) for f, v in pairs}
        if not header.ee_optin and (row.get("ee_serial") or row.get("ee_sha256")):
            raise LogFormatError(
                path, line_no, "ee_serial", "end-entity data in a file that did not opt in"
            )
        log.rows.append(row)

    return log


def with_version(header: LogHeader, version: int) -> LogHeader:
    """A copy of `header` for another format version (drops v2-only settings for v1)."""
    if version == 1:
        return replace(header, version=1, ee_optin=False, timeout_ms=None)

    return replace(header, version=version)
