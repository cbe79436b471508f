"""Starting a Spark session for the scale path: local mode, a cluster master, or Spark Connect.

PySpark is an optional dependency (the `scale` extra); nothing outside
`certsentry_analysis.spark` imports it, so the one-machine path never needs Java.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "4g"
CONNECT_SCHEME = "sc://"

# Settings every session gets. Timestamps in the warehouse are UTC wall-clock values,
# so the session time zone must be UTC or Spark shifts them by the JVM's zone.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}
# Extra settings for local mode only: the default 200 shuffle partitions make every
# small aggregation pay for 200 tasks on two cores, and the web UI only costs a port.
LOCAL_CONF: dict[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.driver.host": "127.0.0.1",
    # Thousands of explicit log paths: listing them on the driver beats a listing job.
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "1000000",
}


def java_available() -> bool:
    """True when a Java runtime is on PATH or under JAVA_HOME (local Spark needs one)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.path.exists(os.path.join(java_home, "bin", "java")):
        return True

    return shutil.which("java") is not None


def launched_by_spark_submit() -> bool:
    """True when this Python process is the driver spark-submit started (it set the gateway)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def is_connect(session: SparkSession) -> bool:
    """True for a Spark Connect session (no SparkContext, no RDDs on the client)."""
    return type(session).__module__.startswith("pyspark.sql.connect")


def is_local(master: str) -> bool:
    """True for `local`, `local[N]` and `local[*]` masters."""
    return master == "local" or master.startswith("local[")


def configure_environment(master: str) -> None:
    """Set the environment variables PySpark reads before it launches the JVM.

    Workers must run this interpreter (or they cannot import pandas/pyarrow from
    the venv); in local mode the driver binds to loopback because the machine's
    host name may not resolve. Values the user already exported win.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if is_local(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


def create_session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "certsentry",
    driver_memory: str = DEFAULT_DRIVER_MEMORY,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Start (or join) a Spark session on `master`.

    `master` is a Spark master URL (`local[2]`, `spark://host:7077`, `yarn`,
    `k8s://...`) or a Spark Connect endpoint (`sc://host:15002`). `conf` entries
    override the defaults. Driver memory only takes effect when this call starts
    the JVM; under spark-submit it comes from the command line instead.

    Raises RuntimeError when local mode is asked for and no Java runtime is found.
    """
    if not master:
        raise ValueError("Spark master must not be empty (e.g. local[2] or sc://host:15002)")

    if not master.startswith(CONNECT_SCHEME) and is_local(master) and not java_available():
        raise RuntimeError("local Spark needs a Java runtime (17 or newer) on PATH or JAVA_HOME")

    started = time.perf_counter()
    configure_environment(master)
    # py4j logs every gateway connection at INFO, which drowns the suite's own lines.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pyspark.sql import SparkSession

    settings = dict(BASE_CONF)
    if is_local(master):
        settings.update(LOCAL_CONF)
    settings.update(conf or {})

    builder = SparkSession.builder.appName(app_name)
    if master.startswith(CONNECT_SCHEME):
        # A Connect server owns its JVM: driver-side JVM settings do not apply there.
        builder = builder.remote(master)
    elif launched_by_spark_submit():
        # spark-submit already chose the master and sized the driver; keep its choice.
        log.info("running under spark-submit: ignoring master %s", master)
    else:
        builder = builder.master(master).config("spark.driver.memory", driver_memory)
    for key, value in settings.items():
        builder = builder.config(key, value)
    with quiet_pyspark_warnings():
        session = builder.getOrCreate()
    if not is_connect(session):
        # Failed queries raise in Python anyway; at ERROR the JVM also dumps each one as a
        # multi-kilobyte JSON stack trace on stderr.
        session.sparkContext.setLogLevel("FATAL")

    log.info(
        "spark session on %s (Spark %s) in %.1f s",
        master,
        session.version,
        time.perf_counter() - started,
    )

    return session


@contextmanager
def quiet_pyspark_warnings() -> Iterator[None]:
    """Silence PySpark's warnings about pandas 3, which say nothing actionable here.

    PySpark 4.3 warns that it does not fully support pandas 3 and uses a `copy`
    keyword pandas 3 deprecates; the conversions the suite uses were checked by
    the parity tests.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", module=r"pyspark\.")
        yield


@contextmanager
def spark_session(
    master: str = DEFAULT_MASTER,
    *,
    driver_memory: str = DEFAULT_DRIVER_MEMORY,
    conf: Mapping[str, str] | None = None,
) -> Iterator[SparkSession]:
    """A session that is stopped when the block ends (for commands and benchmarks)."""
    session = create_session(master, driver_memory=driver_memory, conf=conf)
    try:
        yield session
    finally:
        session.stop()
