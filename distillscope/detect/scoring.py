"""Score accounts and linked groups of accounts; decide what is flagged and why.

The same formula scores one account and a whole group (whose numbers are the
sums of its members'), so a hydra of quiet accounts is judged on its combined
volume, coverage and extraction signals:

- extraction = noisy-OR of chain-of-thought elicitation, log-prob harvesting,
  logit-bias sweeps, long outputs, rate-limit pressure, model switching;
- drive = max(volume relative to the population, machine timing);
- score = noisy-OR(extraction x (0.45 + 0.55 drive),
  0.5 x coverage x volume x automation x (0.2 + 0.8 output length),
  0.7 x coordination x drive x (0.2 + 0.8 output length))  (coordination: groups only).

What it must not do: read logs or labels. Hard negatives are designed for in
the formula: one template at volume has no coverage; a benchmark harness asks
for a few tokens, so log-probs and coverage without long outputs weigh little;
infrastructure that many accounts share carries no link weight (linkage.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from distillscope.detect import features as ft
from distillscope.detect.linkage import Links, build_links
from distillscope.detect.tables import FeatureTables

FLAG_THRESHOLD = 0.6
SUM_COLUMNS = (
    "n",
    "n_cot",
    "n_lp",
    "sum_top_lp",
    "n_bias",
    "sum_max_tokens",
    "n_max_tokens",
    "sum_comp_tokens",
    "n_comp_tokens",
    "n_long",
    "n_429",
    "n_multi",
    "n_templates",
)


@dataclass
class Scored:
    """The detector's decisions: one record per account, one per flagged campaign."""

    accounts: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    groups: list[dict[str, Any]] = field(default_factory=list)  # every multi-account group, flagged or not


def combine(p: ft.Profile, vol: float, auto: float, cov: float, coord: float = 0.0) -> float:
    extraction = ft.noisy_or(
        [
            0.6 * p.get("cot"),
            0.75 * p.get("logprob_harvest"),
            0.5 * p.get("logprob_next_token"),
            0.9 * p.get("logit_bias_sweep"),
            0.25 * p.get("long_outputs"),
            0.2 * p.get("rate_limited"),
            0.3 * p.get("model_switch"),
            0.2 * p.get("multi_sample"),
        ]
    )
    h = p.stats.get("output_length", 0.5)
    drive = max(vol, auto)
    parts = [
        extraction * (0.45 + 0.55 * drive),
        0.5 * cov * vol * auto * (0.2 + 0.8 * h),
        0.7 * coord * drive * (0.2 + 0.8 * h),
    ]
    p.stats.update(extraction=extraction, drive=drive, volume=vol, automation=auto, coverage=cov)
    return ft.noisy_or(parts)


def _profile(
    key: str,
    row: Mapping[str, Any],
    pop: ft.Population,
    hours: np.ndarray | None,
    samples: list[str],
    models: list[ft.ModelUse] | None,
    embed_cov: float | None,
) -> tuple[ft.Profile, float, float, float]:
    st = ft.base_stats(row)
    p = ft.Profile(key=key, n=st["n"], stats=dict(st))
    vol = pop.volume_factor(st["n"])
    if vol > 0:
        p.add(
            "volume",
            vol,
            f"{st['n']:,.0f} requests, {pop.volume_z(st['n']):.1f} robust SD above the "
            f"median account of {pop.accounts:,} ",
        )
    ft.extraction_signals(p, st, vol)
    ft.timing_signals(p, row, hours)
    auto = ft.automation(p)
    cov = ft.coverage_signal(p, samples, embed_cov)
    if cov > 0 and vol > 0:
        p.add(
            "coverage",
            cov * vol,
            f"broad topic coverage (mean prompt-pair word overlap "
            f"{p.stats.get('sample_jaccard', 0):.2f}) at volume",
        )
    if models is not None and len(models) >= 2:
        switched, why = ft.model_switch(models)
        if switched:
            p.add("model_switch", ft.clip01(st["n"] / 200.0) * (0.3 + 0.7 * p.stats["output_length"]), why)
    return p, vol, auto, cov


