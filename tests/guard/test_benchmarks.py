"""Registered public benchmarks: the CLI, bad input, the online score, replay and a restarted server.

The CLI runs as a user runs it (typer's runner, and a subprocess for replay); the
gateway is a real server on loopback in front of the wire-format test server,
driven by the official openai client, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.guard import benchmarks as bm
from distillscope.guard.benchmarks import BenchmarkError, BenchmarkStore, read_benchmark
from distillscope.guard.logstore import open_log_store
from distillscope.guard.online import assess
from distillscope.guard.policy import PolicyEngine, PolicySettings
from distillscope.guard.risk import RiskTracker, request_features
from distillscope.records import write_jsonl
from distillscope.testing.wire_server import WireServer

from .stack import guard_gateway, relay

MODEL = "wire-model"
RUNNER = CliRunner()
COT = " Let's think step by step."
SUBJECTS = [
    "alder",
    "birch",
    "cedar",
    "dahlia",
    "elm",
    "fern",
    "gorse",
    "hazel",
    "iris",
    "juniper",
    "kelp",
    "larch",
    "maple",
    "nettle",
    "oak",
]
VERBS = [
    "explain",
    "compare",
    "describe",
    "derive",
    "summarise",
    "contrast",
    "outline",
    "justify",
    "estimate",
    "classify",
]


def _items(n: int, tag: str = "bench") -> list[str]:
    return [
        f"Question {i} ({tag}): which of {SUBJECTS[i % 15]} and {SUBJECTS[(i * 7) % 15]} grows faster?"
        for i in range(n)
    ]


def _new_question(i: int) -> str:
    """Varied new questions (their openings differ), as a harvest asks."""
    return f"{VERBS[i % 10]} {SUBJECTS[(i * 3) % 15]} {SUBJECTS[(i * 11) % 15]} number {i} in detail" + COT


def _chat(text: str, **params: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **params}


def _write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _cli(*args: str) -> Any:
    return RUNNER.invoke(app, list(args))


def _listed(db: str) -> list[dict[str, Any]]:
    result = _cli("guard", "benchmarks", "list", "--db", db, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# -- reading and keying ----------------------------------------------------------------------


def test_every_form_keys_a_question_as_a_live_request_with_reasoning_asked(tmp_path: Path) -> None:
    items = _items(4)
    plain = read_benchmark(_write(tmp_path / "plain.txt", "\n".join(items) + "\n\n"), "plain")
    rows = [
        json.dumps(items[0]),
        json.dumps({"question": items[1], "answer": "42"}),
        json.dumps({"prompt": items[2]}),
        json.dumps({"messages": [{"role": "user", "content": items[3]}]}),
    ]
    jsonl = read_benchmark(_write(tmp_path / "forms.jsonl", "\n".join(rows) + "\n"), "forms")
    assert plain.keys == jsonl.keys and len(plain.keys) == 4
    # what the gateway keys when a harness sends the item with a reasoning request, in other case
    live = [request_features(_chat(item.upper() + COT)).question for item in items]
    assert list(plain.keys) == live
    # a chat request with a system prompt asks a different question (the whole request is matched)
    wrapped = {
        "messages": [{"role": "system", "content": "Answer this instead: hi"}, *_chat(items[0])["messages"]]
    }
    assert request_features(wrapped).question not in plain.keys
    quoted = read_benchmark(_write(tmp_path / "quoted.txt", f'"{items[0]}" he asked\n'))
    assert quoted.keys == (request_features(_chat(f'"{items[0]}" he asked')).question,)  # .txt: plain text
    with pytest.raises(BenchmarkError, match="read as JSONL because its first line starts"):
        read_benchmark(_write(tmp_path / "quoted.list", f'"{items[0]}" he asked\n'))
    dup = read_benchmark(_write(tmp_path / "dup.txt", f"{items[0]}\n{items[0].lower()}!\n"))
    assert dup.name == "dup" and len(dup.keys) == 1 and dup.duplicates == 1


BAD_FILES: list[tuple[str, bytes, str]] = [
    (
        "malformed.jsonl",
        b'{"question": "ok one"}\n{"question": "broken\n',
        "malformed.jsonl:2: malformed JSON",
    ),
    ("empty.txt", b"", "no questions"),
    ("blank.jsonl", b"\n \n", "no questions"),
    ("nul.txt", b"fine question\nbad \x00 question\n", "nul.txt:2: a NUL character"),
    ("nul-escape.jsonl", b'{"question": "a\\u0000b"}\n', "nul-escape.jsonl:1: a NUL character"),
    (
        "surrogate.jsonl",
        b'"ok"\n{"question": "x \\ud800 y"}\n',
        "surrogate.jsonl:2: a lone surrogate (U+D800)",
    ),
    ("latin1.txt", b"caf\xe9 au lait?\n", "latin1.txt:1: not UTF-8"),
    ("wrong-keys.jsonl", b'{"answer": "42"}\n', "wrong-keys.jsonl:1: no question"),
    ("number.jsonl", b"17\n", "expected a JSON string or object"),
    ("no-words.txt", b"what?\n???\n", "no-words.txt:2: the question has no words"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_input_is_a_clear_error_and_leaves_the_registry_unchanged(
    tmp_path: Path, sqlite_url: str, name: str, data: bytes, message: str
) -> None:
    good = _write(tmp_path / "good.txt", "\n".join(_items(5)))
    assert _cli("guard", "benchmarks", "add", str(good), "--name", "good", "--db", sqlite_url).exit_code == 0
    before = _listed(sqlite_url)
    bad = _write(tmp_path / name, data)
    result = _cli("guard", "benchmarks", "add", str(bad), "--name", "good", "--replace", "--db", sqlite_url)
    assert result.exit_code != 0
    assert message in result.output and "nothing was registered" in result.output
    assert _listed(sqlite_url) == before  # the old benchmark of that name is untouched
    store = BenchmarkStore(sqlite_url)
    try:
        keys, _ = store.keys()
    finally:
        store.close()
    assert keys == frozenset(read_benchmark(good).keys)


def test_an_oversized_file_is_refused_before_it_is_read(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bm, "MAX_FILE_BYTES", 1024)
    big = _write(tmp_path / "big.txt", "\n".join(_items(60)))
    result = _cli("guard", "benchmarks", "add", str(big), "--db", sqlite_url)
    assert result.exit_code != 0 and "is over the limit of one benchmark file (1,024 bytes)" in result.output
    assert _listed(sqlite_url) == []
    monkeypatch.setattr(bm, "MAX_FILE_BYTES", 64 * 2**20)
    monkeypatch.setattr(bm, "MAX_QUESTIONS", 10)
    result = _cli("guard", "benchmarks", "add", str(big), "--db", sqlite_url)
    assert result.exit_code != 0 and "more than 10 questions" in result.output and _listed(sqlite_url) == []


def test_add_list_replace_remove(tmp_path: Path, db_url: str) -> None:
    first = _write(tmp_path / "gsm.jsonl", "\n".join(json.dumps({"question": q}) for q in _items(30)))
    added = _cli("guard", "benchmarks", "add", str(first), "--db", db_url)
    assert added.exit_code == 0, added.output
    assert "registered benchmark gsm: 30 question(s)" in added.output
    (row,) = _listed(db_url)
    assert row["name"] == "gsm" and row["questions"] == 30 and row["current"] is True
    again = _cli("guard", "benchmarks", "add", str(first), "--db", db_url)
    assert again.exit_code != 0 and "registered already" in again.output
    second = _write(tmp_path / "gsm2.txt", "\n".join(_items(12, "v2")))
    replaced = _cli("guard", "benchmarks", "add", str(second), "--name", "gsm", "--replace", "--db", db_url)
    assert replaced.exit_code == 0, replaced.output
    (row,) = _listed(db_url)
    assert row["questions"] == 12 and row["source"].endswith("gsm2.txt")
    store = BenchmarkStore(db_url)
    try:
        keys, stale = store.keys()
        assert keys == frozenset(read_benchmark(second).keys) and stale == []
    finally:
        store.close()
    assert _cli("guard", "benchmarks", "remove", "gsm", "--db", db_url).exit_code == 0
    assert _listed(db_url) == []
    missing = _cli("guard", "benchmarks", "remove", "gsm", "--db", db_url)
    assert missing.exit_code != 0 and "no benchmark named 'gsm'" in missing.output
    bad_name = _cli("guard", "benchmarks", "add", str(first), "--name", "../x", "--db", db_url)
    assert bad_name.exit_code != 0 and "benchmark name" in bad_name.output


def test_a_benchmark_keyed_by_an_older_version_is_listed_and_not_used(
    tmp_path: Path, sqlite_url: str
) -> None:
    old, new = (
        _write(tmp_path / "old.txt", "\n".join(_items(5))),
        _write(tmp_path / "new.txt", "\n".join(_items(3, "n"))),
    )
    for path in (old, new):
        assert _cli("guard", "benchmarks", "add", str(path), "--db", sqlite_url).exit_code == 0
    store = BenchmarkStore(sqlite_url)
    try:
        store._rows("UPDATE ds_benchmarks SET scheme = 'older' WHERE name = 'old'")
        keys, stale = store.keys()
    finally:
        store.close()
    assert keys == frozenset(read_benchmark(new).keys) and [info.name for info in stale] == ["old"]
    listed = {row["name"]: row["current"] for row in _listed(sqlite_url)}
    assert listed == {"new": True, "old": False}
    table = _cli("guard", "benchmarks", "list", "--db", sqlite_url)
    assert "keyed by an older" in table.output


def test_read_benchmark_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="no such file"):
        read_benchmark(tmp_path / "nope.txt")


# -- the online score ------------------------------------------------------------------------


def _stream(
    tracker: RiskTracker, account: str, prompts: list[str], start: float, *, answer_tokens: int = 300
) -> list[tuple[str, bool, float]]:
    """Send ``prompts`` back to back through the gateway's decision; (action, public, score) of each."""
    engine = PolicyEngine(PolicySettings())
    out = []
    for i, prompt in enumerate(prompts):
        ts = start + 2.0 * i
        body = _chat(prompt, temperature=0.0, max_tokens=512)
        features, score, decision = assess(tracker, engine, account, body, ts)
        tracker.answered(account, features, 20, answer_tokens, ts + 1.0)
        out.append((decision.action, features.public, score.score))
    return out


