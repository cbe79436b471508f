"""Per-file checks done in Python before the bulk read: hash, header, framing, encoding.

Python never parses data rows here. It hashes each file, decompresses it once to
validate the gzip stream, count lines and find the `#close` footer, and parses the
`#` header with `logformat.parse_header`. Files DuckDB's reader cannot take as they
are (UTF-16, carriage returns, NUL or the staging delimiter,
invalid UTF-8) get a normalised UTF-8 copy with the same line numbering; lines
whose content had to be altered for that are quarantined with a reason decided here.
"""

from __future__ import annotations

import codecs
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from certsentry_analysis import logformat

GZIP_MAGIC = b"\x1f\x8b"
# Byte used as the column delimiter when DuckDB reads each line as one column.
# Zeek escapes every control character, so a well-formed line never contains it.
STAGE_DELIMITER = "\x1e"
# A header is well under 2 KB; the longer window only serves odd files.
_SHORT_HEADER_BYTES = 1 << 12
_HEADER_BYTES = 1 << 16
_READ_CHUNK = 1 << 20
_BAD_BYTES = (b"\r", b"\x00", STAGE_DELIMITER.encode())


@dataclass(frozen=True)
class ForcedLine:
    """A line quarantined for a reason found while normalising the file."""

    line_no: int
    reason: str
    raw_line: str
    field: str | None = None


@dataclass
class FileScan:
    """What the prescan learned about one input file."""

    path: Path
    rel_path: str
    sha256: str
    size_bytes: int
    status: str = "loaded"
    reason: str | None = None
    header: logformat.LogHeader | None = None
    header_lines: int = 0
    total_lines: int = 0
    closed: datetime | None = None
    compression: str = "none"
    read_path: Path | None = None
    forced: list[ForcedLine] = field(default_factory=list)
    # The text DuckDB loads (decompressed, normalised), when the caller asked to keep it.
    data: bytes | None = field(default=None, repr=False)

    @property
    def data_lines(self) -> int | None:
        """Lines between the header and the footer; None for a file that was not read."""
        if self.status == "rejected" or self.header is None:
            return None

        return self.total_lines - self.header_lines - (0 if self.closed is None else 1)

    def reject(self, reason: str) -> FileScan:
        """Mark the file unreadable with `reason`."""
        self.status = "rejected"
        self.reason = reason
        self.read_path = None
        self.data = None

        return self


def _gunzip(raw: bytes) -> tuple[bytes, str | None]:
    """Decompress every gzip member; returns the bytes recovered and an error, if any."""
    out: list[bytes] = []
    rest = raw
    while rest:
        inflater = zlib.decompressobj(31)
        try:
            for start in range(0, len(rest), _READ_CHUNK):
                out.append(inflater.decompress(rest[start : start + _READ_CHUNK]))
        except zlib.error as exc:
            return b"".join(out), f"corrupt gzip stream ({exc})"
        if not inflater.eof:
            out.append(inflater.flush())
            return b"".join(out), "gzip stream ends early (truncated upload)"
        rest = inflater.unused_data
        if rest and not rest.startswith(GZIP_MAGIC):
            return b"".join(out), "trailing bytes after the gzip stream"

    return b"".join(out), None


def _header_error(exc: logformat.LogFormatError, scrub: str | None) -> str:
    where = "header" if exc.line is None else f"header line {exc.line}"
    if exc.field:
        where += f" {exc.field}"
    message = f"{where}: {exc.reason}"
    # A malformed client id must not leak into the warehouse through an error text.
    if scrub:
        message = message.replace(scrub, "<client_id>")

    return message


def _raw_client_id(head_lines: list[str]) -> str | None:
    for line in head_lines:
        if line.startswith("#client_id"):
            value = line[len("#client_id") :].strip()
            return value or None

    return None


