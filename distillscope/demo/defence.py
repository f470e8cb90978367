"""The defender's side of the demo: what the online guard, the policy, the offline detector and the
watermark made of the run, each as a report section.

Every verdict here comes from the project's own components (the guard's admin API
and exchange log, ``distillscope.detect.run_detection``, the watermark detector
and radioactivity test, the identity probe, the STIX exporter); this module only
reads their outputs and counts them against the run's ground truth (the world's
labels), which no detector ever sees. It must not score or decide anything itself.
"""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from pathlib import Path
from typing import Any

from distillscope.demo.live import LiveResult
from distillscope.demo.world import World
from distillscope.watermark import DOCUMENT_ALPHA, PooledScorer, attribute_in_rounds

_DELAY = re.compile(r"delayed (\d+) ms")
#: Control keys (keys no account ever used) tested beside the account keys.
CONTROL_KEYS = 20
#: Family-wise error of naming an innocent account key (split over the attribution's rounds).
ALPHA = 1e-6


def _policy() -> Any:
    from distillscope.guard.policy import PolicySettings

    return PolicySettings()


def register_benchmarks(world: World, db_url: str) -> dict[str, Any]:
    """Register the public benchmarks the world's evaluation harnesses run in the gateway's database,
    as a provider would (``guard benchmarks add``): the gateway, the backtest and the offline detector
    then treat their questions as no harvest evidence. Says plainly when there are none."""
    from distillscope.guard import BenchmarkStore, load_files

    if not world.benchmark_files:
        return {"registered": [], "note": "the world has no evaluation-harness traffic: no registry used"}
    _, benchmarks = load_files(world.benchmark_files)
    store = BenchmarkStore(db_url)
    try:
        for benchmark in benchmarks:
            store.add(benchmark, replace=True)
        registered = [{"name": i.name, "questions": i.questions} for i in store.list()]
    finally:
        store.close()
    return {
        "registered": registered,
        "note": "the public benchmark the simulated evaluation harnesses run, registered in the guard "
        "(guard benchmarks add): its questions are no harvest evidence online, in the backtest and offline",
    }


def registered_questions(db_url: str) -> frozenset[int]:
    """The question keys the gateway's registry holds (empty without one)."""
    from distillscope.guard import BenchmarkStore

    store = BenchmarkStore(db_url)
    try:
        return store.keys()[0]
    finally:
        store.close()


