"""The per-account feature tables an engine hands to the shared scoring code.

An engine (DuckDB or Spark) reads a log, reports malformed lines, and returns a
:class:`FeatureTables` of small pandas frames: one row per account, plus the
per-account details that linkage needs (top templates, prompt samples, hours of
day, models, infrastructure values, active time bins, logit-bias token counts).
Everything here is independent of the engine; it must not import one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from distillscope.records import MalformedLine

#: The frames every engine fills, with the columns of each.
FRAMES = {
    "accounts": None,  # see sqlparts.account_queries()["accounts"]
    "template_stats": ("account", "top_template_n", "sum_c_ln_c", "top_head_n"),
    "top_templates": ("account", "tmpl", "words", "cnt"),
    "samples": ("account", "sample_text"),
    "hours": ("account", "hod", "cnt"),
    "models": ("account", "model", "cnt", "first_ts", "last_ts"),
    "infra": ("account", "kind", "value", "cnt"),
    "bins": ("account", "bin"),
    "bias": ("account", "distinct_bias_ids"),
    "shared_prompts": ("account", "n_shared_prompts", "n_cross_model_prompts", "n_log_cross_model_prompts"),
}


@dataclass
class FeatureTables:
    """What an engine extracted from a log (pandas DataFrames keyed by frame name)."""

    frames: dict[str, Any]
    exchanges: int
    errors: list[MalformedLine] = field(default_factory=list)
    source: str = ""
    engine: str = ""

    def __getitem__(self, name: str) -> Any:
        return self.frames[name]

    @property
    def accounts(self) -> int:
        return len(self.frames["accounts"])


def account_frame(tables: FeatureTables) -> pd.DataFrame:
    """The accounts frame joined with the small per-account extras (bias ids, template stats)."""
    acc = tables["accounts"].copy()
    if acc.empty:
        return acc
    acc = acc.merge(tables["template_stats"], on="account", how="left")
    acc = acc.merge(tables["bias"], on="account", how="left")
    acc["distinct_bias_ids"] = acc["distinct_bias_ids"].fillna(0)
    if "shared_prompts" in tables.frames:
        acc = acc.merge(tables["shared_prompts"], on="account", how="left")
        for col in ("n_shared_prompts", "n_cross_model_prompts", "n_log_cross_model_prompts"):
            if col in acc:
                acc[col] = acc[col].fillna(0)
    for col in acc.columns:
        if col != "account":
            acc[col] = pd.to_numeric(acc[col], errors="coerce").astype(float)
    return acc.sort_values("account").reset_index(drop=True)