def score(
    tables: FeatureTables,
    threshold: float = FLAG_THRESHOLD,
    embed_cov: dict[str, float] | None = None,
) -> Scored:
    """Score every account and every linked group; flag what reaches ``threshold``."""
    acc = ft.account_frame(tables)
    if acc.empty:
        return Scored([], [])
    names = acc["account"].tolist()
    n_by = dict(zip(names, acc["n"], strict=True))
    pop = ft.Population.of(acc["n"].to_numpy())
    hours = ft.hours_matrix(tables["hours"])
    samples = tables["samples"].groupby("account")["sample_text"].apply(list).to_dict()
    models = ft.model_uses(tables["models"])
    embed_cov = embed_cov or {}

    profiles: dict[str, ft.Profile] = {}
    scores: dict[str, float] = {}
    for row in acc.to_dict("records"):
        a = row["account"]
        p, vol, auto, cov = _profile(
            a, row, pop, hours.get(a), samples.get(a, []), models.get(a), embed_cov.get(a)
        )
        profiles[a] = p
        scores[a] = combine(p, vol, auto, cov)

    links = build_links(
        names, n_by, tables["top_templates"], tables["samples"], tables["infra"], tables["bins"]
    )
    by_account = acc.set_index("account")
    group_records = []
    campaign_of: dict[str, str] = {}
    group_score_of: dict[str, tuple[float, ft.Profile, str]] = {}
    for linked in links.groups:
        if len(linked) < 2:
            continue
        members = linked
        gp, gscore = _score_group(members, by_account, pop, hours, samples, models, links, profiles)
        if gscore >= threshold:
            # a campaign's accounts run one playbook: drop linked accounts that do not carry its signals
            kept = _consistent_members(members, gp, profiles)
            if len(kept) < len(members):
                members = kept
                if len(members) >= 2:
                    gp, gscore = _score_group(
                        members, by_account, pop, hours, samples, models, links, profiles
                    )
        if len(members) < 2:
            continue
        cid = campaign_id(members)
        record = _campaign_record(cid, members, gp, gscore, links, by_account)
        group_records.append(record)
        for a in members:
            group_score_of[a] = (gscore, gp, cid)
        if gscore >= threshold:
            for a in members:
                campaign_of[a] = cid

    campaigns = [g for g in group_records if g["evidence"]["score"] >= threshold]
    out_accounts = []
    for a in names:
        p = profiles[a]
        own = scores[a]
        reasons = p.reasons()
        final = own
        campaign = campaign_of.get(a)
        if a in group_score_of:
            gscore, gp, cid = group_score_of[a]
            if campaign:
                final = max(own, gscore)
                reasons = (
                    [_membership_reason(a, cid, gp, links)]
                    + _link_reasons(a, links)
                    + [f"campaign: {r}" for r in gp.reasons()]
                    + reasons
                )
        flagged = final >= threshold
        if flagged and campaign is None:
            campaign = campaign_id([a])
            campaigns.append(_campaign_record(campaign, [a], p, own, links, by_account))
        out_accounts.append(
            {
                "account": a,
                "score": round(float(final), 4),
                "flagged": bool(flagged),
                "campaign": campaign,
                "reasons": _dedupe(reasons) if (flagged or final >= 0.25) else _dedupe(reasons)[:3],
            }
        )
    out_accounts.sort(key=lambda r: (-r["score"], r["account"]))
    campaigns.sort(key=lambda c: (-c["evidence"]["score"], c["campaign"]))
    return Scored(out_accounts, campaigns, group_records)


def _score_group(
    members: list[str],
    by_account: pd.DataFrame,
    pop: ft.Population,
    hours: dict[str, np.ndarray],
    samples: dict[str, list[str]],
    models: dict[str, list[ft.ModelUse]],
    links: Links,
    profiles: dict[str, ft.Profile],
) -> tuple[ft.Profile, float]:
    rows = by_account.loc[members]
    total = rows[list(SUM_COLUMNS)].sum()
    total["distinct_bias_ids"] = rows["distinct_bias_ids"].sum()  # an upper bound: ids may repeat
    total["first_ts"], total["last_ts"] = rows["first_ts"].min(), rows["last_ts"].max()
    st = ft.base_stats(total)
    gp = ft.Profile(key=",".join(members[:3]), n=st["n"], stats=dict(st))
    vol = pop.volume_factor(st["n"])
    if vol > 0:
        gp.add(
            "volume",
            vol,
            f"{st['n']:,.0f} requests over {len(members)} accounts, "
            f"{pop.volume_z(st['n']):.1f} robust SD above the median account",
        )
    ft.extraction_signals(gp, st, vol)
    pooled = sum((hours[a] for a in members if a in hours), np.zeros(24))
    span_h = (total["last_ts"] - total["first_ts"]) / 3600.0
    if st["n"] >= 100 and span_h >= 36:
        quiet = ft.longest_quiet_run(pooled)
        gp.add(
            "no_sleep",
            ft.clip01((6 - quiet) / 4.0),
            f"the group is active around the clock (longest quiet stretch {quiet} h)",
        )
    weights = rows["n"].to_numpy()
    member_auto = float(np.average([ft.automation(profiles[a]) for a in members], weights=weights))
    auto = max(member_auto, gp.get("no_sleep"))
    pooled_samples = [s for a in members for s in samples.get(a, [])[:4]][:64]
    cov = ft.coverage_signal(gp, pooled_samples)
    if cov > 0 and vol > 0:
        gp.add(
            "coverage",
            cov * vol,
            f"broad topic coverage across the group (word overlap {gp.stats.get('sample_jaccard', 0):.2f})",
        )
    switched, why = ft.model_switch(ft.merge_model_uses([u for a in members for u in models.get(a, [])]))
    if switched:
        gp.add(
            "model_switch",
            ft.clip01(st["n"] / 200.0) * (0.3 + 0.7 * gp.stats["output_length"]),
            f"the group {why}",
        )
    k = len(members)
    spread = ft.clip01((k - 2) / 8.0)
    templ = sum(1 for a in members if links.template_cluster_size.get(a, 0) >= 2) / k
    sync = sum(1 for a in members if links.partners.get(a, {}).get("timing")) / k
    coord = max(templ, 0.6 * sync) * spread
    if coord > 0:
        gp.add(
            "coordination",
            coord,
            f"{k} accounts coordinated: {templ:.0%} share prompt templates, "
            f"{sync:.0%} act in synchronised time bins",
        )
    return gp, combine(gp, vol, auto, cov, coord)