def backtest(world: World, history: Path, out: Path, db_url: str | None = None) -> dict[str, Any]:
    """The history through the gateway's online scorer and default policy (``guard replay``, open loop),
    with the public benchmarks registered in ``db_url`` (as the gateway scores them)."""
    from distillscope.guard.replay import replay_log

    policy = _policy()
    labels = {m.account: {"label": "campaign" if m.role == "attacker" else "benign", "group": m.group,
                          "style": m.style} for m in world.members.values()}  # fmt: skip
    public = registered_questions(db_url) if db_url else None
    result = replay_log(history, policy, out / "replay", labels=labels, public_questions=public or None)
    rows = {}
    for line in (out / "replay" / "accounts.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            rows[row["account"]] = row
    metrics = result.metrics or {}
    keep = ("first_n", "campaign_acted_within_first", "campaign_ever_throttled", "campaign_ever_blocked",
            "benign_accounts_throttled", "benign_accounts_blocked", "benign_accounts_stripped",
            "benign_requests_delayed", "campaign_by_style", "benign_by_group")  # fmt: skip
    return {
        "exchanges": result.exchanges,
        "accounts": rows,
        "metrics": {k: metrics.get(k) for k in keep},
        "public_benchmark_questions": result.public_questions,
    }


def watch_from_detection(detect_dir: Path, db_url: str, ttl_s: float = 7 * 86400.0) -> list[dict[str, Any]]:
    """Put the offline detector's flagged accounts and campaign members on the gateway's watch list."""
    from distillscope.guard.watchlist import WatchStore, entries_from_detection

    entries = entries_from_detection(detect_dir, ttl_s=ttl_s)
    store = WatchStore(db_url)
    try:
        store.add(entries)
    finally:
        store.close()
    return [{"account": e.account, "campaign": e.campaign, "reason": e.reason} for e in entries]


def guard_section(
    world: World, live: LiveResult | None, log: list[Any], replay: dict[str, Any] | None
) -> dict[str, Any]:
    """The online verdict per account: the backtest over the history, then what the gateway did live."""
    policy = _policy()
    threshold = policy.risk.throttle
    history = (replay or {}).get("accounts", {})
    online = {row["account"]: row for row in (live.online if live else [])}
    started = live.started if live else float("inf")
    live_rows = [e for e in log if e.ts >= started and e.account in world.members]
    actions: dict[str, Counter[str]] = {}
    first_flag: dict[str, float] = {}
    timeline = []
    for e in sorted(live_rows, key=lambda e: e.ts):
        decision = e.extra.get("decision") or "allow"
        actions.setdefault(e.account, Counter())[decision] += 1
        if decision != "allow":
            first_flag.setdefault(e.account, e.ts)
        score = e.extra.get("risk_score")
        if score is not None:
            timeline.append({"ts": e.ts, "account": e.account, "score": float(score), "action": decision})
    accounts = []
    for name, member in world.members.items():
        past = history.get(name, {})
        now = online.get(name, {})
        acted_live = {k: v for k, v in actions.get(name, {}).items() if k != "allow"}
        acted_past = {k: v for k, v in (past.get("decisions") or {}).items() if k != "allow"}
        both = Counter(acted_past) + Counter(acted_live)
        score = max((x for x in (past.get("score"), now.get("score")) if x is not None), default=None)
        accounts.append(
            {
                "account": name,
                "role": member.role,
                "group": member.group,
                "style": member.style,
                "queries": int(past.get("requests") or 0) + sum(actions.get(name, {}).values()),
                "score": score,
                "flagged": bool(both),
                "action": ", ".join(f"{k} ×{v}" for k, v in sorted(both.items())) or None,
                "first_action_request": past.get("first_action_request"),
                "first_flagged_ts": first_flag.get(name),
                "reasons": list(past.get("reasons") or now.get("reasons") or []),
                "live": name in actions,
            }
        )
    accounts.sort(key=lambda a: (a["role"] != "attacker", -(a["score"] or 0.0)))
    return {
        "threshold": threshold,
        "policy": {
            "throttle": threshold,
            "throttle_delay_ms": policy.risk.throttle_delay_ms,
            "strip_logprobs": policy.risk.strip_logprobs,
            "block": policy.risk.block,
        },
        "scored_from": "the default policy's decisions, replayed over the history with each exchange's "
        "timestamp as the clock (guard replay), then the real gateway's decisions in the live window; "
        "flagged means the policy acted at least once (throttle, strip log-probs or block)",
        "backtest": (replay or {}).get("metrics"),
        "accounts": accounts,
        "timeline": timeline,
        "policy_cost": policy_cost(world, live, live_rows) if live else None,
    }


def policy_cost(world: World, live: LiveResult, live_rows: list[Any]) -> dict[str, Any]:
    """What the policy cost each live account: delays, stripped log-probs, refusals, time."""
    by_account: dict[str, list[Any]] = {}
    for e in live_rows:
        by_account.setdefault(e.account, []).append(e)
    rows = []
    for account in dict.fromkeys(s.account for s in live.sent):
        sent = [s for s in live.sent if s.account == account]
        logged = by_account.get(account, [])
        delays = [int(m.group(1)) for e in logged for r in e.extra.get("decision_reasons") or []
                  if (m := _DELAY.search(str(r)))]  # fmt: skip
        decisions = Counter(e.extra.get("decision") or "allow" for e in logged)
        asked = [s for s in sent if s.asked_logprobs and s.status == 200]
        rows.append(
            {
                "account": account,
                "role": world.members[account].role if account in world.members else None,
                "group": world.members[account].group if account in world.members else None,
                "requests": len(sent),
                "answered": sum(1 for s in sent if s.status == 200),
                "blocked": sum(1 for s in sent if s.status == 403),
                "rate_limited": sum(1 for s in sent if s.status == 429),
                "delayed": len(delays),
                "delay_s": round(sum(delays) / 1000.0, 2),
                "asked_logprobs": len(asked),
                "logprobs_stripped": sum(1 for s in asked if not s.got_logprobs),
                "decisions": dict(decisions),
                "seconds": round(max(s.started + s.seconds for s in sent) - min(s.started for s in sent), 1),
                "completion_tokens": sum(s.completion_tokens for s in sent),
            }
        )
    benign = [r for r in rows if r["role"] == "benign"]
    return {
        "window_s": round(live.ended - live.started, 1),
        "accounts": rows,
        "benign_requests": sum(r["requests"] for r in benign),
        "benign_requests_delayed": sum(r["delayed"] for r in benign),
        "benign_requests_refused": sum(r["blocked"] + r["rate_limited"] for r in benign),
    }


def offline_detection(world: World, log_path: Path, out: Path, db_url: str | None = None) -> dict[str, Any]:
    """The offline campaign detector over the gateway's log (written to ``log_path``), with the public
    benchmarks registered in the gateway's database ``db_url``, if it registers any."""
    from distillscope.detect.benchmarks import PublicQuestions, load_public_questions
    from distillscope.detect.run import run_detection

    public: PublicQuestions | None = None
    if db_url and world.benchmark_files:  # registered by register_benchmarks: read back from the registry
        public = load_public_questions(guard_db=db_url)
    result = run_detection(log_path, out / "detect", public_questions=public)
    roles = world.roles()

    def member(account: str, field_name: str) -> Any:
        m = world.members.get(account)
        return getattr(m, field_name) if m else None

    return {
        "engine": result.engine,
        "exchanges": result.exchanges,
        "public_benchmarks": result.public,
        "accounts": [
            {
                **{k: a.get(k) for k in ("account", "score", "flagged", "campaign", "reasons")},
                "role": roles.get(a["account"]),
                "group": member(a["account"], "group"),
                "style": member(a["account"], "style"),
            }
            for a in result.accounts
        ],
        "campaigns": [
            {
                "campaign": c.get("campaign"),
                "accounts": c.get("accounts", []),
                "evidence": c.get("evidence", {}),
            }
            for c in result.campaigns
        ],
    }


def attribution(
    world: World, live: LiveResult, tokenizer: Any, vocab_size: int, model: Any = None
) -> dict[str, Any]:
    """Does the text the attackers harvested carry their accounts' watermark keys?

    The harvested answers are pooled (as a leaked dataset would be) and tested under the key of
    every account the watermarking gateway answered (the only keys any of its text can carry: the
    simulated history was never generated, so never watermarked), Holm-adjusted together, beside
    control keys nobody used, in rounds (:mod:`distillscope.watermark.attribution`: the answers of a
    key already named leave the pool, so they no longer drown the quieter keys). With the teacher
    ``model`` (the provider's own), only the positions where the watermark could have acted are
    scored (:mod:`distillscope.watermark.informative`, at each answer's own sampling temperature);
    the test over every position is reported beside it, for comparison only.
    """
    from distillscope.watermark.detector import candidates_for, tokenize

    if live.watermark is None:
        return {"not_measured": live.watermark_note or "the watermark was off"}
    texts = [e.response_text or "" for e in live.harvested]
    if not texts:
        return {"not_measured": "the attackers harvested no text"}
    accounts = sorted({sent.account for sent in live.sent if sent.status == 200})
    config = live.watermark
    candidates = candidates_for(config, accounts, CONTROL_KEYS)
    sequences = tokenize(tokenizer, texts)
    selection = None
    if model is not None:
        from distillscope.watermark.informative import informative_positions

        conversations = [list(e.messages or []) for e in live.harvested]
        temperatures = [float((e.params or {}).get("temperature") or 0.0) for e in live.harvested]
        selection = informative_positions(
            model, tokenizer, conversations, sequences, config, temperatures=temperatures
        )
    scorer = PooledScorer(
        sequences, config, candidates, vocab_size, keep=selection.keep if selection else None
    )
    everywhere = scorer.report(range(len(sequences)), alpha=ALPHA, selected=False)
    rounded = attribute_in_rounds(scorer, alpha=ALPHA)
    plain = {s.name: s for s in everywhere.accounts}
    harvesters = Counter(e.account for e in live.harvested)
    roles = world.roles()
    keys = []
    for name, (score, number) in rounded.decided.items():
        row = {
            "account": name,
            "role": roles.get(name),
            "harvested": harvesters.get(name, 0),
            "p_value": score.p_adjusted,
            "z": score.test.z_score,
            "tokens_scored": score.test.scored,
            "named": bool(score.flagged),
            "round": number,
        }
        if selection is not None:
            every = plain[name]
            row["all_positions"] = {"p_value": every.p_adjusted, "z": every.test.z_score,
                                    "tokens_scored": every.test.scored}  # fmt: skip
        keys.append(row)
    keys.sort(key=lambda k: (not k["named"], k["round"] if k["named"] else 0, k["p_value"] or 1.0))
    controls = rounded.controls()
    where = (
        f"scored only where the watermark could act ({selection.rule}: {selection.kept:,} of "
        f"{selection.positions:,} positions, chosen from the teacher's own distribution, never a key), "
        if selection is not None
        else "scored at every position, "
    )
    first = rounded.rounds[0].report
    return {
        "alpha": ALPHA,
        "texts": first.documents,
        "tokens": first.tokens,
        "method": "keyed green-list test of the pooled harvested answers, "
        + where
        + "exact binomial p-values with repeated (context, token) pairs counted once, Holm-adjusted over "
        f"the keys of the {len(accounts)} accounts the watermarking gateway answered still in play, "
        "in rounds: "
        f"the answers a named key explains (alone, raw p < {DOCUMENT_ALPHA}) leave the pool before the "
        "next round, which tests the other keys and the same controls on the rest; alpha is split over "
        "the rounds (alpha/2, alpha/4, ...)",
        "positions": {"scored": selection.kept, "of": selection.positions} if selection is not None else None,
        "rounds": [
            {
                "round": r.number,
                "alpha": r.alpha,
                "texts": len(r.documents),
                "named": r.named,
                "explained": r.explained,
            }
            for r in rounded.rounds
        ],  # fmt: skip
        "keys": keys,
        "controls": {
            "count": len(first.controls),
            "smallest_p": min(
                (c.test.p_value for c, _ in controls if c.test.p_value is not None), default=None
            ),
            "named": len(
                {c.name for c, budget in controls if c.test.p_value is not None and c.test.p_value < budget}
            ),
        },
    }


def radioactivity(world: World, live: LiveResult, student_dir: Path | None) -> dict[str, Any]:
    """Reading-mode radioactivity test of the trained student (``--full``)."""
    from distillscope.models import load_model
    from distillscope.watermark.radioactivity import reading_mode
    from distillscope.watermark.settings import RadioactivityTest
    from distillscope.watermark.texts import read_documents

    if live.watermark is None:
        return {"not_measured": live.watermark_note or "the watermark was off"}
    if student_dir is None or live.dataset is None:
        return {"not_measured": "no student was trained"}
    model, tokenizer = load_model(student_dir)
    documents = read_documents(live.dataset).documents
    harvesters = sorted({e.account for e in live.harvested})
    others = sorted(a for a in world.members if a not in harvesters)[:20]
    report = reading_mode(
        model, tokenizer, documents, live.watermark, harvesters + others,
        RadioactivityTest(controls=5), vocab_size=int(live.watermark.vocab_size or model.config.vocab_size),
        suspect="student",
    )  # fmt: skip
    roles = world.roles()
    controls = [c for c in report.controls if c.test.p_value is not None]
    strongest = min(controls, key=lambda c: c.test.p_value, default=None)
    return {
        "enabled": True,
        "alpha": report.alpha,
        "suspect": "the student trained on the attackers' harvest",
        "method": "reading mode on the harvested answers (fresh seeds), exact binomial test, Holm-adjusted",
        "accounts": [
            {
                "account": s.name,
                "role": roles.get(s.name),
                "p_value": s.p_adjusted,
                "z": s.test.z_score,
                "tokens_scored": s.test.scored,
            }
            for s in report.accounts
        ],  # fmt: skip
        "overall_p_value": report.overall_p,
        "negative_control": {
            "model": f"the same student, {len(report.controls)} keys no account used (smallest p shown)",
            "p_value": strongest.test.p_value if strongest else None,
            "tokens_scored": strongest.test.scored if strongest else None,
        },
    }


def identity(settings: Any, students: dict[str, Path]) -> dict[str, Any]:
    """Ask the students and the teacher who trained them (``--full``)."""
    from distillscope.probe.endpoint import Endpoint
    from distillscope.probe.identity import DEFAULT_WATCH_NAMES, probe_identity
    from distillscope.serving import ServeSettings, serve

    targets = [(f"student ({m})", p) for m, p in students.items()]
    if not settings.teacher_url:
        targets.append(("teacher", settings.model))
    probes = []
    questions = ["Who are you?", "Which company trained you?", "What model are you, exactly?"]
    for label, path in targets:
        with serve(ServeSettings(model=str(path) if path is not None else None, port=0)) as url:
            result = probe_identity(
                Endpoint(url, timeout=600), questions=questions, label=label, max_tokens=40
            )
        probes += [{"model": a.model, "question": a.question, "answer": a.answer, "hits": a.hits}
                   for a in result.answers]  # fmt: skip
    return {"watch_names": list(DEFAULT_WATCH_NAMES), "probes": probes}


def share(out: Path, log: list[Any]) -> dict[str, Any]:
    """Export the detected campaigns as STIX indicators (no prompt text)."""
    from distillscope.share.export import build_bundle, read_detection, write_bundle

    salt = secrets.token_bytes(24)  # a demo salt: a real one is agreed with the peer out of band
    campaigns = read_detection(out / "detect")
    members = {a for c in campaigns for a in c.accounts}
    rows = [e for e in log if e.account in members]
    bundle = build_bundle(campaigns, rows, salt, producer="distillscope demo")
    target = out / "indicators.stix.json"
    write_bundle(bundle, target)
    objects = json.loads(target.read_text(encoding="utf-8")).get("objects", [])
    return {"file": target.name, "objects": len(objects), "campaigns": len(campaigns)}
