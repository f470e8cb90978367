"""Match a peer's STIX bundle against our own exchange log.

Template indicators match an exchange whose normalised prompt's keyed MinHash has
an estimated Jaccard similarity of at least ``threshold`` with the template's;
infrastructure indicators match on equal salted hashes. Both need the salt the
peer used (checked against the fingerprint in the bundle). Results are per
account: how many of its exchanges matched which indicators.

This module must not modify the logs or the bundle, and reports only account
names of *our* log (never the peer's data beyond its indicator ids).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from distillscope.records import Exchange
from distillscope.share import sketch
from distillscope.share.export import INFRA_PATTERN, TEMPLATE_PATTERN, ShareInputError


@dataclass
class SharedIndicators:
    salt_check: str | None
    templates: list[tuple[str, str, Any]] = field(default_factory=list)  # (indicator id, campaign, MinHash)
    infra: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # hash -> (indicator id, kind, campaign)


@dataclass
class AccountMatch:
    account: str
    exchanges: int = 0
    matched_exchanges: int = 0
    template_hits: int = 0
    infra_hits: dict[str, int] = field(default_factory=dict)
    campaigns: list[str] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)


@dataclass
class MatchResult:
    scanned: int
    accounts: list[AccountMatch]

    def to_rows(self) -> list[dict[str, Any]]:
        return [asdict(a) for a in self.accounts]


def load_bundle(path: str | os.PathLike[str]) -> SharedIndicators:
    """Read a bundle (checked with stix2) and pull out the indicators this tool can match."""
    import stix2
    import stix2.exceptions

    import distillscope.share.traffic  # noqa: F401  (registers the custom observable)

    target = Path(path)
    if not target.exists():
        raise ShareInputError(f"{target}: no such file")
    try:
        raw = json.loads(target.read_text(encoding="utf-8"))
        stix2.parse(raw, allow_custom=True)
    except json.JSONDecodeError as exc:
        raise ShareInputError(f"{target}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    except (stix2.exceptions.STIXError, ValueError, TypeError) as exc:
        raise ShareInputError(f"{target}: not a valid STIX 2.1 bundle ({exc})") from exc
    if not isinstance(raw, dict) or raw.get("type") != "bundle":
        raise ShareInputError(f"{target}: not a STIX bundle")
    objects = raw.get("objects", [])
    names = {o["id"]: o.get("name", o["id"]) for o in objects if o.get("type") == "campaign"}
    indicates = {
        o["source_ref"]: names.get(o["target_ref"], o["target_ref"])
        for o in objects
        if o.get("type") == "relationship" and o.get("relationship_type") == "indicates"
    }
    checks = {o.get("x_distillscope_salt_check") for o in objects if o.get("type") == "identity"} - {None}
    shared = SharedIndicators(salt_check=next(iter(checks), None))
    for o in objects:
        if o.get("type") != "indicator":
            continue
        campaign = indicates.get(o["id"], "unattributed")
        if o.get("pattern_type") == TEMPLATE_PATTERN:
            try:
                values = json.loads(o["pattern"])
                shared.templates.append((o["id"], campaign, sketch.minhash_from_values(values)))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                raise ShareInputError(f"{target}: indicator {o['id']} holds a malformed MinHash") from exc
        elif o.get("pattern_type") == INFRA_PATTERN:
            kind, _, digest = str(o["pattern"]).partition(":")
            if kind not in sketch.INFRA_FIELDS or len(digest) != 64:
                raise ShareInputError(f"{target}: indicator {o['id']} holds a malformed hash pattern")
            shared.infra[digest] = (o["id"], kind, campaign)
    return shared


def match_logs(
    shared: SharedIndicators, exchanges: Iterable[Exchange], salt: bytes, threshold: float = 0.5
) -> MatchResult:
    """Which of our accounts' exchanges match the shared indicators."""
    from datasketch import MinHashLSH

    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    if shared.salt_check is not None and shared.salt_check != sketch.salt_check(salt):
        raise sketch.SaltError("this bundle was made with another salt; ask the peer for theirs")
    lsh = MinHashLSH(threshold=threshold, num_perm=sketch.NUM_PERM)
    for i, (_, _, mh) in enumerate(shared.templates):
        lsh.insert(str(i), mh)
    accounts: dict[str, AccountMatch] = {}
    scanned = 0
    for exchange in exchanges:
        scanned += 1
        found = accounts.setdefault(exchange.account, AccountMatch(exchange.account))
        found.exchanges += 1
        template = _template_hits(shared, lsh, exchange, salt, threshold)
        found.template_hits += bool(template)
        hits = template + _infra_hits(shared, exchange, salt, found)
        if hits:
            found.matched_exchanges += 1
            for indicator_id, campaign in hits:
                if indicator_id not in found.indicators:
                    found.indicators.append(indicator_id)
                if campaign not in found.campaigns:
                    found.campaigns.append(campaign)
    matched = [a for a in accounts.values() if a.matched_exchanges]
    return MatchResult(scanned, sorted(matched, key=lambda a: -a.matched_exchanges))


def _template_hits(
    shared: SharedIndicators, lsh: Any, exchange: Exchange, salt: bytes, threshold: float
) -> list[tuple[str, str]]:
    if not shared.templates:
        return []
    parts = sketch.shingles(exchange.last_user_text)
    if not parts:
        return []
    mh = sketch.minhash_of(parts, salt)
    hits = []
    for key in lsh.query(mh):
        indicator_id, campaign, template = shared.templates[int(key)]
        if mh.jaccard(template) >= threshold:
            hits.append((indicator_id, campaign))
    return hits


def _infra_hits(
    shared: SharedIndicators, exchange: Exchange, salt: bytes, found: AccountMatch
) -> list[tuple[str, str]]:
    hits = []
    for kind in sketch.INFRA_FIELDS:
        value = getattr(exchange, kind)
        if not value:
            continue
        entry = shared.infra.get(sketch.infra_hash(kind, str(value), salt))
        if entry is not None:
            found.infra_hits[kind] = found.infra_hits.get(kind, 0) + 1
            hits.append((entry[0], entry[2]))
    return hits