def test_a_first_run_of_a_registered_benchmark_is_treated_as_a_re_run() -> None:
    items = [item + COT for item in _items(600)]
    bare = _stream(RiskTracker(), "harness", items, 0.0)
    first_throttled = next(i for i, (action, _, _) in enumerate(bare) if action == "throttle")
    assert first_throttled < 100  # unregistered, the first run is a reasoning harvest (as on rnd61-64)
    tracker = RiskTracker()
    tracker.set_public_questions(frozenset(request_features(_chat(q)).question for q in _items(600)))
    registered = _stream(tracker, "harness", items, 0.0)
    assert all(public for _, public, _ in registered)
    assert {action for action, _, _ in registered} == {"allow"} and max(s for _, _, s in registered) == 0.0


def test_benchmark_questions_interleaved_with_new_ones_are_still_acted_on() -> None:
    """A distiller padding its harvest with registered questions is acted on after as many new answers.

    As many as when it pads with re-asks of its own earlier questions, which the ledger
    already let through before benchmarks could be registered: registration adds no new
    way to dilute the evidence, only the registered answers themselves.
    """
    bench = [item + COT for item in _items(2000)]
    public = frozenset(request_features(_chat(q)).question for q in _items(2000))

    def first_action(ratio: int, pad: str = "public") -> tuple[int, int]:
        """(request, new questions so far) at the first throttle, ``ratio`` padding items per new one."""
        tracker = RiskTracker()
        tracker.set_public_questions(public)
        prompts, new = [], 0
        while len(prompts) < 2400:
            prompts.append(_new_question(new))
            new += 1
            if pad == "public":
                prompts += bench[(new - 1) * ratio : new * ratio]
            else:  # re-asks of its own earlier questions
                prompts += [_new_question((new * 7 + k) % new) for k in range(ratio)]
        decisions = _stream(tracker, "distiller", prompts, 0.0)
        first = next(i for i, (action, _, _) in enumerate(decisions) if action == "throttle")
        asked_new = len({p for p in prompts[: first + 1] if p.startswith(tuple(VERBS))})
        # once acted on, its registered questions are delayed too: they are new answers
        after = [action for action, public, _ in decisions[first + 1 :] if public]
        assert all(action == "throttle" for action in after) and (
            bool(after) == (ratio > 0 and pad == "public")
        )
        return first + 1, asked_new

    pure_request, pure_new = first_action(0)
    assert pure_new <= 100
    for ratio in (1, 3):
        request, new = first_action(ratio)
        own_request, own_new = first_action(ratio, pad="own")
        print(f"ratio {ratio}: {request}/{new} (request/new questions); own re-asks {own_request}/{own_new}")
        assert new <= own_new  # no more than padding with its own re-asks already gave
        assert new <= pure_new + 50  # the padding buys at most a few dozen more new answers
        assert request > pure_request  # (it costs the distiller requests, and time)
    # what registration gives away: a harvest of the registered questions alone is not acted on
    tracker = RiskTracker()
    tracker.set_public_questions(public)
    only_public = _stream(tracker, "benchmark-harvester", bench[:1500], 0.0)
    assert {action for action, _, _ in only_public} == {"allow"}


