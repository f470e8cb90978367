"""`distillscope guard replay`: a logged stream through the online scorer and a policy, open loop.

The central check: replaying the log the real server wrote gives, exchange by
exchange, the decision and risk score the server's own admission made.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.guard.keys import KeyStore
from distillscope.guard.logstore import open_log_store
from distillscope.guard.policy import PolicySettings
from distillscope.guard.replay import goal_metrics, replay_log
from distillscope.guard.secret import load_server_secret
from distillscope.guard.watchlist import WatchEntry, WatchList
from distillscope.records import write_jsonl
from distillscope.testing.wire_server import WireServer

from .stack import guard_gateway, relay

MODEL = "wire-model"
RUNNER = CliRunner()
WORDS = "apple river stone cloud piano tiger lemon garden ocean violin yacht zebra kite house".split()  # noqa: SIM905
#: Low thresholds, so that a short test sees every action; no sleeping to speak of.
POLICY = {
    "risk": {"throttle": 0.12, "throttle_delay_ms": 1, "strip_logprobs": 0.06, "block": 0.3},
    # "burst" has a tiny per-account limit, so a rate-limited decision happens however slow the machine is
    # (the 40 rpm of the others is only reached when requests come fast).
    "accounts": {"mallory": {"action": "block"}, "burst": {"rpm": 2}},
    "limits": {"rpm": 40},
}


@contextlib.contextmanager
def _serving(db_url: str, policy: dict[str, Any], responder: Any = None) -> Iterator[str]:
    gateway, _ = guard_gateway(db_url, policy)
    with (
        WireServer(model=MODEL, responder=responder) as wire,
        relay(gateway, wire.base_url, MODEL) as base_url,
    ):
        yield base_url


def _traffic(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """A mix of accounts whose requests cross every threshold of POLICY."""
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(45):
        q = " ".join(rng.sample(WORDS, 6))
        out.append(("reasoner", {"messages": [{"role": "user", "content": f"Solve step by step: {q} {i}"}]}))
        out.append(
            (
                "kd",
                {
                    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}],
                    "logprobs": True,
                    "top_logprobs": 3,
                    "max_tokens": 64,  # log-probs over a generation (short budgets are scoring)
                },
            )
        )
        if i % 3 == 0:
            out.append(("casual", {"messages": [{"role": "user", "content": f"hello {q}"}]}))
        if i % 9 == 0:
            out.append(("mallory", {"messages": [{"role": "user", "content": q}]}))
        out.append(("sweeper", {"messages": [{"role": "user", "content": "The"}], "logit_bias": {str(i): 5}}))
        if i % 11 == 0:
            out.append(("burst", {"messages": [{"role": "user", "content": f"ping {i}"}]}))
    out += [("burst", {"messages": [{"role": "user", "content": f"ping again {i}"}]}) for i in range(4)]
    return out


def test_replay_equals_the_real_admit_path(sqlite_url: str, tmp_path: Path) -> None:
    keys = KeyStore(sqlite_url, load_server_secret())
    names = ("reasoner", "kd", "casual", "mallory", "sweeper", "burst")
    secrets = {name: keys.create_key(name)[0] for name in names}
    keys.close()
    sent = 0
    with _serving(sqlite_url, POLICY) as base_url:
        clients = {
            name: openai.OpenAI(base_url=base_url, api_key=k, max_retries=0) for name, k in secrets.items()
        }
        for account, body in _traffic(random.Random(0)):
            params = {"max_tokens": 8, **body}
            with contextlib.suppress(openai.PermissionDeniedError, openai.RateLimitError):
                clients[account].chat.completions.create(model=MODEL, **params)
            sent += 1
    store = open_log_store(sqlite_url)
    logged = list(store.iter_exchanges())
    store.close()
    assert len(logged) == sent
    log = tmp_path / "log.jsonl"
    write_jsonl(sorted(logged, key=lambda e: e.ts), log)
    result = replay_log(log, PolicySettings.from_dict(POLICY), tmp_path / "out", per_exchange=True)
    replayed = {
        row["id"]: row
        for row in map(json.loads, (tmp_path / "out" / "exchanges.jsonl").read_text().splitlines())
    }
    assert len(replayed) == sent
    actions = set()
    for exchange in logged:
        mine = replayed[exchange.id]
        assert mine["action"] == exchange.extra["decision"], exchange.account
        if "risk_score" in exchange.extra:  # forced blocks are decided before any scoring is logged
            assert mine["risk_score"] == pytest.approx(exchange.extra["risk_score"], abs=2e-3)
        actions.add(mine["action"])
    # the sample is worth something: every action of the policy happened
    assert {"allow", "throttle", "strip_logprobs", "block", "rate_limited"} <= actions
    assert sum(result.decisions.values()) == sent


def _long_answers(messages: list[dict[str, Any]], max_tokens: int) -> list[str]:
    """An upstream that answers at length (300 tokens): every answer to a short prompt is corpus-sized."""
    return [WORDS[i % len(WORDS)] for i in range(300)][:max_tokens]


def test_reasoning_traces_through_the_real_server_are_scored_and_replayed_alike(
    sqlite_url: str, tmp_path: Path
) -> None:
    keys = KeyStore(sqlite_url, load_server_secret())
    secret = keys.create_key("tracer")[0]
    admin = keys.create_key("ops", admin=True)[0]
    keys.close()
    policy = {"risk": {"throttle_delay_ms": 1}}
    with _serving(sqlite_url, policy, responder=_long_answers) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0)
        for i in range(60):  # reasoning asked in 3 requests of 5, each answered at length
            ask = "Explain step by step:" if i % 5 < 3 else "Tell me about"
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"{ask} {WORDS[i % 14]} {i}"}]
            )
        live = httpx.get(
            base_url.removesuffix("/v1") + "/admin/accounts/tracer",
            headers={"Authorization": f"Bearer {admin}"},
        ).json()
    store = open_log_store(sqlite_url)
    logged = sorted((e for e in store.iter_exchanges() if e.account == "tracer"), key=lambda e: e.ts)
    store.close()
    assert len(logged) == 60 and all(e.completion_tokens >= 200 for e in logged)
    assert live["features"]["traces"] > 5  # 36 traces in no time against a person's 6 a day
    write_jsonl(logged, tmp_path / "log.jsonl")
    replay_log(tmp_path / "log.jsonl", PolicySettings.from_dict(policy), tmp_path / "out", per_exchange=True)
    replayed = [json.loads(line) for line in (tmp_path / "out" / "exchanges.jsonl").read_text().splitlines()]
    for exchange, mine in zip(logged, replayed, strict=True):
        assert mine["id"] == exchange.id and mine["action"] == exchange.extra["decision"]
        assert mine["risk_score"] == pytest.approx(exchange.extra["risk_score"], abs=2e-3)
    assert any(reason.startswith("traces") for reason in live["reasons"])


def test_a_question_asked_before_is_not_delayed_through_the_real_server(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A flagged account re-running its own questions takes out nothing new: not delayed, replayed alike."""
    keys = KeyStore(sqlite_url, load_server_secret())
    secret = keys.create_key("harness")[0]
    keys.close()
    policy = {"risk": {"throttle": 0.12, "throttle_delay_ms": 1}}
    suite = [f"Question: {WORDS[i % 14]} {i}?\nAnswer: Let's think step by step." for i in range(40)]
    with _serving(sqlite_url, policy, responder=_long_answers) as base_url:
        client = openai.OpenAI(base_url=base_url, api_key=secret, max_retries=0)
        for text in [*suite, *suite[:10], "Question: a new one?\nAnswer: Let's think step by step."]:
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}])
    store = open_log_store(sqlite_url)
    logged = sorted((e for e in store.iter_exchanges() if e.account == "harness"), key=lambda e: e.ts)
    store.close()
    decisions = [e.extra["decision"] for e in logged]
    assert len(logged) == 51 and "throttle" in decisions[:40]  # new reasoning questions, taken out at length
    assert logged[39].extra["risk_score"] >= 0.12
    assert decisions[40:50] == ["allow"] * 10  # the re-run: asked before, not delayed
    assert all(e.extra["risk_score"] >= 0.12 for e in logged[40:50])  # ... though the score is still high
    assert decisions[50] == "throttle"  # a new question is delayed again
    write_jsonl(logged, tmp_path / "log.jsonl")
    replay_log(tmp_path / "log.jsonl", PolicySettings.from_dict(policy), tmp_path / "out", per_exchange=True)
    replayed = [
        json.loads(line)["action"] for line in (tmp_path / "out" / "exchanges.jsonl").read_text().splitlines()
    ]
    assert replayed == decisions


