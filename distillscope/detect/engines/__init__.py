"""Detection engines: DuckDB (embedded, the default) and PySpark (for logs beyond one machine).

Each engine turns a log into :class:`~distillscope.detect.tables.FeatureTables`
with the same SQL (:mod:`distillscope.detect.sqlparts`); scoring is shared.
"""

from __future__ import annotations

ENGINES = ("duckdb", "spark")
