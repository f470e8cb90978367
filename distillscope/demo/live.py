"""The live window: the teacher behind the real gateway, the attackers harvesting, benign users at work.

The server is the project's own (``distillscope.server``) with the guard as its
gateway: API keys, the exchange log that already holds the world's history (the
guard warms its online risk scores up from it at start-up), the default policy,
and a watermark keyed per account on every answer. Every live request is a real
HTTP request with the official ``openai`` client and its own API key, sent with
the ``X-Forwarded-For`` and ``User-Agent`` the account used in its history (as a
load balancer in front of the gateway would pass them on).

- the solo heavy extractor and a few hydra accounts harvest disjoint slices of a
  reasoning-gym task with the sampling parameters of their own history (the
  extractor asking for ``top_logprobs`` as well), interleaved with prompts of the
  kinds each account's own log shows (its "playbook": an extractor enumerates many
  prompt generators, not one task); an account that gets a 403 stops (its access
  was suspended), a 429 waits as told;
- the benign accounts chosen to go live send their own next requests from the
  simulated log, with their own gaps (answers capped to the run's token budget).

What each attacker got (the answer text, its log-probs when the gateway returned
them) is the attacker's dataset, written in the harvest format. This module must
not score, detect or train anything; it only runs the traffic and writes down
what happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.demo.settings import ASSUMED_PRICE, TASK, TASK_CONFIG, DemoSettings
from distillscope.demo.world import World

ADMIN = "demo-admin"
COT_REQUEST = (
    "Solve the following problem. Show your full reasoning step by step before the final answer.\n\n"
)
#: Seconds of the live window within which the benign accounts' next requests are sent.
BENIGN_WINDOW_S = 45.0
BENIGN_REQUESTS_PER_ACCOUNT = 3


@dataclass
class Sent:
    """One live request and what came back."""

    account: str
    role: str
    started: float
    seconds: float
    status: int  # HTTP status (200, 403, 429, ...)
    asked_logprobs: bool
    got_logprobs: bool
    completion_tokens: int = 0


@dataclass
class LiveResult:
    """What happened in the live window."""

    base_url: str
    model: str
    started: float
    ended: float
    sent: list[Sent] = field(default_factory=list)
    online: list[dict[str, Any]] = field(default_factory=list)  # /admin/accounts at the end
    dataset: Path | None = None  # the attackers' harvest (harvest format)
    harvested: list[Any] = field(default_factory=list)  # Exchange records of that harvest
    errors: list[str] = field(default_factory=list)
    watermark: Any = None  # the WatermarkSettings the server used (None: no watermark)
    watermark_note: str = ""
    task_seed: int = 0


def task_message(question: str) -> list[dict[str, Any]]:
    """The attackers' prompt for one task item: a reasoning trace, then a checkable final answer.

    The phrasing is the one the simulator's hydra uses for problems; the last line is the
    evaluation's own instruction, so the dataset's checker can score every answer.
    """
    from distillscope.evaluate.tasks import INSTRUCTION

    return [{"role": "user", "content": COT_REQUEST + question + INSTRUCTION}]


def task_prompts(count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` items of the demo's task (question, answer, messages) for the harvest."""
    import reasoning_gym

    dataset = reasoning_gym.create_dataset(TASK, size=count, seed=seed, **TASK_CONFIG)
    return [
        {
            "index": i,
            "question": dataset[i]["question"],
            "answer": dataset[i]["answer"],
            "messages": task_message(dataset[i]["question"]),
        }
        for i in range(count)
    ]


