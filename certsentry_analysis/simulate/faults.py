"""Upload realities: duplicated, truncated, corrupted and re-uploaded files, CRLF and BOM.

Each function takes one rendered log (header lines, body lines, footer) and returns
the uploads it becomes, with every injected fault described for the truth tables.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from certsentry_analysis.logformat import LogHeader, gzip_bytes, render_log
from certsentry_analysis.simulate.scenario import FaultConfig

FAULT_KINDS = (
    "duplicate",
    "truncated",
    "garbage_line",
    "short_line",
    "bad_value",
    "broken_gzip",
    "reupload",
    "crlf",
    "bom",
)
# Values a damaged field takes; each is rejected by the log-format reader.
_BAD_VALUES = {0: "yesterday", 2: "12x", 3: "-1", 6: "LDAP", 8: "maybe", 12: "-3.5"}


@dataclass
class Upload:
    """One file as uploaded, with its fault description."""

    upload_id: str
    data: bytes
    fault: str
    encoding: str
    data_lines: int
    bad_lines: list[int] = field(default_factory=list)
    rows_lost: int = 0
    duplicate_of: str | None = None


@dataclass
class FileResult:
    """The uploads of one client-day and, per row, its line and whether it is intact."""

    uploads: list[Upload]
    line_no: np.ndarray
    intact: np.ndarray


def choose(cfg: FaultConfig, rng: np.random.Generator, n_files: int) -> list[str]:
    """A fault kind (or 'none') per file; the kinds are mutually exclusive."""
    corrupted = cfg.corrupted / 4
    weights = [
        cfg.duplicate,
        cfg.truncated,
        corrupted,
        corrupted,
        corrupted,
        corrupted,
        cfg.reupload,
        cfg.crlf,
        cfg.bom,
    ]
    edges = np.cumsum(weights)
    draws = rng.random(n_files)
    idx = np.searchsorted(edges, draws, side="right")

    return [FAULT_KINDS[i] if i < len(FAULT_KINDS) else "none" for i in idx.tolist()]


def _when(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def _lines(body: bytes) -> list[bytes]:
    return body.split(b"\n")[:-1]


def make_uploads(
    header: LogHeader,
    head: int,
    body: bytes,
    ts_epoch: np.ndarray,
    fault: str,
    rng: np.random.Generator,
    new_id: list[str],
    n_lines: int | None = None,
) -> FileResult:
    """The uploads one client-day becomes under `fault` (`new_id` supplies upload ids).

    `head` is the header's line count, `ts_epoch` the rows' logged times (epoch
    seconds); a file is closed the second after its latest row. `n_lines` is the
    body's line count when the caller knows it (saves a scan of the body).
    """
    closed = _when(int(np.floor(ts_epoch.max())) + 1)
    n = body.count(b"\n") if n_lines is None else n_lines
    line_no = head + 1 + np.arange(n)
    intact = np.ones(n, bool)
    upload_id = new_id.pop(0)
    if n < 2 and fault != "none":
        fault = "none"

    if fault in ("none", "duplicate", "reupload"):
        data = gzip_bytes(render_log(header, body, closed=closed))
        uploads = [Upload(upload_id, data, "none", "gzip", n)]
        if fault == "duplicate":
            uploads.append(
                Upload(new_id.pop(0), data, "duplicate", "gzip", n, duplicate_of=upload_id)
            )
        elif fault == "reupload":
            # An earlier upload of the same day, cut short and closed at that time; the
            # final upload above supersedes it.
            k = int(rng.integers(1, n))
            part = b"".join(line + b"\n" for line in _lines(body)[:k])
            early_close = _when(int(np.floor(ts_epoch[:k].max())) + 1)
            early = gzip_bytes(render_log(header, part, closed=early_close))
            uploads[0].fault = "reupload_final"
            uploads.append(
                Upload(
                    new_id.pop(0), early, "reupload_superseded", "gzip", k, duplicate_of=upload_id
                )
            )
        return FileResult(uploads, line_no, intact)

    if fault == "crlf":
        data = gzip_bytes(render_log(header, body, closed=closed, line_terminator="\r\n"))
        return FileResult([Upload(upload_id, data, "none", "gzip+crlf", n)], line_no, intact)
    if fault == "bom":
        data = gzip_bytes(codecs.BOM_UTF8 + render_log(header, body, closed=closed))
        return FileResult([Upload(upload_id, data, "none", "gzip+bom", n)], line_no, intact)
    if fault == "truncated":
        k = int(rng.integers(0, n))
        part = b"".join(line + b"\n" for line in _lines(body)[:k])
        data = gzip_bytes(render_log(header, part, closed=None))
        intact[k:] = False
        return FileResult(
            [Upload(upload_id, data, "truncated", "gzip", k, rows_lost=n - k)], line_no, intact
        )
    if fault == "broken_gzip":
        full = gzip_bytes(render_log(header, body, closed=closed))
        cut = int(rng.integers(10, max(11, len(full) // 2)))
        intact[:] = False
        return FileResult(
            [Upload(upload_id, full[:cut], "broken_gzip", "gzip", 0, rows_lost=n)], line_no, intact
        )

    lines = _lines(body)
    r = int(rng.integers(0, n))
    bad_line = int(line_no[r])
    if fault == "garbage_line":
        letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789 %&*=", np.uint8)
        junk = bytes(rng.choice(letters, int(rng.integers(3, 60))).tolist())
        lines.insert(r, b"x" + junk)
        line_no[r:] += 1
    elif fault == "short_line":
        fields = lines[r].split(b"\t")
        lines[r] = b"\t".join(fields[: int(rng.integers(1, len(fields) - 1))])
        intact[r] = False
    else:
        fields = lines[r].split(b"\t")
        which = int(rng.choice(sorted(_BAD_VALUES)))
        fields[which] = _BAD_VALUES[which].encode()
        lines[r] = b"\t".join(fields)
        intact[r] = False
    damaged = b"".join(line + b"\n" for line in lines)
    data = gzip_bytes(render_log(header, damaged, closed=closed))

    return FileResult(
        [
            Upload(
                upload_id,
                data,
                fault,
                "gzip",
                len(lines),
                bad_lines=[bad_line],
                rows_lost=int((~intact).sum()),
            )
        ],
        line_no,
        intact,
    )
