"""Hypothesis: garbage lines between good ones never crash ingestion, and always reconcile."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_samples import body, good_rows, header

from certsentry_analysis import logformat
from certsentry_analysis.ingest import ingest

KEY = bytes.fromhex("99" * 32)
GOOD = body(good_rows(4)).split(b"\n")[:-1]
HEADER = b"\n".join(line.encode() for line in header(1).lines()) + b"\n"

_pieces = st.sampled_from([*"\t\r\x00\x1e#\\-,. aZ09()é€", "\\x2d", "\\x0", "(empty)"])
_text = st.lists(_pieces, max_size=30).map(lambda parts: "".join(parts).encode())
_mutated = st.builds(
    lambda line, at, junk: line[:at] + junk + line[at:],
    st.sampled_from(GOOD),
    st.integers(0, 200),
    _text,
)
_line = st.one_of(st.sampled_from(GOOD), _text, st.binary(max_size=40), _mutated)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    lines=st.lists(_line, max_size=12),
    closed=st.booleans(),
    compress=st.booleans(),
    crlf=st.booleans(),
)
def test_garbage_never_crashes_and_every_data_line_is_accounted_for(
    lines: list[bytes], closed: bool, compress: bool, crlf: bool
) -> None:
    """Each data line ends up exactly once in checks or quarantine, at its own line_no."""
    data = HEADER + b"".join(line + (b"\r\n" if crlf else b"\n") for line in lines)
    if closed:
        data += logformat.close_line(header(1).opened).encode() + b"\n"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        name = "x.log.gz" if compress else "x.log"
        (root / "logs").mkdir()
        (root / "logs" / name).write_bytes(logformat.gzip_bytes(data) if compress else data)
        summary = ingest([root / "logs"], root / "w.duckdb", key=KEY)

        con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
        status, header_lines, data_lines, loaded, quarantined = con.execute(
            "SELECT status, header_lines, data_lines, rows_loaded, rows_quarantined FROM files"
        ).fetchall()[0]
        numbers = sorted(
            row[0]
            for row in con.execute(
                "SELECT line_no FROM checks UNION ALL SELECT line_no FROM quarantine"
            ).fetchall()
        )
        con.close()

    assert status in ("loaded", "truncated")
    assert data_lines == loaded + quarantined
    assert numbers == list(range(header_lines + 1, header_lines + data_lines + 1))
    assert summary.rows_loaded + summary.rows_quarantined == data_lines
    physical = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert data_lines == physical - header_lines - (1 if status == "loaded" else 0)
