"""SQL that turns staged raw lines into typed, validated check rows or quarantine reasons.

The text here is generated from `logformat.FIELDS` (field names and types are code,
never data); every data-dependent value (enumerations, limits, tolerances) is bound
as a named parameter, see `parse_parameters`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from certsentry_analysis import logformat
from certsentry_analysis.ingest.schema import CHECK_COLUMNS

# A check taking longer than an hour, or a response over 1 GiB, is not a measurement.
LATENCY_MAX_MS = 3_600_000.0
BYTES_MAX = 1 << 30
# Timestamps after 2100-01-01 or before 1990 are unparseable for this study.
TIME_MIN_S = 631_152_000.0
TIME_MAX_S = 4_102_444_800.0
# How far a check's ts may lie outside the file's day before it is flagged as skewed.
SKEW_TOLERANCE = timedelta(hours=2)

UNESCAPE_FUNCTION = "cs_unescape"
# An unsigned decimal as the writer produces it (times: seconds.millis; intervals: ms).
_DECIMAL = "[0-9]{1,12}(\\.[0-9]{1,6})?"
# A URL with a scheme and a non-empty host (optionally after user info).
_URL_WITH_HOST = "^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]*@)?[^/?#@:]"
# The host of a URL (group 1), lower-cased by the caller; IPv6 literals keep brackets.
_RESPONDER = "^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(\\[[^]]*\\]|[^/?#:]*)"

_ALL_FIELDS = logformat.fields_for(logformat.LATEST_VERSION)
_POSITION = {f.name: i + 1 for i, f in enumerate(_ALL_FIELDS)}
_FIELD_COUNT = {v: len(logformat.fields_for(v)) for v in logformat.VERSIONS}

_PATTERNS = {
    "issuer_sha1": "[0-9A-F]{40}",
    "issuer_spki_sha256": "[0-9a-f]{64}",
    "ee_sha256": "[0-9a-fA-F]{64}",
    "ee_serial": "[0-9a-fA-F]{1,128}",
}


# The consistency rules of docs/log-format.md between outcome, error and http_status.
_CONSISTENCY = (
    ("r_outcome = 'good' AND r_error <> '-'", "outcome good with an error code"),
    (
        "r_outcome = 'revoked' AND (r_error <> 'CRYPT_E_REVOKED' OR r_revocation_reason = '-')",
        "outcome revoked without CRYPT_E_REVOKED and a reason",
    ),
    (
        "r_outcome = 'unknown' AND r_error <> 'CRYPT_E_NOT_IN_REVOCATION_DATABASE'",
        "outcome unknown without CRYPT_E_NOT_IN_REVOCATION_DATABASE",
    ),
    (
        "r_outcome = 'error' AND NOT list_contains($failure_codes, r_error)",
        "outcome error without a failure code",
    ),
    (
        "r_error = 'HTTP_STATUS_ERROR' AND r_http_status IN ('-', '200')",
        "HTTP_STATUS_ERROR without a failing http_status",
    ),
)


def parse_parameters() -> dict[str, Any]:
    """The named parameters the statements of this module use."""
    enums = {f"enum_{f.name}": list(f.allowed) for f in _ALL_FIELDS if f.allowed is not None}

    return {
        **enums,
        "failure_codes": [
            code
            for code, entry in logformat.ERROR_CODES.items()
            if entry.failure_class in logformat.FAILURE_CLASSES
        ],
        "latency_max": LATENCY_MAX_MS,
        "bytes_max": BYTES_MAX,
        "time_min": TIME_MIN_S,
        "time_max": TIME_MAX_S,
        "skew_tolerance": SKEW_TOLERANCE,
        "url_with_host": _URL_WITH_HOST,
        "responder_pattern": _RESPONDER,
        "field_count_v1": _FIELD_COUNT[1],
        "field_count_v2": _FIELD_COUNT[2],
        **{f"pattern_{name}": pattern for name, pattern in _PATTERNS.items()},
    }


def _raw(name: str) -> str:
    return f"r_{name}"


def _checks(f: logformat.Field) -> list[tuple[str, str]]:
    """(condition that makes the raw value bad, reason) pairs for one field, in order."""
    raw = _raw(f.name)
    set_ = f"{raw} <> '-'"
    out: list[tuple[str, str]] = []
    if f.name in logformat.REQUIRED_FIELDS:
        out.append((f"{raw} = '-'", "required field is unset"))
    # Regular expressions first: in DuckDB they are several times cheaper than ltrim
    # tricks, and they refuse what TRY_CAST tolerates (' 5', '+5', '1e3', 'nan').
    if f.zeek_type == "time":
        bad = (
            f"NOT regexp_full_match({raw}, '{_DECIMAL}')"
            f" OR TRY_CAST({raw} AS DOUBLE) NOT BETWEEN $time_min AND $time_max"
        )
        out.append((f"{set_} AND ({bad})", "bad time value"))
    elif f.zeek_type == "count":
        bad = (
            f"NOT regexp_full_match({raw}, '[0-9]{{1,20}}')"
            f" OR TRY_CAST({raw} AS {f.duckdb_type}) IS NULL"
        )
        out.append((f"{set_} AND ({bad})", f"bad count value (not a {f.duckdb_type})"))
        if f.name == "http_status":
            out.append((f"{set_} AND {raw}::INTEGER NOT BETWEEN 100 AND 599", "out of range"))
        if f.name == "bytes":
            out.append((f"{set_} AND {raw}::BIGINT > $bytes_max", "out of range"))
    elif f.zeek_type == "interval":
        bad = (
            f"NOT regexp_full_match({raw}, '{_DECIMAL}')"
            f" OR TRY_CAST({raw} AS DOUBLE) > $latency_max"
        )
        out.append((f"{set_} AND ({bad})", "bad or out-of-range interval value"))
    elif f.zeek_type == "bool":
        out.append((f"{set_} AND {raw} NOT IN ('T', 'F')", "bad bool value (not T or F)"))
    elif f.allowed is not None:
        out.append(
            (f"{set_} AND NOT list_contains($enum_{f.name}, {raw})", "not an allowed value")
        )
    elif f.name in _PATTERNS:
        out.append(
            (
                f"{set_} AND NOT regexp_full_match({raw}, $pattern_{f.name})",
                "malformed hex digest or serial",
            )
        )

    return out


def _value(f: logformat.Field) -> str:
    """Expression for the typed value of one field (only used for rows that passed)."""
    raw = _raw(f.name)
    if f.zeek_type == "time":
        typed = f"epoch_ms(TRY_CAST(round(TRY_CAST({raw} AS DOUBLE) * 1000) AS BIGINT))"
    elif f.zeek_type in {"count", "interval"}:
        typed = f"TRY_CAST({raw} AS {f.duckdb_type})"
    elif f.zeek_type == "bool":
        typed = f"({raw} = 'T')"
    elif f.allowed is not None:
        typed = raw
    else:
        typed = (
            f"CASE WHEN {raw} = '(empty)' THEN '' WHEN contains({raw}, '\\')"
            f" THEN {UNESCAPE_FUNCTION}({raw}) ELSE {raw} END"
        )
    if f.optin_only:
        typed = f"CASE WHEN ee_optin THEN {typed} END"

    return f"CASE WHEN {raw} <> '-' THEN {typed} END"


def problems() -> list[tuple[int, str, str, str | None]]:
    """Every line check in order: (code, condition on `fielded`, reason, field)."""
    checks: list[tuple[str, str, str | None]] = [
        ("line IS NULL OR line = ''", "empty line", None),
        ("starts_with(line, '#')", "unexpected directive line", None),
        ("n_fields <> expected_fields", "wrong number of fields", None),
    ]
    for f in _ALL_FIELDS:
        checks.extend((condition, reason, f.name) for condition, reason in _checks(f))
    checks.append(
        ("r_url <> '-' AND NOT regexp_matches(r_url, $url_with_host)", "url has no host", "url")
    )
    checks.extend((condition, reason, "error") for condition, reason in _CONSISTENCY)

    return [(code, *check) for code, check in enumerate(checks, start=1)]


def problems_table() -> list[dict[str, Any]]:
    """Rows of the lookup table `problems(code, reason, field)` the classify step joins."""
    return [{"code": c, "reason": r, "field": f} for c, _, r, f in problems()]


# Statement templates. Placeholders <<...>> are filled with SQL generated from
# logformat.FIELDS (identifiers and expressions, never data); data values travel as
# $parameters.
_LINES_CTE = """
WITH numbered AS (
  SELECT b.file_id, b.client, b.day, b.version, b.ee_optin, b.failure_mode, b.region,
    b.timeout_ms, s.line_no, s.line, b.header_lines, b.data_lines
  FROM stage_lines s
  JOIN batch b USING (file_id)
), split AS MATERIALIZED (
  SELECT n.* EXCLUDE (header_lines, data_lines), string_split(n.line, chr(9)) AS v,
    CASE WHEN n.version = 1 THEN $field_count_v1 ELSE $field_count_v2 END AS expected_fields
  FROM numbered n
  WHERE n.line_no > n.header_lines AND n.line_no <= n.header_lines + n.data_lines
), lines_in AS (
  SELECT *,
<<raws>>
  FROM (SELECT *, len(v) AS n_fields FROM split)
)"""

_BAD_LINES = """
CREATE OR REPLACE TEMP TABLE bad AS
<<lines>>, judged AS (
  SELECT l.file_id, l.line_no, l.line, l.expected_fields, l.n_fields,
    fq.reason AS forced_reason, fq.field AS forced_field, fq.raw_line AS forced_raw,
    CASE WHEN fq.reason IS NOT NULL THEN 0 ELSE <<problem>> END AS problem
  FROM lines_in l
  LEFT JOIN forced fq ON fq.file_id = l.file_id AND fq.line_no = l.line_no
)
SELECT j.file_id, j.line_no, coalesce(j.forced_raw, j.line) AS raw_line,
  CASE
    WHEN j.problem = 0 THEN j.forced_reason
    WHEN p.reason = 'wrong number of fields'
      THEN 'expected ' || j.expected_fields || ' fields, got ' || j.n_fields
    ELSE p.reason
  END AS reason,
  CASE WHEN j.problem = 0 THEN j.forced_field ELSE p.field END AS field