def _row(i: int, account: str, ts: float, text: str, **params: Any) -> dict[str, Any]:
    return {
        "id": f"x{i}",
        "ts": ts,
        "account": account,
        "messages": [{"role": "user", "content": text}],
        "params": params,
    }


def _labelled_log(tmp_path: Path) -> tuple[Path, Path]:
    rows, i = [], 0
    for k in range(300):  # a solo reasoning harvester, one request a minute
        rows.append(_row(i, "harvester", 1000.0 + 60 * k, f"Explain step by step: topic {k} {WORDS[k % 14]}"))
        i += 1
    for k in range(40):  # a person
        rows.append(
            _row(i, "person", 1030.0 + 400 * k, f"what about {WORDS[k % 14]} and {WORDS[(k * 3) % 14]}?")
        )
        i += 1
    for k in range(30):  # a quiet campaign member, known offline
        rows.append(_row(i, "quiet", 1100.0 + 900 * k, f"hello there {WORDS[k % 14]}"))
        i += 1
    rows.sort(key=lambda r: r["ts"])
    log = tmp_path / "exchanges.jsonl"
    lines = [json.dumps(r) for r in rows]
    lines.insert(5, "{not json")
    lines.insert(9, json.dumps({"id": "bad", "ts": 5.0}))  # no account, no messages
    log.write_text("\n".join(lines) + "\n")
    labels = [
        {"account": "harvester", "label": "campaign", "group": "h", "style": "cot_solo"},
        {"account": "person", "label": "benign", "group": "people", "style": "ordinary"},
        {"account": "quiet", "label": "campaign", "group": "q", "style": "slow_and_low"},
    ]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(lab) + "\n" for lab in labels))
    return log, tmp_path / "labels.jsonl"


