"""Score accounts against the log's own population, group the quiet ones into campaigns, decide and explain.

1. Signals (:mod:`~distillscope.detect.signals`) become tail probabilities
   against accounts of similar volume in the same log
   (:mod:`~distillscope.detect.calibrate`).
2. Three evidence families, each a Bonferroni minimum of its signals:
   *harvest* (answer length, chain-of-thought elicitation weighted by answer
   length, log-prob entries per request, logit-bias token ids), *content*
   (prompt diversity; MiniLM dispersion with embeddings) and *reach* (distinct
   prompts x answer tokens, against every account of the log).
3. Distillation playbook: a distiller must both collect a lot and collect
   something worth training on. Its own evidence ``p_own = min(1, 2 x
   min(p_harvest, p_content))`` decides once its reach passes a lenient gate
   (``p_reach <= 0.01``; gating only makes the test more conservative), else the
   intersection-union value ``max(p_reach, p_own)``. A logit-bias
   sweep (hundreds of token ids probed) is a second playbook, and a reach that no
   benign pattern explains (not context-heavy, not short answers, not one
   template, not repeated prompts, not tool loops) a third; the three share the false-positive
   budget by weighted Bonferroni (0.8 / 0.1 / 0.1). Automation, model switching
   and shared infrastructure are never evidence by themselves.
4. Candidates (own ``p_own <= CANDIDATE_P``) are grouped into communities of a
   behavioural-similarity graph (:mod:`~distillscope.detect.communities`). A
   community of three or more is a campaign when its cohesion against random
   candidate sets and its typical member's own evidence (the median p_own:
   pooling similar accounts' p-values would make many weak signals one strong
   one) are both extraordinary (``p_group = max`` of the two <= alpha),
   together it collects more than a typical account (pooled reach tail <=
   0.01), its members do not share verbatim prompts beyond what as many random
   accounts of the log share (a class or a public benchmark does; then the
   median p_own must reach alpha squared, or half the members must be tied
   by rare infrastructure or synchronised timing), and
   most members are not behind one /24 range or one payment id (one customer:
   a campus, an office). A member is flagged for its own evidence (it is a
   candidate) plus that evidence of coordination; pooled signals alone never
   flag anyone. A community of three or four that falls short is tried again
   only when its typical member reaches alpha squared on its own: with the
   accounts flagged alone inside its topics and playbook, against random
   volume-matched sets of its own size from the log (``_small_groups``).
5. score = -log10(p) / 6 in 0..1; flagged at ``threshold`` (default 0.5, i.e.
   p <= 1e-3; see docs/detect.md for choosing it for a target false-positive rate).

What it must not do: read logs or labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import combine_pvalues

from distillscope.detect import calibrate as cal
from distillscope.detect import coordination as coord
from distillscope.detect import customers as cust
from distillscope.detect.communities import (
    Community,
    chance_share,
    duplicate_share,
    excess_share,
    find_communities,
)
from distillscope.detect.coordination import CoordinatedGroup
from distillscope.detect.linkage import Links, build_links
from distillscope.detect.settings import FLAG_THRESHOLD
from distillscope.detect.signals import samples_by_account, signal_table
from distillscope.detect.tables import FeatureTables, account_frame

CANDIDATE_P = 0.05
#: An account's own evidence decides once its reach passes this tail level (it collects more than most).
REACH_GATE = 0.01
#: Largest share of a group's sampled prompts asked verbatim in common beyond chance (``shares_prompts``).
MAX_DUPLICATE_SHARE = 0.2
MIN_CAMPAIGN = 3
#: A campaign must together collect more than a typical account does (pooled reach tail).
GROUP_REACH_P = 0.01
#: Reach: campaigns are the upper tail, calibrated one-sided (see the reach columns in ``score``).
REACH_SPEC = cal.SignalSpec("reach", 0.5, banded=False, one_sided=True)
SPECS = [
    cal.SignalSpec("answer_len", 0.35, banded=False),
    cal.SignalSpec("amplification", 0.35, banded=False),
    cal.SignalSpec("cot", 0.04, banded=False),
    cal.SignalSpec("logprob_entries", 1.5, banded=False),
    cal.SignalSpec("bias_ids", 1.0, banded=False),
    cal.SignalSpec("diversity", 0.05, banded=False),
    cal.SignalSpec("dispersion", 0.05, banded=False),
    REACH_SPEC,
    cal.SignalSpec("round_the_clock", 0.04, banded=False),
    cal.SignalSpec("long_session", 0.35, banded=False),
]
#: Signs of a machine, evidence only once an unexplained reach passes the gate (Bonferroni minimum).
AUTOMATION = ["round_the_clock", "long_session"]
HARVEST = ["answer_len", "amplification", "cot", "logprob_entries", "bias_ids"]
CONTENT = ["diversity", "dispersion"]


#: Shares of the false-positive budget given to each playbook (weighted Bonferroni).
PLAYBOOK_WEIGHTS = {
    "distill": 0.69,
    "logit_probe": 0.1,
    "unexplained_reach": 0.1,
    "automated_reach": 0.1,
    "automated_typical_reach": 0.01,
}
#: Accounts with this many requests (and fewer than coordination.MIN_REQUESTS) may join a campaign as a
#: family of their own (see _attach_singles).
SMALL_JOIN_REQUESTS = 5
#: Reach tail at or below which an account collects at least the log's typical account's share.
TYPICAL_REACH = 0.5
#: Benign patterns that explain a large reach, each a robust z-score at or below -EXPLAIN_Z.
EXPLAIN_Z = 1.5
#: Share of an account's sampled prompts opening with one instruction head that makes it "one template".
ONE_TEMPLATE_SHARE = 0.5
#: Below this share of distinct prompts among its requests an account repeats itself (it is not harvesting).
REPEATED_SHARE = 0.5
#: From this share of its distinct prompts put to two or more models, an account is comparing models.
EVALUATION_SHARE = 0.3
EVALUATION_WORDS = "the same items put to several models (an evaluation)"
#: From this share of its distinct prompts asking questions the log put to two or more models (any accounts,
#: reasoning requests folded out), an account is running the log's evaluation items (a public benchmark).
EVALUATION_LOG_SHARE = 0.9
#: Whether an account asking its distinct prompts on average twice or more (share <= REPEATED_SHARE) repeats
#: itself; False keeps the strict "fewer than half distinct".
REPEATED_INCLUSIVE = True
#: From this share of its requests steps of a tool loop (``textsig.tool_step``), an account is an agent's
#: loop ...
TOOL_LOOP_SHARE = 0.5
#: ... when the model itself calls tools in at least this share of its answers (a result pasted into a
#: conversation is free; a tool call instead of the text answer is not).
TOOL_CALL_SHARE = 0.25
TOOL_LOOP_WORDS = "tool loops (an agent deployment)"

#: An account's campaign while campaigns are found: (campaign id, the group's p-value, the group, its facts).
Membership = tuple[str, float, Community, dict[str, Any]]


def shares_prompts(
    members: list[str], share: float, samples: dict[str, list[str]], population: list[str], limit: float
) -> bool:
    """Whether a group's members ask verbatim in common (``share``, :func:`duplicate_share`) more than
    ``limit`` beyond what as many random accounts of ``population`` do (:func:`excess_share` over
    :func:`chance_share`; computed only above ``limit``). A class, an eval harness run from many accounts or
    one shared template shares far beyond chance; a hydra's members drawing from one prompt pool collide at
    a rate that grows with their number, as random accounts asking popular questions do (fresh 2771: a hydra
    of 278 kept members shares 0.243, random sets of 278 of the log's accounts 0.17)."""
    if share <= limit:
        return False
    return excess_share(share, chance_share(members, samples, population)) > limit


def evaluating(sig: pd.DataFrame, by_log: bool = True) -> np.ndarray:
    """Per account, whether it evaluates models: it put at least EVALUATION_SHARE of its distinct prompts to
    two or more models itself, or (``by_log``) nearly all of them (EVALUATION_LOG_SHARE) ask questions the log
    put to two or more models (a benchmark's items, whichever accounts ran the other model; a reasoning
    request folded out). A harvester that asks only such items collects answers to questions the log
    already compares."""
    own = (sig["cross_model"] >= EVALUATION_SHARE).to_numpy()
    if not by_log or "log_cross_model" not in sig:
        return own
    return own | (sig["log_cross_model"] >= EVALUATION_LOG_SHARE).to_numpy()


def repeats_itself(sig: pd.DataFrame) -> np.ndarray:
    """Per account, whether it asks its prompts again and again (at most REPEATED_SHARE of its requests are
    distinct prompts: each asked twice on average, as a benchmark's launch run and its rerun at temperature 0,
    collects nothing new the second time)."""
    share = (sig["distinct_prompts"] / sig["n"].clip(lower=1)).to_numpy()
    return share <= REPEATED_SHARE if REPEATED_INCLUSIVE else share < REPEATED_SHARE


def _explained(sig: pd.DataFrame, zs: pd.DataFrame) -> np.ndarray:
    """Per account, the benign pattern (if any) that explains its reach, in words ('' if none)."""
    z = zs.reset_index(drop=True)
    out = np.full(len(sig), "", dtype=object)
    rules = [
        (EVALUATION_WORDS, evaluating(sig)),
        (TOOL_LOOP_WORDS, tool_loops(sig)),
        ("long contexts for short answers (an agent, a RAG app)", z["amplification"] <= -EXPLAIN_Z),
        ("short answers (a classifier, a batch job, an evaluation)", z["answer_len"] <= -EXPLAIN_Z),
        # one instruction over many inputs; a sweep of many task families is not one template
        (
            "one template (a batch job, a tool)",
            (z["diversity"] <= -EXPLAIN_Z).to_numpy()
            & (sig["top_head_share"].fillna(1.0) >= ONE_TEMPLATE_SHARE).to_numpy(),
        ),
        ("the same prompts again and again", repeats_itself(sig)),
    ]
    for words, mask in reversed(rules):
        out[np.asarray(mask)] = words
    return out


def _evaluation_words(row: pd.Series) -> str:
    """Why an account is an evaluation, in words (its own comparison of models, or the log's)."""
    distinct = f"{row['distinct_prompts']:,.0f} distinct prompts"
    if row["cross_model"] >= EVALUATION_SHARE:
        return (
            f": {row['cross_model']:.0%} of its {distinct} asked of two or more models; its reasoning and "
            "log-prob asks are the benchmark's"
        )
    return (
        f": {row['log_cross_model']:.0%} of its {distinct} ask questions the log put to two or more models "
        "(other accounts ran them too); only an extraordinary reach would still count"
    )


def tool_loops(sig: pd.DataFrame) -> np.ndarray:
    """Per account, whether its requests are mostly real tool loops (an agent deployment).

    Most requests are steps of a tool loop and the model calls tools in a good share of its
    answers: a harvester may declare a dummy ``tools`` list or paste tool results into its
    prompts, but every tool call it gets is an answer it did not come for.
    """
    if "tool_share" not in sig:
        return np.zeros(len(sig), dtype=bool)
    loops = (sig["tool_share"] >= TOOL_LOOP_SHARE).to_numpy()
    return loops & (sig["tool_call_share"] >= TOOL_CALL_SHARE).to_numpy()


@dataclass(frozen=True)
class Tuning:
    """The detector's tunable numbers (``bench/detect.py`` tunes them leave-one-style-out)."""

    candidate_p: float = CANDIDATE_P
    reach_gate: float = REACH_GATE
    max_duplicate_share: float = MAX_DUPLICATE_SHARE
    group_reach_p: float = GROUP_REACH_P


@dataclass
class Scored:
    """The detector's decisions: one record per account, one per flagged campaign."""

    accounts: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    groups: list[dict[str, Any]] = field(default_factory=list)  # every community found, flagged or not
    signals: pd.DataFrame | None = None  # the per-account signal table with p-values (for audits)


def campaign_id(members: list[str]) -> str:
    digest = hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:10]
    return f"camp-{digest}"