def _normalise(data: bytes, scan: FileScan, staging_dir: Path, index: int) -> bytes:
    """Write a plain UTF-8 copy DuckDB can read, quarantining lines that had to change."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    clean: list[bytes] = []
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        problem = None
        if any(bad in line for bad in _BAD_BYTES):
            problem = "control character (CR, NUL or 0x1E) in line"
        else:
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                problem = "not valid UTF-8"
        if problem:
            text = line.decode("utf-8", "backslashreplace")
            scan.forced.append(ForcedLine(number, problem, text))
            line = b""
        clean.append(line)
    normalised = b"\n".join(clean) + b"\n"
    target = staging_dir / f"{index:07d}.log"
    target.write_bytes(normalised)
    scan.read_path = target
    scan.compression = "none"

    return normalised


def scan_file(
    path: Path,
    rel_path: str,
    staging_dir: Path,
    index: int,
    skip: Callable[[str, str], bool] | None = None,
    keep_data: bool = False,
) -> FileScan:
    """Hash, decompress and frame one file; never raises for bad input.

    `skip(rel_path, sha256)` true means the file is already in the warehouse: the scan
    stops after hashing and is marked `skipped`. With `keep_data`, a readable file's
    text (decompressed, without a UTF-8 byte-order mark, normalised when it needed a
    copy) is kept in `FileScan.data`, line for line what DuckDB would read from
    `read_path`, so the loader does not decompress it a second time.
    """
    raw = path.read_bytes()
    scan = FileScan(path, rel_path, hashlib.sha256(raw).hexdigest(), len(raw))
    if skip is not None and skip(rel_path, scan.sha256):
        scan.status = "skipped"
        return scan
    scan.read_path = path
    if raw.startswith(GZIP_MAGIC):
        scan.compression = "gzip"
        data, gzip_error = _gunzip(raw)
        if gzip_error:
            # A broken stream is an unreadable upload (docs/warehouse.md): the lines
            # before the break are counted in the reason but not loaded.
            lines = data.count(b"\n")
            return scan.reject(f"{gzip_error}; {lines} lines before the break not loaded")
    elif path.name.endswith(".gz"):
        return scan.reject("file name ends in .gz but the content is not gzip-compressed")
    else:
        data = raw

    needs_copy = False
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data = data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as exc:
            return scan.reject(f"UTF-16 text that cannot be decoded ({exc.reason})")
        needs_copy = True
    elif data[:2] in (b"#\x00", b"\x00#"):
        # "#s" of "#separator" in UTF-16: NUL bytes elsewhere are per-line garbage instead.
        return scan.reject("looks like UTF-16 without a byte-order mark; re-save as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        # DuckDB's reader skips a UTF-8 byte-order mark itself; line numbers are unchanged.
        data = data[len(codecs.BOM_UTF8) :]
    if not needs_copy:
        needs_copy = any(bad in data for bad in _BAD_BYTES) or not _is_utf8(data)

    head_bytes = data[:_SHORT_HEADER_BYTES]
    if b"\n#types" not in head_bytes:
        head_bytes = data[:_HEADER_BYTES]
    head = head_bytes.decode("utf-8", "replace").split("\n")
    head = [line.removesuffix("\r") for line in head]
    if not head or not head[0].startswith("#separator"):
        return scan.reject("no #separator header line: not a CertSentry log")
    try:
        scan.header, scan.header_lines = logformat.parse_header(path, head)
    except logformat.LogFormatError as exc:
        return scan.reject(_header_error(exc, _raw_client_id(head)))

    ends_with_newline = data.endswith(b"\n")
    scan.total_lines = data.count(b"\n") + (0 if ends_with_newline or not data else 1)
    last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    last = data[last_start:].rstrip(b"\r\n").decode("utf-8", "replace")
    if last.startswith("#close") and scan.total_lines > scan.header_lines:
        stamp = last.split(logformat.SEPARATOR)[-1]
        try:
            scan.closed = datetime.strptime(stamp, logformat.HEADER_TIME_FORMAT)
        except ValueError:
            scan.closed = None
    if scan.closed is None:
        scan.status = "truncated"
        scan.reason = "no #close footer (upload cut short)"
        if not ends_with_newline and scan.total_lines > scan.header_lines:
            scan.forced.append(
                ForcedLine(scan.total_lines, "incomplete last line of a truncated file", last)
            )

    if needs_copy:
        data = _normalise(data, scan, staging_dir, index)
    if keep_data:
        scan.data = data

    return scan


def _is_utf8(data: bytes) -> bool:
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False

    return True
