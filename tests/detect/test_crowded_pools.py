"""Crowded addresses (above the links' cap) never link accounts, but a pool of them is put to the behaviour
tests as a group (``linkage.Links.crowded``, ``coordination.crowded_groups``): a hydra behind a proxy pool
of its own passes (one topic, one playbook), a carrier NAT's ordinary users (every topic, their own
parameters) are refused by behaviour, not by their addresses."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import coordination as coord
from distillscope.detect.linkage import build_links

from .helpers import topic_scene

TOPICS, PER_TOPIC = 12, 10


def _playbook(topic: int, index: int, rng: np.random.Generator) -> dict[str, float]:
    if topic == 0:  # the hydra: one script's parameters
        return {"answer_len": 900 + rng.normal(0, 5), "mean_max_tokens": 2048.0, "cot_rate": 0.9}
    return {
        "answer_len": float(rng.uniform(50, 1200)),
        "mean_max_tokens": float(rng.choice([256.0, 512.0, 1024.0, 4096.0])),
        "cot_rate": float(rng.uniform(0, 0.5)),
    }


def _scene() -> tuple[list[str], coord.PromptSpace, pd.DataFrame, list[str], list[str]]:
    names, space, sig = topic_scene(TOPICS, PER_TOPIC, _playbook)
    hydra = [a for a in names if a.startswith("t00-")]
    crowd = [a for a in names if not a.startswith("t00-") and int(a[-2:]) < 3]  # 33 people, every topic
    return names, space, sig, hydra, crowd


def _infra(hydra: list[str], crowd: list[str]) -> pd.DataFrame:
    rows = [(a, "ip", f"10.9.9.{i}", 20) for a in hydra for i in range(5)]  # the proxy pool: 5 addresses
    rows += [(a, "ip", f"100.64.0.{i}", 20) for a in crowd for i in range(3)]  # the carrier NAT: 3
    rows += [(a, "ua", "Mozilla/5.0", 20) for a in hydra + crowd]
    return pd.DataFrame(rows, columns=["account", "kind", "value", "cnt"])


def test_crowded_pools_are_grouped_but_never_linked() -> None:
    names, _space, sig, hydra, crowd = _scene()
    n_by = dict(zip(sig["account"], sig["n"], strict=True))
    empty = pd.DataFrame(columns=["account", "tmpl", "words", "cnt", "sample_text"])
    bins = pd.DataFrame(columns=["account", "bin"])
    links = build_links(names, n_by, empty, empty, _infra(hydra, crowd), bins, cap=8, population=len(names))
    assert not any("ip" in kinds for kinds in links.pair_weight.values())  # crowded: no link
    assert coord.crowded_groups(links, names, set()) == [sorted(crowd), sorted(hydra)]
    assert coord.crowded_groups(links, names, set(hydra[:4])) == [sorted(crowd), sorted(hydra[4:])]


def test_behaviour_passes_the_proxy_pool_and_refuses_the_carrier_nat() -> None:
    names, space, sig, hydra, crowd = _scene()
    nat, pool = coord.test_groups([crowd, hydra], sig, space, grouped_on="crowded", population=names)
    assert pool.p_value <= 1e-3 and len(pool.members) >= 8
    assert set(pool.members) <= set(hydra)
    assert nat.p_value > 0.05