def test_goal_metrics_with_denominators_and_the_watch_list(tmp_path: Path) -> None:
    log, labels_path = _labelled_log(tmp_path)
    labels = {row["account"]: row for row in map(json.loads, labels_path.read_text().splitlines())}
    watch = WatchList([WatchEntry("quiet", "member of a campaign found offline", "c1", added=0.0)])
    result = replay_log(log, PolicySettings(), tmp_path / "out", labels=labels, watch=watch)
    assert len(result.errors) == 2 and {e.line for e in result.errors} == {6, 10}
    m = result.metrics
    assert m is not None
    assert m["campaign_acted_within_first"] == {"count": 2, "of": 2, "rate": 1.0}
    assert m["benign_accounts_throttled"] == {"count": 0, "of": 1, "rate": 0.0}
    assert m["benign_requests_delayed"]["of"] == 40
    assert m["campaign_by_style"]["slow_and_low"]["ever_watched"] == 1
    assert all(goal["met"] for goal in m["goals"].values())
    harvester = result.accounts["harvester"]
    assert harvester.first_action is not None and harvester.first_action <= 200
    assert result.accounts["quiet"].first_action == 1  # watched: acted on from its first request
    rows = {
        r["account"]: r
        for r in map(json.loads, (tmp_path / "out" / "accounts.jsonl").read_text().splitlines())
    }
    assert set(rows["harvester"]) >= {"account", "score", "flagged", "campaign", "reasons", "decisions"}
    assert rows["harvester"]["flagged"] and rows["harvester"]["reasons"]
    assert rows["quiet"]["campaign"] == "c1" and not rows["person"]["flagged"]
    series = {
        r["account"]: r["points"]
        for r in map(json.loads, (tmp_path / "out" / "scores.jsonl").read_text().splitlines())
    }
    assert series["harvester"][-1][1] == 300 and len(series["harvester"]) < 40
    # a campaign never acted on in time fails the goal, and it says so
    late = goal_metrics({"harvester": result.accounts["person"]}, {"harvester": labels["harvester"]})
    assert late["goals"]["campaign_acted_within_first"]["met"] is False