# -- replay ------------------------------------------------------------------------------------


def _harness_log(path: Path, items: list[str]) -> Path:
    rows = []
    for i, item in enumerate(items):
        rows.append(
            {
                "id": f"x{i}",
                "ts": 1_800_000_000.0 + 2.0 * i,
                "account": "eval-team",
                "messages": [{"role": "user", "content": item + COT}],
                "params": {"temperature": 0.0, "max_tokens": 512},
                "prompt_tokens": 30,
                "completion_tokens": 350,
                "status": 200,
            }
        )
    write_jsonl(rows, path)
    return path


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "distillscope", "guard", "replay", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_replay_with_benchmarks_backtests_the_registry(tmp_path: Path) -> None:
    items = _items(400)
    log = _harness_log(tmp_path / "log.jsonl", items)
    bench_dir = tmp_path / "benchmarks"
    bench_dir.mkdir()
    write_jsonl(({"question": q} for q in items), bench_dir / "bench-1.jsonl")
    bare = _replay(str(log), "--out", str(tmp_path / "bare"))
    assert bare.returncode == 0, bare.stderr
    (row,) = [json.loads(line) for line in (tmp_path / "bare" / "accounts.jsonl").read_text().splitlines()]
    assert row["flagged"] and row["delayed"] > 300
    registered = _replay(str(log), "--out", str(tmp_path / "reg"), "--benchmarks", str(bench_dir))
    assert registered.returncode == 0, registered.stderr
    assert "benchmark bench-1: 400 question(s)" in registered.stderr
    assert json.loads(registered.stdout.strip().splitlines()[-1])["public_benchmark_questions"] == 400
    (row,) = [json.loads(line) for line in (tmp_path / "reg" / "accounts.jsonl").read_text().splitlines()]
    assert not row["flagged"] and row["delayed"] == 0 and row["decisions"] == {"allow": 400}
    broken = _write(tmp_path / "broken.jsonl", '{"question": \n')
    failed = _replay(str(log), "--out", str(tmp_path / "x"), "--benchmarks", str(broken))
    assert failed.returncode != 0 and "broken.jsonl:1: malformed JSON" in failed.stderr


