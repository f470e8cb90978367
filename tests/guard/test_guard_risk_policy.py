"""Online risk features and the policy engine (pure logic, no server)."""

from __future__ import annotations

import random

import pytest

from distillscope.guard.policy import PolicyEngine, PolicySettings, TokenBucket, estimate_tokens
from distillscope.guard.risk import (
    AGAIN,
    NEW,
    SHARED,
    QuestionLedger,
    RiskSettings,
    RiskTracker,
    question_key,
    request_features,
)

WORDS = [
    "apple",
    "banana",
    "cherry",
    "dog",
    "elephant",
    "fish",
    "garden",
    "house",
    "island",
    "jungle",
    "kite",
    "lemon",
    "mountain",
    "night",
    "ocean",
    "piano",
    "quartz",
    "river",
    "sun",
    "tiger",
    "umbrella",
    "violin",
    "whale",
    "xylophone",
    "yacht",
    "zebra",
]


def _chat(text: str, **params: object) -> dict:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **params}


def _casual(tracker: RiskTracker, account: str, n: int, rng: random.Random) -> float:
    ts = 0.0
    score = None
    for _ in range(n):
        ts += rng.expovariate(1 / 40)  # a person: one question every ~40 s, irregular
        score = tracker.observe(account, request_features(_chat(" ".join(rng.sample(WORDS, 7)) + "?")), ts)
    assert score is not None
    return score.score


def _sequence(tracker: RiskTracker, account: str, bodies: list[dict], gap: float, t0: float = 0.0):
    score = None
    for i, body in enumerate(bodies):
        score = tracker.observe(account, request_features(body), t0 + i * gap)
    assert score is not None
    return score


def test_harvester_scores_high_with_reasons_and_casual_user_low() -> None:
    rng = random.Random(0)
    tracker = RiskTracker()
    casual = _casual(tracker, "casual", 30, rng)
    bodies = [
        _chat(
            f"Solve step by step: what is {rng.randint(1, 999)} times {rng.randint(1, 999)} for the shop?",
            logprobs=True,
            top_logprobs=20,
        )
        for _ in range(150)
    ]
    harvester = _sequence(tracker, "harvester", bodies, 0.5)
    assert casual < 0.05
    assert harvester.score > 0.9 and harvester.strip_score >= harvester.score
    names = [reason.split(":")[0] for reason in harvester.reasons]
    assert names[:2] == ["cot", "logprobs"] or names[:2] == ["logprobs", "cot"]
    assert tracker.score("casual", 30 * 40.0).score == pytest.approx(casual, abs=0.05)
    assert sorted(tracker.accounts()) == ["casual", "harvester"]


def test_evidence_grows_with_requests_a_single_request_is_no_campaign() -> None:
    tracker = RiskTracker()
    one = tracker.observe("a", request_features(_chat("Think step by step: why is the sky blue?")), 0.0)
    assert one.score < 0.01 and one.reasons == []  # one request: under a digit of evidence
    scores = [
        tracker.observe(
            "b", request_features(_chat(f"Explain step by step: topic {WORDS[i % 26]} {i}")), i * 60.0
        )
        for i in range(120)
    ]
    values = [s.score for s in scores]
    assert values[3] < values[8] < values[15] < 1.0 and values[40] > 0.5
    # a share at the benign ceiling (one prompt in five asks for reasoning) gives next to no evidence
    at_ceiling = [
        _chat("Show your reasoning: " + WORDS[i % 26] if i % 5 < 1 else "hello " + WORDS[i % 26])
        for i in range(200)
    ]
    assert _sequence(RiskTracker(), "c", at_ceiling, 60.0).features["cot"] < 0.01


def test_logprobs_of_generated_text_strip_but_scoring_a_fixed_answer_does_not() -> None:
    rng = random.Random(1)
    harvest = [_chat(" ".join(rng.sample(WORDS, 7)), logprobs=True, top_logprobs=5) for _ in range(60)]
    score = _sequence(RiskTracker(), "kd", harvest, 40.0)
    assert score.strip_score >= 0.25 and score.score == 0.0  # stripping fits; no throttling for it alone
    assert score.reasons[0].startswith("logprobs")
    evals = [
        _chat(" ".join(rng.sample(WORDS, 7)), logprobs=True, top_logprobs=5, max_tokens=1) for _ in range(60)
    ]
    assert _sequence(RiskTracker(), "eval", evals, 0.5).strip_score == 0.0