PLAYBOOK_RATES = ("cot_rate", "lp_rate", "long_rate", "bias_rate")


def _consistent_members(members: list[str], gp: ft.Profile, profiles: dict[str, ft.Profile]) -> list[str]:
    """Members whose own request style matches the group's dominant rates (CoT, log-probs, long outputs).

    A quiet member is judged on the little it did: a hydra account with two requests carries the
    campaign's style in both.
    """
    dominant = {k: gp.stats[k] for k in PLAYBOOK_RATES if (gp.stats.get(k) or 0) >= 0.3}
    if not dominant:
        return members
    kept = []
    for a in members:
        st = profiles[a].stats
        if all((st.get(k) or 0) >= 0.4 * v for k, v in dominant.items()):
            kept.append(a)
    return kept


def campaign_id(members: list[str]) -> str:
    digest = hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:10]
    return f"camp-{digest}"


def _campaign_record(
    cid: str, members: list[str], p: ft.Profile, score_value: float, links: Links, by_account: pd.DataFrame
) -> dict[str, Any]:
    rows = by_account.loc[members]
    link_counts: dict[str, int] = {}
    for a in members:
        for kind, cnt in links.link_kinds(a).items():
            link_counts[kind] = link_counts.get(kind, 0) + cnt
    shared: dict[str, list[str]] = {}
    for kind in ("ip24", "ua", "payment"):
        vals = sorted({v for a in members for v in links.shared_values.get(a, {}).get(kind, set())})
        if vals:
            shared[kind] = vals[:20]
    clusters = sorted({c for a in members for c in links.account_clusters.get(a, set())})
    st = p.stats

    def num(key: str) -> float | None:
        v = st.get(key)
        return None if v is None or v != v else round(float(v), 4)

    evidence = {
        "score": round(float(score_value), 4),
        "accounts": len(members),
        "exchanges": int(rows["n"].sum()),
        "first_ts": float(rows["first_ts"].min()),
        "last_ts": float(rows["last_ts"].max()),
        "signals": {s.name: round(s.value, 4) for s in sorted(p.signals.values(), key=lambda s: s.name)},
        "reasons": p.reasons(),
        "links": {k: link_counts[k] // 2 if k != "template" else link_counts[k] for k in sorted(link_counts)},
        "template_cluster_accounts": max((links.template_cluster_size.get(a, 0) for a in members), default=0),
        "template_signatures": [
            links.cluster_signatures[c] for c in clusters[:5] if c in links.cluster_signatures
        ],
        "shared_infrastructure": shared,
        "rates": {
            k: num(k)
            for k in (
                "cot_rate",
                "lp_rate",
                "mean_top_lp",
                "long_rate",
                "mean_max_tokens",
                "distinct_bias_ids",
                "sample_jaccard",
            )
        },
    }
    return {"campaign": cid, "accounts": sorted(members), "evidence": evidence}


def _membership_reason(a: str, cid: str, gp: ft.Profile, links: Links) -> str:
    return f"member of campaign {cid}: {gp.stats.get('n', 0):,.0f} requests over a linked group of accounts"


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
                f"shares {labels[kind]} {shown} with {len(kinds[kind])} linked account(s) "
                f"(used by as few as {rare} accounts in the whole log)"
            )
    if kinds.get("timing"):
        out.append(f"synchronised activity (same 10-minute bins) with {len(kinds['timing'])} account(s)")
    return out


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))
