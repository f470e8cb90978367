"""Fixtures for detect tests: hand-built logs, one small simulation shared by the session, Spark."""

from __future__ import annotations

import shutil
from typing import Any

import pytest


@pytest.fixture(scope="session")
def standard_sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One simulated log with every campaign style and hard negative, detected once with DuckDB."""
    from distillscope.detect import run_detection
    from distillscope.detect.evaluation import load_labels
    from distillscope.simulate.classic import simulate_traffic

    out = tmp_path_factory.mktemp("sim")
    sim = simulate_traffic(out, benign_users=130, days=4, seed=11, scale=0.6)
    result = run_detection(sim.exchanges_path, out / "detect")
    return {"sim": sim, "result": result, "labels": load_labels(sim.labels_path), "dir": out}


@pytest.fixture(scope="session")
def randomized_sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One scenario of the independent randomised simulator, detected once with DuckDB."""
    from distillscope.detect import run_detection
    from distillscope.detect.evaluation import load_labels
    from distillscope.simulate import simulate_randomized

    out = tmp_path_factory.mktemp("rsim")
    sim = simulate_randomized(out, seed=2, benign=250)  # a development seed (bench uses others)
    result = run_detection(sim.exchanges_path, out / "detect")
    return {"sim": sim, "result": result, "labels": load_labels(sim.labels_path), "dir": out}


@pytest.fixture(scope="session")
def spark_session():
    """A local Spark session (1 core) shared by the Spark tests.

    Without pyspark or Java the tests FAIL (they must not skip silently in CI):
    ``scripts/setup.sh`` installs pyspark and ``scripts/ci-services.sh`` Java 17.
    Deselect them explicitly (``-m "not spark"``) where Spark is not wanted.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        pytest.fail("the Spark engine tests need pyspark (pip install 'distillscope[spark]')", pytrace=False)
    if shutil.which("java") is None:
        pytest.fail(
            "the Spark engine tests need a Java runtime (scripts/ci-services.sh installs Java 17)",
            pytrace=False,
        )
    from distillscope.detect.engines.spark_engine import session

    spark = session("local[1]")
    spark.sparkContext.setLogLevel("ERROR")
    # tiny test logs: compiling code and adaptive re-planning cost more than they save
    spark.conf.set("spark.sql.codegen.wholeStage", "false")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    spark.conf.set("spark.sql.shuffle.partitions", "1")
    yield spark
    spark.stop()