def test_logprobs_on_short_budgets_are_scoring_and_half_the_time_on_generations_is_a_harvest() -> None:
    rng = random.Random(2)
    # an evaluation harness or a classifier: label log-probs over a short budget (< 64 tokens)
    label = {"logprobs": True, "top_logprobs": 10, "max_tokens": 16}
    short = [_chat(" ".join(rng.sample(WORDS, 7)), **label) for _ in range(300)]
    assert _sequence(RiskTracker(), "eval16", short, 0.5).strip_score == 0.0
    # a harvester asking log-probs on half of its long generations is stripped within 100 requests...
    half = [
        _chat(" ".join(rng.sample(WORDS, 7)), max_tokens=4096, **({"logprobs": True} if i % 2 else {}))
        for i in range(100)
    ]
    kd = _sequence(RiskTracker(), "kd-half", half, 60.0)
    assert kd.strip_score >= 0.25 and kd.score == 0.0 and kd.reasons[0].startswith("logprobs")
    # ... while a person asking them now and then (one request in ten) gets no evidence
    asks = {"logprobs": True, "top_logprobs": 3}
    casual = [_chat(" ".join(rng.sample(WORDS, 7)), **(asks if i % 10 == 0 else {})) for i in range(300)]
    assert _sequence(RiskTracker(), "person", casual, 60.0).features["logprobs"] == 0.0


def test_logit_bias_sweep_scores_and_a_fixed_ban_list_does_not() -> None:
    sweep = [_chat("The", logit_bias={str(1000 + i): 100}, max_tokens=1) for i in range(40)]
    swept = _sequence(RiskTracker(), "sweep", sweep, 1.0)
    assert swept.score > 0.5 and swept.reasons[0].startswith("logit_bias")
    fixed = [_chat(f"question {WORDS[i % 26]}", logit_bias={"50256": -100}) for i in range(200)]
    assert _sequence(RiskTracker(), "ban", fixed, 1.0).features["logit_bias"] == 0.0


def _answered(
    tracker: RiskTracker,
    account: str,
    bodies: list[dict],
    gap: float,
    usage: tuple[int, int],
    finish: str | None = None,
    times: list[float] | None = None,
):
    """Requests every ``gap`` seconds (or at ``times``), answered with ``usage`` (prompt, completion)."""
    score = None
    for i, body in enumerate(bodies):
        features = request_features(body)
        ts = i * gap if times is None else times[i]
        score = tracker.observe(account, features, ts)
        tracker.answered(account, features, usage[0], usage[1], ts + 1.0, finish)
    assert score is not None
    return score


def test_volume_counts_long_answers_to_short_self_contained_prompts() -> None:
    rng = random.Random(2)
    fresh = [_chat(" ".join(rng.sample(WORDS, 9))) for _ in range(200)]
    harvest = _answered(RiskTracker(), "h", fresh, 120.0, (15, 700))  # 200 long answers in under 7 hours
    assert harvest.features["volume"] > 10 and any(r.startswith("volume") for r in harvest.reasons)
    assert harvest.score >= 0.5
    # the same traffic, with answers that are not a corpus: none of it counts
    assert _answered(RiskTracker(), "batch", fresh, 120.0, (30, 5)).features["volume"] == 0.0
    assert _answered(RiskTracker(), "rag", fresh, 120.0, (600, 400)).features["volume"] == 0.0
    # a question of ~50 tokens answered at length counts whatever the ratio (~4x here) ...
    assert _answered(RiskTracker(), "q50", fresh, 120.0, (50, 200)).features["volume"] > 10
    # ... a retrieval prompt of 100 tokens with the same answer does not (under 8x a longer prompt)
    assert _answered(RiskTracker(), "ctx", fresh, 120.0, (100, 200)).features["volume"] == 0.0
    assert _answered(RiskTracker(), "ctx8", fresh, 120.0, (100, 800)).features["volume"] > 10
    agent = [
        {"model": "m", "messages": [*body["messages"], {"role": "tool", "content": "result"}]}
        for body in fresh
    ]
    assert _answered(RiskTracker(), "agent", agent, 120.0, (15, 700)).features["volume"] == 0.0
    # answers that are tool calls are no corpus either (textsig.tool_step, the detector's definition) ...
    assert _answered(RiskTracker(), "calls", fresh, 120.0, (15, 700), "tool_calls").features["volume"] == 0.0
    # ... but a tools list declared with text answers coming back is a harvest with a dummy list
    tools = [{**body, "tools": [{"type": "function"}]} for body in fresh]
    dummy = _answered(RiskTracker(), "tools", tools, 120.0, (15, 700), "stop")
    assert dummy.features["volume"] > 10 and dummy.score >= 0.5
    # a busy person: 40 long answers in an afternoon is no volume evidence, and not throttled
    # (without a pause it is some evidence of a run: see the test of the run signal)
    person = _answered(RiskTracker(), "p", fresh[:40], 300.0, (15, 700))
    assert person.features["volume"] == 0.0 and person.score < 0.5
    tracker = RiskTracker()
    _answered(tracker, "h", fresh, 120.0, (15, 700))
    assert tracker.score("h", 200 * 120.0 + 3 * 86400).features["volume"] == 0.0


