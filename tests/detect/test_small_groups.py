"""scoring._small_groups: campaigns of three or four accounts, an evidence-dependent minimum group size.

A slow-and-low campaign scaled down with a small log leaves three or four quiet members (each asks for
reasoning in every request but collects little) and one busy member flagged alone. Such a group becomes
a campaign only when its typical member is extraordinary on its own (p_own <= alpha squared), the member
flagged alone sits inside its topics and playbook, and the group beats random volume-matched sets of the
same size drawn from the log on topic and parameters. Three benign harvesters that merely look alike in
parameters, or four look-alike accounts whose own evidence is only ordinary-strong, stay out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect import scoring
from distillscope.detect.calibrate import p_of_score
from distillscope.detect.communities import Community
from distillscope.detect.settings import FLAG_THRESHOLD

ALPHA = p_of_score(FLAG_THRESHOLD)
TOPIC = ["chlorophyll", "photosystem", "thylakoid", "stroma", "calvin", "rubisco", "stomata", "xylem"]
QUIET = ["quiet0", "quiet1", "quiet2", "quiet3"]


def _scene(p_own_quiet: float, on_topic: bool = True) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Four quiet members, one busy member (flagged alone) and 200 ordinary accounts."""
    rng = np.random.default_rng(0)
    vocabulary = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 7)) for _ in range(600)]

    def prompts(words: list[str]) -> list[str]:
        return [" ".join(str(rng.choice(words)) for _ in range(8)) for _ in range(20)]

    def row(a: str, n: int, tokens: float, cot: float, p_own: float, p_reach: float) -> dict[str, object]:
        return {
            "account": a,
            "n": float(n),
            "distinct_prompts": float(n),
            "shared_prompts": 0.0,
            "answer_tokens": tokens,
            "answer_len": float(np.log(tokens)),
            "mean_max_tokens": 2048.0 if cot > 0.5 else float(rng.choice([256, 512, 1024])),
            "cot_rate": cot,
            "lp_rate": 0.0,
            "reach": float(np.log(n * tokens)),
            "p_own": p_own,
            "p_reach": p_reach,
        }

    rows, samples = [], {}
    for i, a in enumerate(QUIET):
        own_words = TOPIC if on_topic else list(rng.choice(vocabulary, 40))
        samples[a] = prompts(own_words)
        rows.append(row(a, 40 + 30 * i, 1500.0, 0.9, p_own_quiet, 0.1))
    samples["busy"] = prompts(TOPIC)
    rows.append(row("busy", 300, 1500.0, 0.9, 1e-15, 0.005))
    for i in range(200):
        a = f"person{i:03d}"
        samples[a] = prompts(list(rng.choice(vocabulary, 40)))
        n, tokens, cot = int(rng.integers(10, 200)), float(rng.uniform(100, 500)), float(rng.uniform(0, 0.2))
        rows.append(row(a, n, tokens, cot, 0.5, 0.5))
    return pd.DataFrame(rows), samples


def _small(p_own_quiet: float, on_topic: bool = True) -> list[list[str]]:
    sig, samples = _scene(p_own_quiet, on_topic)
    community = Community(
        members=QUIET, cohesion=0.9, cohesion_p=2e-3, duplicate_share=0.0, edges=6, infra_edges=0
    )
    found = scoring._small_groups([community], sig, samples, None, ALPHA, scoring.Tuning(), {"busy"}, {}, {})
    return [grp.members for grp, _facts in found]


def test_a_small_group_of_extraordinary_members_is_a_campaign_with_its_busy_member() -> None:
    assert _small(1e-9) == [sorted([*QUIET, "busy"])]


def test_a_small_group_needs_members_extraordinary_on_their_own() -> None:
    # the same group, each member's own evidence at 1e-4 (under alpha, over alpha squared): not enough
    assert _small(1e-4) == []


def test_a_small_group_of_strangers_is_no_campaign() -> None:
    # four heavy reasoning askers on topics of their own: alike in parameters only
    assert _small(1e-9, on_topic=False) == []
