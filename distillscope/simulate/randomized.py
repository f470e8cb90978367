"""A second, independent traffic simulator with domain randomisation, for judging the detector fairly.

Every scenario draws its own numbers from its seed: days, population sizes,
volumes, languages, phrasings, time zones, timing patterns, infrastructure
(IPv4/IPv6, NAT sizes, proxy pools), answer lengths, model names and launch
day. Nothing here was tuned against the detector, and the detector must never
import this package; ``labels.jsonl`` (``{account, label, group, style}``) is
written separately.

Campaign styles (:data:`CAMPAIGN_STYLES`): solo chain-of-thought extractors,
random-word queries, self-instruct expansion, task-family enumeration,
multilingual extractors, hydra behind proxy pools, slow-and-low accounts over
disjoint slices of one topic space, heavy extractors, log-prob/logit-bias sweeps,
model switchers. Hard negatives (:data:`HARD_NEGATIVES`): a corporate NAT whose
employees share an org, a payment id and an internal tool's template, mobile
carrier-grade NAT, a university, VPN users, evaluation harnesses on launch day
(log-probs, back to back, many topics), agents (tool loops: tool definitions in
the request, tool calls as answers, results sent back), RAG apps, batch customers;
and ordinary users (writers, students, coders, several languages).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from distillscope.records import write_exchanges, write_jsonl
from distillscope.simulate import actors as act
from distillscope.simulate import text as tx

CAMPAIGN_STYLES = (
    "cot_solo",
    "random_words",
    "self_instruct",
    "task_enumeration",
    "multilingual",
    "hydra",
    "slow_and_low",
    "heavy_extractor",
    "logprob_sweep",
    "model_switch",
)
HARD_NEGATIVES = (
    "corporate_nat",
    "cgnat",
    "university",
    "vpn_user",
    "eval_harness",
    "agent",
    "rag_app",
    "batch_customer",
)
BENIGN_STYLES = (*HARD_NEGATIVES, "ordinary")
MODEL_NAMES = [
    ("atlas-1", "atlas-2"),
    ("nova-7b", "nova-8b"),
    ("sage-large", "sage-xl"),
    ("m-2025", "m-2026"),
]
ASPECTS = [
    "the history of",
    "applications of",
    "common misconceptions about",
    "the mathematics behind",
    "open problems in",
    "experiments that demonstrate",
    "how to teach",
    "the key terms of",
]


@dataclass
class Scenario:
    """The numbers one scenario drew (written to ``scenario.json`` for the record)."""

    seed: int
    days: int
    benign: int
    campaign_scale: float
    lang_weights: dict[str, float]
    ipv6_share: float
    models: tuple[str, str]
    launch_day: float
    start: float

    @classmethod
    def draw(cls, seed: int, benign: int, days: int | None, campaign_scale: float) -> Scenario:
        rng = np.random.default_rng([seed, 1])
        en = float(rng.uniform(0.5, 0.92))
        others = rng.dirichlet(np.ones(len(tx.LANGUAGES) - 1)) * (1 - en)
        weights = {"en": en} | {lang: float(w) for lang, w in zip(tx.LANGUAGES[1:], others, strict=True)}
        days = days or int(rng.integers(5, 15))
        start = datetime(2026, 1, 5, tzinfo=UTC).timestamp() + int(rng.integers(0, 300)) * act.DAY
        models = MODEL_NAMES[int(rng.integers(len(MODEL_NAMES)))]
        return cls(
            seed,
            days,
            benign,
            campaign_scale,
            weights,
            float(rng.uniform(0.0, 0.3)),
            models,
            float(rng.uniform(0.3, 0.7) * days),
            start,
        )


@dataclass
class SimAccount:
    name: str
    label: str  # "campaign" or "benign"
    style: str
    group: str


@dataclass
class Sim:
    """The state of one scenario being generated."""

    sc: Scenario
    rng: np.random.Generator
    rows: list[dict[str, Any]] = field(default_factory=list)
    accounts: list[SimAccount] = field(default_factory=list)
    counter: int = 0
    #: What a style drew per account that labels do not carry (e.g. a slow-and-low account's topic slice).
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def clock(self) -> act.Clock:
        return act.Clock(self.sc.start, self.sc.days)

    @property
    def launch_ts(self) -> float:
        return self.sc.start + self.sc.launch_day * act.DAY

    def new_account(self, label: str, style: str, group: str) -> SimAccount:
        token = hashlib.sha1(f"{self.sc.seed}:{self.counter}:{style}".encode()).hexdigest()[:10]
        self.counter += 1
        acct = SimAccount(f"acct_{token}", label, style, group)
        self.accounts.append(acct)
        return acct

    def lang(self) -> str:
        w = self.sc.lang_weights
        return str(self.rng.choice(list(w), p=np.array(list(w.values())) / sum(w.values())))

    def model_at(self, ts: float, adopt_ts: float) -> str:
        old, new = self.sc.models
        return new if ts >= max(adopt_ts, self.launch_ts) else old

    def adoption(self) -> float:
        """When an ordinary account moves to the new model: gradually, some never."""
        if self.rng.random() < 0.3:
            return float("inf")
        return self.launch_ts + float(self.rng.exponential(2.5 * act.DAY))

    def emit(
        self,
        acct: SimAccount,
        times: np.ndarray,
        prompt: Callable[[int], str],
        *,
        ip: Callable[[], str],
        ua: Callable[[], str],
        answers: act.Answers,
        params: Callable[[], dict[str, Any]] | None = None,
        org: str | None = None,
        payment: str | None = None,
        system: str | None = None,
        adopt: float | None = None,
        model: Callable[[float], str] | None = None,
        endpoint: str = "/v1/chat/completions",
    ) -> None:
        adopt = self.adoption() if adopt is None else adopt
        for i, ts in enumerate(times):
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt(i)}
            ]
            p = dict(params()) if params else {}
            if answers.max_tokens is not None and "max_tokens" not in p:
                p["max_tokens"] = answers.max_tokens
            tokens, finish = answers.draw(self.rng)
            if "max_tokens" in p and tokens >= p["max_tokens"]:
                tokens, finish = int(p["max_tokens"]), "length"
            row = {
                "id": f"{acct.name}-{i:06d}",
                "ts": round(float(ts), 3),
                "account": acct.name,
                "messages": messages,
                "ip": ip(),
                "user_agent": ua(),
                "model": model(float(ts)) if model else self.model_at(float(ts), adopt),
                "endpoint": endpoint,
                "params": p,
                "prompt_tokens": sum(len(m["content"]) for m in messages) // 4 + 1,
                "completion_tokens": tokens,
                "finish_reason": finish,
                "status": 200,
            }
            if org:
                row["org"] = org
            if payment:
                row["payment_id"] = payment
            self.rows.append(row)


def _const(value: str) -> Callable[[], str]:
    return lambda: value


def _choice(
    rng: np.random.Generator, values: list[str], weights: np.ndarray | None = None
) -> Callable[[], str]:
    p = None if weights is None else weights / weights.sum()
    return lambda: values[int(rng.choice(len(values), p=p))]


def _pay(rng: np.random.Generator) -> str:
    return "pay_" + hashlib.sha1(rng.bytes(8)).hexdigest()[:16]


def _tz(rng: np.random.Generator) -> float:
    return float(rng.choice([-8, -6, -5, -3, 0, 1, 2, 3, 5.5, 8, 9, 10]))


def _human_ip(sim: Sim) -> Callable[[], str]:
    """A home IP, sometimes a second one (mobile, travel)."""
    rng = sim.rng
    ips = [act.public_ip(rng, sim.sc.ipv6_share) for _ in range(1 + int(rng.random() < 0.3))]
    return _choice(rng, ips, np.array([0.85, 0.15][: len(ips)]))


def _human_ua(sim: Sim, sdk_share: float = 0.1) -> Callable[[], str]:
    rng = sim.rng
    return _const(act.sdk(rng) if rng.random() < sdk_share else act.browser(rng))


def _human_prompt(sim: Sim, typo_rate: float, cot_rate: float, lang: str) -> Callable[[int], str]:
    rng = sim.rng
    mix = rng.dirichlet([3.0, 1.0, 1.5])  # chat, code, explain/solve

    def prompt(_: int) -> str:
        kind = int(rng.choice(3, p=mix))
        if lang != "en" or kind == 2:
            _, topic = tx.ALL_TOPICS[int(rng.integers(len(tx.ALL_TOPICS)))]
            text = tx.explain_prompt(rng, topic, lang)
        else:
            text = tx.chat_prompt(rng) if kind == 0 else tx.code_prompt(rng)
        if rng.random() < cot_rate:
            text = f"{text} {tx.cot_suffix(rng, lang)}"
        return tx.typo(rng, text, typo_rate)

    return prompt


def _human_volume(rng: np.random.Generator, median: float = 25.0, cap: int = 700) -> int:
    return int(np.clip(rng.lognormal(np.log(median), 1.0), 2, cap))


def _casual_params(rng: np.random.Generator) -> Callable[[], dict[str, Any]]:
    temp = float(rng.choice([0.0, 0.2, 0.7, 1.0]))
    lp_rate = 0.3 if rng.random() < 0.03 else 0.0
    return lambda: (
        {"temperature": temp} | ({"logprobs": True, "top_logprobs": 3} if rng.random() < lp_rate else {})
    )


def _human_account(
    sim: Sim,
    acct: SimAccount,
    *,
    n: int | None = None,
    ip: Callable[[], str] | None = None,
    ua: Callable[[], str] | None = None,
    office: bool = False,
    org: str | None = None,
    payment: str | None = None,
    prompt: Callable[[int], str] | None = None,
    active_days: tuple[int, int] | None = None,
) -> None:
    rng = sim.rng
    n = n or _human_volume(rng)
    lang = "en" if office else sim.lang()
    cot = float(rng.beta(0.6, 8.0))
    times = act.human_times(
        rng,
        sim.clock,
        n,
        _tz(rng),
        office=office,
        weekend_factor=float(rng.uniform(0.2, 0.9)),
        active_days=active_days,
    )
    sim.emit(
        acct,
        times,
        prompt or _human_prompt(sim, float(rng.uniform(0, 0.03)), cot, lang),
        ip=ip or _human_ip(sim),
        ua=ua or _human_ua(sim),
        org=org,
        payment=payment or _pay(rng),
        answers=act.answers(rng, 60, 600, [None, None, 512, 1024, 2048]),
        params=_casual_params(rng),
    )


# -- benign -----------------------------------------------------------------------------------


def ordinary(sim: Sim, count: int) -> None:
    for _ in range(count):
        _human_account(sim, sim.new_account("benign", "ordinary", "ordinary"))


def corporate_nat(sim: Sim, scale: float) -> None:
    rng = sim.rng
    size = max(5, int(rng.integers(20, 70) * scale))
    nat = act.ip_range(rng, int(rng.integers(1, 4)))
    org, payment = f"org_{rng.integers(1e6)}", _pay(rng)
    tool = str(rng.choice(["HelpdeskBot", "SalesAssist", "CodeReviewer", "DocDraft", "TicketTriage"]))
    tool_ua = f"{tool}/1.{int(rng.integers(0, 9))} (internal)"
    group = f"corporate_nat-{org}"
    for _ in range(size):
        acct = sim.new_account("benign", "corporate_nat", group)
        tool_share = float(rng.choice([0.0, rng.uniform(0.2, 0.9)]))
        inner = _human_prompt(sim, float(rng.uniform(0, 0.02)), float(rng.beta(0.5, 10)), "en")

        def prompt(i: int, inner: Callable[[int], str] = inner, share: float = tool_share) -> str:
            if rng.random() < share:
                return (
                    f"[{tool}] Summarise ticket #{int(rng.integers(10000, 99999))} for the "
                    f"{tx.pick(rng, ['billing', 'platform', 'mobile', 'sales'])} team: "
                    f"{tx.pick(rng, tx.SNIPPETS)}"
                )
            return inner(i)

        uas = [act.browser(rng), tool_ua]
        _human_account(
            sim,
            acct,
            n=_human_volume(rng, 40, 900),
            ip=_choice(rng, nat),
            office=True,
            org=org,
            payment=payment,
            prompt=prompt,
            ua=_choice(rng, uas, np.array([1 - tool_share, tool_share + 1e-3])),
        )


def cgnat(sim: Sim, scale: float) -> None:
    rng = sim.rng
    pool = act.cgnat_pool(rng, int(rng.integers(4, 30)))
    group = f"cgnat-{rng.integers(1e6)}"
    for _ in range(max(5, int(rng.integers(30, 110) * scale))):
        acct = sim.new_account("benign", "cgnat", group)
        _human_account(sim, acct, ip=_choice(rng, pool), ua=_const(act.browser(rng)))


def university(sim: Sim, scale: float) -> None:
    rng = sim.rng
    campus = act.ip_range(rng, int(rng.integers(8, 60)))
    org = f"univ_{rng.integers(1e6)}"
    group = f"university-{org}"
    course = tx.pick(rng, list(tx.DOMAINS))
    problem_sets = [
        [tx.question(rng) for _ in range(int(rng.integers(4, 10)))] for _ in range(sim.sc.days // 4 + 1)
    ]
    for _ in range(max(5, int(rng.integers(30, 110) * scale))):
        acct = sim.new_account("benign", "university", group)
        cot = float(rng.uniform(0.1, 0.7))
        inner = _human_prompt(sim, float(rng.uniform(0, 0.04)), float(rng.beta(0.6, 6)), "en")

        def prompt(i: int, inner: Callable[[int], str] = inner, cot: float = cot) -> str:
            if rng.random() < 0.5:
                ps = problem_sets[min(len(problem_sets) - 1, i // 15)]
                text = f"{tx.pick(rng, ps)} ({course} homework)"
                return f"{text} {tx.cot_suffix(rng)}" if rng.random() < cot else text
            return inner(i)

        _human_account(
            sim,
            acct,
            n=_human_volume(rng, 30, 400),
            ip=_choice(rng, campus),
            org=org if rng.random() < 0.5 else None,
            prompt=prompt,
        )


def vpn_user(sim: Sim, scale: float) -> None:
    rng = sim.rng
    exits = [act.public_ip(rng, 0.0) for _ in range(int(rng.integers(3, 15)))]
    group = f"vpn-{rng.integers(1e6)}"
    for _ in range(max(3, int(rng.integers(10, 35) * scale))):
        acct = sim.new_account("benign", "vpn_user", group)
        home = _human_ip(sim)
        share = float(rng.uniform(0.5, 1.0))
        _human_account(
            sim,
            acct,
            ip=lambda home=home, share=share: tx.pick(rng, exits) if rng.random() < share else home(),
        )


#: Items of a scenario's public benchmark; its harnesses run the first 300 to 1,499 of them.
BENCHMARK_SIZE = 1500


def benchmark_name(seed: int) -> str:
    """The name of the public benchmark the evaluation harnesses of scenario ``seed`` run."""
    return f"bench-{seed}"


def public_benchmarks(seed: int) -> dict[str, list[str]]:
    """The public benchmark of scenario ``seed``, whole: what a provider can know before any log.

    Drawn from the seed alone (never from the log's accounts or labels); every harness
    of the scenario asks items of it (a prefix, in its own order), nobody else does.
    """
    return {benchmark_name(seed): tx.benchmark_items(seed * 7 + 1, BENCHMARK_SIZE)}


def eval_harness(sim: Sim, scale: float) -> None:
    rng = sim.rng
    bench = tx.benchmark_items(sim.sc.seed * 7 + 1, int(rng.integers(300, BENCHMARK_SIZE)))
    for _team in range(max(1, int(rng.integers(2, 5) * min(1.0, scale + 0.3)))):
        org, payment = f"org_{rng.integers(1e6)}", _pay(rng)
        ips = [act.public_ip(rng, 0.0) for _ in range(int(rng.integers(1, 3)))]
        cot_eval = rng.random() < 0.35
        top = int(rng.choice([1, 5, 10, 20]))
        for _ in range(int(rng.integers(1, 3))):
            acct = sim.new_account("benign", "eval_harness", f"eval_harness-{org}")
            runs = []  # a baseline run on the old model, the full suite on launch day, maybe a rerun
            for day_offset, model_i in (
                (-float(rng.uniform(1, 3)), 0),
                (float(rng.uniform(0, 0.3)), 1),
                (float(rng.uniform(1, 2)), 1),
            ):
                if rng.random() < 0.8:
                    t0 = max(sim.sc.start, sim.launch_ts + day_offset * act.DAY)
                    runs.append((t0, model_i, len(bench) if rng.random() < 0.7 else int(len(bench) * 0.4)))
            if not runs:
                runs = [(sim.launch_ts, 1, len(bench))]
            for t0, model_i, count in runs:
                times = act.burst_times(rng, t0, count, float(rng.uniform(0.2, 3.0)))
                order = rng.permutation(len(bench))[:count]
                suffix = " Let's think step by step." if cot_eval else ""
                params = (
                    {"temperature": 0.0, "max_tokens": 512}
                    if cot_eval
                    else {
                        "temperature": 0.0,
                        "logprobs": True,
                        "top_logprobs": top,
                        "max_tokens": int(rng.choice([1, 2, 5, 16])),
                    }
                )
                sim.emit(
                    acct,
                    times,
                    lambda i, order=order, suffix=suffix: bench[order[i]] + suffix,
                    ip=_choice(rng, ips),
                    ua=_const(act.sdk(rng)),
                    org=org,
                    payment=payment,
                    answers=act.answers(
                        rng, 150 if cot_eval else 2, 300 if cot_eval else 6, [params["max_tokens"]]
                    ),
                    params=lambda params=params: params,
                    model=lambda ts, m=model_i: sim.sc.models[m],
                )


def agent(sim: Sim, scale: float) -> None:
    rng = sim.rng
    for _ in range(max(1, int(rng.integers(3, 9) * min(1.0, scale + 0.3)))):
        acct = sim.new_account("benign", "agent", f"agent-{rng.integers(1e6)}")
        tools = [str(w) for w in tx.random_words(rng, 3, 7).split()]
        system = f"You are an autonomous agent. Tools: {', '.join(tools)}. Think privately, answer in JSON."
        n = int(rng.integers(800, 7000))
        ips = [act.public_ip(rng, 0.0) for _ in range(int(rng.integers(1, 5)))]
        times = act.machine_times(rng, sim.clock, n, str(rng.choice(["uniform", "bursts", "nightly"])))
        start = len(sim.rows)
        sim.emit(
            acct,
            times,
            lambda i, tools=tools: tx.agent_prompt(rng, tools),
            ip=_choice(rng, ips),
            ua=_const(act.sdk(rng)),
            system=system,
            payment=_pay(rng),
            answers=act.answers(rng, 30, 250, [None, 256, 1024]),
            params=lambda: {"temperature": 0.0},
        )
        _tool_loops(sim.rows[start:], tools, _own_rng(acct))


#: Mean steps of an agent's episode (geometric, at least one): tool calls until a final text answer.
AGENT_STEPS = 4.0


def _own_rng(acct: SimAccount) -> np.random.Generator:
    """A generator of the account's own (seeded by its name), so its draws leave ``sim.rng`` untouched."""
    return np.random.default_rng(int.from_bytes(hashlib.sha1(acct.name.encode()).digest()[:8], "big"))


def _tool_loops(rows: list[dict[str, Any]], tools: list[str], rng: np.random.Generator) -> None:
    """Make an agent's requests tool loops: tool definitions, tool calls as answers, results sent back.

    Requests come in episodes of ~:data:`AGENT_STEPS`: every answer but an episode's last
    is a tool call (``finish_reason`` "tool_calls"), and every request but its first
    returns the previous call's result (an assistant turn with ``tool_calls``, then a
    ``tool`` message) before the framework's instruction. Everything is drawn from
    ``rng``, never the scenario's generator, so every other account's rows stay as
    they were. A result is "ok" (the framework's instruction relays the observation, as
    before), so the agent's context is as short as before: what tells it from a
    harvester is its tool use, not a longer context.
    """
    definitions = [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": f"Run {name} on a query.",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
        for name in tools
    ]
    step, steps, call = 0, 1, None  # call: the id of the tool call the previous answer made
    for row in rows:
        if step == 0:
            steps = int(rng.geometric(1.0 / AGENT_STEPS))
        if call is not None:
            # the call the previous answer made: to the tool whose observation this request relays
            name = row["messages"][-1]["content"].split(":", 1)[0].removeprefix("Observation from ")
            row["messages"][-1:-1] = [
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call,
                            "type": "function",
                            "function": {"name": name, "arguments": '{"query": "..."}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call, "content": "ok"},  # details: the observation
            ]
            row["prompt_tokens"] = sum(len(m["content"] or "") for m in row["messages"]) // 4 + 1
        row["params"]["tools"] = definitions
        step += 1
        if step < steps:
            if row["finish_reason"] != "length":  # a call cut at max_tokens still ends with "length"
                row["finish_reason"] = "tool_calls"
            call = f"call_{rng.bytes(6).hex()}"
        else:
            step, call = 0, None


def rag_app(sim: Sim, scale: float) -> None:
    rng = sim.rng
    for _ in range(max(1, int(rng.integers(2, 6) * min(1.0, scale + 0.3)))):
        acct = sim.new_account("benign", "rag_app", f"rag_app-{rng.integers(1e6)}")
        domains = rng.choice(list(tx.DOMAINS), size=int(rng.integers(1, 3)), replace=False)
        topics = [t for d in domains for t in tx.DOMAINS[str(d)]]
        n = int(rng.integers(800, 6000))
        times = act.machine_times(rng, sim.clock, n, str(rng.choice(["uniform", "nightly"])))
        ips = [act.public_ip(rng, 0.0) for _ in range(int(rng.integers(1, 4)))]
        sim.emit(
            acct,
            times,
            lambda i, topics=topics: tx.rag_prompt(rng, topics),
            ip=_choice(rng, ips),
            ua=_const(act.sdk(rng)),
            payment=_pay(rng),
            answers=act.answers(rng, 80, 400, [None, 512, 1024]),
            params=lambda: {"temperature": 0.2},
        )


def batch_customer(sim: Sim, scale: float) -> None:
    rng = sim.rng
    for _ in range(max(1, int(rng.integers(2, 5) * min(1.0, scale + 0.3)))):
        acct = sim.new_account("benign", "batch_customer", f"batch-{rng.integers(1e6)}")
        task = tx.pick(
            rng,
            [
                "Classify this support ticket as bug, billing or other",
                "Extract the product and price from this listing",
                "Rate the sentiment of this review from 1 to 5",
                "Translate this product title to German",
            ],
        )
        n = int(rng.integers(2000, 10000))
        times = act.machine_times(rng, sim.clock, n, "bursts")
        multi = int(rng.choice([1, 1, 3]))
        sim.emit(
            acct,
            times,
            lambda i, task=task: f"{task}: {tx.pick(rng, tx.SNIPPETS)} #{int(rng.integers(1e6))}",
            ip=_const(act.public_ip(rng, 0.0)),
            ua=_const(act.sdk(rng)),
            payment=_pay(rng),
            answers=act.answers(rng, 3, 60, [8, 16, 64, None]),
            params=lambda multi=multi: {"temperature": 0.0, "n": multi},
        )


# -- campaigns ----------------------------------------------------------------------------------


def _extractor_params(rng: np.random.Generator) -> Callable[[], dict[str, Any]]:
    temp = float(rng.choice([0.0, 0.3, 0.7, 1.0]))
    return lambda: {"temperature": temp}


def _extractor_answers(rng: np.random.Generator) -> act.Answers:
    return act.answers(rng, 250, 1400, [None, 1024, 2048, 4096, 800])


def _extractor_times(sim: Sim, n: int) -> np.ndarray:
    rng = sim.rng
    if rng.random() < 0.25:  # dense human-looking sessions
        return act.human_times(rng, sim.clock, n, _tz(rng), weekend_factor=1.0)
    return act.machine_times(
        rng, sim.clock, n, str(rng.choice(["uniform", "metronome", "bursts", "nightly"]))
    )


def _extractor_infra(sim: Sim) -> tuple[Callable[[], str], Callable[[], str]]:
    rng = sim.rng
    ips = [act.public_ip(rng, sim.sc.ipv6_share) for _ in range(int(rng.integers(1, 4)))]
    ua = act.sdk(rng) if rng.random() < 0.7 else act.browser(rng)
    return _choice(rng, ips), _const(ua)


def _solo(
    sim: Sim,
    style: str,
    count: int,
    n_range: tuple[int, int],
    prompt_of: Callable[[SimAccount], Callable[[int], str]],
) -> None:
    rng = sim.rng
    for _ in range(count):
        acct = sim.new_account("campaign", style, f"{style}-{sim.counter}")
        n = int(rng.integers(*n_range))
        ip, ua = _extractor_infra(sim)
        sim.emit(
            acct,
            _extractor_times(sim, n),
            prompt_of(acct),
            ip=ip,
            ua=ua,
            payment=_pay(rng),
            answers=_extractor_answers(rng),
            params=_extractor_params(rng),
        )


def _broad_explain(sim: Sim, lang: str, cot_rate: float) -> Callable[[int], str]:
    rng = sim.rng

    def prompt(_: int) -> str:
        _, topic = tx.ALL_TOPICS[int(rng.integers(len(tx.ALL_TOPICS)))]
        text = tx.explain_prompt(
            rng, f"{tx.pick(rng, ASPECTS)} {topic}" if rng.random() < 0.4 else topic, lang
        )
        return f"{text} {tx.cot_suffix(rng, lang)}" if rng.random() < cot_rate else text

    return prompt


def cot_solo(sim: Sim, count: int) -> None:
    _solo(
        sim,
        "cot_solo",
        count,
        (600, 4000),
        lambda a: _broad_explain(sim, "en", float(sim.rng.uniform(0.5, 0.95))),
    )


def multilingual(sim: Sim, count: int) -> None:
    def prompt_of(_: SimAccount) -> Callable[[int], str]:
        lang = tx.pick(sim.rng, tx.LANGUAGES[1:])
        return _broad_explain(sim, lang, float(sim.rng.uniform(0.3, 0.95)))

    _solo(sim, "multilingual", count, (600, 4000), prompt_of)


def random_words(sim: Sim, count: int) -> None:
    _solo(sim, "random_words", count, (1500, 7000), lambda a: lambda i: tx.random_words(sim.rng))


def self_instruct(sim: Sim, count: int) -> None:
    _solo(sim, "self_instruct", count, (800, 5000), lambda a: lambda i: tx.self_instruct_prompt(sim.rng))


def task_enumeration(sim: Sim, count: int) -> None:
    def prompt_of(_: SimAccount) -> Callable[[int], str]:
        fams = list(sim.rng.choice(tx.TASK_FAMILIES, size=int(sim.rng.integers(4, 12)), replace=False))
        return lambda i: tx.task_family_prompt(sim.rng, str(fams[i % len(fams)]), i // len(fams) + 1)

    _solo(sim, "task_enumeration", count, (600, 4000), prompt_of)


def heavy_extractor(sim: Sim, count: int) -> None:
    def prompt_of(_: SimAccount) -> Callable[[int], str]:
        inner = _broad_explain(sim, "en", 0.05)
        return lambda i: inner(i) if sim.rng.random() < 0.6 else tx.code_prompt(sim.rng)

    _solo(sim, "heavy_extractor", count, (3000, 12000), prompt_of)


def logprob_sweep(sim: Sim, count: int) -> None:
    rng = sim.rng
    for _ in range(count):
        acct = sim.new_account("campaign", "logprob_sweep", f"logprob_sweep-{sim.counter}")
        n = int(rng.integers(1000, 5000))
        top = int(rng.choice([5, 10, 20]))
        bias = rng.random() < 0.5
        ip, ua = _extractor_infra(sim)

        def params(top: int = top, bias: bool = bias) -> dict[str, Any]:
            p: dict[str, Any] = {"temperature": 0.0, "logprobs": True, "top_logprobs": top}
            if bias:
                p["logit_bias"] = {str(int(t)): 100 for t in rng.integers(0, 50000, int(rng.integers(1, 6)))}
            return p

        sim.emit(
            acct,
            _extractor_times(sim, n),
            _broad_explain(sim, "en", 0.1),
            ip=ip,
            ua=ua,
            payment=_pay(rng),
            answers=act.answers(rng, 60, 600, [None, 256, 1024]),
            params=params,
        )


def model_switch(sim: Sim, count: int) -> None:
    rng = sim.rng
    for _ in range(count):
        acct = sim.new_account("campaign", "model_switch", f"model_switch-{sim.counter}")
        n = int(rng.integers(800, 3000))
        ip, ua = _extractor_infra(sim)
        sim.emit(
            acct,
            _extractor_times(sim, n),
            _broad_explain(sim, "en", float(rng.uniform(0.2, 0.8))),
            ip=ip,
            ua=ua,
            payment=_pay(rng),
            answers=_extractor_answers(rng),
            params=_extractor_params(rng),
            adopt=sim.launch_ts + float(rng.uniform(0, 3 * act.HOUR)),
        )


def hydra(sim: Sim, scale: float) -> None:
    rng = sim.rng
    k = max(4, int(rng.integers(15, 60) * scale))
    group = f"hydra-{rng.integers(1e6)}"
    pool = [act.public_ip(rng, sim.sc.ipv6_share) for _ in range(int(rng.integers(20, 200)))]
    cards = [_pay(rng) for _ in range(int(rng.integers(2, 7)))] if rng.random() < 0.5 else None
    cot = float(rng.choice([0.0, rng.uniform(0.4, 0.9)]))
    playbook = _broad_explain(sim, sim.lang() if rng.random() < 0.3 else "en", cot)
    waves = np.sort(rng.uniform(sim.sc.start, sim.clock.end - 3600, int(rng.integers(5, 40))))
    synced = rng.random() < 0.6
    answers = _extractor_answers(rng)
    spoof = rng.random() < 0.5
    for _ in range(k):
        acct = sim.new_account("campaign", "hydra", group)
        n = int(rng.integers(30, 300))
        if synced:
            mine = rng.choice(waves, size=max(1, int(len(waves) * rng.uniform(0.3, 0.9))), replace=False)
            times = np.sort(rng.choice(mine, n) + rng.uniform(0, 1800, n))
        else:
            times = act.machine_times(rng, sim.clock, n, "uniform")
        sim.emit(
            acct,
            times,
            playbook,
            ip=_choice(rng, pool),
            ua=(lambda: act.browser(rng)) if spoof else _const(act.sdk(rng)),
            payment=tx.pick(rng, cards) if cards else _pay(rng),
            answers=answers,
            params=_extractor_params(rng),
        )


def slow_and_low(sim: Sim, scale: float) -> None:
    rng = sim.rng
    k = max(4, int(rng.integers(8, 30) * scale))
    group = f"slow_and_low-{rng.integers(1e6)}"
    domains = list(rng.choice(list(tx.DOMAINS), size=int(rng.integers(1, 3)), replace=False))
    space = [f"{a} {t}" for d in domains for t in tx.DOMAINS[str(d)] for a in ASPECTS]
    # a campaign of more accounts than its space has items (large --scale) covers more domains, so that
    # every member still has a slice of its own (an empty slice fell back to the space's first item)
    while len(space) < k and len(domains) < len(tx.DOMAINS):
        domains.append(rng.choice(sorted(set(tx.DOMAINS) - {str(d) for d in domains})))
        space = [f"{a} {t}" for d in domains for t in tx.DOMAINS[str(d)] for a in ASPECTS]
    order = rng.permutation(len(space))
    slices = np.array_split(order, k)
    cot = float(rng.uniform(0.1, 0.6))
    answers = _extractor_answers(rng)
    for part in slices:
        acct = sim.new_account("campaign", "slow_and_low", group)
        topics = [space[int(j)] for j in part] or [space[0]]
        sim.notes[acct.name] = {"topics": topics, "space": space}
        lang = "en"

        def prompt(_: int, topics: list[str] = topics, lang: str = lang) -> str:
            text = tx.explain_prompt(rng, tx.pick(rng, topics), lang)
            text = f"{text} {tx.cot_suffix(rng, lang)}" if rng.random() < cot else text
            return tx.typo(rng, text, float(rng.uniform(0, 0.02)))

        n = _human_volume(rng, float(rng.uniform(40, 150)), 400)
        times = act.human_times(rng, sim.clock, n, _tz(rng), weekend_factor=float(rng.uniform(0.3, 1.0)))
        sim.emit(
            acct,
            times,
            prompt,
            ip=_human_ip(sim),
            ua=_const(act.browser(rng)),
            payment=_pay(rng),
            answers=answers,
            params=_casual_params(rng),
        )


SOLO_COUNTS = {
    "cot_solo": (3, 8),
    "random_words": (2, 5),
    "self_instruct": (2, 6),
    "task_enumeration": (2, 6),
    "multilingual": (2, 6),
    "heavy_extractor": (1, 3),
    "logprob_sweep": (1, 4),
    "model_switch": (1, 4),
}
SOLO = {
    "cot_solo": cot_solo,
    "random_words": random_words,
    "self_instruct": self_instruct,
    "task_enumeration": task_enumeration,
    "multilingual": multilingual,
    "heavy_extractor": heavy_extractor,
    "logprob_sweep": logprob_sweep,
    "model_switch": model_switch,
}
GROUPS = {"hydra": hydra, "slow_and_low": slow_and_low}
NEGATIVES = {
    "corporate_nat": corporate_nat,
    "cgnat": cgnat,
    "university": university,
    "vpn_user": vpn_user,
    "eval_harness": eval_harness,
    "agent": agent,
    "rag_app": rag_app,
    "batch_customer": batch_customer,
}


@dataclass
class RandomizedResult:
    """Where a randomised scenario was written and what it holds."""

    exchanges_path: Path
    labels_path: Path
    scenario_path: Path
    exchanges: int
    accounts: int
    scenario: Scenario


def write_benchmarks(benchmarks: dict[str, list[str]], folder: Path) -> list[Path]:
    """Write each public benchmark as ``folder/<name>.jsonl``, one ``{"question": ...}`` a line."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, items in benchmarks.items():
        path = folder / f"{name}.jsonl"
        write_jsonl(({"question": item} for item in items), path)
        paths.append(path)
    return paths


def generate(
    seed: int = 0,
    benign: int = 600,
    days: int | None = None,
    campaign_scale: float = 1.0,
    campaigns: tuple[str, ...] = CAMPAIGN_STYLES,
    hard_negatives: tuple[str, ...] = HARD_NEGATIVES,
) -> tuple[Sim, list[dict[str, Any]]]:
    """Draw one scenario and generate its rows (sorted by time) and labels, in memory."""
    unknown = set(campaigns) - set(CAMPAIGN_STYLES) | set(hard_negatives) - set(HARD_NEGATIVES)
    if unknown:
        raise ValueError(
            f"unknown style(s) {sorted(unknown)}; campaigns: {', '.join(CAMPAIGN_STYLES)}; "
            f"hard negatives: {', '.join(HARD_NEGATIVES)}"
        )
    sc = Scenario.draw(seed, benign, days, campaign_scale)
    sim = Sim(sc, np.random.default_rng([seed, 2]))
    size = benign / 600.0
    for name in hard_negatives:
        NEGATIVES[name](sim, size)
    ordinary(sim, benign)
    for name in campaigns:
        if name in GROUPS:
            GROUPS[name](sim, campaign_scale * max(size, 0.5))
        else:
            lo, hi = SOLO_COUNTS[name]
            SOLO[name](
                sim, max(1, int(round(sim.rng.integers(lo, hi + 1) * campaign_scale * max(size, 0.5))))
            )
    sim.rows.sort(key=lambda r: (r["ts"], r["id"]))
    labels = [{"account": a.name, "label": a.label, "group": a.group, "style": a.style} for a in sim.accounts]
    return sim, labels


def simulate_randomized(
    out_dir: str | Path,
    seed: int = 0,
    benign: int = 600,
    days: int | None = None,
    campaign_scale: float = 1.0,
    fmt: str = "jsonl",
    campaigns: tuple[str, ...] = CAMPAIGN_STYLES,
    hard_negatives: tuple[str, ...] = HARD_NEGATIVES,
) -> RandomizedResult:
    """Write one randomised scenario: ``exchanges.{jsonl,parquet}``, ``labels.jsonl``, ``scenario.json``.

    With evaluation harnesses among the hard negatives, also the public benchmark they run,
    whole, as ``benchmarks/<name>.jsonl`` (``{"question": ...}`` a line; what
    ``distillscope guard benchmarks add`` and ``guard replay --benchmarks`` read).
    """
    import json
    from dataclasses import asdict

    if fmt not in ("jsonl", "parquet"):
        raise ValueError(f"format must be jsonl or parquet, not {fmt!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sim, labels = generate(seed, benign, days, campaign_scale, campaigns, hard_negatives)
    path = out / f"exchanges.{fmt}"
    write_exchanges(sim.rows, path)
    labels_path = out / "labels.jsonl"
    write_jsonl(labels, labels_path)
    scenario_path = out / "scenario.json"
    scenario_path.write_text(json.dumps(asdict(sim.sc), indent=1), encoding="utf-8")
    if "eval_harness" in hard_negatives:
        write_benchmarks(public_benchmarks(seed), out / "benchmarks")
    return RandomizedResult(path, labels_path, scenario_path, len(sim.rows), len(labels), sim.sc)