def score(
    tables: FeatureTables,
    threshold: float = FLAG_THRESHOLD,
    embed_cov: dict[str, float] | None = None,
    vectors: dict[str, np.ndarray] | None = None,
    tuning: Tuning | None = None,
) -> Scored:
    """Score every account and every community; flag what reaches ``threshold``."""
    tuning = tuning or Tuning()
    acc = account_frame(tables)
    if acc.empty:
        return Scored([], [])
    samples = samples_by_account(tables)
    sig = signal_table(acc, samples, embed_cov, tables["hours"])
    specs = [s for s in SPECS if s.column in sig]
    zs, ps = cal.calibrate(sig, specs)
    zs.index = sig["account"].to_numpy()
    # an evaluation compares models on the same items: a benchmark's format asks for reasoning and the harness
    # for log-probs, so what it harvests is explained; only its content and its reach can still speak
    # (an account recognised only by the log keeps its harvest evidence, so the candidates of the grouping do
    # not change: its reach is explained and its gate shut below, so its own evidence needs an extraordinary
    # reach; a benchmark's items other accounts ask add little to that)
    sig["p_harvest"] = np.where(evaluating(sig, by_log=False), 1.0, cal.family_p(ps, HARVEST))
    sig["p_content"] = cal.family_p(ps, CONTENT)
    # the reach as evidence: against the bulk of the log's accounts, fitted below the campaigns (a quarter of
    # a log may be campaign accounts, and they collect more than most: calibrate.lower_location_scale)
    sig["p_reach"] = ps["reach"].to_numpy()
    # the reach as a materiality condition (the reach gate, "at least the log's typical account" in the
    # playbooks and the grouping): against every account of the log, median and MAD, as before. With the
    # gate on the bulk's tail, ordinary accounts asking for log-probs (whose heavy benign tail the normal one
    # understates) passed the gate on their reach and were flagged on them (dev ~900 logs: FP 2 -> 4 of 4,901)
    reach = sig["reach"].to_numpy(dtype=float)
    sig["p_reach_log"] = cal.robust_tail(reach, reach, REACH_SPEC.scale_floor)[1]
    sig["p_own"] = np.minimum(1.0, 2.0 * np.minimum(sig["p_harvest"], sig["p_content"]))
    # three playbooks, weighted Bonferroni over them: distillation (reach AND harvest-or-content),
    # logit probing, and reach that no benign pattern explains
    # the reach gate only makes the test on p_own more conservative, so p_own stays a valid p-value
    gate = sig["p_reach_log"].to_numpy()
    distill = np.where(gate <= tuning.reach_gate, sig["p_own"], np.maximum(sig["p_reach"], sig["p_own"]))
    sig["explained"] = _explained(sig, zs)
    # the same prompts asked again and again (a benchmark re-run at temperature 0 on a new model) collect
    # no new text: the gate stays shut, so the reach must be extraordinary as well (intersection-union)
    repeated = repeats_itself(sig) | evaluating(sig)
    distill = np.where(repeated, np.maximum(sig["p_reach"], sig["p_own"]), distill)
    unexplained = np.where(sig["explained"] == "", sig["p_reach"], 1.0)
    # unexplained reach collected like a machine (round the clock, or in sessions of hundreds of requests):
    # once the reach passes the gate, the automation tail decides (automation alone is no evidence:
    # agents, batch jobs and harnesses are machines, explained above)
    sig["p_clock"] = ps["round_the_clock"].to_numpy()
    sig["p_session"] = ps["long_session"].to_numpy()
    sig["p_automation"] = cal.family_p(ps, AUTOMATION)
    automated = np.where(
        (sig["explained"] == "") & (gate <= tuning.reach_gate),
        sig["p_automation"].to_numpy(),
        1.0,
    )
    # the same with a smaller budget for an unexplained reach of at least the typical account's (a hydra
    # member or a slow-and-low account scripted round the clock); people sleep, benign machines are explained
    automated_typical = np.where(
        (sig["explained"] == "") & (sig["p_reach_log"] <= TYPICAL_REACH), sig["p_automation"].to_numpy(), 1.0
    )
    sig["p_account"] = np.minimum.reduce(
        [
            np.ones(len(sig)),
            distill / PLAYBOOK_WEIGHTS["distill"],
            ps["bias_ids"].to_numpy() / PLAYBOOK_WEIGHTS["logit_probe"],
            unexplained / PLAYBOOK_WEIGHTS["unexplained_reach"],
            automated / PLAYBOOK_WEIGHTS["automated_reach"],
            automated_typical / PLAYBOOK_WEIGHTS["automated_typical_reach"],
        ]
    )
    alpha = cal.p_of_score(threshold)
    names = sig["account"].tolist()
    n_by = dict(zip(names, sig["n"], strict=True))
    candidates = sig[(sig["p_own"] <= tuning.candidate_p) & (sig["n"] >= 3)]["account"].tolist()
    solo = set(sig[sig["p_account"] <= alpha]["account"])
    links = build_links(
        candidates, n_by, tables["top_templates"], tables["samples"], tables["infra"], tables["bins"]
    )
    communities = find_communities(sig, candidates, solo, samples, links, vectors)
    reach_ref = sig["reach"].to_numpy(dtype=float)
    site_of = cust.site_values(tables["infra"])
    pool = coord.request_pool(sig)
    by = sig.set_index("account")
    group_of: dict[str, Membership] = {}
    # every group found, flagged or not: campaign id -> (members, p, community, facts); records built once
    found: dict[str, tuple[list[str], float, Community, dict[str, Any]]] = {}
    rejected: list[Community] = []
    for com in communities:
        rows = by.loc[com.members]
        pooled, p_reach_group = pooled_reach(rows, reach_ref)
        # the typical member's own evidence (median): similar accounts' p-values are not independent,
        # so pooling them (Fisher) would turn many weak signals into a strong one
        typical = float(np.median(rows["p_own"]))
        p_members = typical
        p_group = max(com.cohesion_p, p_members)
        # a class or a public benchmark shares verbatim prompts: then members' own evidence must be extreme
        # ... unless the shared prompts come with shared rare infrastructure or synchronised timing
        tied = _tied_share(com.members, links) >= 0.5
        limit = tuning.max_duplicate_share
        partitioned = (
            typical <= alpha**2
            or tied
            or not shares_prompts(com.members, com.duplicate_share, samples, pool, limit)
        )
        # most members behind one /24 (or /48) range or one payment id: one customer (a campus, an office)
        one_site, site = cust.one_customer(com.members, site_of)
        # ... unless the typical member is extraordinary on its own: one customer harvesting through many
        # accounts with one playbook is still harvesting (the members' own evidence, not pooled signals)
        one_site = one_site and typical > alpha**2
        is_campaign = (
            len(com.members) >= MIN_CAMPAIGN
            and partitioned
            and not one_site
            and p_reach_group <= tuning.group_reach_p
            and p_group <= alpha
        )
        facts = {
            "pooled_reach": pooled,
            "p_reach": p_reach_group,
            "p_members": p_members,
            "typical": typical,
            "one_customer": site if one_site else "",
        }
        cid = campaign_id(com.members)
        found[cid] = (com.members, p_group, com, facts)
        if is_campaign:
            for a in com.members:
                group_of[a] = (cid, p_group, com, facts)
        else:
            rejected.append(com)

    earlier = {a: v[0] for a, v in group_of.items()}
    immaterial: list[tuple[CoordinatedGroup, dict[str, Any]]] = []
    coordinated, ordinary = _coordinated(
        sig, tables, samples, n_by, vectors, alpha, tuning, site_of, earlier, solo, immaterial
    )
    for grp, facts in coordinated:
        cid = campaign_id(grp.members)
        com = Community(
            members=grp.members,
            cohesion=grp.playbook,
            cohesion_p=grp.p_value,
            duplicate_share=facts["duplicate_share"],
            edges=0,
            infra_edges=0,
            kinds=grp.kinds,
        )
        # a community of the candidates with the same members is this campaign: keep one record
        found.pop(cid, None)
        found[cid] = (grp.members, grp.p_value, com, facts)
        for a in grp.members:
            group_of[a] = (cid, grp.p_value, com, facts)

    _split_remainders(found, group_of, samples, links)

    # communities too small to pass as they are, of members each extraordinary on their own
    for grp, facts in _small_groups(rejected, sig, samples, vectors, alpha, tuning, solo, group_of, site_of):
        cid = campaign_id(grp.members)
        com = Community(
            members=grp.members,
            cohesion=grp.playbook,
            cohesion_p=facts["p_group"],
            duplicate_share=facts["duplicate_share"],
            edges=0,
            infra_edges=0,
        )
        found.pop(cid, None)
        found[cid] = (grp.members, facts["p_group"], com, facts)
        for a in grp.members:
            group_of[a] = (cid, facts["p_group"], com, facts)
    _attach_singles(sig, samples, vectors, alpha, group_of, tuning.candidate_p, ordinary)
    _join_pieces(sig, samples, vectors, alpha, group_of, pool, immaterial)
    group_records = _group_records(found, group_of, by, acc, links)

    out_accounts, campaigns = (
        [],
        [g for g in group_records if g["campaign"] in {v[0] for v in group_of.values()}],
    )
    # plain dicts, built once: a pandas row lookup per account and signal cost a third of scoring
    rows = by.to_dict("index")
    z_rows = zs.reindex(columns=[s.column for s in SPECS]).fillna(0.0).to_dict("index")
    for a in names:
        row = rows[a]
        own_p = float(row["p_account"])
        reasons = _own_reasons(row, z_rows[a])
        final_p, campaign = own_p, None
        if a in group_of:
            cid, p_group, com, facts = group_of[a]
            final_p, campaign = min(own_p, p_group), cid
            reasons = _campaign_reasons(a, cid, com, facts, facts.get("links", links)) + reasons
        flagged = final_p <= alpha
        if flagged and campaign is None:
            campaign = campaign_id([a])
            campaigns.append(_campaign_record(campaign, [a], own_p, by, acc, links, None, {}, reasons))
        out_accounts.append(
            {
                "account": a,
                "score": round(float(cal.score_of(final_p)), 4),
                "flagged": bool(flagged),
                "campaign": campaign if flagged else None,
                "reasons": reasons if (flagged or final_p <= 1e-2) else reasons[:3],
            }
        )
    out_accounts.sort(key=lambda r: (-r["score"], r["account"]))
    campaigns.sort(key=lambda c: (-c["evidence"]["score"], c["campaign"]))
    return Scored(out_accounts, campaigns, group_records, sig)


