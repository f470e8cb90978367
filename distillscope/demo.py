"""The red-team demo: distill your own endpoint through its gateway, and see what leaked and what was caught.

``distillscope demo`` runs, on one machine and offline, every component through
its Python API:

1. serve the teacher (embedded SmolLM2, ``--model DIR``, or ``--teacher-url``
   behind the gateway) with the guard (keys, SQLite log, online risk, policy) and
   a per-account watermark, on a free loopback port;
2. create benign and attacker accounts; benign users send the traffic
   simulator's prompts (for real, slowly, each from its own loopback address),
   while the attacker harvests reasoning-gym problems with several accounts;
3. train two students on what the attacker got (SFT on the text, top-k KD on the
   returned log-probs) and evaluate them against the teacher (fidelity, task
   score) beside an untrained student;
4. read the guard's online scores (admin API), run the offline detector over the
   server's log, test the student for the watermark (reading mode, with control
   keys), and ask the student and the teacher who trained them;
5. write ``report.json`` and ``report.html`` into the run directory.

A stage whose component is missing or fails is recorded as such and its report
section says "not measured"; no number is ever made up. Ctrl-C stops the run,
writes the report of what was measured so far and exits 130. This module must
not re-implement any component: it only wires their public APIs together.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from distillscope.clitools import console, fail
from distillscope.errors import DistillscopeError

#: Price assumed for the harvested tokens (USD per 1M tokens): gpt-4o-mini's list price, so that
#: "dollars" mean what the same harvest would cost against a typical hosted model.
ASSUMED_PRICE = {"input": 0.15, "output": 0.60, "as": "gpt-4o-mini list price"}
BENIGN_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
    "OpenAI/Python 1.40.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
)


class StageUnavailable(DistillscopeError, RuntimeError):
    """A component the stage needs is not there (not built, or its API differs)."""


@dataclass
class DemoSettings:
    """Sizes of a demo run. ``quick`` presets small budgets; explicit values win."""

    out: Path | None = None
    quick: bool = False
    model: str | None = None  # local teacher: embedded SmolLM2 or a HF directory
    teacher_url: str | None = None  # or an OpenAI-compatible teacher behind the gateway
    teacher_model: str | None = None
    teacher_key_env: str | None = None
    attackers: int | None = None
    exchanges: int | None = None  # per attacker account
    benign: int | None = None
    benign_requests: int | None = None  # per benign account
    max_new_tokens: int | None = None
    top_logprobs: int = 5
    train_steps: int | None = None
    eval_prompts: int | None = None
    task: str = "basic_arithmetic"
    task_size: int | None = None
    student_layers: str = "every-other"
    screenshot: Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        preset = (
            {"attackers": 2, "exchanges": 12, "benign": 3, "benign_requests": 3, "max_new_tokens": 48,
             "train_steps": 10, "eval_prompts": 6, "task_size": 6}
            if self.quick
            else {"attackers": 3, "exchanges": 60, "benign": 5, "benign_requests": 8, "max_new_tokens": 96,
                  "train_steps": 80, "eval_prompts": 16, "task_size": 16}
        )  # fmt: skip
        for name, value in preset.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        for name in preset:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be within 0..20")
        if self.teacher_url is not None and not self.teacher_url.startswith(("http://", "https://")):
            raise ValueError("--teacher-url must be an http(s) base URL")
        if self.out is not None:
            self.out = Path(self.out)


@dataclass
class Stage:
    name: str
    status: str = "skipped"
    detail: str = ""
    seconds: float = 0.0


@dataclass
class DemoRun:
    """What the demo measured so far; becomes report.json."""

    settings: DemoSettings
    out: Path
    stages: list[Stage] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    state: dict[str, Any] = field(default_factory=dict)  # hand-offs between stages

    @contextlib.contextmanager
    def stage(self, name: str, label: str) -> Iterator[Stage]:
        stage = Stage(name)
        self.stages.append(stage)
        began = time.monotonic()
        with console.status(f"[bold]{label}[/]"):
            try:
                yield stage
                stage.status = "ok"
            except StageUnavailable as exc:
                stage.status, stage.detail = "not_available", str(exc)
            except KeyboardInterrupt:
                stage.status, stage.detail = "failed", "interrupted (Ctrl-C)"
                raise
            except Exception as exc:  # one stage's failure must not lose the others' evidence
                stage.status, stage.detail = "failed", f"{type(exc).__name__}: {exc}"
            finally:
                stage.seconds = round(time.monotonic() - began, 1)
        mark = {"ok": "[green]ok[/]", "not_available": "[yellow]not available[/]"}.get(
            stage.status, "[red]failed[/]"
        )
        console.print(f"{mark} {label} ({stage.seconds:.0f} s){': ' + stage.detail if stage.detail else ''}")


def _need(module: str, *names: str) -> Any:
    """Import ``module`` and check it has ``names``; say plainly which API is missing."""
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise StageUnavailable(f"{module} is not available ({exc})") from exc
    missing = [n for n in names if not hasattr(mod, n)]
    if missing:
        raise StageUnavailable(f"{module} has no {', '.join(missing)}")
    return mod


# -- stage 1-2: server, accounts, traffic -------------------------------------------------------


def _serve_and_traffic(run: DemoRun) -> None:
    s = run.settings
    runner = _need("distillscope.server.runner", "serve_in_thread", "local_app")
    guard = _need("distillscope.guard.gateway", "GuardGateway")
    keys_mod = _need("distillscope.guard.keys", "KeyStore")
    logstore = _need("distillscope.guard.logstore", "open_log_store")
    policy_mod = _need("distillscope.guard.policy", "PolicyConfig")
    db_url = str(run.out / "guard.db")
    # The key-hashing secret lives only in this process: keys of a demo run die with it.
    keys = keys_mod.KeyStore(db_url, secrets.token_bytes(32))
    gateway = guard.GuardGateway(
        keys, logstore.open_log_store(db_url, create=True), policy_mod.PolicyConfig()
    )
    processors_for, watermark_note = _watermark_hook(run)
    app = _server_app(run, runner, gateway, processors_for)
    admin_key, _ = keys.create_key("demo-admin", admin=True)
    attackers = [f"atk-{i + 1}" for i in range(s.attackers)]
    benign = [f"user-{i + 1}" for i in range(s.benign)]
    issued = {name: keys.create_key(name)[0] for name in attackers + benign}
    run.state.update(db_url=db_url, attackers=attackers, benign=benign, watermark_note=watermark_note)
    with runner.serve_in_thread(app) as base_url:
        run.state["base_url"] = base_url
        console.print(f"gateway on {base_url}: {len(attackers)} attacker and {len(benign)} benign accounts")
        done = threading.Event()
        benign_thread = threading.Thread(
            target=_benign_traffic, args=(run, base_url, {b: issued[b] for b in benign}, done), daemon=True
        )
        benign_thread.start()
        try:
            run.state["harvest"] = _harvest_all(run, base_url, {a: issued[a] for a in attackers})
        finally:
            done.set()  # on Ctrl-C the daemon threads are left to die with the process
        benign_thread.join(timeout=120)
        run.state["online"] = _online_scores(base_url, admin_key)
    run.state["log"] = list(logstore.open_log_store(db_url).iter_exchanges())


def _watermark_hook(run: DemoRun) -> tuple[Callable[[str], list[Any]] | None, str]:
    if run.settings.teacher_url:
        return None, "the teacher is upstream: the gateway cannot watermark what it relays"
    try:
        config_mod = _need("distillscope.watermark.config", "WatermarkConfig")
        processor = _need("distillscope.watermark.processor", "processors_for_account")
    except StageUnavailable as exc:
        return None, str(exc)
    secret = run.out / "watermark.secret"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    config = config_mod.WatermarkConfig(secret_file=str(secret), exempt_accounts=("demo-admin",))
    run.state["watermark_config"] = config
    return (lambda account: processor.processors_for_account(config, account)), "per-account keys"


def _server_app(run: DemoRun, runner: Any, gateway: Any, processors_for: Any) -> Any:
    s = run.settings
    if s.teacher_url is None:
        return runner.local_app(
            s.model, max_batch_size=8, gateway=gateway, logits_processors_for=processors_for
        )
    upstream = _need("distillscope.server.backends.upstream", "UpstreamBackend")
    app_mod = _need("distillscope.server.app", "create_app")
    key = os.environ.get(s.teacher_key_env, "") if s.teacher_key_env else None
    model = s.teacher_model or "default"
    backend = upstream.UpstreamBackend(s.teacher_url, upstream_model=model, api_key=key or None)
    return app_mod.create_app(backend, model_name=model, gateway=gateway)


def _served_model(base_url: str, key: str) -> str:
    import openai

    return openai.OpenAI(base_url=base_url, api_key=key).models.list().data[0].id


def _harvest_all(run: DemoRun, base_url: str, keys: dict[str, str]) -> dict[str, Any]:
    """Each attacker account harvests its own share of the problems, all at once (a distributed campaign)."""
    harvest_run = _need("distillscope.harvest.run", "harvest")
    settings_mod = _need("distillscope.harvest.settings", "HarvestSettings")
    tasks = _need("distillscope.harvest.strategies.tasks", "ReasoningGymStrategy")
    s = run.settings
    model = _served_model(base_url, next(iter(keys.values())))
    prices = run.out / "prices.json"
    prices.write_text(json.dumps({"models": {model: {k: ASSUMED_PRICE[k] for k in ("input", "output")}}}))
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}

    def one(index: int, account: str) -> None:
        env = f"DISTILLSCOPE_DEMO_KEY_{index}"
        os.environ[env] = keys[account]
        try:
            settings = settings_mod.HarvestSettings(
                out_dir=run.out / "harvest" / account,
                strategy=tasks.ReasoningGymStrategy(s.task, s.exchanges, seed=s.seed + index),
                teacher=base_url,
                model=model,
                api_key_env=env,
                max_new_tokens=s.max_new_tokens,
                temperature=0.0,
                top_logprobs=s.top_logprobs,
                concurrency=2,
                max_retries=2,
                backoff_max_s=5.0,
                timeout_s=900.0,  # a busy CPU server can take minutes per batch; a timeout would re-pay
                prices_file=prices,
                terms="red-team exercise against our own endpoint",
                account=account,
                progress=False,
            )
            results[account] = harvest_run.harvest(settings)
        except Exception as exc:  # a blocked or failing account is part of the story, not a crash
            errors[account] = f"{type(exc).__name__}: {exc}"
        finally:
            os.environ.pop(env, None)

    threads = [threading.Thread(target=one, args=(i, a), daemon=True) for i, a in enumerate(keys)]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)  # short joins keep Ctrl-C responsive
    return {"results": results, "errors": errors}


def _benign_prompts(run: DemoRun, count: int) -> list[str]:
    simulate = _need("distillscope.detect.simulate", "simulate_traffic")
    records = _need("distillscope.records", "read_exchanges")
    folder = run.out / "simulated"
    result = simulate.simulate_traffic(folder, benign_users=8, days=1, seed=run.settings.seed, campaigns=(),
                                       hard_negatives=())  # fmt: skip
    prompts = [
        e.last_user_text for e in records.read_exchanges(result.exchanges_path) if e.last_user_text.strip()
    ]
    random.Random(run.settings.seed).shuffle(prompts)
    return [p[:500] for p in prompts[:count]]


def _benign_traffic(run: DemoRun, base_url: str, keys: dict[str, str], done: threading.Event) -> None:
    """Benign users, each from its own loopback address and browser, asking now and then."""
    import httpx
    import openai

    s = run.settings
    try:
        prompts = _benign_prompts(run, len(keys) * int(s.benign_requests))
    except Exception as exc:
        run.state["benign_error"] = f"no simulator prompts ({exc})"
        return
    rng = random.Random(s.seed)
    sent = failed = 0
    clients = {}
    for i, (account, key) in enumerate(keys.items()):
        transport = httpx.HTTPTransport(local_address=f"127.0.1.{i + 10}")
        clients[account] = openai.OpenAI(
            base_url=base_url,
            api_key=key,
            http_client=httpx.Client(transport=transport, timeout=300),
            default_headers={"User-Agent": BENIGN_AGENTS[i % len(BENIGN_AGENTS)]},
            max_retries=0,
        )
    order = [a for a in keys for _ in range(int(s.benign_requests))]
    rng.shuffle(order)
    for account, prompt in zip(order, prompts, strict=False):
        try:
            clients[account].chat.completions.create(
                model="default" if s.teacher_url else _served_model(base_url, keys[account]),
                messages=[{"role": "user", "content": prompt}],
                max_tokens=32,
                temperature=0.7,
            )
            sent += 1
        except openai.APIError:
            failed += 1
        if done.wait(rng.uniform(0.5, 2.0)) and sent >= len(keys):
            break
    run.state["benign_sent"] = {"sent": sent, "failed": failed}


def _online_scores(base_url: str, admin_key: str) -> list[dict[str, Any]]:
    import httpx

    root = base_url.rsplit("/v1", 1)[0]
    for path in ("/admin/accounts", "/v1/admin/accounts"):
        answer = httpx.get(root + path, headers={"Authorization": f"Bearer {admin_key}"}, timeout=60)
        if answer.status_code == 200:
            return list(answer.json().get("data", []))
    raise StageUnavailable(f"the admin API answered {answer.status_code} for /admin/accounts")


# -- sections from the log --------------------------------------------------------------------------


def _harvest_section(run: DemoRun) -> dict[str, Any]:
    records = _need("distillscope.records", "read_exchanges", "write_jsonl")
    harvest = run.state.get("harvest") or {}
    rows, accounts = [], []
    for account in run.state["attackers"]:
        path = run.out / "harvest" / account / "exchanges.jsonl"
        got = records.read_exchanges(path, on_error="skip") if path.exists() else []
        result = harvest.get("results", {}).get(account)
        asked = int(getattr(result, "sent", 0) or 0) + int(getattr(result, "from_cache", 0) or 0)
        failed = int(getattr(result, "failed", 0) or 0)
        stripped = sum(1 for e in got if not e.logprobs)
        accounts.append(
            {
                "account": account,
                "queries": max(asked, len(got) + failed),
                "completion_tokens": sum(e.completion_tokens or 0 for e in got),
                "cost_usd": round(sum(e.cost_usd or 0.0 for e in got), 6),
                "stripped": stripped if run.settings.top_logprobs else 0,
            }
        )
        rows.extend(got)
    if not rows:
        errors = "; ".join(f"{a}: {e}" for a, e in harvest.get("errors", {}).items())
        raise RuntimeError(f"the attacker harvested nothing{': ' + errors if errors else ''}")
    rows.sort(key=lambda e: e.ts)
    merged = run.out / "harvest" / "all" / "exchanges.jsonl"
    records.write_jsonl(rows, merged)
    run.state["dataset"] = merged
    run.state["costs"] = [e.cost_usd or 0.0 for e in rows if e.response_text]
    queries = sum(a["queries"] for a in accounts)
    return {
        "queries": queries,
        "answered": len(rows),
        "failed": queries - len(rows),
        "prompt_tokens": sum(e.prompt_tokens or 0 for e in rows),
        "completion_tokens": sum(e.completion_tokens or 0 for e in rows),
        "cost_usd": round(sum(e.cost_usd or 0.0 for e in rows), 6),
        "price_assumption": f"${ASSUMED_PRICE['input']}/${ASSUMED_PRICE['output']} per 1M tokens "
        f"({ASSUMED_PRICE['as']})",
        "top_logprobs": run.settings.top_logprobs or None,
        "strategy": f"reasoning-gym {run.settings.task}, split over {len(accounts)} accounts",
        "accounts": accounts,
        "examples": [{"prompt": e.last_user_text, "response": e.response_text or ""} for e in rows[:3]],
    }


def _guard_section(run: DemoRun) -> dict[str, Any]:
    roles = {a: "attacker" for a in run.state["attackers"]} | {b: "benign" for b in run.state["benign"]}
    log = [e for e in run.state.get("log", []) if e.account in roles]
    online = {row["account"]: row for row in run.state.get("online", [])}
    timeline, first_flag, actions, counts = [], {}, {}, {}
    for e in sorted(log, key=lambda e: e.ts):
        decision = e.extra.get("decision") or "allow"
        score = e.extra.get("risk_score")
        counts[e.account] = counts.get(e.account, 0) + 1
        if score is not None:
            timeline.append({"ts": e.ts, "account": e.account, "score": float(score), "action": decision})
        if decision != "allow":
            first_flag.setdefault(e.account, e.ts)
            actions.setdefault(e.account, {}).setdefault(decision, 0)
            actions[e.account][decision] += 1
    accounts = []
    for name, role in roles.items():
        row = online.get(name, {})
        taken = actions.get(name, {})
        accounts.append(
            {
                "account": name,
                "role": role,
                "queries": counts.get(name, 0),
                "score": row.get("score"),
                "flagged": name in first_flag,
                "action": ", ".join(f"{k} ×{v}" for k, v in taken.items()) or None,
                "first_flagged_ts": first_flag.get(name),
                "reasons": list(row.get("reasons") or []),
            }
        )
    policy = _need("distillscope.guard.policy", "RiskActions").RiskActions()
    return {"threshold": policy.throttle, "accounts": accounts, "timeline": timeline}


def _offline_detection(run: DemoRun, guard: dict[str, Any]) -> None:
    detect = _need("distillscope.detect.run", "run_detection")
    records = _need("distillscope.records", "write_jsonl")
    roles = {a: "attacker" for a in run.state["attackers"]} | {b: "benign" for b in run.state["benign"]}
    log_path = run.out / "server-log.jsonl"
    records.write_jsonl([e for e in run.state.get("log", []) if e.account in roles], log_path)
    result = detect.run_detection(log_path, run.out / "detect")
    guard["offline"] = {
        "engine": result.engine,
        "accounts": [
            {
                **{k: a.get(k) for k in ("account", "score", "flagged", "campaign", "reasons")},
                "role": roles.get(a["account"]),
            }
            for a in result.accounts
        ],  # fmt: skip
        "campaigns": [
            {
                "campaign": c.get("campaign"),
                "accounts": c.get("accounts", []),
                "evidence": c.get("evidence", {}),
            }
            for c in result.campaigns
        ],
    }


# -- stage 3: students ----------------------------------------------------------------------------


def _train(run: DemoRun, method: str, limit: int | None = None) -> Path:
    train = _need("distillscope.train", "train_student", "TrainSettings")
    s = run.settings
    settings = train.TrainSettings(
        dataset=run.state["dataset"],
        out=run.out / "students" / (method if limit is None else f"{method}-first{limit}"),
        method=method,
        limit=limit,
        teacher=s.model or "smollm2-135m-instruct",
        student_layers=s.student_layers,
        max_steps=int(s.train_steps),
        batch_size=4,
        max_seq_len=192,
        learning_rate=1e-4,
        save_every=max(int(s.train_steps), 1),
        seed=s.seed,
        progress=False,
    )
    return Path(train.train_student(settings))


def _evaluate(run: DemoRun, student: Any) -> dict[str, Any]:
    evaluate = _need("distillscope.evaluate", "evaluate_student")
    s = run.settings
    if "teacher" not in run.state:
        teachers = _need("distillscope.evaluate.teachers", "make_teacher")
        if s.teacher_url:
            key = os.environ.get(s.teacher_key_env, "") if s.teacher_key_env else None
            run.state["teacher"] = teachers.make_teacher(s.teacher_url, key, s.teacher_model)
        else:
            run.state["teacher"] = teachers.make_teacher(s.model or "smollm2-135m-instruct")
    return evaluate.evaluate_student(
        student,
        teacher=run.state["teacher"],
        n=int(s.eval_prompts),
        max_new_tokens=min(int(s.max_new_tokens), 48),
        tasks=(s.task,),
        task_size=int(s.task_size),
        identity=False,
        dataset=run.state["dataset"],
        reference_cache=run.out / "eval" / "teacher_reference.json",
    )


def _student_point(method: str, queries: int, cost: float, scores: dict[str, Any]) -> dict[str, Any]:
    task = (scores.get("tasks") or {}).get("student") or {}
    return {
        "method": method,
        "queries": queries,
        "cost_usd": cost,
        "task_score": task.get("accuracy"),
        "agreement": (scores.get("fidelity") or {}).get("agreement"),
    }


def _students(run: DemoRun) -> None:
    models = _need("distillscope.models", "load_model", "build_student")
    harvest = run.sections["harvest"]
    queries, cost = harvest["answered"], harvest["cost_usd"]
    teacher, tokenizer = models.load_model(run.settings.model)
    untrained = models.build_student(teacher, run.settings.student_layers)
    del teacher
    base = _evaluate(run, (untrained, tokenizer))
    del untrained
    teacher_task = ((base.get("tasks") or {}).get("teacher") or {}).get("accuracy")
    methods: list[dict[str, Any]] = []
    curve: list[dict[str, Any]] = []
    errors: list[str] = []
    methods.append(_method_row("untrained", base))
    for method in ("sft", "topk-kd") if run.settings.top_logprobs else ("sft",):
        try:
            path = _train(run, method)
            scores = _evaluate(run, path)
        except StageUnavailable:
            raise
        except Exception as exc:  # e.g. top-k KD with every log-prob stripped by the guard
            errors.append(f"{method}: {type(exc).__name__}: {exc}")
            continue
        run.state.setdefault("students", {})[method] = path
        methods.append(_method_row(method, scores))
        # The untrained student is every method's starting point (0 queries).
        curve += [_student_point(method, 0, 0.0, base), _student_point(method, queries, cost, scores)]
        if not run.settings.quick and queries >= 8:
            half = queries // 2  # a middle point: the same training on the first half of the harvest
            costs = run.state.get("costs") or []
            half_scores = _evaluate(run, _train(run, method, limit=half))
            curve.append(_student_point(method, half, round(sum(costs[:half]), 6), half_scores))
    run.sections["student"] = {
        "task": {"name": run.settings.task, "n": int(run.settings.task_size)},
        "teacher_task_score": teacher_task,
        "methods": methods,
        "retention_curve": curve,
        "errors": errors,
    }
    if len(methods) == 1:
        raise RuntimeError("; ".join(errors))


def _method_row(method: str, scores: dict[str, Any]) -> dict[str, Any]:
    fidelity = scores.get("fidelity") or {}
    task = (scores.get("tasks") or {}).get("student") or {}
    keep = ("agreement", "kl", "student_ce", "exact_match")
    return {
        "method": method,
        "task_score": task.get("accuracy"),
        "fidelity": {k: fidelity.get(k) for k in keep if isinstance(fidelity.get(k), int | float)},
    }


# -- stage 4: watermark, identity ------------------------------------------------------------------


def _reading_documents(run: DemoRun, config: Any, texts: Any) -> tuple[list[Any], str]:
    """What the suspect reads: the harvested answers themselves where fresh seeds make that valid."""
    dataset = run.state.get("dataset")
    if config.seeding_scheme == "lefthash" and dataset is not None and Path(dataset).exists():
        # Only first occurrences of each watermark window are scored (reading_mode's default for
        # lefthash), so reading the watermarked answers the attackers trained on is a valid test.
        return texts.read_documents(dataset).documents, "the harvested answers (fresh seeds)"
    # Otherwise reading texts must not carry the watermark: the teacher's in-process
    # (unwatermarked) reference answers and the packaged neutral prompts.
    documents = [
        texts.Document(id=f"prompt-{i}", text=p[0]["content"]) for i, p in enumerate(texts.default_prompts())
    ]
    reference = run.out / "eval" / "teacher_reference.json"
    if reference.exists():
        stored = json.loads(reference.read_text(encoding="utf-8"))
        documents += [
            texts.Document(id=f"teacher-{i}", text=c["text"])
            for i, c in enumerate(stored.get("continuations", []))
        ]
    return documents, "unwatermarked teacher answers and prompts"


def _radioactivity(run: DemoRun) -> dict[str, Any]:
    config = run.state.get("watermark_config")
    if config is None:
        raise StageUnavailable(run.state.get("watermark_note") or "the watermark was not enabled")
    radio = _need("distillscope.watermark.radioactivity", "reading_mode")
    texts = _need("distillscope.watermark.texts", "Document", "default_prompts", "read_documents")
    models = _need("distillscope.models", "load_model")
    students = run.state.get("students") or {}
    method = "sft" if "sft" in students else next(iter(students), None)
    if method is None:
        raise StageUnavailable("no trained student to test")
    model, tokenizer = models.load_model(students[method])
    documents, reading = _reading_documents(run, config, texts)
    accounts = run.state["attackers"] + run.state["benign"]
    report = radio.reading_mode(
        model,
        tokenizer,
        documents,
        config,
        accounts,
        vocab_size=int(config.vocab_size or model.config.vocab_size),
        controls=5,
        suspect=f"student ({method})",
    )
    roles = {a: "attacker" for a in run.state["attackers"]} | {b: "benign" for b in run.state["benign"]}
    rows = [
        {
            "account": score.name,
            "role": roles.get(score.name),
            "p_value": score.p_adjusted,
            "z": score.test.z_score,
            "tokens_scored": score.test.scored,
        }
        for score in report.accounts
    ]
    controls = [c for c in report.controls if c.test.p_value is not None]
    strongest = min(controls, key=lambda c: c.test.p_value, default=None)
    return {
        "enabled": True,
        "alpha": report.alpha,
        "suspect": f"student trained with {method} on the attacker's harvest",
        "method": f"reading mode on {reading}, exact binomial test, Holm-adjusted across accounts",
        "accounts": rows,
        "overall_p_value": report.overall_p,
        "negative_control": {
            "model": f"the same student, {len(report.controls)} keys no account used (smallest p shown)",
            "p_value": strongest.test.p_value if strongest else None,
            "tokens_scored": strongest.test.scored if strongest else None,
        },
        "invalid_keys": report.invalid_keys,
    }


def _identity(run: DemoRun) -> dict[str, Any]:
    from distillscope.probe.endpoint import Endpoint
    from distillscope.probe.identity import DEFAULT_WATCH_NAMES, probe_identity

    runner = _need("distillscope.server.runner", "serve_local")
    students = run.state.get("students") or {}
    probes = []
    questions = ["Who are you?", "Which company trained you?", "What model are you, exactly?"]
    targets = [(f"student ({m})", p) for m, p in students.items()]
    if not run.settings.teacher_url:
        targets.append(("teacher", run.settings.model))
    if not targets:
        raise StageUnavailable("no student was trained")
    for label, path in targets:
        with runner.serve_local(path) as url:
            result = probe_identity(
                Endpoint(url, timeout=600), questions=questions, label=label, max_tokens=40
            )
        probes += [{"model": a.model, "question": a.question, "answer": a.answer, "hits": a.hits}
                   for a in result.answers]  # fmt: skip
    return {"watch_names": list(DEFAULT_WATCH_NAMES), "probes": probes}


def _share(run: DemoRun) -> None:
    export = _need("distillscope.share.export", "build_bundle", "read_detection", "write_bundle")
    salt = secrets.token_bytes(24)  # a demo salt: a real one is agreed with the peer out of band
    campaigns = export.read_detection(run.out / "detect")
    members = {a for c in campaigns for a in c.accounts}
    rows = [e for e in run.state.get("log", []) if e.account in members]
    bundle = export.build_bundle(campaigns, rows, salt, producer="distillscope demo")
    export.write_bundle(bundle, run.out / "indicators.stix.json")


# -- the whole run ---------------------------------------------------------------------------------


def _report_json(run: DemoRun) -> dict[str, Any]:
    s = run.settings
    data: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run": {
            "id": run.out.name,
            "mode": "quick" if s.quick else "full",
            "teacher": s.teacher_url or s.model or "smollm2-135m-instruct (embedded)",
            "student": f"layer subset ({s.student_layers}) of the teacher",
            "duration_s": round(time.time() - run.started, 1),
            "stages": [st.__dict__ for st in run.stages],
        },
    }
    names = {"harvest": "harvest", "student": "students", "guard": "guard", "watermark": "watermark",
             "identity": "identity"}  # fmt: skip
    for section, stage_name in names.items():
        if section in run.sections:
            data[section] = run.sections[section]
        else:
            stage = next((st for st in run.stages if st.name == stage_name), None)
            reason = f"{stage.status}: {stage.detail}" if stage and stage.detail else "the stage did not run"
            data[section] = {"not_measured": reason}
    data["probes"] = {"not_measured": "hidden-size and equality probes are run with `distillscope probe`"}
    return data


def run_demo(settings: DemoSettings) -> Path:
    """Run the whole exercise; return the run directory (report.json and report.html inside)."""
    out = settings.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    run = DemoRun(settings, out.resolve())
    try:
        _stages(run)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: writing the report of what was measured so far[/]")
        _finish(run)
        raise
    return _finish(run)


def _stages(run: DemoRun) -> None:
    with run.stage("serve", "serving the teacher behind the guard; benign users and the attacker at work"):
        _serve_and_traffic(run)
    if "log" not in run.state:
        return
    with run.stage("harvest", "counting what the attacker harvested"):
        run.sections["harvest"] = _harvest_section(run)
    with run.stage("guard", "reading the guard's online scores"):
        run.sections["guard"] = _guard_section(run)
    with run.stage("detect", "running the offline campaign detector over the server log"):
        _offline_detection(run, run.sections["guard"])
    if "dataset" in run.state:
        with run.stage("students", "training and evaluating students on the harvest"):
            _students(run)
    with run.stage("watermark", "testing the student for the watermark (radioactivity)"):
        run.sections["watermark"] = _radioactivity(run)
    with run.stage("identity", "asking the student and the teacher who trained them"):
        run.sections["identity"] = _identity(run)
    if (run.out / "detect" / "campaigns.jsonl").exists():
        with run.stage("share", "exporting the campaign as STIX indicators (no prompt text)"):
            _share(run)


def _finish(run: DemoRun) -> Path:
    from distillscope.report.build import build_report
    from distillscope.report.schema import write_report_json

    write_report_json(_report_json(run), run.out / "report.json")
    html = build_report(run.out)
    if run.settings.screenshot is not None:
        from distillscope.report.browser import BrowserError, visit

        try:
            run.settings.screenshot.parent.mkdir(parents=True, exist_ok=True)
            run.settings.screenshot.write_bytes(visit(html).screenshot or b"")
        except BrowserError as exc:
            console.print(f"[yellow]no screenshot: {exc}[/]")
    for leftover in ("watermark.secret",):
        with contextlib.suppress(FileNotFoundError):
            (run.out / leftover).unlink()
    shutil.rmtree(run.out / "simulated", ignore_errors=True)
    return run.out


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def demo_command(
    quick: bool = typer.Option(False, "--quick", help="Tiny budgets: a few minutes on 2 cores."),
    out: Path | None = typer.Option(None, "--out", help="Run directory (default: runs/<timestamp>)."),
    model: str | None = typer.Option(
        None, "--model", help="Local teacher: embedded SmolLM2 or a HF directory."
    ),
    teacher_url: str | None = typer.Option(
        None, "--teacher-url", help="Put an OpenAI-compatible teacher behind the gateway instead."
    ),
    teacher_model: str | None = typer.Option(None, "--teacher-model", help="Model id at --teacher-url."),
    teacher_key_env: str | None = typer.Option(None, "--teacher-key-env", help="Env var with its API key."),
    attackers: int | None = typer.Option(None, help="Attacker accounts."),
    exchanges: int | None = typer.Option(None, "--exchanges", help="Queries per attacker account."),
    benign: int | None = typer.Option(None, help="Benign accounts."),
    train_steps: int | None = typer.Option(None, help="Training steps per student."),
    eval_prompts: int | None = typer.Option(None, help="Held-out prompts for fidelity."),
    task_size: int | None = typer.Option(None, help="reasoning-gym items for the task score."),
    max_new_tokens: int | None = typer.Option(None, help="Tokens per harvested answer."),
    top_logprobs: int = typer.Option(5, help="top_logprobs the attacker asks for (0: text only)."),
    screenshot: Path | None = typer.Option(None, help="Also save a PNG of the report (needs chromium)."),
) -> None:
    """Red-team exercise: distill your own endpoint through the gateway; write report.html + report.json."""
    try:
        settings = DemoSettings(
            out=out, quick=quick, model=model, teacher_url=teacher_url, teacher_model=teacher_model,
            teacher_key_env=teacher_key_env, attackers=attackers, exchanges=exchanges, benign=benign,
            train_steps=train_steps, eval_prompts=eval_prompts, task_size=task_size,
            max_new_tokens=max_new_tokens, top_logprobs=top_logprobs, screenshot=screenshot,
        )  # fmt: skip
    except ValueError as exc:
        fail(str(exc))
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a polite kill ends like Ctrl-C
    try:
        folder = run_demo(settings)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(f"[bold green]report:[/] {folder / 'report.html'}")
    typer.echo(str(folder / "report.html"))


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
