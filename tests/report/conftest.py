"""A full report.json fixture, with hostile text in it (markup, a key-shaped string)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

EVIL_PROMPT = '<script>alert("x")</script> Solve 2+2 & explain <b>why</b>'
FAKE_KEY = "sk-live_ABCDEFGHIJKLMNOPQRSTUVWX123456"

T0 = 1_795_000_000.0


def full_report() -> dict[str, Any]:
    timeline = []
    for i in range(30):
        timeline.append({"ts": T0 + 10 * i, "account": "atk-1", "score": min(1.0, 0.04 * i), "action": None})
        timeline.append(
            {"ts": T0 + 10 * i + 3, "account": "atk-2", "score": min(1.0, 0.02 * i), "action": None}
        )
        timeline.append({"ts": T0 + 20 * i, "account": "alice", "score": 0.05, "action": None})
    return {
        "schema_version": 1,
        "generated_at": "2026-11-27T12:00:00Z",
        "run": {
            "id": "20261127-120000",
            "mode": "quick",
            "teacher": "smollm2-135m-instruct",
            "student": "every-other layers",
            "duration_s": 123.4,
            "stages": [
                {"name": "serve", "status": "ok", "detail": "http://127.0.0.1:1234/v1", "seconds": 2.0},
                {"name": "probes", "status": "skipped", "detail": "not asked", "seconds": 0.0},
            ],
        },
        "world": {
            "simulator": "distillscope.simulate.classic",
            "accounts": 5,
            "history_exchanges": 4000,
            "history_hours": 24.0,
            "groups": [
                {
                    "role": "attacker",
                    "group": "hydra",
                    "style": "hydra",
                    "accounts": 2,
                    "history_exchanges": 300,
                    "hard_negative": False,
                },
                {
                    "role": "benign",
                    "group": "corp-nat",
                    "style": "corporate_nat",
                    "accounts": 1,
                    "history_exchanges": 50,
                    "hard_negative": True,
                },
                {
                    "role": "benign",
                    "group": "users",
                    "style": "human",
                    "accounts": 2,
                    "history_exchanges": 3650,
                    "hard_negative": False,
                },
            ],
            "live": {"extractor": None, "hydra": ["atk-1", "atk-2"], "benign": ["alice"]},
        },  # fmt: skip
        "attribution": {
            "alpha": 1e-6,
            "texts": 118,
            "tokens": 9000,
            "method": "keyed green-list test of the pooled harvested answers",
            "rounds": [
                {"round": 1, "alpha": 5e-7, "texts": 118, "named": ["atk-1"], "explained": 60},
                {"round": 2, "alpha": 2.5e-7, "texts": 58, "named": ["atk-2"], "explained": 58},
            ],
            "keys": [
                {
                    "account": "atk-1",
                    "role": "attacker",
                    "harvested": 60,
                    "p_value": 1e-12,
                    "z": 7.5,
                    "tokens_scored": 3000,
                    "named": True,
                    "round": 1,
                },
                {
                    "account": "atk-2",
                    "role": "attacker",
                    "harvested": 58,
                    "p_value": 3e-9,
                    "z": 6.1,
                    "tokens_scored": 3000,
                    "named": True,
                    "round": 2,
                },
                {
                    "account": "alice",
                    "role": "benign",
                    "harvested": 0,
                    "p_value": 0.8,
                    "z": -0.3,
                    "tokens_scored": 3000,
                    "named": False,
                },
            ],
            "controls": {"count": 20, "smallest_p": 0.04, "named": 0},
        },  # fmt: skip
        "harvest": {
            "queries": 120,
            "answered": 118,
            "failed": 2,
            "prompt_tokens": 4000,
            "completion_tokens": 9000,
            "cost_usd": 0.0123,
            "top_logprobs": 5,
            "strategy": "static seed prompts",
            "accounts": [
                {
                    "account": "atk-1",
                    "queries": 60,
                    "completion_tokens": 4600,
                    "cost_usd": 0.006,
                    "stripped": 0,
                },
                {
                    "account": "atk-2",
                    "queries": 60,
                    "completion_tokens": 4400,
                    "cost_usd": 0.0063,
                    "stripped": 12,
                },
            ],
            "examples": [{"prompt": EVIL_PROMPT, "response": f"my key is {FAKE_KEY}"}],
        },
        "student": {
            "task": {"name": "gsm_symbolic", "n": 20},
            "teacher_task_score": 0.4,
            "queries": 118,
            "cost_usd": 0.0123,
            "train_steps": 30,
            "methods": [
                {"method": "untrained", "task_score": 0.0, "fidelity": {"agreement": 0.01, "kl": 9.0}},
                {"method": "sft", "task_score": 0.2, "fidelity": {"agreement": 0.31, "kl": 1.9}},
                {"method": "topk-kd", "task_score": 0.28, "fidelity": {"agreement": 0.42, "kl": 1.1}},
            ],
            "retention_curve": [
                {"method": "sft", "queries": 40, "cost_usd": 0.004, "task_score": 0.1, "agreement": 0.2},
                {"method": "sft", "queries": 120, "cost_usd": 0.0123, "task_score": 0.2, "agreement": 0.31},
                {"method": "topk-kd", "queries": 40, "cost_usd": 0.004, "task_score": 0.15, "agreement": 0.3},
                {
                    "method": "topk-kd",
                    "queries": 120,
                    "cost_usd": 0.0123,
                    "task_score": 0.28,
                    "agreement": 0.42,
                },
            ],
        },
        "guard": {
            "threshold": 0.5,
            "accounts": [
                {
                    "account": "atk-1",
                    "role": "attacker",
                    "queries": 30,
                    "score": 1.0,
                    "flagged": True,
                    "action": "strip_logprobs",
                    "first_flagged_ts": T0 + 130,
                    "reasons": ["high volume", "templates"],
                },
                {
                    "account": "atk-2",
                    "role": "attacker",
                    "queries": 30,
                    "score": 0.4,
                    "flagged": False,
                    "action": None,
                    "first_flagged_ts": None,
                    "reasons": [],
                },
                {
                    "account": "alice",
                    "role": "benign",
                    "queries": 30,
                    "score": 0.05,
                    "flagged": False,
                    "action": None,
                    "first_flagged_ts": None,
                    "reasons": [],
                },
            ],
            "timeline": timeline,
            "policy": {"throttle": 0.5, "throttle_delay_ms": 250, "strip_logprobs": 0.6, "block": 0.9},
            "backtest": {
                "first_n": 200,
                "campaign_acted_within_first": {"count": 1, "of": 2, "rate": 0.5},
                "benign_requests_delayed": {"count": 3, "of": 2400, "rate": 0.00125},
                "campaign_by_style": {"hydra": {"ever_acted": {"count": 1, "of": 2, "rate": 0.5}}},
                "benign_by_group": {
                    "corporate_nat": {"requests_delayed": {"count": 0, "of": 50, "rate": 0.0}}
                },
            },
            "watch": {"entries": 2, "accounts": ["atk-1", "atk-2"]},
            "policy_cost": {
                "window_s": 300.0,
                "benign_requests": 4,
                "benign_requests_delayed": 0,
                "benign_requests_refused": 0,
                "accounts": [
                    {
                        "account": "atk-1",
                        "role": "attacker",
                        "requests": 60,
                        "answered": 60,
                        "blocked": 0,
                        "rate_limited": 0,
                        "delayed": 47,
                        "delay_s": 11.75,
                        "asked_logprobs": 60,
                        "logprobs_stripped": 40,
                    },
                    {
                        "account": "atk-2",
                        "role": "attacker",
                        "requests": 60,
                        "answered": 58,
                        "blocked": 2,
                        "rate_limited": 0,
                        "delayed": 0,
                        "delay_s": 0.0,
                        "asked_logprobs": 0,
                        "logprobs_stripped": 0,
                    },
                    {
                        "account": "alice",
                        "role": "benign",
                        "requests": 4,
                        "answered": 4,
                        "blocked": 0,
                        "rate_limited": 0,
                        "delayed": 0,
                        "delay_s": 0.0,
                        "asked_logprobs": 0,
                        "logprobs_stripped": 0,
                    },
                ],
            },  # fmt: skip
            "offline": {
                "engine": "duckdb",
                "accounts": [
                    {
                        "account": "atk-1",
                        "role": "attacker",
                        "score": 0.9,
                        "flagged": True,
                        "campaign": "c1",
                        "reasons": ["template reuse"],
                    },
                    {
                        "account": "atk-2",
                        "role": "attacker",
                        "score": 0.8,
                        "flagged": True,
                        "campaign": "c1",
                        "reasons": ["shared ip"],
                    },
                    {
                        "account": "alice",
                        "role": "benign",
                        "score": 0.1,
                        "flagged": False,
                        "campaign": None,
                        "reasons": [],
                    },
                ],
                "campaigns": [
                    {"campaign": "c1", "accounts": ["atk-1", "atk-2"], "evidence": {"shared_ip": 1}}
                ],
            },
        },
        "watermark": {
            "enabled": True,
            "alpha": 0.01,
            "suspect": "student (topk-kd)",
            "method": "keyed green-list, black-box",
            "accounts": [
                {"account": "atk-1", "role": "attacker", "p_value": 1e-6, "z": 4.8, "tokens_scored": 900},
                {"account": "atk-2", "role": "attacker", "p_value": 0.003, "z": 2.7, "tokens_scored": 900},
                {"account": "alice", "role": "benign", "p_value": 0.41, "z": 0.2, "tokens_scored": 900},
            ],
            "overall_p_value": 2e-7,
            "negative_control": {"model": "teacher without watermark", "p_value": 0.55, "tokens_scored": 900},
        },
        "identity": {
            "watch_names": ["Hugging Face", "SmolLM"],
            "probes": [
                {
                    "model": "teacher",
                    "question": "Who trained you?",
                    "answer": "I was trained by Hugging Face.",
                    "hits": ["Hugging Face"],
                },
                {
                    "model": "student",
                    "question": "Who trained you?",
                    "answer": "I am SmolLM <img src=x>.",
                    "hits": ["SmolLM"],
                },
            ],
        },
        "probes": {"hidden_size": {"estimate": 64, "prompts": 96, "tokens": 100, "queries": 576}},
        "frontier": {
            "source": "docs/evidence/defend/frontier.json",
            "measured_by": "distillscope defend evaluate",
            "machine": "a 2-core test box",
            "task": "chain_sum",
            "train_answers": 64,
            "student_layers": "spread:6",
            "goal": {"gain_cut": 0.5, "max_relative_accuracy_cost": 0.05, "met_by": []},
            "rows": [
                {
                    "condition": "reference",
                    "kind": "reference",
                    "method": "sft",
                    "seeds": 2,
                    "teacher_cost_points": 0.0,
                    "teacher_cost_se": None,
                    "fidelity_gain": 0.8,
                    "gain_cut": 0.0,
                    "gain_cut_sd": 0.0,
                    "meets_goal": False,
                },
                {
                    "condition": "watermark-4",
                    "kind": "watermark",
                    "method": "sft",
                    "seeds": 1,
                    "teacher_cost_points": 10.9,
                    "teacher_cost_se": 4.2,
                    "fidelity_gain": 0.04,
                    "gain_cut": 0.95,
                    "gain_cut_sd": None,
                    "meets_goal": False,
                },
                {
                    "condition": "noise-2",
                    "kind": "logprobs",
                    "method": "topk-kd",
                    "seeds": 1,
                    "teacher_cost_points": 0.0,
                    "teacher_cost_se": 0.0,
                    "fidelity_gain": 0.66,
                    "gain_cut": 0.13,
                    "gain_cut_sd": None,
                    "meets_goal": False,
                },
            ],
            "this_run": {
                "condition": "watermark delta 2",
                "delta": 2.0,
                "items": 24,
                "teacher_accuracy_with": 0.375,
                "teacher_accuracy_without": 0.5,
                "teacher_cost_points": 12.5,
                "teacher_cost_se": 6.9,
                "identical_answers": 5,
                "method": "paired greedy answers <i>with</i> and without the watermark",
            },
        },  # fmt: skip
        "scenarios": {
            "measured_by": "bench/radioactivity.py",
            "source": "docs/evidence/watermark/radioactivity-*.json",
            "machine": "a shared 2-core box",
            "alpha": 1e-3,
            "command": "PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/radioactivity.py --scenario all",
            "scenarios": [
                _scenario(
                    "mixed10",
                    0.0999,
                    [("attacker-1", 3.5e-17, 470), ("attacker-2", 1.0e-11, 470)],
                    2,
                    "detected: every harvesting key named",
                ),
                _scenario(
                    "paraphrase",
                    1.0,
                    [("attacker-1", 5.6e-5, 462), ("attacker-2", 0.017, 462)],
                    1,
                    "partly detected: 1 of 2 harvesting keys named",
                    outcome="some",
                    description="<b>rewritten</b>",
                ),
                _scenario(
                    "spread",
                    1.0,
                    [(f"sybil-{i:03d}", 0.0071 + i / 100, 527) for i in range(16)],
                    0,
                    "our model detected (pooled test), no single account named",
                    outcome="pooled",
                    pooled_p=1e-59,
                ),
                _scenario(
                    "small",
                    1.0,
                    [("attacker-1", 0.0104, 437), ("attacker-2", 0.4, 437)],
                    0,
                    "not detected: a measured limit",
                    outcome="none",
                ),
            ],
        },  # fmt: skip
    }


def _scenario(
    name: str,
    share: float,
    keys: list[tuple[str, float, int]],
    named: int,
    verdict: str,
    pooled_p: float | None = None,
    description: str = "",
    outcome: str = "all",
) -> dict[str, Any]:
    return {
        "scenario": name,
        "description": description or f"the {name} attacker",
        "share": share,
        "delta": 4.0,
        "student": "spread:30",
        "training_tokens": 724,
        "harvesters": [
            {"name": n, "p": p, "p_adjusted": min(1.0, 5 * p), "scored": k, "green_fraction": 0.4}
            for n, p, k in keys
        ],  # fmt: skip
        "named": named,
        "pooled_p": pooled_p,
        "bystanders_min_p": 0.1,
        "controls": {"count": 20, "min_p": 0.037, "below_0.05": 1},
        "untrained_min_p": 0.36,
        "verdict": verdict,
        "outcome": outcome,
        "reading": "all texts",
        "reproduce": f"PYTHONPATH=$PWD .venv/bin/python bench/radioactivity.py --scenario {name}",
    }


@pytest.fixture
def report_data() -> dict[str, Any]:
    return copy.deepcopy(full_report())
