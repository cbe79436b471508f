"""The log format: golden samples, malformed inputs, and writer -> reader round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certsentry_analysis import logformat as lf

SAMPLES = Path(__file__).parent / "data" / "logformat"


def test_v1_sample_reads_issuer_only_rows() -> None:
    log = lf.read_log(SAMPLES / "v1.log")

    assert log.header.version == 1
    assert not log.truncated
    assert len(log.rows) == 4
    assert "ee_serial" not in log.rows[0]
    assert log.rows[0]["latency_ms"] == pytest.approx(184.2)
    assert log.rows[0]["ts"] == datetime(2012, 10, 1, 9, 0, 1, 123000, tzinfo=UTC)


def test_v2_gzip_sample_keeps_optin_end_entity_fields() -> None:
    log = lf.read_log(SAMPLES / "v2-optin.log.gz")

    assert log.header.version == 2
    assert log.header.ee_optin
    assert log.header.timeout_ms == 15000
    assert log.rows[0]["ee_serial"] == "00e3b0c44298fc1c14"
    assert log.rows[1]["ee_serial"] is None


def test_escaped_tab_and_fragment_in_url_survive() -> None:
    log = lf.read_log(SAMPLES / "v1.log")

    assert log.rows[2]["url"] == "http://crl.example-ca.com/ca.crl#frag\twith tab"
    assert log.rows[2]["revocation_reason"] == "keyCompromise"


def test_crlf_and_byte_order_mark_read_like_plain_file() -> None:
    plain = lf.read_log(SAMPLES / "v2-optin.log.gz")
    crlf = lf.read_log(SAMPLES / "v2-crlf-bom.log")

    assert crlf.rows == plain.rows
    assert crlf.header == plain.header


def test_utf16_with_byte_order_mark_is_decoded() -> None:
    assert (
        lf.read_log(SAMPLES / "v2-utf16.log").rows == lf.read_log(SAMPLES / "v2-optin.log.gz").rows
    )


def test_utf16_without_byte_order_mark_is_rejected_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "no-bom.log"
    path.write_bytes((SAMPLES / "v1.log").read_text().encode("utf-16-le"))

    with pytest.raises(lf.LogFormatError, match="UTF-16"):
        lf.read_log(path)


def test_missing_footer_marks_file_truncated_but_keeps_rows() -> None:
    log = lf.read_log(SAMPLES / "v2-truncated.log.gz")

    assert log.truncated
    assert len(log.rows) == 4


@pytest.mark.parametrize(
    "name,line,field,message",
    [
        ("bad-field-count.log", 17, None, "expected 20 fields, got 21"),
        ("bad-latency.log", 18, "latency_ms", "bad interval value 'fast'"),
        ("bad-enum.log", 17, "method", "'SCVP' is not one of the allowed values"),
        ("unknown-version.log", 6, "#format", "unknown version '9'"),
        ("missing-header.log", 1, "#separator", "missing header"),
        ("broken-gzip.log.gz", None, None, "broken gzip stream"),
    ],
)
def test_malformed_sample_error_names_file_line_and_field(
    name: str, line: int | None, field: str | None, message: str
) -> None:
    with pytest.raises(lf.LogFormatError) as info:
        lf.read_log(SAMPLES / name)

    error = info.value
    assert error.path.endswith(name)
    assert error.line == line
    assert error.field == field
    assert message in str(error)
    assert name in str(error)


def test_end_entity_data_in_file_without_optin_is_rejected(tmp_path: Path) -> None:
    text = (SAMPLES / "v2-crlf-bom.log").read_bytes().decode("utf-8-sig")
    path = tmp_path / "leak.log"
    path.write_text(text.replace("#ee_optin\tT", "#ee_optin\tF"), encoding="utf-8")

    with pytest.raises(lf.LogFormatError, match="did not opt in") as info:
        lf.read_log(path)

    assert info.value.line == 17


def test_header_rejects_bad_client_id() -> None:
    with pytest.raises(ValueError, match="client_id"):
        lf.LogHeader(
            version=2,
            client_id="not-hex",
            product="Dragon",
            product_version="1",
            os="Windows",
            failure_mode=0,
            ee_optin=False,
            opened=datetime(2012, 1, 1, tzinfo=UTC),
        )


def test_v1_header_cannot_carry_optin() -> None:
    with pytest.raises(ValueError, match="version 1"):
        lf.LogHeader(
            version=1,
            client_id="0" * 32,
            product="Dragon",
            product_version="1",
            os="Windows",
            failure_mode=0,
            ee_optin=True,
            opened=datetime(2012, 1, 1, tzinfo=UTC),
        )


def test_assembling_from_render_parts_equals_render_log() -> None:
    """The simulator assembles files from cached header parts and vectorised times."""
    opened = datetime(2012, 6, 4, 23, 59, 58, tzinfo=UTC)
    closed = opened + timedelta(seconds=3)
    header = lf.LogHeader(
        version=2,
        client_id="0f" * 16,
        product="CertSentry",
        product_version="1.2.1",
        os="Windows 7",
        failure_mode=2,
        ee_optin=True,
        opened=opened,
        timeout_ms=15000,
        region="eu",
    )
    body = b"row one\nrow two\n"
    opened_text, closed_text = lf.header_times(
        np.array([opened.timestamp(), closed.timestamp()], np.int64)
    )
    before, after = lf.render_parts(header)
    assembled = b"".join(
        (before, b"#open\t" + opened_text + b"\n", after, body, b"#close\t" + closed_text + b"\n")
    )

    assert assembled == lf.render_log(header, body, closed=closed)
    assert opened_text.decode() == "2012-06-04-23-59-58"


def test_split_body_cuts_at_row_counts_including_empty_files() -> None:
    body = b"a\nb\nc\nd\n"

    assert lf.split_body(body, [1, 0, 3]) == [b"a\n", b"", b"b\nc\nd\n"]


def test_split_body_rejects_counts_that_do_not_add_up() -> None:
    with pytest.raises(ValueError, match="row counts"):
        lf.split_body(b"a\nb\n", [1])


def test_gzip_output_is_byte_identical_for_equal_input() -> None:
    assert lf.gzip_bytes(b"same") == lf.gzip_bytes(b"same")


# --- Round trips -------------------------------------------------------------------

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=30)
hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
times = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@st.composite
def check_rows(draw: st.DrawFn, version: int, optin: bool) -> dict[str, object]:
    outcome = draw(st.sampled_from(lf.OUTCOMES))
    row: dict[str, object] = {
        "ts": draw(times),
        "process": draw(text.filter(bool)),
        "chain_id": draw(st.integers(0, 2**63 - 1)),
        "chain_pos": draw(st.integers(0, 5)),
        "issuer_sha1": draw(hexes).upper()[:40],
        "issuer_spki_sha256": draw(hexes),
        "method": draw(st.sampled_from(lf.METHODS)),
        "url": draw(text.filter(bool)),
        "outcome": outcome,
        "error": draw(st.none() | st.sampled_from(sorted(lf.ERROR_CODES))),
        "http_status": draw(st.none() | st.integers(100, 599)),
        "bytes": draw(st.none() | st.integers(0, 10**7)),
        "latency_ms": draw(st.integers(0, 10**7)) / 10,
        "source": draw(st.sampled_from(lf.SOURCES)),
        "this_update": draw(st.none() | times),
        "next_update": draw(st.none() | times),
        "revocation_reason": draw(st.none() | st.sampled_from(sorted(lf.REVOCATION_REASONS))),
    }
    if version == 2:
        row["stapled"] = draw(st.booleans())
        row["ee_serial"] = draw(st.text("0123456789abcdef", min_size=1)) if optin else None
        row["ee_sha256"] = draw(hexes) if optin else None

    return row


@st.composite
def logs(draw: st.DrawFn) -> tuple[lf.LogHeader, list[dict[str, object]], bool]:
    version = draw(st.sampled_from(lf.VERSIONS))
    optin = version == 2 and draw(st.booleans())
    header = lf.LogHeader(
        version=version,
        client_id=draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        product=draw(st.sampled_from(["Dragon", "Comodo Internet Security"])),
        product_version=draw(text.filter(bool)),
        os=draw(text.filter(bool)),
        failure_mode=draw(st.sampled_from(sorted(lf.FAILURE_MODES))),
        ee_optin=optin,
        opened=datetime(2012, 10, 1, tzinfo=UTC),
        timeout_ms=draw(st.none() | st.integers(1, 60000)) if version == 2 else None,
        region=draw(st.none() | st.sampled_from(["EU", "NA", "AS"])),
    )
    rows = draw(st.lists(check_rows(version, optin), min_size=0, max_size=8))

    return header, rows, draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(logs(), st.sampled_from([".log", ".log.gz"]))
def test_writer_then_reader_round_trips(
    tmp_path_factory: pytest.TempPathFactory,
    sample: tuple[lf.LogHeader, list[dict[str, object]], bool],
    suffix: str,
) -> None:
    header, rows, closed = sample
    path = tmp_path_factory.mktemp("rt") / f"x{suffix}"
    close = header.opened + timedelta(days=1) if closed else None

    lf.write_log_rows(path, header, rows, closed=close)
    log = lf.read_log(path)

    assert log.header == header
    assert log.truncated == (not closed)
    assert log.rows == rows


@settings(max_examples=40, deadline=None)
@given(text)
def test_escape_then_unescape_is_identity(value: str) -> None:
    escaped = lf.escape(value)

    assert "\t" not in escaped and "\n" not in escaped
    assert escaped != lf.UNSET_FIELD
    assert lf.unescape(escaped) == value


def test_fields_for_rejects_unknown_version() -> None:
    with pytest.raises(ValueError, match="unknown log format version"):
        lf.fields_for(3)


def test_format_body_renders_nulls_as_unset_marker() -> None:
    frame = pl.DataFrame({f.name: [None] for f in lf.fields_for(1)}, schema=lf.polars_schema(1))

    assert lf.format_body(frame, 1) == ("\t".join(["-"] * 17) + "\n").encode()
