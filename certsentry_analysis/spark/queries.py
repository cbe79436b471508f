"""Running the suite's engine-neutral SQL (rollups, validations) on Spark.

The rollup definitions live once, in DuckDB's dialect, in `certsentry_analysis.rollups`;
here they are transpiled to Spark SQL with sqlglot and run over a temporary view
`checks` on the warehouse's Parquet copy. Nothing in this module defines a rollup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import sqlglot
from sqlglot import exp

from certsentry_analysis.spark.session import quiet_pyspark_warnings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

CHECKS_VIEW = "checks"
SOURCE_DIALECT = "duckdb"
TARGET_DIALECT = "spark"


class SparkSQLError(ValueError):
    """A shared query cannot be transpiled to or run on Spark; names the query."""

    def __init__(self, name: str, message: str) -> None:
        self.name = name
        super().__init__(f"query {name!r}: {message}")


def _exact_percentile(value: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="percentile", expressions=[value.copy(), fraction.copy()])


def _disc_percentile(value: exp.Expression, fraction: exp.Expression) -> exp.Expression:
    # An anonymous function inside WITHIN GROUP is printed verbatim; the known
    # PercentileDisc node would be rewritten to Spark's approximate percentile.
    return exp.WithinGroup(
        this=exp.Anonymous(this="percentile_disc", expressions=[fraction.copy()]),
        expression=exp.Order(expressions=[exp.Ordered(this=value.copy(), desc=False)]),
    )


def _ordered_value(name: str, node: exp.WithinGroup) -> exp.Expression:
    order = node.expression
    keys = order.expressions if isinstance(order, exp.Order) else []
    if len(keys) != 1 or keys[0].args.get("desc"):
        raise SparkSQLError(name, f"unsupported ordered-set aggregate {node.sql('duckdb')!r}")

    return keys[0].this


def _exact_quantiles(name: str, node: exp.Expression) -> exp.Expression:
    """Keep DuckDB's exact quantiles exact on Spark.

    sqlglot prints DuckDB's `quantile_cont(x, q)` as `PERCENTILE_CONT(x, q)`,
    which Spark rejects, and its `WITHIN GROUP` form as `PERCENTILE_APPROX`,
    which gives different numbers. Spark's `percentile(x, q)` interpolates
    linearly between order statistics exactly like `quantile_cont`.
    """
    if isinstance(node, exp.WithinGroup) and isinstance(
        node.this, exp.PercentileCont | exp.PercentileDisc
    ):
        value = _ordered_value(name, node)
        fraction = node.this.this
        if isinstance(node.this, exp.PercentileCont):
            return _exact_percentile(value, fraction)
        return _disc_percentile(value, fraction)

    if isinstance(node, exp.PercentileCont) and node.args.get("expression") is not None:
        return _exact_percentile(node.this, node.expression)

    if isinstance(node, exp.PercentileDisc) and node.args.get("expression") is not None:
        return _disc_percentile(node.this, node.expression)

    return node


def to_spark_sql(name: str, sql: str) -> str:
    """Transpile one DuckDB-dialect statement to Spark SQL.

    Raises SparkSQLError when sqlglot cannot parse it or the text holds more than
    one statement (each shared query must be a single SELECT).
    """
    try:
        parsed = sqlglot.parse(sql, read=SOURCE_DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise SparkSQLError(name, f"cannot parse as DuckDB SQL: {exc}") from exc

    statements = [s for s in parsed if s is not None]
    if len(statements) != 1:
        raise SparkSQLError(name, f"expected one statement, got {len(statements)}")

    tree = statements[0].transform(lambda node: _exact_quantiles(name, node))
    try:
        return tree.sql(dialect=TARGET_DIALECT, unsupported_level=sqlglot.ErrorLevel.RAISE)
    except sqlglot.errors.SqlglotError as exc:
        raise SparkSQLError(name, f"cannot transpile to Spark SQL: {exc}") from exc


def register_checks(spark: SparkSession, parquet_dir: Path | str) -> DataFrame:
    """Expose the day-partitioned Parquet copy of the checks as the temp view `checks`."""
    location = str(parquet_dir)
    if "://" not in location and not Path(location).is_dir():
        raise FileNotFoundError(
            f"no Parquet copy of the checks at {location}; run `certsentry ingest` or "
            "`certsentry rollup --engine spark --raw ...` first"
        )

    frame = spark.read.option("basePath", location).parquet(location)
    frame.createOrReplaceTempView(CHECKS_VIEW)

    return frame


def run_queries(spark: SparkSession, queries: Mapping[str, str]) -> dict[str, DataFrame]:
    """Plan every shared query on Spark (lazily); the caller collects or writes them.

    Planning alone resolves every column and function, so a query Spark cannot run
    fails here, by name, before any data is read.
    """
    from pyspark.errors import PySparkException

    planned: dict[str, DataFrame] = {}
    for name, sql in queries.items():
        spark_sql = to_spark_sql(name, sql)
        log.debug("%s as Spark SQL: %s", name, spark_sql)
        try:
            planned[name] = spark.sql(spark_sql)
        except PySparkException as exc:
            raise SparkSQLError(name, f"Spark rejects the transpiled SQL: {exc}") from exc

    return planned


def collect(frame: DataFrame) -> pd.DataFrame:
    """Bring a (small, reduced) Spark result to the driver as pandas, via Arrow."""
    with quiet_pyspark_warnings():
        return frame.toPandas()


def collect_all(spark: SparkSession, queries: Mapping[str, str]) -> dict[str, pd.DataFrame]:
    """Run every shared query on Spark and return the result tables as pandas frames."""
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    tables: dict[str, pd.DataFrame] = {}
    for name, frame in run_queries(spark, queries).items():
        started = time.perf_counter()
        tables[name] = collect(frame)
        log.info(
            "spark %s: %d rows in %.1f s", name, len(tables[name]), time.perf_counter() - started
        )

    return tables


def write_all(
    spark: SparkSession, queries: Mapping[str, str], out_dir: Path | str
) -> dict[str, int]:
    """Run every shared query on Spark and write each result as Parquet under `out_dir/<name>`.

    For results too large to collect on the driver; returns the row count per table.
    """
    counts: dict[str, int] = {}
    for name, frame in run_queries(spark, queries).items():
        started = time.perf_counter()
        target = f"{str(out_dir).rstrip('/')}/{name}"
        frame.write.mode("overwrite").parquet(target)
        counts[name] = spark.read.parquet(target).count()
        log.info(
            "spark %s: %d rows to %s in %.1f s",
            name,
            counts[name],
            target,
            time.perf_counter() - started,
        )

    return counts


def run_rollups_spark(
    spark: SparkSession, parquet_dir: Path | str, names: Sequence[str] | None = None
) -> dict[str, pd.DataFrame]:
    """Run the shared rollups (`certsentry_analysis.rollups`) on Spark over the Parquet copy.

    Returns one DataFrame per rollup, sorted like `rollups.run_rollups_duckdb` sorts.
    """
    from certsentry_analysis import rollups

    register_checks(spark, parquet_dir)
    chosen = {name: rollups.ROLLUPS[name] for name in (names or tuple(rollups.ROLLUPS))}
    tables = collect_all(spark, chosen)

    return {
        name: frame.sort_values(list(rollups.ORDER_BY[name]), kind="stable").reset_index(drop=True)
        for name, frame in tables.items()
    }


def write_rollups_spark(
    spark: SparkSession,
    parquet_dir: Path | str,
    out_dir: Path | str,
    names: Sequence[str] | None = None,
) -> dict[str, int]:
    """Run the shared rollups on Spark and write each as Parquet under `out_dir/<name>/`."""
    from certsentry_analysis import rollups

    register_checks(spark, parquet_dir)
    chosen = {name: rollups.ROLLUPS[name] for name in (names or tuple(rollups.ROLLUPS))}

    return write_all(spark, chosen, out_dir)


def run_breakage_spark(
    spark: SparkSession, parquet_dir: Path | str, *, fallback: bool = True
) -> dict[str, pd.DataFrame]:
    """The breakage replay's engine-neutral reductions on Spark (all checks, no scope).

    Runs `certsentry_analysis.breakage.validations`: positions (kept as the temp view
    the validations query reads), validations and wire attempts per latency bin.
    The variants that drop client-side failures or scope by issuer need relations
    the replay builds in pandas and are not run here.
    """
    from certsentry_analysis.breakage import validations

    register_checks(spark, parquet_dir)
    positions_sql = to_spark_sql(
        "breakage_positions",
        validations.positions_sql(fallback=fallback, drop_client_side=False),
    )
    spark.sql(positions_sql).createOrReplaceTempView(validations.POSITIONS)
    queries = {
        "breakage_positions": f"SELECT * FROM {validations.POSITIONS}",  # noqa: S608
        "breakage_validations": validations.validations_sql(scoped=False),
        "breakage_attempts": validations.attempts_sql(drop_client_side=False),
    }

    return collect_all(spark, queries)