def _split_remainders(
    found: dict[str, tuple[list[str], float, Community, dict[str, Any]]],
    group_of: dict[str, Membership],
    samples: dict[str, list[str]],
    links: Links,
) -> None:
    """The members of a candidates' campaign that a tied group took in part (``_accept_coordinated``)
    become a campaign of their own, on the evidence of the community they were found in: their flags stand,
    the grouping only tells the operation behind the tied members' infrastructure from theirs."""
    for cid, (members, p_group, com, facts) in list(found.items()):
        left = [a for a in members if a in group_of and group_of[a][0] == cid]
        if not left or len(left) == len(members):
            continue
        other = next(group_of[a][0] for a in members if a in group_of and group_of[a][0] != cid)
        inside = set(left)
        kinds: dict[str, int] = {}
        for a in left:
            for kind, others in links.partners.get(a, {}).items():
                kinds[kind] = kinds.get(kind, 0) + len(others & inside)
        split = Community(
            members=left,
            cohesion=com.cohesion,
            cohesion_p=com.cohesion_p,
            duplicate_share=duplicate_share(left, samples),
            edges=0,
            infra_edges=0,
            kinds={k: v // 2 for k, v in kinds.items() if v},
        )
        split_facts = {**facts, "split_from": (len(members), other)}
        new = campaign_id(left)
        found[new] = (left, p_group, split, split_facts)
        for a in left:
            group_of[a] = (new, p_group, split, split_facts)


def _group_records(
    found: dict[str, tuple[list[str], float, Community, dict[str, Any]]],
    group_of: dict[str, Membership],
    by: pd.DataFrame,
    acc: pd.DataFrame,
    links: Links,
) -> list[dict[str, Any]]:
    """One record per group found, built once after every join: a campaign lists every account whose
    ``campaign`` it is (the accounts that joined it included; the campaign keeps its id), a group that is
    no campaign (or whose members went to another campaign) lists the members it was found with."""
    members: dict[str, list[str]] = {}
    for a, (cid, *_rest) in group_of.items():
        members.setdefault(cid, []).append(a)
    out = []
    for cid, (found_members, p, com, facts) in found.items():
        ms = sorted(members.get(cid, [])) or found_members
        if ms != found_members:
            _, p, com, facts = group_of[ms[0]]
        out.append(_campaign_record(cid, ms, p, by, acc, facts.get("links", links), com, facts))
    return out


def _small_groups(
    rejected: list[Community],
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    alpha: float,
    tuning: Tuning,
    solo: set[str],
    group_of: dict[str, Membership],
    site_of: dict[str, set[str]],
) -> list[tuple[CoordinatedGroup, dict[str, Any]]]:
    """Campaigns of fewer than coordination.MIN_GROUP accounts: an evidence-dependent minimum size.

    Of the candidates' communities that are no campaign (``rejected``), those of MIN_CAMPAIGN to
    MIN_GROUP - 1 members in no campaign yet (too few members for their cohesion among the candidates
    or their pooled reach to pass) are tried again when their typical member is extraordinary on its own
    (median p_own <= alpha squared: each collects little but harvests like a distiller), they ask
    different prompts and are not one customer. A small group needs that stronger evidence of its
    members. Then accounts flagged alone that sit inside its topics and playbook join it
    (``coordination.attach`` with its family-wise bar: a slow-and-low campaign's busiest member is often
    flagged alone), and the group is tested against its own null: random volume-matched sets of the same
    size drawn from the log's accounts (``coordination.test_groups``, topic *and* parameters, Bonferroni
    over the small groups tested). It is a campaign when ``max(that p, typical p_own) <= alpha``,
    together it collects more than a typical account and its members still ask different prompts.
    """
    by = sig.set_index("account")
    pool = coord.request_pool(sig)
    small = [
        c
        for c in rejected
        if MIN_CAMPAIGN <= len(c.members) < coord.MIN_GROUP
        and not set(c.members) & set(group_of)
        and float(np.median(by.loc[c.members, "p_own"])) <= alpha**2
        and not cust.one_customer(c.members, site_of)[0]
        and not shares_prompts(c.members, c.duplicate_share, samples, pool, tuning.max_duplicate_share)
    ]
    if not small:
        return []
    keyed = {campaign_id(c.members): c.members for c in small}
    singles = sorted(solo - set(group_of) - {a for ms in keyed.values() for a in ms})
    joins = coord.attach(singles, keyed, sig, samples, vectors, pool, min_size=MIN_CAMPAIGN, machine_p=alpha)
    groups = [sorted({*ms, *(a for a, cid in joins.items() if cid == key)}) for key, ms in keyed.items()]
    space = coord.PromptSpace.build(
        sorted({a for g in groups for a in g} | set(coord.reference_sample(pool))), samples, vectors
    )
    reach_ref = sig["reach"].to_numpy(dtype=float)
    out = []
    for grp in coord.test_groups(groups, sig, space, population=pool):
        grp.members, grp.grouped_on = grp.tied, "candidates"
        rows = by.loc[grp.members]
        typical = float(np.median(rows["p_own"]))
        pooled, p_reach = pooled_reach(rows, reach_ref)
        p_group = max(grp.p_value, typical)
        dup = duplicate_share(grp.members, samples)
        if p_group > alpha or p_reach > tuning.group_reach_p:
            continue
        if shares_prompts(grp.members, dup, samples, pool, tuning.max_duplicate_share):
            continue
        facts = {
            "pooled_reach": pooled,
            "p_reach": p_reach,
            "p_members": typical,
            "typical": typical,
            "one_customer": "",
            "duplicate_share": dup,
            "coordinated": grp,
            "p_group": p_group,
        }
        out.append((grp, facts))
    return out


def _attach_singles(
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    alpha: float,
    group_of: dict[str, Membership],
    candidate_p: float = CANDIDATE_P,
    ordinary: Collection[str] = (),
) -> None:
    """Accounts inside a campaign's topics and playbook join it: those flagged alone (grouping only), and
    those that do a part of their own (a coordinated member's condition: >= MIN_REQUESTS requests, reach
    tail <= MEMBER_REACH_P, prompts mostly their own), which are then flagged as members. One with no
    evidence of its own (``p_own`` above the candidates' level ``candidate_p``, not flagged alone) is
    ``quiet``: its prompts must be inside the campaign's topics at the whole family's level (see
    :func:`coordination.attach`). Must not: let an account join on parameters alike alone (an ordinary user
    of the campaign's app and settings asks like its members; the group's signals would flag it)."""
    own = coord.does_own_part(sig)
    own_part = (sig["n"] >= coord.MIN_REQUESTS) & own
    joinable = ((sig["p_account"] <= alpha) | own_part) & ~sig["account"].isin(group_of)
    singles = sig[joinable]["account"].tolist()
    campaigns: dict[str, list[str]] = {}
    # campaigns passing on what peeling kept: three or four members may be all there is to join
    peeled: set[str] = set()
    topical: set[str] = set()
    for a, (cid, _p, _com, facts) in group_of.items():
        campaigns.setdefault(cid, []).append(a)
        grp = facts.get("coordinated")
        if isinstance(grp, CoordinatedGroup) and grp.selected:
            peeled.add(cid)
        if isinstance(grp, CoordinatedGroup) and grp.grouped_on == "topic":
            topical.add(cid)
    campaigns = {cid: ms for cid, ms in campaigns.items() if len(ms) >= coord.MIN_GROUP or cid in peeled}
    pool = coord.request_pool(sig)
    quiet = set(sig.loc[(sig["p_own"] > candidate_p) & (sig["p_account"] > alpha), "account"])
    # a quiet account of a topic group that failed its test as a whole joins no campaign of one topic
    ordinary_quiet = quiet & set(ordinary)
    barred = {cid: ordinary_quiet for cid in topical}
    joins = coord.attach(
        singles, campaigns, sig, samples, vectors, pool, coord.PEEL_MIN, alpha, quiet, barred
    )
    # accounts of a few requests doing a part of their own: a family of their own (with the accounts above in
    # one family, the bar rose for every account and genuine joins were lost), compared with small accounts
    small = (sig["n"] >= SMALL_JOIN_REQUESTS) & (sig["n"] < coord.MIN_REQUESTS)
    small_part = small & own
    small_singles = sig[small_part & ~sig["account"].isin(group_of)]["account"].tolist()
    small_pool = sig[sig["n"] >= SMALL_JOIN_REQUESTS]["account"].tolist()
    joins |= coord.attach(
        small_singles, campaigns, sig, samples, vectors, small_pool, coord.PEEL_MIN, alpha, quiet
    )
    for a, cid in joins.items():
        first = campaigns[cid][0]
        _, p_group, com, facts = group_of[first]
        com.members = sorted({*com.members, a})
        group_of[a] = (cid, p_group, com, facts)
    _join_pool_users(sig, samples, vectors, alpha, group_of, pool)


def _join_pool_users(
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    alpha: float,
    group_of: dict[str, Membership],
    pool: list[str],
) -> None:
    """Accounts in no campaign that send most of their requests through the pool of addresses (crowded or
    under the links' cap) most of a campaign's members use join it when their behaviour agrees
    (``coordination.join_pool``): those flagged alone only change campaign, the others are flagged as
    members. The pools are the coordination rounds' (the links of a coordinated campaign's facts, built over
    every account of the request pool); largest campaign first, an account joins one."""
    links = next(
        (
            f["links"]
            for *_, f in group_of.values()
            if isinstance(f.get("links"), Links) and f["links"].address_requests
        ),
        None,
    )
    if links is None:
        return
    campaigns: dict[str, list[str]] = {}
    for a, (cid, *_rest) in group_of.items():
        campaigns.setdefault(cid, []).append(a)
    n_by = dict(zip(sig["account"], sig["n"], strict=True))
    flagged = set(sig.loc[sig["p_account"] <= alpha, "account"])
    for cid, ms in sorted(campaigns.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        values = coord.campaign_pool(ms, links) if len(ms) >= coord.MIN_GROUP else set()
        if not values:
            continue
        users = coord.pool_users(values, links, n_by)
        candidates = [a for a in users if a not in group_of]
        _, p_group, com, facts = group_of[ms[0]]
        for a in coord.join_pool(ms, users, candidates, sig, samples, vectors, pool, flagged, alpha):
            com.members = sorted({*com.members, a})
            group_of[a] = (cid, p_group, com, {**facts, "pool": len(values)})


def _join_pieces(
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    vectors: dict[str, np.ndarray] | None,
    alpha: float,
    group_of: dict[str, Membership],
    pool: list[str],
    immaterial: Collection[tuple[CoordinatedGroup, dict[str, Any]]] = (),
) -> None:
    """Campaigns that are pieces of one operation (``coordination.join_pieces``) become one: each member of a
    piece takes the campaign it joins, keeping its own piece's p-value (the flags and scores stay). A machine
    is an automation tail at or below ``alpha``, as for the joins of single accounts.

    ``immaterial`` are coordinated groups that passed their test at ``alpha`` as a whole but collected too
    little to be a campaign alone (``collects_enough``: a materiality condition, not a test). Their members
    in no campaign (at least :data:`coordination.MIN_GROUP`) are offered as pieces that may join a campaign,
    never each other; one that joins is that campaign's slice, which collects enough, and its members are
    flagged on the group's own test (its p-value), not on the campaign's."""
    campaigns: dict[str, list[str]] = {}
    for a, (cid, *_rest) in group_of.items():
        campaigns.setdefault(cid, []).append(a)
    slices: dict[str, CoordinatedGroup] = {}
    pieces = dict(campaigns)
    placed = set(group_of)
    for grp, _facts in immaterial:
        free = [a for a in grp.members if a not in placed]
        if len(free) >= coord.MIN_GROUP:
            cid = campaign_id(free)
            pieces[cid], slices[cid] = free, grp
            placed |= set(free)
    joins = coord.join_pieces(pieces, sig, samples, vectors, pool, alpha, pending=set(slices))
    for piece, into in joins.items():
        _, _, com, facts = group_of[campaigns[into][0]]
        com.members = sorted({*com.members, *pieces[piece]})
        joined = {**facts, "piece": len(pieces[piece])}
        if piece in slices:
            joined["slice_p"] = slices[piece].p_value
        for a in pieces[piece]:
            p_piece = slices[piece].p_value if piece in slices else group_of[a][1]
            group_of[a] = (into, p_piece, com, joined)


def _coordinated(
    sig: pd.DataFrame,
    tables: FeatureTables,
    samples: dict[str, list[str]],
    n_by: dict[str, float],
    vectors: dict[str, np.ndarray] | None,
    alpha: float,
    tuning: Tuning,
    site_of: dict[str, set[str]],
    earlier: dict[str, str],
    solo: set[str],
    immaterial: list[tuple[CoordinatedGroup, dict[str, Any]]] | None = None,
) -> tuple[list[tuple[CoordinatedGroup, dict[str, Any]]], set[str]]:
    """Campaigns carried by coordination (see coordination.py), after the candidates' communities.

    First groups tied by rare infrastructure or timing (tested on topic and playbook), then,
    among the accounts left that collect at least the typical account's share with prompts of
    their own and are in no campaign yet, groups of one topic (tested on the playbook alone).
    A tied group that passes absorbs
    the candidates' campaigns its members were in (``earlier``: account -> campaign), so one
    campaign split by the candidates' graph comes out whole. Groups of one topic that pass as a whole but
    collect too little go to ``immaterial`` (see :func:`_accept_coordinated`): slices of one campaign.
    """
    taken: set[str] = set()
    pool = coord.request_pool(sig)
    empty = pd.DataFrame(columns=["account", "tmpl", "words", "cnt", "sample_text"])
    links = build_links(pool, n_by, empty, empty, tables["infra"], tables["bins"], population=len(n_by))
    groups = coord.tie_groups(links, pool)
    own_mask = (sig["n"] >= coord.MIN_REQUESTS) & coord.does_own_part(sig)
    # prompt vectors only where they are used: tied groups, the own pool, the references drawn from pool
    needed = (
        {a for g in groups for a in g} | set(sig[own_mask]["account"]) | set(coord.reference_sample(pool))
    )
    space = coord.PromptSpace.build(sorted(needed), samples, vectors)
    tied = coord.test_groups(groups, sig, space, population=pool)
    out = _accept_coordinated(tied, sig, samples, alpha, tuning, site_of, taken, links, earlier, space, pool)
    own = sig[own_mask & ~sig["account"].isin(taken | set(earlier) | solo)]["account"].tolist()
    # an account whose reach a benign pattern explains (tool loops, an evaluation, one template) is a
    # machine of a product: it stays in the graph the groups of one topic are cut from (so the groups are
    # the same), then leaves its group, and the null neighbourhoods are drawn from the accounts left alike
    # (``population``); as a member it changed its group's parameter test and peeling, and peeling kept
    # agents of one product beside a quiet campaign of their topic (they share parameters by design), after
    # which the group was no campaign at all (a selected group keeping an explained account is none)
    people = set(sig.loc[sig["explained"] == "", "account"])
    topic = [
        kept
        for group in coord.topic_groups(own, space)
        if len(kept := [a for a in group if a in people]) >= coord.MIN_GROUP
    ]
    topical = coord.test_groups(
        topic,
        sig,
        space,
        grouped_on="topic",
        population=[a for a in own if a in people],
        select_level=alpha,
    )
    accepted = _accept_coordinated(
        topical, sig, samples, alpha, tuning, site_of, taken, links, earlier, space, pool, immaterial
    )
    ordinary = {a for g in topical if g.p_value > alpha for a in g.tied}
    # last, the pools of crowded addresses (a proxy pool, a carrier NAT, a campus): their own round of the
    # same behaviour tests and gates, on the accounts no earlier round took (so every earlier round is
    # unchanged), in a prompt space of their own (the earlier rounds' TF-IDF is fitted on their accounts)
    crowded = coord.crowded_groups(links, pool, taken)
    if crowded:
        needed = {a for g in crowded for a in g} | set(coord.reference_sample(pool))
        space = coord.PromptSpace.build(sorted(needed), samples, vectors)
        pooled = coord.test_groups(crowded, sig, space, grouped_on="crowded", population=pool)
        accepted += _accept_coordinated(
            pooled, sig, samples, alpha, tuning, site_of, taken, links, earlier, space, pool
        )
    return out + accepted, ordinary


def _accept_coordinated(
    tested: list[CoordinatedGroup],
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    alpha: float,
    tuning: Tuning,
    site_of: dict[str, set[str]],
    taken: set[str],
    links: Links,
    earlier: dict[str, str],
    space: coord.PromptSpace | None = None,
    pool: list[str] | None = None,
    immaterial: list[tuple[CoordinatedGroup, dict[str, Any]]] | None = None,
) -> list[tuple[CoordinatedGroup, dict[str, Any]]]:
    """The tested groups that are campaigns: extraordinary behaviour test, enough members of their own,
    together more than a typical account, different prompts, not one customer (or several customers
    running one playbook: :func:`_several_customers`). ``space`` holds the groups' members and ``pool``'s
    reference accounts (built from ``samples`` when not given). A group passing as a whole (not on what
    peeling kept) that fails only the pooled reach (``collects_enough``) goes to ``immaterial`` when given:
    it may still be a piece of a campaign that collects enough (:func:`_join_pieces`)."""
    reach_ref = sig["reach"].to_numpy(dtype=float)
    by = sig.set_index("account")
    population = pool if pool is not None else coord.request_pool(sig)
    out = []
    members_of: dict[str, list[str]] = {}
    for a, cid in earlier.items():
        members_of.setdefault(cid, []).append(a)
    for grp in tested:
        kept = [a for a in grp.members if a not in taken]
        # a group judged on what peeling kept (its selection-aware test) may keep as few as PEEL_MIN, all of
        # them accounts whose traffic no benign pattern explains: the users of one agent framework or RAG
        # product share topic and parameters by design (tuning seed 4, ~900 accounts: five agents peeled
        # out of a topic group of eight), the members of a quiet campaign look like people
        smallest = coord.PEEL_MIN if grp.selected else coord.MIN_GROUP
        if grp.p_value > alpha or len(kept) < smallest:
            continue
        if grp.selected and (by.loc[kept, "explained"] != "").any():
            continue
        within = set(kept)
        for cid in sorted({earlier[a] for a in kept if a in earlier}):
            ms = members_of[cid]
            # a candidates' campaign the tied group covers in part: its members tied to none of the group's
            # stay a campaign of their own when they are enough for one (same topics and playbook, other
            # infrastructure: another operation); a member or two without a tie go with the group
            untied = {m for m in ms if m not in within and not coord.tied_to(m, set(kept), links)}
            within |= set(ms) - untied if len(untied) >= MIN_CAMPAIGN else set(ms)
        grp.members = sorted(within - taken)
        rows = by.loc[grp.members]
        pooled, p_reach = pooled_reach(rows, reach_ref)
        dup = duplicate_share(grp.members, samples)
        one_site, _ = cust.one_customer(grp.members, site_of)
        # ... unless its typical member would be flagged alone at alpha squared (its own evidence, every
        # playbook: a hydra without reasoning asks harvests like a machine): one customer harvesting through
        # many accounts is still harvesting, as for the candidates' communities
        one_site = one_site and float(np.median(rows["p_account"])) > alpha**2
        across = None
        enough = collects_enough(grp, rows, p_reach, tuning)
        shared = enough and shares_prompts(grp.members, dup, samples, population, tuning.max_duplicate_share)
        if one_site and not shared and enough:
            # ... or unless it is several customers (payers) tied to each other by one playbook
            across = _several_customers(grp, sig, samples, site_of, alpha, len(tested), space, pool)
            one_site = across is None
        slice_only = not enough and not one_site and not grp.selected and immaterial is not None
        if slice_only and not shares_prompts(
            grp.members, dup, samples, population, tuning.max_duplicate_share
        ):
            immaterial.append((grp, _coordinated_facts(grp, rows, pooled, p_reach, dup, links)))
        if one_site or shared or not enough:
            continue
        inside = set(grp.members)
        for a in grp.members:
            for kind, others in links.partners.get(a, {}).items():
                grp.kinds[kind] = grp.kinds.get(kind, 0) + len(others & inside)
        grp.kinds = {k: v // 2 for k, v in grp.kinds.items() if v}
        facts = _coordinated_facts(grp, rows, pooled, p_reach, dup, links)
        if across:
            facts["customers"] = across
        taken |= inside
        out.append((grp, facts))
    return out


def _coordinated_facts(
    grp: CoordinatedGroup, rows: pd.DataFrame, pooled: float, p_reach: float, dup: float, links: Links
) -> dict[str, Any]:
    """What a coordinated campaign's records and reasons say of it."""
    return {
        "pooled_reach": pooled,
        "p_reach": p_reach,
        "p_members": grp.p_value,
        "typical": float(np.median(rows["p_own"])),
        "one_customer": "",
        "duplicate_share": dup,
        "coordinated": grp,
        "links": links,
    }


def pooled_reach(rows: pd.DataFrame, reach_ref: np.ndarray) -> tuple[float, float]:
    """A group's pooled reach (log of its members' distinct prompts x answer tokens, summed) and its upper
    tail against the bulk of the log's accounts' reach (one-sided: location and scale of the accounts below
    a cut above the bulk, ``calibrate.lower_location_scale``). Against every account's median and MAD, the
    1% gate moved with the campaigns themselves: on development log 2702 (~2,100 accounts, a quarter of
    them in campaigns) six slow-and-low groups of 7-12 members collected p = 0.013-0.023."""
    pooled = float(np.log(max(1.0, float((rows["distinct_prompts"] * rows["answer_tokens"]).sum()))))
    return pooled, float(cal.robust_tail(np.array([pooled]), reach_ref, 0.5, one_sided=True)[1][0])


def collects_enough(grp: CoordinatedGroup, rows: pd.DataFrame, p_reach: float, tuning: Tuning) -> bool:
    """Whether a coordinated campaign collects enough to be one: together more than the log's top 1% of
    accounts (pooled reach tail <= ``tuning.group_reach_p``), or, for a group passing on what peeling kept
    (its selection-aware test, ``grp.selected``), at least a typical account's reach (:data:`TYPICAL_REACH`)
    *and* something worth training on: the members' own evidence of harvesting or novel content
    (``p_own``), combined over the members by Fisher's method, at the candidates' level
    (``tuning.candidate_p``) -- the group's form of the distillation playbook (reach and harvest-or-content).

    These are materiality conditions, not tests: a campaign's false-positive control is its group test at
    alpha (Bonferroni over the routes and the groups tested), and any condition on top only makes the
    decision stricter. The 1% reach gate was set for groups of five or more judged as a whole; three or four
    slow-and-low members of tens to a few hundred requests each collect less than that by design
    (development seeds 2101 and 2105: p = 0.016 and 0.013 with the selection test at 6e-4 and 9e-4; their
    members ask for reasoning more than most, p_own 0.01-0.5). Without the harvest condition four ordinary
    accounts with no evidence of their own (p_own = 1 each), kept from a topic group of 38 on fresh seed
    2302 (~900 accounts, selection p = 9e-4, pooled reach 0.049), were a campaign: the pooled 1% gate had
    been what stopped them."""
    if p_reach <= tuning.group_reach_p:
        return True
    if not grp.selected or p_reach > TYPICAL_REACH:
        return False
    own = np.clip(rows["p_own"].to_numpy(dtype=float), 1e-300, 1.0)
    return float(combine_pvalues(own, method="fisher").pvalue) <= tuning.candidate_p


def _several_customers(
    grp: CoordinatedGroup,
    sig: pd.DataFrame,
    samples: dict[str, list[str]],
    site_of: dict[str, set[str]],
    alpha: float,
    tested: int,
    space: coord.PromptSpace | None,
    pool: list[str] | None,
) -> dict[str, Any] | None:
    """Whether a group that one payer seemed to explain is several customers running one playbook.

    Only for groups formed on ties (rare infrastructure or timing, never who pays) and tested on behaviour:
    its members tied by the group (those the behaviour test judged) must hold two or more customers of
    several accounts each (``customers.several_customers``: accounts joined by a payment id or an
    organisation; not most behind one range), and the members of different customers must be alike in
    topic and in parameters beyond random volume-matched accounts in the same customer structure
    (``customers.across_customers``, Bonferroni over the groups of the round) at ``alpha``. Returns the
    facts for the reasons (customers' sizes, similarities, p), or None.
    """
    if grp.grouped_on != "ties":
        return None
    tied = set(grp.tied)
    judged = [a for a in grp.members if a in tied]
    blocks = cust.several_customers(judged, site_of)
    if not blocks:
        return None
    pool = pool if pool is not None else coord.request_pool(sig)
    reference = coord.reference_sample(pool)
    names = sorted({a for b in blocks for a in b} | set(reference))
    if space is None or any(a not in space.index for a in names):
        space = coord.PromptSpace.build(names, samples)
    p_raw, stats = cust.across_customers(blocks, sig, space, reference, level=alpha / tested)
    p = min(1.0, tested * p_raw)
    if p > alpha:
        return None
    payers = [sorted({v for a in b for v in site_of.get(a, ()) if not v.startswith("ip24:")}) for b in blocks]
    return {"sizes": [len(b) for b in blocks], "payers": payers, "p": p, **stats}


def _tied_share(members: list[str], links: Links) -> float:
    """Share of members tied to another member by rare infrastructure or synchronised timing."""
    inside = set(members)
    tied = 0
    for a in members:
        kinds = links.partners.get(a, {})
        if any(others & inside for kind, others in kinds.items() if kind != "template"):
            tied += 1
    return tied / max(1, len(members))


def _band_words(z: float) -> str:
    return f"{z:.1f} robust SD above the log's accounts"


def _own_reasons(row: dict[str, Any], z: dict[str, float]) -> list[str]:
    """The account's own evidence in words, strongest first (only signals above 2 robust SD).

    ``row`` is the account's row of the signal table, ``z`` its robust z per signal of SPECS.
    """
    n = float(row["n"])
    tokens = float(row["answer_tokens"])
    words = {
        "reach": f"{row['distinct_prompts']:,.0f} distinct prompts x ~{tokens:,.0f} answer tokens "
        f"({n:,.0f} requests): {z['reach']:.1f} robust SD above the bulk of the log's accounts",
        "cot": f"chain-of-thought elicitation in {row['cot_rate']:.0%} of {n:,.0f} requests "
        f"({_band_words(z['cot'])})",
        "amplification": f"short prompts for long answers: ~{row['ask_tokens']:,.0f} prompt tokens for "
        f"~{tokens:,.0f} answer tokens ({_band_words(z['amplification'])})",
        "answer_len": f"long answers: ~{tokens:,.0f} tokens on average ({_band_words(z['answer_len'])})",
        "logprob_entries": f"log-probs requested in {row['lp_rate']:.0%} of requests (mean top_logprobs "
        f"{row['mean_top_lp']:.1f}) with ~{tokens:,.0f}-token answers ({_band_words(z['logprob_entries'])})",
        "bias_ids": f"logit_bias over {np.expm1(row['bias_ids']):,.0f} distinct token ids "
        f"({_band_words(z['bias_ids'])})",
        "diversity": f"prompts spread wide: mean character 4-gram overlap {row['sample_jaccard']:.2f} "
        "between "
        f"sampled prompts ({_band_words(z['diversity'])})",
        "dispersion": f"prompts spread over many topics (MiniLM dispersion {row.get('dispersion', 0):.2f}, "
        f"{_band_words(z.get('dispersion', 0.0))})",
        "round_the_clock": f"round the clock: {row['quiet_share']:.0%} of requests in its quietest 8 hours "
        f"of the day, where people sleep ({_band_words(z.get('round_the_clock', 0.0))})",
        "long_session": f"sessions like a script's: {row['longest_session']:,.0f} requests in its longest "
        f"session without a 30-minute pause ({_band_words(z.get('long_session', 0.0))})",
    }
    ranked = sorted((k for k in words if z.get(k, 0.0) >= 2.0), key=lambda k: -z[k])
    out = [words[k] for k in ranked]
    if z["reach"] >= 2.0 and not row["explained"]:
        out.append(
            "no benign pattern explains that reach (not context-heavy, not short answers, not one "
            "template, not repeated prompts, not an evaluation of several models, not tool loops)"
        )
    elif out and row["explained"]:
        explained = f"explained by {row['explained']}"
        if row["explained"] == EVALUATION_WORDS:
            explained += _evaluation_words(row)
        if row["explained"] == TOOL_LOOP_WORDS:
            explained += (
                f": {row['tool_share']:.0%} of its {row['n']:,.0f} requests are steps of a tool loop, and "
                f"{row['tool_call_share']:.0%} of its answers are tool calls, not text"
            )
        out.insert(0, explained)  # first: it is why the signals below do not flag the account
    p = float(row["p_account"])
    if out:
        out.append(
            f"combined: p = {p:.1e} (reach {row['p_reach']:.1e}; harvest {row['p_harvest']:.1e}; "
            f"content {row['p_content']:.1e}; automation {row['p_automation']:.1e})"
        )
    return out


def _campaign_reasons(a: str, cid: str, com: Community, facts: dict[str, Any], links: Links) -> list[str]:
    piece = facts.get("piece")
    if piece:  # found as a piece of its own, joined to this campaign (_join_pieces)
        head = (
            f"found in a piece of {piece} accounts that runs campaign {cid}'s playbook (parameters and "
            "answer lengths as alike across as inside, beyond random sets of its size) on another slice of "
            "the same topic space: one campaign"
        )
        if "slice_p" in facts:  # a group of one topic that passed its own test but collected too little alone
            head += (
                "; the piece is a group of one topic whose parameters are alike beyond random sets of its "
                f"size (p = {facts['slice_p']:.1e}), too small to collect enough alone"
            )
        rest = {k: v for k, v in facts.items() if k != "slice_p"}
        return [head, *_campaign_reasons(a, cid, com, {**rest, "piece": 0}, links)]
    pool = facts.get("pool")
    if pool:  # joined through the campaign's pool of addresses (_join_pool_users)
        head = (
            f"sends most of its requests through the {pool} addresses most members of campaign {cid} "
            "use, with the campaign's topics and parameters nearer than random accounts': one of its members"
        )
        return [head, *_campaign_reasons(a, cid, com, {**facts, "pool": 0}, links)]
    grp = facts.get("coordinated")
    if grp is not None:
        return _coordinated_reasons(cid, com, grp, facts) + _link_reasons(a, links)
    cohesion = (
        f"behavioural cohesion {com.cohesion:.2f}, p = {com.cohesion_p:.1e} against random sets of candidates"
    )
    together = f"{np.exp(facts['pooled_reach']):,.0f} prompt x answer tokens (p = {facts['p_reach']:.1e})"
    found_with, other = facts.get("split_from", (0, ""))
    if found_with:  # the rest of its community went to a campaign tied by infrastructure (_split_remainders)
        head = (
            f"member of campaign {cid}: {len(com.members)} of the {found_with} accounts of a community of "
            f"candidates with one playbook ({cohesion}; the {found_with} together {together}); the other "
            f"{found_with - len(com.members)} are tied by rare shared infrastructure or timing that these do "
            f"not share and are campaign {other}, another operation"
        )
    else:
        head = (
            f"member of campaign {cid}: {len(com.members)} accounts with one playbook ({cohesion}), "
            f"together {together}"
        )
    out = [
        head,
        f"the members ask different prompts ({com.duplicate_share:.0%} asked verbatim by two or more): "
        "one task split between accounts",
    ]
    return out + _link_reasons(a, links)


def _coordinated_reasons(cid: str, com: Community, grp: CoordinatedGroup, facts: dict[str, Any]) -> list[str]:
    together = (
        f"together {np.exp(facts['pooled_reach']):,.0f} prompt x answer tokens (p = {facts['p_reach']:.1e})"
    )
    if grp.grouped_on == "candidates":
        head = (
            f"member of campaign {cid}: {len(com.members)} accounts, each extraordinary on its own but "
            f"collecting little alone (typical member p = {facts['typical']:.1e}), with one topic space and "
            f"one playbook: topic similarity {grp.topic:.2f} vs {grp.topic_null:.2f} and parameter "
            f"similarity {grp.playbook:.2f} vs {grp.playbook_null:.2f} for random accounts of the same "
            f"volume (p = {grp.p_value:.1e}, over the small groups tested); {together}"
        )
        return [
            head,
            f"the members ask different prompts ({com.duplicate_share:.0%} asked verbatim by two or more): "
            "one task split between accounts",
        ]
    if grp.grouped_on == "topic" and grp.selected:
        g, k = len(grp.tied), len(grp.members)
        head = (
            f"member of campaign {cid}: one of {len(com.members)} accounts whose prompts split one topic "
            f"space ({g} grouped on topic with ordinary accounts, parameter similarity {grp.playbook:.2f} vs "
            f"{grp.playbook_null:.2f} for random accounts: no campaign as a whole); peeling kept {k} of {g} "
            f"alike in topic and parameters, where random topic neighbourhoods of {g} keep "
            f"{grp.selected_null:.1f} on average and {k} or more in {grp.selected_hits:,} of "
            f"{grp.selected_draws:,} draws (p = {grp.p_value:.1e}, over the groups tested); {together}"
        )
    elif grp.grouped_on == "topic":
        head = (
            f"member of campaign {cid}: {len(com.members)} accounts covering one topic space "
            f"({len(grp.tied)} grouped on topic) with one playbook of parameters and answer lengths: "
            f"similarity "
            f"{grp.playbook:.2f} vs {grp.playbook_null:.2f} for random accounts of the same volume "
            f"(p = {grp.p_value:.1e}, over the groups tested); {together}"
        )
    elif grp.grouped_on == "crowded":
        head = (
            f"member of campaign {cid}: {len(com.members)} accounts behind one pool of crowded addresses "
            f"({len(grp.tied)} use most of it) running one playbook: topic similarity "
            f"{grp.topic:.2f} vs {grp.topic_null:.2f} and parameter similarity {grp.playbook:.2f} vs "
            f"{grp.playbook_null:.2f} for random accounts of the same volume (p = {grp.p_value:.1e}, over "
            f"the pools tested); {together}"
        )
    else:
        head = (
            f"member of campaign {cid}: {len(com.members)} accounts tied by rare shared infrastructure or "
            f"synchronised timing ({len(grp.tied)} tied in all) running one playbook: topic similarity "
            f"{grp.topic:.2f} vs {grp.topic_null:.2f} and parameter similarity {grp.playbook:.2f} vs "
            f"{grp.playbook_null:.2f} for random accounts of the same volume "
            f"(p = {grp.p_value:.1e}, over the "
            f"groups tested); {together}"
        )
    payers = facts.get("customers")
    several = [_customers_words(payers)] if payers else []
    return [
        head,
        *several,
        "its own part: prompts nobody else asks verbatim, on the campaign's topics and playbook, collecting "
        f"more than the log's typical account; the members ask different prompts ({com.duplicate_share:.0%} "
        "asked verbatim by two or more)",
    ]


def _customers_words(c: dict[str, Any]) -> str:
    """Why a group that one payer seemed to explain is several customers (see ``_several_customers``)."""
    payers = "; ".join(
        ", ".join(v.split(":", 1)[1] for v in ps[:2]) + (" ..." if len(ps) > 2 else "") for ps in c["payers"]
    )
    sizes = " + ".join(str(n) for n in c["sizes"])
    return (
        f"not one customer: {sizes} accounts of {len(c['sizes'])} customers paying apart ({payers}), "
        f"alike across customers: topic similarity {c['topic']:.2f} vs {c['topic_null']:.2f} and parameter "
        f"similarity {c['playbook']:.2f} vs {c['playbook_null']:.2f} for random accounts of the same volume "
        f"in the same customer structure (p = {c['p']:.1e}, {c['draws']:,.0f} draws, over the groups tested)"
    )


def _link_reasons(a: str, links: Links) -> list[str]:
    out = []
    size = links.template_cluster_size.get(a, 0)
    if size >= 2:
        out.append(
            f"shares a prompt template (MinHash-LSH, slot-filled variants) with {size - 1} other account(s)"
        )
    kinds = links.partners.get(a, {})
    values = links.shared_values.get(a, {})
    labels = {
        "ip": "IP address(es)",
        "ip24": "IP range(s)",
        "ua": "user agent(s)",
        "payment": "payment id(s)",
    }
    for kind in ("payment", "ip", "ip24", "ua"):
        if kinds.get(kind):
            vals = sorted(values.get(kind, set()))
            shown = ", ".join(vals[:3]) + (" ..." if len(vals) > 3 else "")
            rare = min((links.value_accounts.get((kind, v), 0) for v in vals), default=0)
            out.append(
                f"shares {labels[kind]} {shown} with {len(kinds[kind])} candidate account(s) "
                f"(used by as few as {rare} accounts in the whole log)"
            )
    if kinds.get("timing"):
        out.append(f"synchronised activity (same 10-minute bins) with {len(kinds['timing'])} account(s)")
    return out


def _campaign_record(
    cid: str,
    members: list[str],
    p: float,
    by: pd.DataFrame,
    acc: pd.DataFrame,
    links: Links,
    com: Community | None,
    facts: dict[str, Any],
    own_reasons: list[str] | None = None,
) -> dict[str, Any]:
    rows = by.loc[members]
    raw = acc.set_index("account").loc[members]
    shared: dict[str, list[str]] = {}
    for kind in ("ip24", "ua", "payment"):
        vals = sorted({v for a in members for v in links.shared_values.get(a, {}).get(kind, set())})
        if vals:
            shared[kind] = vals[:20]
    clusters = sorted({c for a in members for c in links.account_clusters.get(a, set())})
    n = float(rows["n"].sum())

    def weighted(col: str) -> float:
        return round(float((rows[col] * rows["n"]).sum() / max(n, 1.0)), 4)

    reasons = (
        _campaign_reasons(members[0], cid, com, facts, links)[:2] if com is not None else own_reasons or []
    )
    evidence = {
        "score": round(float(cal.score_of(p)), 4),
        "p_value": float(p),
        "accounts": len(members),
        "exchanges": int(n),
        "first_ts": float(raw["first_ts"].min()),
        "last_ts": float(raw["last_ts"].max()),
        "signals": {
            "p_harvest_median": round(float(rows["p_harvest"].median()), 6),
            "p_content_median": round(float(rows["p_content"].median()), 6),
            "p_reach_min": float(rows["p_reach"].min()),
            **({"cohesion": round(com.cohesion, 4), "p_cohesion": com.cohesion_p} if com else {}),
            **({"p_pooled_reach": facts["p_reach"]} if facts else {}),
        },
        "reasons": reasons,
        "links": dict(com.kinds) if com else {},
        "duplicate_share": round(com.duplicate_share, 4) if com else None,
        "template_cluster_accounts": max((links.template_cluster_size.get(a, 0) for a in members), default=0),
        "template_signatures": [
            links.cluster_signatures[c] for c in clusters[:5] if c in links.cluster_signatures
        ],
        "shared_infrastructure": shared,
        "rates": {
            "cot_rate": weighted("cot_rate"),
            "lp_rate": weighted("lp_rate"),
            "answer_tokens": weighted("answer_tokens"),
            "distinct_prompts": int(rows["distinct_prompts"].sum()),
            "sample_jaccard": round(float(rows["sample_jaccard"].mean()), 4)
            if rows["sample_jaccard"].notna().any()
            else None,
        },
    }
    return {"campaign": cid, "accounts": sorted(members), "evidence": evidence}
