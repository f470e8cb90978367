"""Online risk features and the policy engine (pure logic, no server)."""

from __future__ import annotations

import random

import pytest

from distillscope.guard.policy import PolicyConfig, PolicyEngine, TokenBucket, estimate_tokens
from distillscope.guard.risk import RiskConfig, RiskTracker, request_features

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


def test_harvester_scores_high_with_reasons_and_casual_user_low() -> None:
    rng = random.Random(0)
    tracker = RiskTracker()
    casual = _casual(tracker, "casual", 30, rng)
    ts = 0.0
    for _ in range(150):
        ts += 0.5
        body = _chat(
            f"Solve step by step: what is {rng.randint(1, 999)} times {rng.randint(1, 999)} for the shop?",
            logprobs=True,
            top_logprobs=20,
        )
        harvester = tracker.observe("harvester", request_features(body), ts)
    assert casual < 0.1
    assert harvester.score > 0.8
    names = [reason.split(":")[0] for reason in harvester.reasons]
    assert {"logprobs", "template", "cot", "rate", "timing"} <= set(names)
    assert harvester.features["template"] > 0.9  # digits differ, the template is the same
    assert tracker.score("casual", ts).score == pytest.approx(casual, abs=0.05)
    assert sorted(tracker.accounts()) == ["casual", "harvester"]


def test_each_feature_moves_the_score_on_its_own() -> None:
    rng = random.Random(1)
    base_tracker = RiskTracker()
    base = _casual(base_tracker, "a", 20, rng)
    cases = {
        "logit_bias": {"logit_bias": {"123": 100}},
        "logprobs": {"logprobs": True, "top_logprobs": 5},
    }
    for feature, params in cases.items():
        tracker = RiskTracker()
        ts = 0.0
        for _ in range(20):
            ts += rng.expovariate(1 / 40)
            score = tracker.observe(
                "a", request_features(_chat(" ".join(rng.sample(WORDS, 7)), **params)), ts
            )
        assert score.score > base + 0.15, feature
        assert score.reasons[0].startswith(feature)


def test_repeating_the_same_prompt_is_not_template_reuse() -> None:
    tracker = RiskTracker()
    for i in range(30):
        score = tracker.observe("a", request_features(_chat("What is the capital of France?")), i * 30.0)
    assert score.features["template"] == 0.0


def test_completions_logprobs_int_and_odd_bodies() -> None:
    assert request_features({"prompt": "x", "logprobs": 5}).top_logprobs == 5
    assert request_features({"prompt": ["a", 3, "b"]}).text == "a\nb"
    assert request_features({"messages": "nonsense", "logprobs": "yes"}).text == ""
    assert (
        request_features({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}).text
        == "hi"
    )
    assert request_features(_chat("Let's think step by step.")).cot


def test_behaviour_change_is_seen_within_the_window() -> None:
    tracker = RiskTracker(RiskConfig(window=20))
    for i in range(20):
        tracker.observe(
            "a", request_features(_chat(f"q {WORDS[i]}", logprobs=True, top_logprobs=20)), i * 60.0
        )
    high = tracker.score("a", 20 * 60.0).features["logprobs"]
    for i in range(20, 40):
        tracker.observe("a", request_features(_chat(f"q {WORDS[i % 26]} x")), i * 60.0)
    assert high == 1.0 and tracker.score("a", 40 * 60.0).features["logprobs"] == 0.0


def test_account_state_is_bounded() -> None:
    tracker = RiskTracker(RiskConfig(max_accounts=3))
    for i in range(5):
        tracker.observe(f"acct{i}", request_features(_chat("hi")), float(i))
    assert tracker.accounts() == ["acct2", "acct3", "acct4"]


def test_risk_config_validation() -> None:
    with pytest.raises(ValueError, match="weights"):
        RiskConfig(weights={"nope": 1.0})
    with pytest.raises(ValueError, match="lsh_threshold"):
        RiskConfig(lsh_threshold=1.5)


# -- policy ----------------------------------------------------------------------------


def test_policy_file_toml_and_yaml(tmp_path) -> None:
    toml = tmp_path / "p.toml"
    toml.write_text(
        "[limits]\nrpm = 100\ntpm = 5000\n[risk]\nblock = 0.95\nthrottle_delay_ms = 10\n"
        '[accounts.mallory]\naction = "block"\n[accounts.batch]\nrpm = 5\n'
    )
    config = PolicyConfig.from_file(toml)
    assert config.limits_for("batch").rpm == 5 and config.limits_for("batch").tpm == 5000
    assert config.limits_for("anyone").rpm == 100
    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text("limits:\n  rpm: 7\naccounts:\n  x:\n    action: allow\n")
    assert PolicyConfig.from_file(yaml_path).limits.rpm == 7


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
        PolicyConfig.from_file(path)


def test_policy_actions_by_risk() -> None:
    engine = PolicyEngine(
        PolicyConfig.from_dict({"risk": {"throttle": 0.3, "strip_logprobs": 0.5, "block": 0.8}})
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
        PolicyConfig.from_dict(
            {"risk": {"block": 0.5}, "accounts": {"bad": {"action": "block"}, "ok": {"action": "allow"}}}
        )
    )
    assert engine.decide("bad", 0.0, [], _chat("hi"), 0.0).action == "block"
    exempt = engine.decide("ok", 0.99, [], _chat("hi"), 0.0)
    assert exempt.action == "allow" and "exempt" in exempt.reasons[0]


def test_rpm_bucket_429_then_refill_and_headers() -> None:
    engine = PolicyEngine(PolicyConfig.from_dict({"limits": {"rpm": 3}}))
    decisions = [engine.decide("a", 0.0, [], _chat("hi"), 0.0) for _ in range(4)]
    assert [d.action for d in decisions] == ["allow", "allow", "allow", "rate_limited"]
    assert decisions[0].headers["x-ratelimit-limit-requests"] == "3"
    assert decisions[2].headers["x-ratelimit-remaining-requests"] == "0"
    assert decisions[3].retry_after_s == pytest.approx(20.0)
    assert engine.decide("other", 0.0, [], _chat("hi"), 0.0).action == "allow"  # per account
    assert engine.decide("a", 0.0, [], _chat("hi"), 20.0).action == "allow"  # refilled


def test_tpm_bucket_with_settlement() -> None:
    engine = PolicyEngine(PolicyConfig.from_dict({"limits": {"tpm": 1000}}))
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
