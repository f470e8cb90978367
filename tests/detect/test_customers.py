"""One customer or several (detect/customers.py and scoring._several_customers).

- A hydra of ordinary-looking accounts behind a proxy pool, paying with two cards (half the accounts on
  each), is several customers running one playbook: one campaign. Before, the card that holds half of it
  made it "one customer".
- The same accounts on one card, or on two cards registered under one organisation, are one customer.
- Two customers behind one pool that are alike inside but not across (each its own playbook) are not tied
  to each other: the test across customers fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from distillscope.detect import coordination as coord
from distillscope.detect import customers as cust
from distillscope.detect import run_detection

from .test_coordination import _log


def _paying(tmp_path: Path, card_of: dict[str, str], org: str | None = None) -> tuple[Path, list[str]]:
    """test_coordination's log (150 people, a hydra of 10 behind a proxy pool), the hydra paying with
    ``card_of`` (account -> payment id) and, with ``org``, registered under one organisation."""
    import json

    log, hydra = _log(tmp_path)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    for r in rows:
        if r["account"] in card_of:
            r["payment_id"] = card_of[r["account"]]
            if org:
                r["org"] = org
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return log, hydra


def _two_cards(hydra: list[str]) -> dict[str, str]:
    return {a: ("card_a" if i % 2 else "card_b") for i, a in enumerate(hydra)}


def test_a_hydra_paying_with_two_cards_is_one_campaign(tmp_path: Path) -> None:
    log, hydra = _paying(tmp_path, {})
    card_of = _two_cards(hydra)
    log, hydra = _paying(tmp_path, card_of)
    result = run_detection(log, tmp_path / "out")
    by = {r["account"]: r for r in result.accounts}
    flagged = [a for a in hydra if by[a]["flagged"]]
    assert len(flagged) >= 8
    assert len({by[a]["campaign"] for a in flagged}) == 1
    reasons = by[flagged[0]]["reasons"]
    assert any(r.startswith("not one customer: ") and "card_a" in r and "card_b" in r for r in reasons)
    assert [a for a in by if a.startswith("user") and by[a]["flagged"]] == []


def test_one_card_or_one_organisation_is_one_customer(tmp_path: Path) -> None:
    log, hydra = _paying(tmp_path, dict.fromkeys([f"hydra{k:02d}" for k in range(10)], "card_a"))
    assert [a for a in hydra if a in run_detection(log, tmp_path / "one").flagged] == []
    log, hydra = _paying(tmp_path, _two_cards([f"hydra{k:02d}" for k in range(10)]), org="org_acme")
    assert [a for a in hydra if a in run_detection(log, tmp_path / "org").flagged] == []


def test_customers_join_on_payment_or_organisation() -> None:
    site_of = {
        "a": {"payment:p1"},
        "b": {"payment:p1", "org:o1"},
        "c": {"payment:p2", "org:o1"},  # another card, the same organisation: the same customer
        "d": {"payment:p3", "ip24:10.0.0.0/24"},
        "e": {"ip24:10.0.0.0/24"},  # a range names no payer
    }
    assert cust.customers(list(site_of), site_of) == [["a", "b", "c"], ["d"], ["e"]]
    # two payers of three accounts each, not behind one range: several customers
    two = {f"x{i}": {f"payment:{'p1' if i < 3 else 'p2'}"} for i in range(6)}
    assert cust.several_customers(sorted(two), two) == [["x0", "x1", "x2"], ["x3", "x4", "x5"]]
    # a second payer of two accounts is a company's stragglers
    straggle = {f"x{i}": {f"payment:{'p1' if i < 4 else 'p2'}"} for i in range(6)}
    assert cust.several_customers(sorted(straggle), straggle) == []
    # most behind one range: one site, whoever pays
    office = {a: v | {"ip24:10.0.0.0/24"} for a, v in two.items()}
    assert cust.several_customers(sorted(office), office) == []


def _population(rng: np.random.Generator, play: dict[str, tuple[float, float]]) -> tuple[Any, pd.DataFrame]:
    """Accounts with (answer length, reasoning rate) of their own and prompts of their own, except the
    accounts of ``play``, which share a topic per playbook value."""
    rows, samples = [], {}
    for i in range(200):
        a = f"p{i:03d}"
        rows.append((a, 40.0, float(rng.uniform(4.0, 7.0)), float(rng.uniform(0, 0.5))))
        samples[a] = [f"{a} {rng.integers(1e9)} ask {rng.integers(1e9)}" for _ in range(8)]
    for a, (length, cot) in play.items():
        rows.append((a, 40.0, length, cot))
        samples[a] = [f"explain the topic {int(length * 10)} in detail {j}" for j in range(8)]
    sig = pd.DataFrame(rows, columns=["account", "n", "answer_len", "cot_rate"])
    sig["mean_max_tokens"] = np.nan
    sig["lp_rate"] = 0.0
    names = sig["account"].tolist()
    return coord.PromptSpace.build(names, samples), sig


def test_one_playbook_across_customers_passes_two_playbooks_do_not() -> None:
    rng = np.random.default_rng(3)
    a_side = [f"a{i}" for i in range(5)]
    b_side = [f"b{i}" for i in range(5)]
    same = {a: (6.5, 0.0) for a in a_side + b_side}
    space, sig = _population(rng, same)
    reference = [f"p{i:03d}" for i in range(200)]
    p, stats = cust.across_customers([a_side, b_side], sig, space, reference)
    assert p <= 1e-4 and stats["topic"] > stats["topic_null"] and stats["playbook"] > stats["playbook_null"]
    # each customer alike inside, but its own topic and parameters: nothing ties them to each other
    apart = {**{a: (4.2, 0.0) for a in a_side}, **{b: (6.9, 0.45) for b in b_side}}
    space, sig = _population(np.random.default_rng(3), apart)
    p_apart, _ = cust.across_customers([a_side, b_side], sig, space, reference)
    assert p_apart > 0.01
    # the same p in every run (the generator is seeded from the members' names)
    assert cust.across_customers([a_side, b_side], sig, space, reference)[0] == p_apart