def playbook_items(world: World, account: str, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` prompts of the kinds ``account`` sent in its log, as harvest items (no task answer)."""
    return [
        {"index": None, "question": None, "answer": None, "messages": messages, "playbook": True}
        for messages in world.playbook(account, count, seed)
    ]


def interleave(first: list[Any], second: list[Any]) -> list[Any]:
    """``first`` and ``second`` alternated (the longer one's rest at the end)."""
    out: list[Any] = []
    for i in range(max(len(first), len(second))):
        out += first[i : i + 1] + second[i : i + 1]
    return out


def _watermark(settings: DemoSettings, out: Path) -> tuple[Any, str, Path | None]:
    """A per-account watermark config with a fresh master secret (the run deletes it when it ends)."""
    if settings.teacher_url:
        return None, "the teacher is upstream: the gateway cannot watermark what it relays", None
    from distillscope.watermark.config import WatermarkSettings

    secret = out / "watermark.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    config = WatermarkSettings(secret_file=str(secret), exempt_accounts=(ADMIN,))
    return config, "per-account keys (HMAC of a master secret and the account)", secret


def _serve_settings(settings: DemoSettings, watermark: Any) -> Any:
    """What the demo's gateway fronts, as ``distillscope serve`` options would say it."""
    from distillscope.serving import ServeSettings

    upstream = settings.teacher_url
    return ServeSettings(
        model=(settings.teacher_model or "default") if upstream else settings.model,
        upstream=upstream,
        upstream_key_env=settings.teacher_key_env or "",  # "" reads no key
        port=0,
        max_batch_size=8,
        threads=settings.threads,
        watermark=None if upstream else watermark,
    )


@contextlib.contextmanager
def serve(settings: DemoSettings, out: Path, db_url: str) -> Iterator[tuple[str, Any, str]]:
    """The teacher behind the guard on a free loopback port: (base_url, keys, admin_key).

    The guard warms its risk scores up from the log as it does at any restart (its default
    number of most recent exchanges)."""
    from distillscope.guard.gateway import GuardGateway
    from distillscope.guard.keys import KeyStore
    from distillscope.guard.logstore import open_log_store
    from distillscope.guard.policy import PolicySettings
    from distillscope.serving import serve as serve_app

    # The key-hashing secret lives only in this process: the keys of a demo run die with it.
    keys = KeyStore(db_url, secrets.token_bytes(32))
    gateway = GuardGateway(
        keys,
        open_log_store(db_url, create=True),
        PolicySettings(),
    )
    watermark, note, _ = _watermark(settings, out)
    admin_key, _ = keys.create_key(ADMIN, admin=True)
    served = _serve_settings(settings, watermark)
    with serve_app(served, gateway=gateway, startup_timeout=600) as base_url:
        yield base_url, (keys, watermark, note), admin_key


def _client(base_url: str, key: str) -> Any:
    import httpx
    import openai

    return openai.OpenAI(base_url=base_url, api_key=key, http_client=httpx.Client(timeout=900), max_retries=0)


def _headers(ips: list[str], agent: str | None, rng: random.Random) -> dict[str, str]:
    headers = {}
    if ips:
        headers["X-Forwarded-For"] = rng.choice(ips)  # a proxy pool rotates; a single IP stays
    if agent:
        headers["User-Agent"] = agent
    return headers


class _Recorder:
    """Thread-safe list of what was sent and what the attackers kept."""

    def __init__(self, planned: int = 0, progress: Callable[[str], None] | None = None) -> None:
        self.lock = threading.Lock()
        self.sent: list[Sent] = []
        self.kept: list[Any] = []
        self.errors: list[str] = []
        self.planned = planned  # the attackers' planned requests
        self.progress = progress

    def add(self, sent: Sent, kept: Any = None) -> None:
        with self.lock:
            self.sent.append(sent)
            if kept is not None:
                self.kept.append(kept)
            attackers = sum(1 for s in self.sent if s.role == "attacker")
            benign = len(self.sent) - attackers
            note = f"attackers {attackers}/{self.planned} sent, {len(self.kept)} answered; benign {benign}"
        if self.progress is not None:
            self.progress(note)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def _ask(
    client: Any,
    model: str,
    messages: list[dict[str, Any]],
    params: dict[str, Any],
    headers: dict[str, str],
) -> tuple[int, Any, float]:
    """One chat request; (status, completion or None, seconds). 429s are retried as the server says."""
    import openai

    for _ in range(4):
        began = time.monotonic()
        try:
            answer = client.chat.completions.create(
                model=model, messages=messages, extra_headers=headers, **params
            )
            return 200, answer, time.monotonic() - began
        except openai.RateLimitError as exc:
            wait = float(exc.response.headers.get("retry-after", "1") or 1)
            time.sleep(min(wait, 10.0))
        except openai.APIStatusError as exc:
            return exc.status_code, None, time.monotonic() - began
        except openai.APITimeoutError:  # a saturated machine: the request failed, the worker goes on
            return 504, None, time.monotonic() - began
    return 429, None, time.monotonic() - began


def _harvest_record(
    account: str, item: dict[str, Any], params: dict[str, Any], answer: Any, base_url: str, seed: int
) -> Any:
    from distillscope.records import Exchange

    choice = answer.choices[0]
    usage = answer.usage
    content = choice.logprobs.content if choice.logprobs and choice.logprobs.content else None
    logprobs = [c.model_dump() for c in content] if content else None
    prompt_tokens = usage.prompt_tokens if usage else 0
    completion_tokens = usage.completion_tokens if usage else 0
    cost = (prompt_tokens * ASSUMED_PRICE["input"] + completion_tokens * ASSUMED_PRICE["output"]) / 1e6
    if item.get("playbook"):
        strategy, meta = "the account's own playbook (prompts of the kinds its log shows)", {"playbook": True}
    else:
        strategy = f"reasoning-gym {TASK} (live harvest)"
        meta = {"task": TASK, "seed": seed, "index": item["index"], "question": item["question"],
                "answer": item["answer"]}  # fmt: skip
    return Exchange(
        id=answer.id,
        ts=time.time(),
        account=account,
        messages=item["messages"],
        model=answer.model,
        endpoint="/v1/chat/completions",
        params=dict(params),
        response_text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        status=200,
        logprobs=logprobs,
        usage=usage.model_dump() if usage else None,
        cost_usd=round(cost, 10),
        provenance={
            "teacher": "demo gateway",
            "base_url": base_url,
            "strategy": strategy,
            "query_meta": meta,
        },
    )


def _attacker(
    run: dict[str, Any], account: str, items: list[dict[str, Any]], params: dict[str, Any], workers: int
) -> None:
    """One attacker account harvesting its slice with ``workers`` requests in flight; stops on a 403."""
    world: World = run["world"]
    recorder: _Recorder = run["recorder"]
    client = _client(run["base_url"], run["keys"][account])
    ips, agent = world.infrastructure(account)
    rng = random.Random(f"{account}-{run['seed']}")
    queue = list(items)
    lock = threading.Lock()
    suspended = threading.Event()

    def work() -> None:
        while not suspended.is_set():
            with lock:
                if not queue:
                    return
                item = queue.pop(0)
                headers = _headers(ips, agent, rng)
            started = time.time()
            status, answer, seconds = _ask(client, run["model"], item["messages"], params, headers)
            asked = bool(params.get("logprobs"))
            if answer is None:
                recorder.add(Sent(account, "attacker", started, seconds, status, asked, False))
                if status == 403:
                    suspended.set()
                continue
            record = _harvest_record(account, item, params, answer, run["base_url"], run["task_seed"])
            sent = Sent(account, "attacker", started, seconds, 200, asked, bool(record.logprobs),
                        record.completion_tokens or 0)  # fmt: skip
            recorder.add(sent, record)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _benign(run: dict[str, Any], account: str) -> None:
    """A benign account sends its own next requests from the simulated log, with their own gaps."""
    world: World = run["world"]
    recorder: _Recorder = run["recorder"]
    settings: DemoSettings = run["settings"]
    upcoming = world.future.get(account, [])[:BENIGN_REQUESTS_PER_ACCOUNT]
    if not upcoming:
        return
    client = _client(run["base_url"], run["keys"][account])
    rng = random.Random(f"{account}-{run['seed']}")
    first = upcoming[0].ts
    began = time.monotonic() + rng.uniform(0.0, 5.0)
    for e in upcoming:
        offset = e.ts - first
        if offset > BENIGN_WINDOW_S or run["stop"].is_set():
            break
        with contextlib.suppress(ValueError):
            time.sleep(max(0.0, began + offset - time.monotonic()))
        params = {
            k: v
            for k, v in e.params.items()
            if k in ("temperature", "top_p", "logprobs", "top_logprobs", "seed", "stop")
        }
        params["max_tokens"] = min(int(e.params.get("max_tokens") or 10**6), int(settings.max_new_tokens))
        headers = {"X-Forwarded-For": e.ip} if e.ip else {}
        if e.user_agent:
            headers["User-Agent"] = e.user_agent
        messages = e.messages or [{"role": "user", "content": e.prompt or ""}]
        started = time.time()
        status, answer, seconds = _ask(client, run["model"], messages, params, headers)
        asked = bool(params.get("logprobs"))
        got = bool(answer is not None and answer.choices and answer.choices[0].logprobs)
        tokens = answer.usage.completion_tokens if answer is not None and answer.usage else 0
        recorder.add(Sent(account, "benign", started, seconds, status, asked, got, tokens))


def _threads(targets: list[Callable[[], None]]) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)  # short joins keep Ctrl-C responsive


def online_scores(base_url: str, admin_key: str) -> list[dict[str, Any]]:
    """Every account's online risk score and reasons, from the guard's admin API."""
    import httpx

    root = base_url.rsplit("/v1", 1)[0]
    answer = httpx.get(root + "/admin/accounts", headers={"Authorization": f"Bearer {admin_key}"}, timeout=60)
    answer.raise_for_status()
    return list(answer.json().get("data", []))


def run_live(
    settings: DemoSettings,
    world: World,
    out: Path,
    db_url: str,
    progress: Callable[[str], None] | None = None,
) -> LiveResult:
    """Serve, run the live traffic, read the online scores; write the attackers' dataset.

    ``progress`` is told how far the live traffic is after every request."""
    from distillscope.records import write_jsonl

    task_seed = settings.seed + 1000
    hydra = list(world.hydra_live)
    extractor = world.extractor
    per_hydra = int(settings.hydra_queries)
    total = (int(settings.extractor_queries) if extractor else 0) + per_hydra * len(hydra)
    items = task_prompts(total, task_seed)
    live_accounts = ([extractor] if extractor else []) + hydra + list(world.benign_live)
    with serve(settings, out, db_url) as (base_url, (keys, watermark, note), admin_key):
        issued = {a: _key(keys, a, world) for a in live_accounts}
        model = _served_model(base_url, admin_key)
        recorder = _Recorder(total, progress)
        run = {"world": world, "recorder": recorder, "base_url": base_url, "keys": issued, "model": model,
               "seed": settings.seed, "task_seed": task_seed, "settings": settings,
               "stop": threading.Event()}  # fmt: skip
        jobs: list[Callable[[], None]] = []
        cursor = 0
        if extractor:
            share = items[: int(settings.extractor_queries)]
            cursor = len(share)
            more = playbook_items(world, extractor, int(settings.extractor_playbook), settings.seed)
            share = interleave(share, more)
            recorder.planned += len(more)
            params = _harvest_params(settings, world, extractor, logprobs=True)
            jobs.append(lambda: _attacker(run, extractor, share, params, workers=4))
        for i, account in enumerate(hydra):
            share_h = items[cursor + i * per_hydra : cursor + (i + 1) * per_hydra]
            more_h = playbook_items(world, account, int(settings.hydra_playbook), settings.seed)
            share_h = interleave(share_h, more_h)
            recorder.planned += len(more_h)
            params_h = _harvest_params(settings, world, account, logprobs=False)
            jobs.append(lambda a=account, s=share_h, p=params_h: _attacker(run, a, s, p, workers=4))
        jobs += [lambda a=account: _benign(run, a) for account in world.benign_live]
        started = time.time()
        try:
            _join(_threads(jobs))
        finally:
            run["stop"].set()
        ended = time.time()
        scores = online_scores(base_url, admin_key)
    result = LiveResult(base_url, model, started, ended, recorder.sent, scores, errors=recorder.errors,
                        watermark=watermark, watermark_note=note, task_seed=task_seed)  # fmt: skip
    result.harvested = sorted(recorder.kept, key=lambda e: e.ts)
    if result.harvested:
        result.dataset = out / "harvest" / "exchanges.jsonl"
        write_jsonl(result.harvested, result.dataset)
    (out / "live.json").write_text(json.dumps([s.__dict__ for s in recorder.sent]), encoding="utf-8")
    return result


def _harvest_params(settings: DemoSettings, world: World, account: str, logprobs: bool) -> dict[str, Any]:
    """An attacker's request parameters: the sampling of its own history (greedy if it has none),
    answers capped at the run's token budget; the extractor also asks ``top_logprobs``."""
    params: dict[str, Any] = {"temperature": 0.0, **world.sampling(account)}
    params["max_tokens"] = int(settings.max_new_tokens)
    if logprobs and settings.top_logprobs:
        params.update(logprobs=True, top_logprobs=int(settings.top_logprobs))
    return params


def _key(keys: Any, account: str, world: World) -> str:
    """An API key for ``account`` carrying the organisation and payment id its history shows."""
    org, payment = world.metadata(account)
    try:
        return keys.create_key(account, org=org, payment_id=payment)[0]
    except TypeError:  # a key store without account metadata
        return keys.create_key(account)[0]


def _served_model(base_url: str, key: str) -> str:
    import openai

    return openai.OpenAI(base_url=base_url, api_key=key).models.list().data[0].id