FROM judged j LEFT JOIN problems p ON p.code = j.problem
WHERE j.problem IS NOT NULL
"""

_INSERT_CHECKS = """
INSERT INTO checks (<<names>>)
<<lines>>
SELECT <<values>>
FROM lines_in l
WHERE NOT EXISTS (SELECT 1 FROM bad b WHERE b.file_id = l.file_id AND b.line_no = l.line_no)
"""


_UNKNOWN_ISSUER = "r_issuer_sha1 NOT IN (SELECT issuer_sha1 FROM issuers)"


def _fill(template: str, **parts: str) -> str:
    for name, text in parts.items():
        template = template.replace(f"<<{name}>>", text)

    return template


def _lines_cte() -> str:
    """WITH clause defining `lines_in`: the batch's data lines cut into raw fields.

    Reads `stage_lines(file_id, line_no, line)` (every line of the batch's files) and
    `batch` (one row per file with its header context). `split` is materialised (one
    list per line, cheap): inlined, DuckDB would split the line again for every field
    referenced.
    """
    raws = ",\n".join(
        f"    CASE WHEN n_fields >= {_POSITION[f.name]} THEN v[{_POSITION[f.name]}] END"
        f" AS {_raw(f.name)}"
        for f in _ALL_FIELDS
    )

    return _fill(_LINES_CTE, raws=raws)


def bad_lines_sql() -> str:
    """Statement creating temp table `bad`: every data line that fails a check, with why.

    Only failing lines are materialised; good lines are typed straight from the stage
    by `insert_checks_sql`. `forced` holds lines whose reason Python already decided.
    """
    problem = "CASE " + " ".join(f"WHEN {c} THEN {code}" for code, c, _, _ in problems()) + " END"

    return _fill(_BAD_LINES, lines=_lines_cte(), problem=problem)


def insert_checks_sql() -> str:
    """Statement inserting every data line not in `bad` into `checks`, typed."""
    values = {f.name: _value(f) for f in _ALL_FIELDS}
    url = _raw("url")
    values["responder"] = f"lower(regexp_extract({url}, $responder_pattern, 1))"
    values["skew_flag"] = (
        f"({values['ts']} < CAST(day AS TIMESTAMP) - $skew_tolerance"
        f" OR {values['ts']} >= CAST(day AS TIMESTAMP) + INTERVAL 1 DAY + $skew_tolerance)"
    )
    values["unknown_issuer"] = _UNKNOWN_ISSUER
    for name in ("file_id", "line_no", "client", "day", "failure_mode", "region", "timeout_ms"):
        values[name] = name
    names = [name for name, _ in CHECK_COLUMNS]

    return _fill(
        _INSERT_CHECKS,
        names=", ".join(names),
        lines=_lines_cte(),
        values=",\n  ".join(values[n] for n in names),
    )


INSERT_QUARANTINE_SQL = """
INSERT INTO quarantine (file_id, path, line_no, raw_line, field, reason)
SELECT q.file_id, b.path, q.line_no, q.raw_line, q.field, q.reason
FROM bad q JOIN batch b USING (file_id)
ORDER BY q.file_id, q.line_no
"""
