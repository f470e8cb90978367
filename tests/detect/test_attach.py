"""coordination.attach: an account inside a campaign's topics and playbook joins it; how many accounts are
tried raises the bar (every pairing is a test), so a borderline look-alike does not join when hundreds
are tried, a clear member still does, and unrelated accounts never do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from distillscope.detect.coordination import attach

CAMPAIGN_WORDS = [
    "chlorophyll",
    "photosystem",
    "thylakoid",
    "stroma",
    "calvin",
    "rubisco",
    "stomata",
    "xylem",
]


def _scene(
    share: float, answer_len: float, cot: float
) -> tuple[pd.DataFrame, dict[str, list[str]], list[str]]:
    """A campaign of 6, 80 reference accounts, one account ``edge`` (``share`` of its words on the
    campaign's topic) and 300 unrelated accounts ``other*``."""
    rng = np.random.default_rng(0)
    other_words = ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), 7)) for _ in range(400)]

    def prompts(q: float) -> list[str]:
        return [
            " ".join(str(rng.choice(CAMPAIGN_WORDS if rng.random() < q else other_words)) for _ in range(6))
            for _ in range(8)
        ]

    def person(a: str) -> tuple[str, int, float, float, float, float]:
        return (
            a,
            int(rng.integers(20, 300)),
            float(np.log(rng.uniform(60, 900))),
            float(rng.choice([256, 512, 1024, 2048])),
            float(rng.uniform(0, 0.3)),
            0.0,
        )

    def background() -> float:  # most people never touch the campaign's topic, a few now and then
        return 0.0 if rng.random() < 0.9 else float(rng.uniform(0.1, 0.4))

    rows, samples = [], {}
    for i in range(6):
        samples[f"camp{i}"] = prompts(0.5 + 0.1 * i)
        rows.append((f"camp{i}", 150, float(np.log(450 + 100 * i)), 2048.0, 0.5 + 0.08 * i, 0.0))
    for i in range(80):
        samples[f"ref{i:02d}"] = prompts(background())
        rows.append(person(f"ref{i:02d}"))
    samples["edge"] = prompts(share)
    rows.append(("edge", 150, float(np.log(answer_len)), 2048.0, cot, 0.0))
    for i in range(300):
        samples[f"other{i:03d}"] = prompts(background())
        rows.append(person(f"other{i:03d}"))
    sig = pd.DataFrame(rows, columns=["account", "n", "answer_len", "mean_max_tokens", "cot_rate", "lp_rate"])
    pool = [r[0] for r in rows if not r[0].startswith("other")]
    return sig, samples, pool


def _joins(share: float, answer_len: float, cot: float, tried: int) -> dict[str, str]:
    sig, samples, pool = _scene(share, answer_len, cot)
    campaigns = {"c": [f"camp{i}" for i in range(6)]}
    singles = ["edge"] + [f"other{i:03d}" for i in range(tried)]
    return attach(singles, campaigns, sig, samples, None, pool)


def test_a_clear_member_joins_however_many_accounts_are_tried() -> None:
    assert _joins(0.5, 700, 0.8, 0) == {"edge": "c"}
    assert _joins(0.5, 700, 0.8, 300) == {"edge": "c"}


def test_a_borderline_look_alike_joins_only_when_few_are_tried() -> None:
    assert _joins(0.4, 700, 0.7, 0) == {"edge": "c"}
    assert _joins(0.4, 700, 0.7, 300) == {}


def test_prompt_space_of_one_shared_vocabulary() -> None:
    """Fifty accounts or more whose prompts share every character gram (a log of one template): no gram is
    rare enough for the usual cut, and the prompt space keeps them all instead of failing."""
    from distillscope.detect.coordination import PromptSpace

    accounts = [f"a{i:02d}" for i in range(60)]
    samples = {a: ["abc abc abc", "abc abc"] for a in accounts}
    space = PromptSpace.build(accounts, samples)
    assert np.allclose(space.similarity(accounts[:3]), 1.0, atol=1e-5)


def _small_scene(edge_share: float) -> tuple[pd.DataFrame, dict[str, list[str]], dict]:
    """The scene above with a campaign of members of 20-150 requests and an ``edge`` account of 7 requests;
    every account collects the typical share with prompts of its own (reach tail 0.3, nothing shared)."""
    from distillscope.detect.communities import Community

    sig, samples, _ = _scene(edge_share, 700, 0.8)
    sig.loc[sig["account"].str.startswith("camp"), "n"] = [20, 40, 60, 90, 120, 150]
    sig.loc[sig["account"] == "edge", "n"] = 7
    # some evidence of its own for everyone (reasoning asks at the candidates' level), so all are tried
    sig = sig.assign(
        p_account=1.0, p_own=0.01, p_reach=0.3, shared_prompts=0.0, distinct_prompts=sig["n"].astype(float)
    )
    members = [f"camp{i}" for i in range(6)]
    com = Community(members, 0.9, 1e-9, 0.0, 0, 0)
    group_of = {a: ("c", 1e-9, com, {}) for a in members}
    return sig, samples, group_of