def test_every_role_and_token_ids_score_the_same_as_user_text() -> None:
    rng = random.Random(3)
    questions = [f"Q{i}: " + " ".join(rng.sample(WORDS, 6)) for i in range(80)]
    instruction = "Think step by step and show your full reasoning."
    as_user = [_chat(f"{instruction} {q}") for q in questions]
    as_system = [
        {"messages": [{"role": "system", "content": instruction}, {"role": "user", "content": q}]}
        for q in questions
    ]
    as_parts = [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": f"{instruction} {q}"}]}]}
        for q in questions
    ]
    vocab = {w: i for i, w in enumerate(sorted({w for q in questions for w in f"{instruction} {q}".split()}))}
    inverse = {i: w for w, i in vocab.items()}

    def decode(ids: list[int]) -> str:
        return " ".join(inverse[i] for i in ids)

    as_ids = [{"prompt": [vocab[w] for w in f"{instruction} {q}".split()]} for q in questions]
    as_id_lists = [{"prompt": [[vocab[w] for w in f"{instruction} {q}".split()]]} for q in questions]
    expected = _sequence(RiskTracker(), "u", as_user, 30.0)
    assert expected.score > 0.5
    for bodies in (as_system, as_parts):
        assert _sequence(RiskTracker(), "x", bodies, 30.0).score == pytest.approx(expected.score)
    for bodies in (as_ids, as_id_lists):
        tracker = RiskTracker()
        for i, body in enumerate(bodies):
            score = tracker.observe("t", request_features(body, decode), i * 30.0)
        assert score.score == pytest.approx(expected.score)
    # without a tokenizer, token ids are still read (as words of letters), never a crash
    assert request_features({"prompt": [[1, 2, 3], [4, 50]]}).text == "tb tc td\nte tfa"


@pytest.mark.parametrize(
    "body",
    [
        _chat("\ud800 lone surrogate step by step"),
        _chat("nul \u0000 byte"),
        {"prompt": ["\udfff", [1, 2], 3, None]},
        {"messages": [{"role": "tool", "content": [{"type": "text", "text": "\ud83d"}, "x", 5]}]},
        {"messages": [None, "x", {"role": "user"}], "max_tokens": "a", "logit_bias": []},
        {"prompt": [], "logprobs": True, "top_logprobs": "9"},
    ],
)
def test_odd_text_never_raises(body: dict) -> None:
    tracker = RiskTracker()
    for i in range(3):
        tracker.observe("a", request_features(body), float(i))
    assert 0.0 <= tracker.score("a", 3.0).score <= 1.0


def test_completions_logprobs_int_and_odd_bodies() -> None:
    assert request_features({"prompt": "x", "logprobs": 5}).top_logprobs == 5
    assert request_features({"prompt": "x", "logprobs": 0}).logprobs  # logprobs 0 still returns log-probs
    assert request_features({"prompt": ["a", 3, "b"]}).text == "a\nb"
    assert request_features({"messages": "nonsense", "logprobs": "yes"}).text == ""
    assert (
        request_features({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}).text
        == "hi"
    )
    assert request_features(_chat("Let's think step by step.")).cot


def test_scores_are_identical_in_processes_with_different_hash_seeds(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys

    script = tmp_path / "score.py"
    script.write_text(
        "import json, random\n"
        "from distillscope.guard.risk import RiskTracker, request_features\n"
        "rng = random.Random(5)\n"
        "words = ['alpha', 'beta', 'gamma', 'delta', 'step', 'by', 'the', 'river', 'stone', 'cloud']\n"
        "t = RiskTracker()\n"
        "out = []\n"
        "for i in range(300):\n"
        "    text = ' '.join(rng.choice(words) for _ in range(8)) + f' slot {i}'\n"
        "    text += ' think step by step' if i % 4 else ''\n"
        "    body = {'messages': [{'role': 'user', 'content': text}]}\n"
        "    f = request_features(body)\n"
        "    s = t.observe(f'a{i % 3}', f, i * 7.0)\n"
        "    t.answered(f'a{i % 3}', f, 10, 600, i * 7.0 + 1)\n"
        "    out.append([s.score, s.strip_score, s.features])\n"
        "print(json.dumps(out))\n"
    )
    results = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, env=env, check=True
        )
        results.append(json.loads(done.stdout))
    assert results[0] == results[1]
    assert any(row[2]["volume"] > 0 for row in results[0]) and any(row[2]["cot"] > 0 for row in results[0])


def test_behaviour_change_is_seen_within_the_half_life() -> None:
    tracker = RiskTracker(RiskSettings(half_life=20))
    for i in range(60):
        tracker.observe("a", request_features(_chat(f"step by step q {WORDS[i % 26]} {i}")), i * 60.0)
    high = tracker.score("a", 60 * 60.0).features["cot"]
    for i in range(60, 200):
        tracker.observe("a", request_features(_chat(f"q {WORDS[i % 26]} x")), i * 60.0)
    assert high > 5 and tracker.score("a", 200 * 60.0).features["cot"] == 0.0


