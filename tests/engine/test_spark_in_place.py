"""On Spark the executors do the reading where the files are: a native export's pre-scan
runs on them, and they hash files up to a size the Spark settings may move."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cloudtally.engine import SparkEngine
from cloudtally.errors import IngestError, UnsupportedError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store

pytestmark = pytest.mark.spark


def test_a_native_export_s_check_of_every_row_runs_on_spark_and_refuses_as_on_duckdb(
    tmp_path: Path, spark_engine: SparkEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pre-scan of a native export (one currency per account-period; an Azure file's
    view) runs on the engine's executors, which read the file where it is (as an export in an
    object store is read: the driver has only its header), not in a DuckDB of its own."""
    import cloudtally.ingest.formats.prescan as prescan
    from tests.ingest.formats.test_azure import COST_DETAILS, rewrite_csv

    def refused_here(*args: object, **kwargs: object) -> None:
        raise AssertionError("the pre-scan read the file on the driver")

    monkeypatch.setattr(prescan, "duckdb", type("NoDuckDB", (), {"connect": refused_here}))

    def euro(header: list[str], rows: list[list[str]]) -> None:
        rows[3][header.index("BillingCurrencyCode")] = "EUR"
        rows[5][header.index("BillingCurrencyCode")] = "USD"

    path = rewrite_csv(COST_DETAILS, tmp_path / "mixed-currency.csv", euro)
    lake = tmp_path / "lake"
    with pytest.raises(IngestError) as refused:
        ingest(Store(lake, spark_engine), [path])
    assert str(refused.value) == (
        f"{path}: column BillingCurrencyCode holds CAD and EUR and USD for billing account "
        "12345678 in 2023-09; one account's invoice has one currency. The file mixes exports: "
        "split it by currency (or re-export) and run again."
    )
    assert not (lake / "catalog.json").exists()


def test_a_pre_scan_that_fails_on_spark_stops_the_ingest(
    tmp_path: Path, spark_engine: SparkEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pre-scan whose job fails (an executor lost, a read refused) is not taken as a file
    with nothing to say: its answer decides how the file converts (an Azure file's view) and
    what is refused. The ingest stops, naming the file; nothing is stored."""
    from cloudtally.engine.spark import SparkConnection, SparkQueryError
    from tests.ingest.formats.test_azure import FIXTURES

    executed = SparkConnection.execute

    def lost(self: SparkConnection, sql: str, parameters: object = None) -> SparkConnection:
        if "AS currencies" in sql:
            raise SparkQueryError("Job aborted due to stage failure: executor lost")
        return executed(self, sql, parameters)  # type: ignore[arg-type]

    monkeypatch.setattr(SparkConnection, "execute", lost)
    amortized = FIXTURES / "ea-amortized-small.csv"
    lake = tmp_path / "lake"
    with pytest.raises(IngestError) as refused:
        ingest(Store(lake, spark_engine), [amortized])
    assert str(refused.value) == (
        f"{amortized}: cannot be read: Job aborted due to stage failure: executor lost"
    )
    assert not (lake / "catalog.json").exists()


def test_the_largest_file_executors_hash_is_a_spark_setting(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    """Files up to 128 MiB are hashed by the executors (each held whole in an executor's
    memory), the others by the driver; `spark.cloudtally.executorHashLimit` moves the bound
    for executors with the memory (at most binaryFile's 2 GiB)."""
    from cloudtally.engine.spark import HASH_LIMIT_SETTING, executor_sha256s, spark_session

    store = Store(tmp_path / "lake")
    files = {"lake/small.bin": b"s" * 1000, "lake/large.bin": b"l" * 5000}
    for path, data in files.items():
        (store.data_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (store.data_dir / path).write_bytes(data)
    sizes = {path: len(data) for path, data in files.items()}
    digests = {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}
    conf = spark_session(spark_engine.master).conf
    try:
        assert executor_sha256s(spark_engine.master, store, list(files), sizes) == digests
        for limit, hashed in (("1k", ["lake/small.bin"]), ("5000", list(files)), ("999", [])):
            conf.set(HASH_LIMIT_SETTING, limit)
            found = executor_sha256s(spark_engine.master, store, list(files), sizes)
            assert found == {path: digests[path] for path in hashed}
        conf.set(HASH_LIMIT_SETTING, "lots")
        with pytest.raises(UnsupportedError) as refused:
            executor_sha256s(spark_engine.master, store, list(files), sizes)
        assert str(refused.value) == (
            "spark.cloudtally.executorHashLimit = 'lots': give the largest file Spark's "
            "executors may hash (each held whole in an executor's memory) in bytes, or with k, "
            "m or g (512m)."
        )
    finally:
        conf.unset(HASH_LIMIT_SETTING)


def test_a_file_whose_name_reads_as_a_pattern_is_read_and_hashed_itself(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    """Hadoop's paths take `[1]` and `{1,2}` as patterns, as DuckDB's readers take `[1]`: the
    executors read `aws[1].csv`, not `aws1.csv` beside it, and hash `r[1].bin`, not `r1.bin`."""
    from cloudtally.engine.spark import executor_sha256s
    from tests.ingest.test_discovery import BY_SOURCE, pattern_named_exports

    exports, lines = pattern_named_exports(tmp_path / "exports")
    lake = tmp_path / "lake"
    ingest(Store(lake, spark_engine), exports)
    assert Store(lake).connect().execute(BY_SOURCE).fetchall() == lines
    store = Store(tmp_path / "hashed")
    files = {"lake/r[1].bin": b"bracketed", "lake/r1.bin": b"plain", "lake/s{1,2}.bin": b"braced"}
    for path, data in files.items():
        (store.data_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (store.data_dir / path).write_bytes(data)
    sizes = {path: len(data) for path, data in files.items()}
    assert executor_sha256s(
        spark_engine.master, store, ["lake/r[1].bin", "lake/s{1,2}.bin"], sizes
    ) == {
        "lake/r[1].bin": hashlib.sha256(b"bracketed").hexdigest(),
        "lake/s{1,2}.bin": hashlib.sha256(b"braced").hexdigest(),
    }
