"""Line checks and typing for the Spark log parser, mirroring ingestion's SQL.

Each rule is the Spark column expression of one rule in
`certsentry_analysis.ingest.parse_sql` (same order, limits, patterns and reason
texts, all taken from `parse_sql.parse_parameters()`), so a line is quarantined for
the same reason on both engines and a good line gets the same typed values.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as sf

from certsentry_analysis import logformat

ALL_FIELDS = logformat.fields_for(logformat.LATEST_VERSION)
# Largest value of each unsigned DuckDB type, so Spark (which has none) rejects the same.
_UNSIGNED_MAX = {
    "UTINYINT": 255,
    "USMALLINT": 65535,
    "UINTEGER": 4294967295,
    "UBIGINT": 18446744073709551615,
}
_SIGNED_MAX = {"INTEGER": 2147483647, "BIGINT": 9223372036854775807}
# Spark types that read back like DuckDB's Parquet columns (Spark has no unsigned types).
SPARK_TYPE = {
    "VARCHAR": "string",
    "TIMESTAMP": "timestamp_ntz",
    "DOUBLE": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "UTINYINT": "smallint",
    "USMALLINT": "int",
    "UINTEGER": "bigint",
    "UBIGINT": "decimal(20,0)",
}
_ESCAPED_BYTE = r"\\x([0-9a-fA-F]{2})"


def _only_chars(raw: Column, pattern: str) -> Column:
    return raw.rlike(f"^[{pattern}]*$")


def _count_bad(f: logformat.Field, raw: Column) -> Column:
    limit = _UNSIGNED_MAX.get(f.duckdb_type) or _SIGNED_MAX[f.duckdb_type]
    number = raw.try_cast("decimal(38,0)")

    return ~_only_chars(raw, "0-9") | number.isNull() | (number > sf.lit(Decimal(limit)))


def _field_checks(f: logformat.Field, params: dict[str, Any]) -> list[tuple[Column, str]]:
    """(condition that makes the raw value bad, reason) pairs, as ingestion's `_checks`."""
    raw = sf.col(f"r_{f.name}")
    is_set = raw != "-"
    out: list[tuple[Column, str]] = []
    if f.name in logformat.REQUIRED_FIELDS:
        out.append((raw == "-", "required field is unset"))
    if f.zeek_type == "time":
        value = raw.try_cast("double")
        bad = (
            ~_only_chars(raw, "0-9.")
            | value.isNull()
            | ~value.between(params["time_min"], params["time_max"])
        )
        out.append((is_set & bad, "bad time value"))
    elif f.zeek_type == "count":
        reason = f"bad count value (not a {f.duckdb_type})"
        out.append((is_set & _count_bad(f, raw), reason))
        if f.name == "http_status":
            status = raw.try_cast("int")
            out.append((is_set & ~status.between(100, 599), "out of range"))
        if f.name == "bytes":
            out.append((is_set & (raw.try_cast("bigint") > params["bytes_max"]), "out of range"))
    elif f.zeek_type == "interval":
        value = raw.try_cast("double")
        bad = ~_only_chars(raw, "0-9.") | value.isNull() | (value > params["latency_max"])
        out.append((is_set & bad, "bad or out-of-range interval value"))
    elif f.zeek_type == "bool":
        out.append((is_set & ~raw.isin("T", "F"), "bad bool value (not T or F)"))
    elif f.allowed is not None:
        out.append((is_set & ~raw.isin(*params[f"enum_{f.name}"]), "not an allowed value"))
    elif f"pattern_{f.name}" in params:
        pattern = f"^(?:{params[f'pattern_{f.name}']})$"
        out.append((is_set & ~raw.rlike(pattern), "malformed hex digest or serial"))

    return out


def problem_columns(params: dict[str, Any]) -> tuple[Column, Column]:
    """The first problem of a line and the field it is in (NULL for a good line).

    One CASE picks the number of the first rule that fires; reason and field are
    then looked up by that number, so the long rule list is evaluated once per line.
    """
    line = sf.col("value")
    expected = sf.when(sf.col("version") == 1, params["field_count_v1"]).otherwise(
        params["field_count_v2"]
    )
    rules: list[tuple[Column, str | None, str | None]] = [
        (sf.col("forced_reason").isNotNull(), None, None),
        (line.isNull() | (line == ""), "empty line", None),
        (line.startswith("#"), "unexpected directive line", None),
        (sf.col("n_fields") != expected, None, None),
    ]
    for f in ALL_FIELDS:
        for condition, why in _field_checks(f, params):
            rules.append((condition, why, f.name))
    rules.append((sf.col("responder") == "", "url has no host", "url"))

    # A NULL condition (a v2 field of a v1 line) is not a problem, as in SQL CASE.
    first = sf.when(sf.coalesce(rules[0][0], sf.lit(False)), 1)
    for number, (condition, _, _) in enumerate(rules[1:], start=2):
        first = first.when(sf.coalesce(condition, sf.lit(False)), number)
    rule = sf.col("_rule")
    reasons = sf.array(*[sf.lit(why or "") for _, why, _ in rules])
    fields = sf.array(*[sf.lit(where).cast("string") for _, _, where in rules])
    reason = (
        sf.when(rule.isNull(), None)
        .when(rule == 1, sf.col("forced_reason"))
        .when(rule == 4, sf.format_string("expected %d fields, got %d", expected, "n_fields"))
        .otherwise(sf.element_at(reasons, rule))
    )
    field = sf.when(rule == 1, sf.col("forced_field")).otherwise(sf.element_at(fields, rule))

    return first, sf.struct(reason.alias("reason"), field.alias("field"))


def _unescape(raw: Column) -> Column:
    """logformat.unescape in Spark SQL: `\\xHH` escapes become the characters they name.

    Percent signs and plus signs are protected first so `url_decode` only turns
    the former escapes back. Escapes above 0x7f never come from the log writer
    (it escapes control characters and the backslash only).
    """
    protected = sf.replace(sf.replace(raw, sf.lit("%"), sf.lit("%25")), sf.lit("+"), sf.lit("%2B"))
    decoded = sf.try_url_decode(sf.regexp_replace(protected, _ESCAPED_BYTE, "%$1"))

    return (
        sf.when(raw == "(empty)", sf.lit(""))
        .when(raw.contains("\\"), sf.coalesce(decoded, raw))
        .otherwise(raw)
    )


def typed_value(f: logformat.Field) -> Column:
    """The typed value of one field of a good line, as ingestion's `_value`."""
    raw = sf.col(f"r_{f.name}")
    if f.zeek_type == "time":
        millis = sf.round(raw.try_cast("double") * 1000).try_cast("bigint")
        typed = sf.timestamp_millis(millis).cast("timestamp_ntz")
    elif f.zeek_type in {"count", "interval"}:
        typed = raw.try_cast(SPARK_TYPE[f.duckdb_type])
    elif f.zeek_type == "bool":
        typed = raw == "T"
    elif f.allowed is not None:
        typed = raw
    else:
        typed = _unescape(raw)
    if f.optin_only:
        typed = sf.when(sf.col("ee_optin"), typed)

    return sf.when(raw != "-", typed).cast(SPARK_TYPE[f.duckdb_type])