def test_account_state_is_bounded() -> None:
    tracker = RiskTracker(RiskSettings(max_accounts=3))
    for i in range(5):
        tracker.observe(f"acct{i}", request_features(_chat("hi")), float(i))
    assert tracker.accounts() == ["acct2", "acct3", "acct4"]


def test_risk_config_validation() -> None:
    with pytest.raises(ValueError, match="null_rates"):
        RiskSettings(null_rates={"nope": 0.5})
    with pytest.raises(ValueError, match="null_rates"):
        RiskSettings(null_rates={"cot": 1.0})
    with pytest.raises(ValueError, match="answer_ratio"):
        RiskSettings(answer_ratio=0)


# -- policy ----------------------------------------------------------------------------


def test_policy_file_toml_and_yaml(tmp_path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        "[limits]\nrpm = 100\ntpm = 5000\n[risk]\nblock = 0.95\nthrottle_delay_ms = 10\n"
        '[accounts.mallory]\naction = "block"\n[accounts.batch]\nrpm = 5\n'
    )
    config = PolicySettings.from_file(toml)
    assert config.limits_for("batch").rpm == 5 and config.limits_for("batch").tpm == 5000
    assert config.limits_for("anyone").rpm == 100
    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text("limits:\n  rpm: 7\naccounts:\n  x:\n    action: allow\n")
    assert PolicySettings.from_file(yaml_path).limits.rpm == 7