def test_an_account_of_a_few_requests_joins_in_a_family_of_its_own() -> None:
    """Campaign members with 5-9 requests are tried apart from the hundreds of larger accounts (one family
    would raise the bar for all and lose genuine joins); a clear member joins, an unrelated one does not."""
    from distillscope.detect.scoring import _attach_singles

    sig, samples, group_of = _small_scene(0.5)
    _attach_singles(sig, samples, None, 1e-3, group_of)
    assert group_of["edge"][0] == "c"
    assert not any(a.startswith(("other", "ref")) for a in group_of)  # the 380 accounts of 20-300 requests
    sig, samples, group_of = _small_scene(0.0)
    _attach_singles(sig, samples, None, 1e-3, group_of)
    assert "edge" not in group_of


def _machine_scene(
    n_edge: int, edge_automation: float, member_automation: float, tried: int = 0
) -> dict[str, str]:
    """The clear member of the first test (topic, answer length and reasoning rate of the campaign) with
    ``n_edge`` requests (the members have 150 each: the volume range is 37-600) and the given automation
    tails (``p_automation``: <= 1e-3 is a machine), ``tried`` other accounts tried beside it."""
    sig, samples, pool = _scene(0.5, 700, 0.8)
    sig["p_automation"] = 0.5
    sig.loc[sig["account"].str.startswith("camp"), "p_automation"] = member_automation
    sig.loc[sig["account"] == "edge", ["n", "p_automation"]] = [n_edge, edge_automation]
    campaigns = {"c": [f"camp{i}" for i in range(6)]}
    singles = ["edge"] + [f"other{i:03d}" for i in range(tried)]
    return attach(singles, campaigns, sig, samples, None, pool, machine_p=1e-3)


def test_a_machine_does_not_join_a_campaign_of_people() -> None:
    """A solo extractor scripted round the clock with a slow-and-low campaign's topics and playbook is
    another operation; the same account keeping human hours joins, and a machine joins a campaign that has
    machines among its members (a hydra)."""
    assert _machine_scene(150, 1e-8, 0.3) == {}
    assert _machine_scene(150, 0.2, 0.3) == {"edge": "c"}
    assert _machine_scene(150, 1e-8, 1e-9) == {"edge": "c"}


def test_a_busier_person_joins_beyond_the_volume_range_a_machine_does_not() -> None:
    """A slow-and-low campaign's busiest member keeps human hours at several times its typical member's
    volume: beyond the 4x range it joins as a person; a machine of that volume does not, even when the
    campaign has machines (a hydra's members)."""
    assert _machine_scene(2000, 0.2, 0.3) == {"edge": "c"}
    assert _machine_scene(20, 0.2, 0.3) == {"edge": "c"}  # under the range as well
    assert _machine_scene(2000, 1e-8, 0.3) == {}
    assert _machine_scene(2000, 1e-8, 1e-9) == {}


def test_beyond_the_volume_range_both_tests_must_pass_at_the_family_level() -> None:
    """With 50 accounts tried, the same member joins inside the volume range (one test at the family's
    level is enough there) but not beyond it, where both must reach it."""
    assert _machine_scene(150, 0.2, 0.3, tried=50) == {"edge": "c"}
    assert _machine_scene(2000, 0.2, 0.3, tried=50) == {}


def _own_evidence_joins(edge_p_own: float) -> list[str]:
    """A campaign of 6 (in ``group_of``) of one playbook (answer length 700, reasoning asked in 80%) and an
    ``edge`` account of exactly that playbook with a third of its prompts on the campaign's topic (150
    requests, typical reach, prompts of its own) and own evidence ``edge_p_own``; 300 other accounts are tried
    beside it (typical reach, nothing of their own), the 80 references collect less than a typical account."""
    from distillscope.detect.communities import Community
    from distillscope.detect.scoring import _attach_singles

    sig, samples, _ = _scene(0.35, 700, 0.8)
    sig = sig.assign(p_account=1.0, p_own=1.0, p_reach=0.9, shared_prompts=0.0, distinct_prompts=50.0)
    sig.loc[sig["account"].str.startswith("camp"), ["p_own", "p_reach", "answer_len", "cot_rate"]] = [
        0.01,
        0.3,
        np.log(700),
        0.8,
    ]
    sig.loc[sig["account"].str.startswith("other"), "p_reach"] = 0.3
    sig.loc[sig["account"] == "edge", ["p_own", "p_reach"]] = [edge_p_own, 0.3]
    members = [f"camp{i}" for i in range(6)]
    com = Community(members, 0.9, 1e-9, 0.0, 0, 0)
    group_of = {a: ("c", 1e-9, com, {}) for a in members}
    _attach_singles(sig, samples, None, 1e-3, group_of)
    return sorted(a for a in group_of if a not in members)


def test_an_account_with_nothing_of_its_own_does_not_join_on_parameters_alike() -> None:
    """Issue 12 (development 2105 without three ordinary accounts, split topic groups: an ordinary 15-request
    account, p_own 0.8, joined a campaign of 5 on playbook z 5.1 and topic z 2.7): an account with no
    evidence of its own joins only when its prompts are inside the campaign's topics at the whole family's
    level; parameters alike, what any user of the campaign's app shares, carry only an account that shows
    some evidence of its own (p_own at the candidates' level)."""
    assert _own_evidence_joins(0.8) == []
    assert _own_evidence_joins(0.01) == ["edge"]