def test_replay_cli_with_labels_next_to_the_log_and_bad_lines(tmp_path: Path) -> None:
    log, _ = _labelled_log(tmp_path)
    policy = tmp_path / "policy.toml"
    policy.write_text("[risk]\nthrottle = 0.5\n")
    out = tmp_path / "rep"
    result = RUNNER.invoke(app, ["guard", "replay", str(log), "--policy", str(policy), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["exchanges"] == 370 and summary["malformed"] == 2
    assert summary["goals"]["benign_accounts_throttled"]["met"] is True
    assert "errors.txt" in result.output or (out / "errors.txt").read_text().count("\n") == 2
    assert (out / "summary.md").read_text().startswith("# guard replay")
    det = tmp_path / "det"  # a `distillscope detect` output that lists the quiet account's campaign
    det.mkdir()
    (det / "campaigns.jsonl").write_text(
        json.dumps({"campaign": "c9", "accounts": ["quiet"], "evidence": {}}) + "\n"
    )
    watched = RUNNER.invoke(
        app, ["guard", "replay", str(log), "--out", str(tmp_path / "w"), "--watch", str(det)]
    )
    assert watched.exit_code == 0, watched.output
    rows = {
        r["account"]: r for r in map(json.loads, (tmp_path / "w" / "accounts.jsonl").read_text().splitlines())
    }
    assert rows["quiet"]["first_action_request"] == 1 and rows["quiet"]["campaign"] == "c9"
    assert rows["person"]["first_action_request"] is None
    metrics = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert metrics["campaign_by_style"]["slow_and_low"]["ever_watched"] == 1
    # loaded at the log's first exchange (ts 1000) for 3 hours: the quiet account's requests
    # at 1100 + 900 k are acted on for k <= 11, then the entry has expired
    expiring = RUNNER.invoke(
        app,
        ["guard", "replay", str(log), "--out", str(tmp_path / "x"), "--watch", str(det), "--watch-ttl", "3h"],
    )
    assert expiring.exit_code == 0, expiring.output
    rows = {
        r["account"]: r for r in map(json.loads, (tmp_path / "x" / "accounts.jsonl").read_text().splitlines())
    }
    assert rows["quiet"]["decisions"] == {"allow": 18, "throttle": 12}
    lone = RUNNER.invoke(
        app, ["guard", "replay", str(log), "--out", str(tmp_path / "y"), "--watch-ttl", "7d"]
    )
    assert lone.exit_code != 0 and "--watch-ttl needs --watch" in lone.output
    defended = tmp_path / "defend.toml"  # a countermeasure is an action on the account
    defended.write_text('[accounts.person]\naction = "defend"\n')
    dres = RUNNER.invoke(
        app, ["guard", "replay", str(log), "--policy", str(defended), "--out", str(tmp_path / "d")]
    )
    assert dres.exit_code == 0, dres.output
    rows = {
        r["account"]: r for r in map(json.loads, (tmp_path / "d" / "accounts.jsonl").read_text().splitlines())
    }
    assert rows["person"]["first_action_request"] == 1 and rows["person"]["decisions"].get("defend")
    stop = RUNNER.invoke(app, ["guard", "replay", str(log), "--out", str(out), "--on-error", "stop"])
    assert stop.exit_code == 2 and ":6:" in stop.output
    bad_policy = tmp_path / "bad.toml"
    bad_policy.write_text("[risk]\nthrottle = 7\n")
    refused = RUNNER.invoke(
        app, ["guard", "replay", str(log), "--policy", str(bad_policy), "--out", str(out)]
    )
    assert refused.exit_code == 2 and "0..1" in refused.output


def test_token_id_prompts_score_like_text_with_the_policys_tokenizer(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    from transformers import AutoTokenizer

    from distillscope.guard.gateway import build_gateway

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    rows = []
    for k in range(120):
        # each account its own questions (a question another account asked before is no harvest evidence)
        text, id_text, batch_text = (
            f"Explain step by step and show your full reasoning: {WORDS[k % 14]} number {k + offset}"
            for offset in (0, 1000, 2000)
        )
        common = {"ts": 1000.0 + 30 * k, "endpoint": "/v1/completions", "params": {"max_tokens": 64}}
        rows.append({"id": f"t{k}", "account": "as-text", "prompt": text, **common})
        # the server logs a token-id prompt as its JSON text; one account sends a batch of one
        ids = tokenizer.encode(id_text, add_special_tokens=False)
        rows.append({"id": f"i{k}", "account": "as-ids", "prompt": json.dumps(ids), **common})
        batch = tokenizer.encode(batch_text, add_special_tokens=False)
        rows.append({"id": f"b{k}", "account": "as-batch", "prompt": json.dumps([batch]), **common})
    log = tmp_path / "log.jsonl"
    write_jsonl(rows, log)
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(f'[scoring]\ntokenizer = "{tiny_model_dir}"\n')
    policy = PolicySettings.from_file(policy_file)
    scores = {a: s.max_score for a, s in replay_log(log, policy, tmp_path / "with").accounts.items()}
    assert scores["as-text"] > 0.5
    assert scores["as-ids"] == pytest.approx(scores["as-text"]) == pytest.approx(scores["as-batch"])
    blind = {
        a: s.max_score for a, s in replay_log(log, PolicySettings(), tmp_path / "without").accounts.items()
    }
    assert blind["as-ids"] == 0.0 and blind["as-text"] == pytest.approx(scores["as-text"])  # the control
    # serve reads the same setting; a path without a tokenizer is a clear error, not a crash later
    gateway = build_gateway(str(tmp_path / "g.db"), str(policy_file), open_mode=True)
    assert gateway.decode is not None and "step by step" in gateway.decode(tokenizer.encode("step by step"))
    gateway.store.close()
    policy_file.write_text(f'[scoring]\ntokenizer = "{tmp_path}"\n')
    with pytest.raises(ValueError, match="no tokenizer could be read"):
        build_gateway(str(tmp_path / "g.db"), str(policy_file), open_mode=True)


def test_a_harness_re_asking_a_public_benchmark_is_not_throttled_a_novel_reasoning_harvester_is(
    sqlite_url: str, tmp_path: Path
) -> None:
    """Reasoning asked on questions other accounts asked before is no harvest evidence; on new ones it is."""
    keys = KeyStore(sqlite_url, load_server_secret())
    secrets = {name: keys.create_key(name)[0] for name in ("scorer", "cot-harness", "harvester")}
    keys.close()
    bench = [
        f"Q: which is heavier, the {WORDS[i % 14]} or the {WORDS[(i * 5 + 1) % 14]} {i}?\nA:"
        for i in range(50)
    ]
    policy = {"risk": {"throttle_delay_ms": 1}}  # the default thresholds
    with _serving(sqlite_url, policy, responder=_long_answers) as base_url:
        client = {n: openai.OpenAI(base_url=base_url, api_key=k, max_retries=0) for n, k in secrets.items()}
        for item in bench:  # one evaluation team scores the benchmark (a label per item)...
            client["scorer"].chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": item}], max_tokens=1, logprobs=True
            )
        for i, item in enumerate(bench):  # ...another runs it with reasoning; a harvester asks new questions
            client["cot-harness"].chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": item + " Let's think step by step."}]
            )
            topic = f"{WORDS[(i * 3) % 14]} {WORDS[i % 14]} float {i + 100}"
            novel = f"Q: why does the {topic}? Let's think step by step."
            client["harvester"].chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": novel}]
            )
    store = open_log_store(sqlite_url)
    logged = sorted(store.iter_exchanges(), key=lambda e: e.ts)
    store.close()
    assert len(logged) == 150 and all(e.status == 200 for e in logged)
    decisions = {name: [e.extra["decision"] for e in logged if e.account == name] for name in secrets}
    assert set(decisions["cot-harness"]) == {"allow"} and set(decisions["scorer"]) == {"allow"}
    assert "throttle" in decisions["harvester"]
    assert decisions["harvester"].index("throttle") < 40
    # the replay of the log decides the same, request by request
    write_jsonl(logged, tmp_path / "log.jsonl")
    replay_log(tmp_path / "log.jsonl", PolicySettings.from_dict(policy), tmp_path / "out", per_exchange=True)
    replayed = [json.loads(line) for line in (tmp_path / "out" / "exchanges.jsonl").read_text().splitlines()]
    assert [r["action"] for r in replayed] == [e.extra["decision"] for e in logged]


