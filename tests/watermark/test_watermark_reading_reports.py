"""Reading-mode reports are built by one helper: their JSON is unchanged by that refactor.

``tests/watermark/data/reading-reports.json`` was written by the code before
``score_predictions`` and ``score_own_texts`` shared their report-building block
(regenerate only on a deliberate change of output: ``python -m
tests.watermark.test_watermark_reading_reports``). The case is small and fixed: a
known secret, seeded synthetic texts under two accounts' keys, and a "suspect"
whose predictions copy the text at some positions and are random at others.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from distillscope.models.generate import Forced
from distillscope.watermark.config import WatermarkSettings
from distillscope.watermark.processor import processors_for_account
from distillscope.watermark.radioactivity import (
    candidates_with_controls,
    score_own_texts,
    score_predictions,
)

VOCAB = 1000
GOLDEN = Path(__file__).parent / "data" / "reading-reports.json"
SECRET = "test-master-secret-0123456789abcdef"  # the conftest's secret_env


def _forced_case(config: WatermarkSettings, synthetic_texts: Any) -> tuple[list[Forced], list[str]]:
    forced, owners = [], []
    rng = np.random.default_rng(5)
    for i, account in enumerate(["alice", "bob", "carol"]):
        processor = processors_for_account(config, account)[0] if account != "carol" else None
        topic = list(range(100 + 30 * i, 130 + 30 * i))
        for ids in synthetic_texts(6, 40, VOCAB, processor=processor, seed=20 + i, peak=1.0, allowed=topic):
            # copies the text's next token 60 % of the time, else a random one: some green, some not
            predictions = [t if rng.random() < 0.6 else int(rng.integers(VOCAB)) for t in ids[2:]]
            forced.append(Forced(ids, 2, predictions, [0.0] * len(predictions)))
            owners.append(account)
    return forced, owners


def reading_reports(synthetic_texts: Any) -> dict[str, Any]:
    """Every report-building path of reading mode on the fixed case, as JSON."""
    config = WatermarkSettings(vocab_size=VOCAB, delta=3.0, min_tokens=20)
    forced, owners = _forced_case(config, synthetic_texts)
    accounts = ["alice", "bob", "dave"]
    out: dict[str, Any] = {}
    for fresh in (True, False):
        candidates = candidates_with_controls(config, accounts, controls=4, control_accounts=["carol"])
        out[f"all-texts-fresh-{fresh}"] = score_predictions(
            forced, config, candidates, vocab_size=VOCAB, alpha=1e-3, suspect="s", fresh_seeds=fresh
        ).to_dict()
        out[f"own-texts-fresh-{fresh}"] = score_own_texts(
            forced,
            owners,
            config,
            accounts,
            vocab_size=VOCAB,
            controls=4,
            control_accounts=["carol"],
            alpha=1e-3,
            suspect="s",
            fresh_seeds=fresh,
        ).to_dict()
    return json.loads(json.dumps(out))


def _same(a: Any, b: Any, where: str = "") -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300), (where, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (where, list(a), b)
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def test_reading_reports_are_unchanged_by_the_shared_report_builder(secret_env, synth):
    golden = json.loads(GOLDEN.read_text())
    now = reading_reports(synth)
    _same(golden, now)
    # the case exercises what it should: a harvester named, controls read per account, a text p per key
    own = now["own-texts-fresh-True"]
    assert own["attributed"] and own["mode"] == "reading-own-texts"
    assert any(k["name"].startswith("control-key-1@") for k in own["keys"])
    assert set(now["all-texts-fresh-True"]["reading_text_p"]) == {"alice", "bob", "dave"}


if __name__ == "__main__":  # regenerate the golden file (only on a deliberate change of output)
    os.environ["DISTILLSCOPE_WATERMARK_SECRET"] = SECRET
    from distillscope.watermark.greenlist import single_thread
    from tests.watermark.conftest import synthetic_texts

    with single_thread():
        GOLDEN.write_text(json.dumps(reading_reports(synthetic_texts), indent=1) + "\n")
    print(GOLDEN)