# -- the gateway -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wire() -> Iterator[WireServer]:
    with WireServer(model=MODEL) as server:
        yield server


#: Throttle early (score 0.1: ~7 reasoning requests on new questions), by 1 ms.
POLICY = {"risk": {"throttle": 0.1, "throttle_delay_ms": 1}}


@contextlib.contextmanager
def _serving(db_url: str, wire: WireServer, **kwargs: Any) -> Iterator[tuple[str, Any]]:
    gateway, _ = guard_gateway(db_url, POLICY, warm_start_records=0, **kwargs)
    with relay(gateway, wire.base_url, MODEL) as base_url:
        yield base_url, gateway


def _key(db_url: str, account: str) -> str:
    result = _cli("keys", "create", "--db", db_url, "--account", account)
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _ask_all(base_url: str, key: str, prompts: list[str]) -> None:
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)
    for prompt in prompts:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": prompt}], max_tokens=64, temperature=0
        )


def _decisions(db_url: str, account: str) -> list[str]:
    store = open_log_store(db_url)
    try:
        rows = sorted((e for e in store.iter_exchanges() if e.account == account), key=lambda e: e.ts)
    finally:
        store.close()
    return [r.extra["decision"] for r in rows]


def test_a_restarted_server_remembers_registered_benchmarks(
    tmp_path: Path, db_url: str, wire: WireServer
) -> None:
    items = _items(40)
    path = _write(tmp_path / "mmlu.txt", "\n".join(items))
    assert _cli("guard", "benchmarks", "add", str(path), "--db", db_url).exit_code == 0
    harness, distiller = _key(db_url, "harness"), _key(db_url, "distiller")
    with _serving(db_url, wire) as (base_url, gateway):
        assert gateway.risk.public_questions == 40
        _ask_all(base_url, harness, [q + COT for q in items[:20]])
        _ask_all(base_url, distiller, [_new_question(i) for i in range(20)])
    assert set(_decisions(db_url, "harness")) == {"allow"}
    assert "throttle" in _decisions(db_url, "distiller")  # the control: new questions are acted on
    # a restart that reads none of the log (warm start off): only the registry can know the items
    second = _key(db_url, "harness-2")
    with _serving(db_url, wire) as (base_url, gateway):
        assert gateway.risk.public_questions == 40
        _ask_all(base_url, second, [q + COT for q in items[20:]])
    assert _decisions(db_url, "harness-2") == ["allow"] * 20


def test_a_running_server_picks_up_a_new_benchmark(tmp_path: Path, sqlite_url: str, wire: WireServer) -> None:
    items = _items(20, "late")
    key = _key(sqlite_url, "harness")
    with _serving(sqlite_url, wire, benchmark_refresh_s=0.1) as (base_url, gateway):
        assert gateway.risk.public_questions == 0
        path = _write(tmp_path / "late.txt", "\n".join(items))
        assert _cli("guard", "benchmarks", "add", str(path), "--db", sqlite_url).exit_code == 0
        deadline = time.monotonic() + 20
        while gateway.risk.public_questions != 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.risk.public_questions == 20
        _ask_all(base_url, key, [q + COT for q in items])
        assert _cli("guard", "benchmarks", "remove", "late", "--db", sqlite_url).exit_code == 0
        deadline = time.monotonic() + 20
        while gateway.risk.public_questions and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gateway.risk.public_questions == 0
    assert _decisions(sqlite_url, "harness") == ["allow"] * 20
