"""Export detected campaigns as a STIX 2.1 bundle that carries no prompt text and no raw infrastructure.

Input: ``campaigns.jsonl`` and ``accounts.jsonl`` (the detector's output) and the
exchange log they were computed from. Per campaign the bundle holds:

- a ``campaign`` (our own sequential name, never the internal id, which may
  embed account names), with first/last seen;
- one ``indicator`` per prompt template (``pattern_type`` ``x-distillscope-minhash``):
  the keyed MinHash of the shingles shared by a cluster of the campaign's prompts.
  Only clusters of at least ``min_cluster`` exchanges are exported, so a single
  user's one-off prompt never leaves;
- one ``indicator`` per infrastructure value (``x-distillscope-salted-sha256``):
  HMAC of ``ip:…``, ``user_agent:…``, ``payment_id:…``, ``org:…``;
- an ``observed-data`` over an ``x-distillscope-traffic`` summary (counts, the
  share of requests that asked for log-probs or logit bias);
- ``relationship`` objects (indicator *indicates* campaign) and the producer's ``identity``.

The detector's free-form ``evidence`` is never exported. This module must not
write anything it did not derive through :mod:`distillscope.share.sketch`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distillscope.errors import InputError
from distillscope.records import Exchange, read_objects
from distillscope.share import sketch

BUNDLE_VERSION = 1
TEMPLATE_PATTERN = "x-distillscope-minhash"
INFRA_PATTERN = "x-distillscope-salted-sha256"
TRAFFIC_TYPE = "x-distillscope-traffic"


class ShareInputError(InputError):
    """Detection output or a bundle that cannot be used."""


@dataclass
class CampaignInput:
    name: str
    accounts: list[str]
    exchanges: list[Exchange] = field(default_factory=list)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise ShareInputError(f"{path}: no such file")
    return read_objects(path, ShareInputError)


def read_detection(detect_dir: str | os.PathLike[str]) -> list[CampaignInput]:
    """Campaigns from ``campaigns.jsonl``, plus flagged accounts outside any campaign as their own."""
    folder = Path(detect_dir)
    campaigns = _read_jsonl(folder / "campaigns.jsonl")
    accounts = _read_jsonl(folder / "accounts.jsonl")
    out: list[CampaignInput] = []
    covered: set[str] = set()
    for number, row in enumerate(campaigns, start=1):
        members = row.get("accounts")
        if not isinstance(members, list) or not all(isinstance(a, str) for a in members) or not members:
            raise ShareInputError(f"campaigns.jsonl:{number}: 'accounts' must be a non-empty list of strings")
        out.append(CampaignInput(f"distillation campaign {len(out) + 1}", list(members)))
        covered.update(members)
    for number, row in enumerate(accounts, start=1):
        if "account" not in row or not isinstance(row.get("flagged", False), bool):
            raise ShareInputError(f"accounts.jsonl:{number}: needs 'account' and a boolean 'flagged'")
        if row.get("flagged") and row["account"] not in covered:
            out.append(
                CampaignInput(f"distillation campaign {len(out) + 1} (single account)", [row["account"]])
            )
            covered.add(row["account"])
    return out


def template_signatures(
    texts: list[str], salt: bytes, min_cluster: int = 3, threshold: float = 0.6
) -> list[Any]:
    """(MinHash, cluster size) for every cluster of similar prompts with at least ``min_cluster`` members."""
    from datasketch import MinHashLSH

    sets = [sketch.shingles(t) for t in texts]
    hashes = [sketch.minhash_of(s, salt) for s in sets]
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.NUM_PERM)
    for i, mh in enumerate(hashes):
        lsh.insert(str(i), mh)
    seen: set[int] = set()
    out = []
    for i in range(len(texts)):
        if i in seen or not sets[i]:
            continue
        members = [int(k) for k in lsh.query(hashes[i]) if int(k) not in seen]
        seen.update(members)
        if len(members) < min_cluster:
            continue
        # The template's core: shingles shared by at least half of the cluster (the variable parts drop out).
        counts = Counter(s for m in members for s in sets[m])
        core = {s for s, n in counts.items() if n * 2 >= len(members)} or sets[i]
        out.append((sketch.minhash_of(core, salt), len(members)))
    return out


def _traffic_summary(exchanges: list[Exchange]) -> dict[str, Any]:
    n = len(exchanges) or 1
    asked_logprobs = sum(1 for e in exchanges if e.params.get("logprobs") or e.params.get("top_logprobs"))
    biased = sum(1 for e in exchanges if e.params.get("logit_bias"))
    top = [int(e.params.get("top_logprobs") or 0) for e in exchanges]
    return {
        "logprobs_share": round(asked_logprobs / n, 4),
        "logit_bias_share": round(biased / n, 4),
        "top_logprobs_max": max(top, default=0),
        "mean_completion_tokens": round(sum(e.completion_tokens or 0 for e in exchanges) / n, 2),
    }


def _ts(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def build_bundle(
    campaigns: list[CampaignInput],
    exchanges: Iterable[Exchange],
    salt: bytes,
    *,
    producer: str = "distillscope user",
    min_cluster: int = 3,
) -> dict[str, Any]:
    """The STIX 2.1 bundle (as a JSON-ready dict) for these campaigns."""
    import stix2

    by_account: dict[str, list[Exchange]] = {}
    for exchange in exchanges:
        by_account.setdefault(exchange.account, []).append(exchange)
    now = datetime.now(UTC)
    identity = stix2.v21.Identity(
        name=producer,
        identity_class="organization",
        allow_custom=True,
        x_distillscope_salt_check=sketch.salt_check(salt),
        x_distillscope_bundle_version=BUNDLE_VERSION,
    )
    objects: list[Any] = [identity]
    for campaign in campaigns:
        rows = sorted((e for a in campaign.accounts for e in by_account.get(a, [])), key=lambda e: e.ts)
        objects.extend(_campaign_objects(campaign, rows, salt, identity.id, now, min_cluster))
    bundle = stix2.v21.Bundle(*objects, allow_custom=True)
    return json.loads(bundle.serialize())


def _campaign_objects(
    campaign: CampaignInput, rows: list[Exchange], salt: bytes, producer: str, now: datetime, min_cluster: int
) -> list[Any]:
    import stix2

    from distillscope.share.traffic import Traffic

    first = _ts(rows[0].ts) if rows else now
    last = _ts(rows[-1].ts) if rows else now
    stix_campaign = stix2.v21.Campaign(
        name=campaign.name,
        description=f"{len(campaign.accounts)} account(s), {len(rows)} exchanges, detected by distillscope",
        first_seen=first,
        last_seen=last,
        created_by_ref=producer,
        allow_custom=True,
        x_distillscope_accounts=len(campaign.accounts),
    )
    out: list[Any] = [stix_campaign]
    indicators = []
    for signature, size in template_signatures([e.last_user_text for e in rows], salt, min_cluster):
        indicators.append(
            stix2.v21.Indicator(
                name=f"prompt template of {campaign.name} ({size} exchanges)",
                indicator_types=["malicious-activity"],
                pattern_type=TEMPLATE_PATTERN,
                pattern=json.dumps([int(v) for v in signature.hashvalues]),
                valid_from=first,
                created_by_ref=producer,
                allow_custom=True,
                x_distillscope_minhash={
                    "num_perm": sketch.NUM_PERM,
                    "scheme": sketch.SCHEME,
                    "shingle": sketch.SHINGLE,
                    "normaliser": sketch.NORMALISER_VERSION,
                    "cluster_size": size,
                },
            )
        )
    for kind in sketch.INFRA_FIELDS:
        values = Counter(str(getattr(e, kind)) for e in rows if getattr(e, kind))
        for value, count in values.items():
            indicators.append(
                stix2.v21.Indicator(
                    name=f"{kind} used by {campaign.name} ({count} exchanges)",
                    indicator_types=["malicious-activity"],
                    pattern_type=INFRA_PATTERN,
                    pattern=f"{kind}:{sketch.infra_hash(kind, value, salt)}",
                    valid_from=first,
                    created_by_ref=producer,
                    allow_custom=True,
                )
            )
    for indicator in indicators:
        out.append(indicator)
        out.append(stix2.v21.Relationship(indicator, "indicates", stix_campaign, created_by_ref=producer))
    traffic = Traffic(requests=len(rows), accounts=len(campaign.accounts), summary=_traffic_summary(rows))
    observed = stix2.v21.ObservedData(
        first_observed=first,
        last_observed=last,
        number_observed=max(1, len(rows)),
        object_refs=[traffic.id],
        created_by_ref=producer,
        allow_custom=True,
    )
    out.extend([traffic, observed, stix2.v21.Relationship(observed, "related-to", stix_campaign)])
    return out


def write_bundle(bundle: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(bundle, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