def test_replay_warmed_with_the_earlier_log_decides_as_the_full_replay(tmp_path: Path) -> None:
    """A second half replayed after `--warm FIRST_HALF` is decided as in a replay of the whole log.

    The benchmark's questions were asked in the first half (a label-scoring harness);
    a reasoning harness asks them again in the second: without the earlier traffic the
    replay cannot know they were asked before and throttles it, as a gateway that
    had not seen them would.
    """
    suite = [f"Question: what is {WORDS[i % 14]} {i}?\nAnswer:" for i in range(150)]
    first = [
        {**_row(i, "scorer", 1000.0 + i, q, max_tokens=1, logprobs=True), "completion_tokens": 1}
        for i, q in enumerate(suite)
    ]
    second = [
        {
            **_row(
                500 + i, "cot-harness", 90_000.0 + 2 * i, q + " Let's think step by step.", max_tokens=512
            ),
            "prompt_tokens": 20,
            "completion_tokens": 250,
        }
        for i, q in enumerate(suite)
    ]
    second += [  # and a reasoning harvest of new questions in the same hours
        {
            **_row(
                900 + i, "harvester", 90_001.0 + 2 * i, f"Explain step by step: topic {i} {WORDS[i % 14]}"
            ),
            "prompt_tokens": 12,
            "completion_tokens": 600,
        }
        for i in range(150)
    ]
    second.sort(key=lambda r: r["ts"])
    write_jsonl(first, tmp_path / "a.jsonl")
    write_jsonl(second, tmp_path / "b.jsonl")
    write_jsonl(first + second, tmp_path / "all.jsonl")

    def replay(*args: str) -> tuple[dict[str, Any], dict[str, str]]:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        result = RUNNER.invoke(app, ["guard", "replay", *args, "--out", str(out), "--per-exchange"])
        assert result.exit_code == 0, result.output
        rows = map(json.loads, (out / "exchanges.jsonl").read_text().splitlines())
        return json.loads(result.stdout.strip().splitlines()[-1]), {r["id"]: r["action"] for r in rows}

    whole = replay(str(tmp_path / "all.jsonl"))[1]
    cold_summary, cold = replay(str(tmp_path / "b.jsonl"))
    warm_summary, warm = replay(str(tmp_path / "b.jsonl"), "--warm", str(tmp_path / "a.jsonl"))
    assert warm == {k: v for k, v in whole.items() if k in warm} and len(warm) == 300
    assert warm_summary["warmed"] == 150 and warm_summary["exchanges"] == cold_summary["exchanges"] == 300
    harness = [r["id"] for r in second if r["account"] == "cot-harness"]
    harvest = [r["id"] for r in second if r["account"] == "harvester"]
    assert "throttle" in {cold[i] for i in harness}  # cold: the benchmark looks new
    assert {warm[i] for i in harness} == {"allow"}  # warmed: asked before, no evidence
    assert "throttle" in {warm[i] for i in harvest}  # the harvest of new questions is still acted on
    missing = RUNNER.invoke(
        app,
        ["guard", "replay", str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "x"), "--warm", "nope.jsonl"],
    )
    assert missing.exit_code != 0 and "nope.jsonl: no such file (--warm)" in missing.output