@pytest.mark.parametrize(
    "text, message",
    [
        ("[limits]\nrpm = -1\n", "non-negative"),
        ("[limits]\nrpm = 'a'\n", "non-negative"),
        ("[risk]\nblock = 2\n", "0..1"),
        ("[accounts.x]\naction = 'explode'\n", "action must be"),
        ("[limit]\nrpm = 1\n", "unknown policy section"),
        ("[limits]\nrmp = 1\n", "unknown setting"),
        ("[limits\n", "cannot parse"),
    ],
)
def test_bad_policy_files_are_clear_errors(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        PolicySettings.from_file(path)


def test_policy_actions_by_risk() -> None:
    engine = PolicyEngine(
        PolicySettings.from_dict({"risk": {"throttle": 0.3, "strip_logprobs": 0.5, "block": 0.8}})
    )
    body = _chat("hi", logprobs=True, top_logprobs=5)
    assert engine.decide("a", 0.1, [], body, 0.0).action == "allow"
    throttle = engine.decide("a", 0.35, ["why"], body, 0.0)
    assert throttle.action == "throttle" and throttle.delay_s == 0.25 and throttle.reasons[-1] == "why"
    strip = engine.decide("a", 0.6, [], body, 0.0)
    assert strip.action == "strip_logprobs" and strip.strip_logprobs and strip.delay_s > 0
    assert engine.decide("a", 0.6, [], _chat("no logprobs asked"), 0.0).action == "throttle"
    block = engine.decide("a", 0.9, ["logprobs: ..."], body, 0.0)
    assert block.action == "block" and "block threshold" in block.reasons[0]


def test_forced_account_actions() -> None:
    engine = PolicyEngine(
        PolicySettings.from_dict(
            {"risk": {"block": 0.5}, "accounts": {"bad": {"action": "block"}, "ok": {"action": "allow"}}}
        )
    )
    assert engine.decide("bad", 0.0, [], _chat("hi"), 0.0).action == "block"
    exempt = engine.decide("ok", 0.99, [], _chat("hi"), 0.0)
    assert exempt.action == "allow" and "exempt" in exempt.reasons[0]


def test_rpm_bucket_429_then_refill_and_headers() -> None:
    engine = PolicyEngine(PolicySettings.from_dict({"limits": {"rpm": 3}}))
    decisions = [engine.decide("a", 0.0, [], _chat("hi"), 0.0) for _ in range(4)]
    assert [d.action for d in decisions] == ["allow", "allow", "allow", "rate_limited"]
    assert decisions[0].headers["x-ratelimit-limit-requests"] == "3"
    assert decisions[2].headers["x-ratelimit-remaining-requests"] == "0"
    assert decisions[3].retry_after_s == pytest.approx(20.0)
    assert engine.decide("other", 0.0, [], _chat("hi"), 0.0).action == "allow"  # per account
    assert engine.decide("a", 0.0, [], _chat("hi"), 20.0).action == "allow"  # refilled


def test_tpm_bucket_with_settlement() -> None:
    engine = PolicyEngine(PolicySettings.from_dict({"limits": {"tpm": 1000}}))
    body = _chat("x" * 400, max_tokens=400)  # estimate 100 + 400
    assert estimate_tokens(body) == 500
    first = engine.decide("a", 0.0, [], body, 0.0)
    assert first.action == "allow"
    engine.settle("a", first.estimated_tokens, 110, 0.0)  # it really used 110
    assert engine.decide("a", 0.0, [], body, 0.0).action == "allow"
    third = engine.decide("a", 0.0, [], body, 0.0)
    assert third.action == "rate_limited" and "tokens per minute" in third.reasons[0]
    assert third.headers["x-ratelimit-limit-tokens"] == "1000"


def test_token_bucket_oversized_request_waits_for_a_full_bucket() -> None:
    bucket = TokenBucket(60, 0.0)
    assert bucket.try_take(100, 0.0) == 0.0  # a full bucket admits one oversized request
    assert bucket.try_take(1, 0.0) > 0


def test_reasoning_traces_taken_out_by_the_dozen_are_a_harvest_a_students_few_are_not() -> None:
    rng = random.Random(3)
    mixed = [
        _chat(("Explain step by step: " if i % 5 < 3 else "Tell me about ") + " ".join(rng.sample(WORDS, 5)))
        for i in range(200)
    ]
    # reasoning asked in 60% of requests, one long answer every 20 minutes for ~3 days
    harvest = _answered(RiskTracker(), "h", mixed, 1200.0, (20, 400))
    assert harvest.score >= 0.5 and harvest.features["traces"] >= 10.8
    # (without a 30-minute pause in three days it is also a run, and around the clock: see the run
    # and clock signals' tests)
    rates = {"cot": 0.4, "logprobs": 0.2, "logit_bias": 0.1, "clock": 0.99}
    no_traces = RiskSettings(human_traces=1e9, human_run=1e9, null_rates=rates)
    blind = _answered(RiskTracker(no_traces), "h", mixed, 1200.0, (20, 400))
    assert blind.score < 0.5  # reasoning share and volume alone: not enough yet
    # a student with the same habits, twenty questions a day (while awake, 08:00-24:00) for ten days
    awake = [day * 86400.0 + 8 * 3600.0 + k * 2880.0 for day in range(10) for k in range(20)]
    student = _answered(RiskTracker(), "s", mixed, 0.0, (20, 400), times=awake)
    assert student.score < 0.4 and student.features["traces"] < 2.5


def test_question_key_is_the_question_without_its_reasoning_request_and_process_independent() -> None:
    asked = question_key("Q: 2+2? Let's think step by step.")
    assert asked == question_key("q:  2+2?") == 2081257445832612833  # blake2b: the same in every process
    assert question_key("Q: 2+3?") != asked
    assert question_key("") is None and question_key("Let's think step by step.") is None


def test_question_ledger_is_bounded_and_tells_other_accounts_apart() -> None:
    ledger = QuestionLedger(3)
    assert [ledger.ask(q, 1) for q in (10, 11, 12)] == [NEW, NEW, NEW]
    assert ledger.ask(10, 1) == AGAIN  # the same account again
    assert ledger.ask(10, 2) == SHARED  # another account
    assert ledger.ask(10, 1) == SHARED  # now asked by two: shared for both
    for q in (13, 14):
        ledger.ask(q, 1)
    assert len(ledger) == 3 and ledger.ask(11, 2) == NEW  # 11 was the least recent: forgotten


def test_a_rerun_of_the_accounts_own_questions_adds_no_evidence_and_is_not_delayed() -> None:
    """An evaluation harness re-running its suite (on a new model, or again) takes out nothing new."""
    tracker, engine = RiskTracker(), PolicyEngine(PolicySettings())
    items = [f"why is {WORDS[i % 26]} {i} so? Let's think step by step." for i in range(120)]
    for i, item in enumerate(items):  # the first run: 120 new reasoning questions in two minutes
        features = request_features(_chat(item))
        tracker.observe("harness", features, float(i))
        tracker.answered("harness", features, 20, 300, i + 0.5)
        assert features.known is False
    first = tracker.score("harness", 130.0)
    assert first.score >= 0.5  # online, a first run of new questions is a reasoning harvest
    for i, item in enumerate(items):  # the same suite again a day later
        features = request_features(_chat(item))
        score = tracker.observe("harness", features, 86_400.0 + i)
        tracker.answered("harness", features, 20, 300, 86_400.5 + i)
        assert features.repeated and not features.shared and features.known
        decision = engine.decide(
            "harness", score.score, score.reasons, _chat(item), 86_400.0 + i, asked_before=features.known
        )
        assert decision.delay_s == 0.0 and decision.action == "allow"
    rerun = tracker.score("harness", 86_530.0)
    assert rerun.features["traces"] < first.features["traces"] / 2  # no new traces: only decay
    assert rerun.features["cot"] < first.features["cot"]  # the re-asked questions dilute the share
    # a new question from the same account is still delayed while the score is high
    fresh = request_features(_chat("why is the sky green 9999? Let's think step by step."))
    score = tracker.observe("harness", fresh, 86_600.0)
    decision = engine.decide(
        "harness", score.score, score.reasons, _chat("x"), 86_600.0, asked_before=fresh.known
    )
    assert score.score >= 0.5 and decision.action == "throttle" and decision.delay_s > 0
    # and an operator who wants re-asked questions delayed too can say so
    strict = PolicyEngine(PolicySettings.from_dict({"risk": {"throttle_asked_before": True}}))
    again = request_features(_chat(items[0]))
    score = tracker.observe("harness", again, 86_700.0)
    assert again.known and score.score >= 0.5
    assert (
        strict.decide("harness", score.score, [], _chat("x"), 86_700.0, asked_before=True).action
        == "throttle"
    )


def test_reasoning_on_questions_other_accounts_asked_is_no_evidence() -> None:
    tracker = RiskTracker()
    items = [f"Question: what is {WORDS[i % 26]} {i}?\nAnswer:" for i in range(60)]
    for i, item in enumerate(items):
        tracker.observe("scorer", request_features({"messages": [{"role": "user", "content": item}]}), i)
    cot = [request_features(_chat(item + " Let's think step by step.")) for item in items]
    novel = [
        request_features(_chat(f"why is {WORDS[i % 26]} {i + 500} so? Let's think step by step."))
        for i in range(60)
    ]
    for i, (a, b) in enumerate(zip(cot, novel, strict=True)):
        tracker.observe("cot-harness", a, 100.0 + i)
        tracker.answered("cot-harness", a, 20, 600, 100.5 + i)
        tracker.observe("harvester", b, 100.0 + i)
        tracker.answered("harvester", b, 20, 600, 100.5 + i)
    assert all(f.shared for f in cot) and not any(f.shared for f in novel)
    harness, harvester = tracker.score("cot-harness", 200.0), tracker.score("harvester", 200.0)
    assert harness.score == 0.0 and harness.features["cot"] == harness.features["traces"] == 0.0
    assert harvester.score >= 0.5 and harvester.features["cot"] > 10


def test_a_long_unbroken_run_of_varied_questions_is_a_harvest_an_apps_template_and_a_person_are_not() -> None:
    """``run``: long answers to varied new questions without a 30-minute pause (a script, not a person)."""
    rng = random.Random(11)
    openers = ["explain", "summarize", "compare", "describe", "list", "why does", "how do", "what is"]
    varied = [_chat(f"{rng.choice(openers)} {' '.join(rng.sample(WORDS, 7))}") for _ in range(150)]
    blind = RiskSettings(human_volume=1e9)  # volume alone sees nothing: only the run can
    script = _answered(RiskTracker(blind), "s", varied, 200.0, (15, 700))  # 150 in 8.3 h, no pause
    assert script.score >= 0.5 and script.reasons[0].startswith("run")
    assert "without a pause of 30 minutes" in script.reasons[0]
    # a fixed system prompt does not hide it: the opening is read from the user's question
    system = [{"messages": [{"role": "system", "content": "You are terse."}, *b["messages"]]} for b in varied]
    assert _answered(RiskTracker(blind), "sys", system, 200.0, (15, 700)).score >= 0.5
    # an application wraps every user input in one instruction: one opening, no run
    app = [
        _chat(f"Use only the context to answer. Context: Section {i} on {' '.join(rng.sample(WORDS, 8))}")
        for i in range(150)
    ]
    assert _answered(RiskTracker(blind), "app", app, 200.0, (15, 700)).features["run"] == 0.0
    # the same 150 questions by a person who pauses for 40 minutes after every 15 of them
    tracker, ts = RiskTracker(blind), 0.0
    score = None
    for i, body in enumerate(varied):
        ts += 200.0 + (2400.0 if i and i % 15 == 0 else 0.0)
        features = request_features(body)
        score = tracker.observe("p", features, ts)
        tracker.answered("p", features, 15, 700, ts + 1.0)
    assert score is not None and score.features["run"] < 2.7 and score.score < 0.25
    # a pause ends the run at once, also for a score read later
    assert tracker.score("p", ts + 1801.0).features["run"] == 0.0
    # questions another (not harvesting) account asked before take out nothing new: no run
    other = RiskTracker(blind)
    _answered(other, "first", varied, 1.0, (15, 5))  # short answers: the first asker scores nothing
    assert _answered(other, "second", varied, 200.0, (15, 700)).features["run"] == 0.0


def test_a_watched_accounts_greedy_rerun_of_a_known_question_is_not_delayed_a_sampled_one_is() -> None:
    engine = PolicyEngine(PolicySettings())
    why = "campaign c1: flagged offline (score 1.00)"

    def decide(body: dict, asked_before: bool, eng: PolicyEngine = engine) -> object:
        return eng.decide("w", 0.0, [], body, 1000.0, watched=why, asked_before=asked_before)

    greedy, sampled = _chat("2+2?", temperature=0), _chat("2+2?", temperature=0.7)
    rerun = decide(greedy, True)
    assert rerun.action == "allow" and rerun.delay_s == 0 and f"watch list: {why}" in rerun.reasons
    assert decide(sampled, True).action == "throttle"  # a new sample of a known question
    assert decide(_chat("2+2?"), True).action == "throttle"  # unset temperature: 1
    assert decide(greedy, False).action == "throttle"  # a new question
    # log-probs are still stripped from a greedy re-run
    stripped = decide(_chat("2+2?", temperature=0, logprobs=True, top_logprobs=5), True)
    assert stripped.action == "strip_logprobs" and stripped.delay_s == 0
    strict = PolicyEngine(PolicySettings.from_dict({"watch": {"throttle_greedy_reruns": True}}))
    assert decide(greedy, True, strict).action == "throttle"
    with pytest.raises(ValueError, match="throttle_greedy_reruns"):
        PolicySettings.from_dict({"watch": {"throttle_greedy_reruns": "yes"}})


def _in_sessions(accounts: list[str], questions: list[dict], seed: int, t0: float = 0.0) -> list[tuple]:
    """Each account asks every question, in its own order: one a minute, a 40-minute pause after each 20."""
    rng, rows = random.Random(seed), []
    for k, account in enumerate(accounts):
        order = questions[:]
        rng.shuffle(order)
        rows += [(t0 + i * 60.0 + (i // 20) * 2400.0 + k, account, body) for i, body in enumerate(order)]
    return rows


def _serve(tracker: RiskTracker, rows: list[tuple]) -> None:
    """Each request observed in time order, then answered: 700 tokens to a 15-token prompt."""
    for ts, account, body in sorted(rows, key=lambda row: (row[0], row[1])):
        features = request_features(body)
        tracker.observe(account, features, ts)
        tracker.answered(account, features, 15, 700, ts + 1.0)


def test_accounts_asking_each_others_questions_are_one_pooled_harvest_a_team_pair_is_not() -> None:
    """Campaign accounts drawing from one question space must not hide behind each other."""
    rng = random.Random(5)
    questions = [_chat(f"{' '.join(rng.sample(WORDS, 8))} {i}?") for i in range(240)]
    group = ["g1", "g2", "g3", "g4"]  # start together; each re-asks what the others asked first
    tracker, engine = RiskTracker(), PolicyEngine(PolicySettings())
    _serve(tracker, _in_sessions(group, questions, seed=1))
    end = 240 * 60.0 + 11 * 2400.0 + 10.0
    for account in group:
        score = tracker.score(account, end)
        assert score.score >= 0.5 and any(r.startswith("pool: ") for r in score.reasons), score
    fresh = request_features(_chat("an entirely new question 424242?"))
    score = tracker.observe("g1", fresh, end)
    decision = engine.decide("g1", score.score, score.reasons, _chat("x"), end, asked_before=False)
    assert decision.action == "throttle"
    # without the pool, each one's new questions alone are no harvest: they hide behind each other
    off = RiskTracker(RiskSettings(pool_askers=None))
    _serve(off, _in_sessions(group, questions, seed=1))
    assert all(off.score(account, end).score < 0.2 for account in group)
    # a person who happens to ask only the group's questions, 30 a day, is pooled but takes out little
    person = [(end + 2400.0 * i, "person", questions[i]) for i in range(30)]
    _serve(tracker, person)
    assert tracker._accounts["person"].pooled and tracker.score("person", end + 72_000.0).score == 0.0
    # two accounts of one team: the first runs a suite of new questions (a harvest by itself:
    # acted on), the second re-runs that suite two hours later; one first asker never pools
    team = RiskTracker()
    _serve(team, _in_sessions(["t1"], questions, seed=2))
    _serve(team, _in_sessions(["t2"], questions, seed=3, t0=end + 7200.0))
    assert team.score("t1", end).score >= 0.5
    rerun = team.score("t2", 2 * end + 7200.0)
    assert rerun.score == 0.0 and rerun.features["volume"] == 0.0
    # pool_askers = 1 pools a re-run of a single harvester's questions too
    single = RiskTracker(RiskSettings(pool_askers=1))
    _serve(single, _in_sessions(["t1"], questions, seed=2))
    _serve(single, _in_sessions(["t2"], questions, seed=3, t0=end + 7200.0))
    assert single.score("t2", 2 * end + 7200.0).score >= 0.5
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="pool_askers"):
            RiskSettings(pool_askers=bad)  # type: ignore[arg-type]


def test_new_questions_around_the_clock_are_a_harvest_a_persons_waking_hours_are_not() -> None:
    """A slow script (two new questions an hour, never a run, never a day's volume) that never sleeps."""
    rng = random.Random(7)
    questions = [_chat(f"{' '.join(rng.sample(WORDS, 8))} {i}?") for i in range(200)]
    hour = 3600.0
    # the script: every 30 minutes, day and night, for about four days
    script = [(i * 1800.0, "script", body) for i, body in enumerate(questions)]
    # a person asking as often while awake: 12:00 to 04:00 UTC (its day crosses midnight), then sleeps
    awake = [day * 24 * hour + 12 * hour + k * 1800.0 for day in range(7) for k in range(32)]
    person = [(ts, "person", body) for ts, body in zip(awake, questions, strict=False)]
    tracker, engine = RiskTracker(), PolicyEngine(PolicySettings())
    _serve(tracker, script + person)
    s = tracker.score("script", 200 * 1800.0)
    assert s.score >= 0.5 and s.reasons[0].startswith("clock: "), s
    assert s.features["volume"] < 5 and s.features["run"] == 0.0  # no other signal is near
    decision = engine.decide("script", s.score, s.reasons, _chat("x"), 200 * 1800.0, asked_before=False)
    assert decision.action == "throttle"
    p = tracker.score("person", awake[len(questions) - 1] + 60.0)
    assert p.score < 0.2 and p.features["clock"] == 0.0, p
    # the ceiling is configurable: at one half, a third of the answers at night is no evidence
    lax = RiskTracker(RiskSettings(null_rates={"cot": 0.4, "logprobs": 0.2, "logit_bias": 0.1, "clock": 0.5}))
    _serve(lax, script)
    assert lax.score("script", 200 * 1800.0).features["clock"] == 0.0


TEMPLATES = [
    "Generate an analogy that explains {}.",
    "Write a short story that contrasts {} and the moon.",
    "Give three examples of {} in everyday life.",
    "Propose a research question on {}.",
    "Create a quiz question on {} with four options.",
    "Compose a dialogue between a coach and a child about {}.",
    "List the steps to learn {}.",
    "Rewrite the following for a child: a note on {}.",
    "Classify these as related to {} or not.",
    "Write a haiku about {}.",
    "Summarise the history of {} in a paragraph.",
    "Explain the key ideas of {} to a beginner.",
]


def test_new_questions_filling_a_few_templates_are_a_harvest_a_persons_homework_template_is_not() -> None:
    """Self-instruct in daytime sessions: 12 templates x topics, 40 a day, pauses, asleep at night."""
    rng = random.Random(11)
    topics = [" ".join(rng.sample(WORDS, 3)) + f" {i}" for i in range(400)]
    hour = 3600.0
    # 09:00-17:00 UTC: one new question every 10 minutes, a 40-minute pause after each 5 (never a run)
    day = [9 * hour + k * 600.0 + (k // 5) * 2400.0 for k in range(40)]
    times = [d * 24 * hour + t for d in range(6) for t in day]
    script = [
        (ts, "script", _chat(rng.choice(TEMPLATES).format(topics[i]))) for i, ts in enumerate(times[:200])
    ]
    # a student: one homework template in a third of their questions, the rest their own
    homework = [
        _chat(
            f"Solve for x: {i} x + {i % 7} = {i * 3}."
            if i % 3 == 0
            else f"{' '.join(rng.sample(WORDS, 6))} {i}?"
        )
        for i in range(200)
    ]
    person = [(ts, "person", body) for ts, body in zip(times[::1], homework, strict=False)]
    tracker, engine = RiskTracker(), PolicyEngine(PolicySettings())
    _serve(tracker, script + person)
    end = times[199] + 60.0
    s = tracker.score("script", end)
    assert s.score >= 0.5 and s.reasons[0].startswith("template: "), s
    assert s.features["volume"] < 10 and s.features["run"] == 0.0 and s.features["clock"] == 0.0
    decision = engine.decide("script", s.score, s.reasons, _chat("x"), end, asked_before=False)
    assert decision.action == "throttle"
    p = tracker.score("person", end)
    assert p.score < 0.2 and p.features["template"] < 2.0, p
    # the null is configurable: at a person's 200 a day, the script is no evidence
    lax = RiskTracker(RiskSettings(human_templates=200.0))
    _serve(lax, script)
    assert lax.score("script", end).features["template"] == 0.0
    # one fixed template over and over (an internal tool's tickets) is not a template in rotation
    tickets = [
        (ts, "tool", _chat(f"Summarise ticket #{i} for the team: {topics[i]}"))
        for i, ts in enumerate(times[:200])
    ]
    tool = RiskTracker()
    _serve(tool, tickets)
    assert tool.score("tool", end).features["template"] == 0.0
