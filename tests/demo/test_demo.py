"""The red-team demo: settings, the progress board, honest gaps, Ctrl-C, and one real end-to-end run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillscope import demo
from distillscope.cli import app
from distillscope.demo.frontier import DEFAULT_FRONTIER
from distillscope.demo.progress import StageBoard
from distillscope.report.browser import find_chromium, visit
from distillscope.report.build import build_report
from distillscope.report.schema import SECTIONS, load_report, write_report_json

runner = CliRunner()

# As small as the pipeline allows: every default stage runs, on the real SmolLM2 teacher.
TINY = [
    "--quick", "--benign-users", "4", "--live-hydra", "1", "--extractor-queries", "2",
    "--hydra-queries", "2", "--live-benign", "2", "--train-steps", "1", "--task-size", "2",
    "--max-new-tokens", "12",
]  # fmt: skip


def test_settings_are_validated() -> None:
    default = demo.DemoSettings()
    assert default.mode == "default" and default.train_steps == 16 and default.radioactivity == 0
    quick = demo.DemoSettings(quick=True)
    assert quick.mode == "quick" and quick.extractor_queries < default.extractor_queries
    full = demo.DemoSettings(full=True)
    assert full.radioactivity == 1 and full.kd_student == 1 and full.train_steps > default.train_steps
    assert demo.DemoSettings(quick=True, train_steps=5).train_steps == 5  # explicit values win
    with pytest.raises(ValueError, match="extractor_queries must be at least 1"):
        demo.DemoSettings(extractor_queries=0)
    assert demo.DemoSettings(extractor_playbook=0).extractor_playbook == 0  # the task only
    with pytest.raises(ValueError, match="extractor_playbook must be at least 0"):
        demo.DemoSettings(extractor_playbook=-1)
    with pytest.raises(ValueError, match="not both"):
        demo.DemoSettings(quick=True, full=True)
    with pytest.raises(ValueError, match="teacher-url"):
        demo.DemoSettings(teacher_url="ftp://x")
    result = runner.invoke(app, ["demo", "--top-logprobs", "21"])
    assert result.exit_code == 2 and "top_logprobs" in result.output


def test_world_is_the_simulators_draw_cut_at_now(tmp_path: Path) -> None:
    from distillscope.demo.world import build_world, write_history_file
    from distillscope.records import read_exchanges

    now = time.time()
    world = build_world(demo.DemoSettings(quick=True, benign_users=12, days=3), tmp_path / "sim", now=now)
    assert world.history and all(e.ts < now for e in world.history)
    assert max(e.ts for e in world.history) > now - 6 * 3600  # the history runs up to the cut
    ids = [e.id for e in world.history]
    assert len(set(ids)) == len(ids)  # the gateway's log keys rows by id: none may collide
    assert [r["id"] for r in world.history_rows] == ids
    assert {m.style for m in world.members.values()} >= {"hydra", "heavy_extractor", "corporate_nat"}
    assert set(world.roles().values()) == {"attacker", "benign"}
    assert world.extractor in world.attackers and set(world.hydra_live) <= set(world.attackers)
    assert set(world.benign_live) <= set(world.benign)
    # A live attacker samples as it did in its history.
    hydra = world.hydra_live[0]
    used = {e.params.get("temperature") for e in world.history if e.account == hydra}
    assert world.sampling(hydra).get("temperature") in used
    # The extractor's playbook: distinct prompts of its own log, the same for the same seed.
    own = {e.last_user_text for e in world.history if e.account == world.extractor}
    book = world.playbook(world.extractor, 5, seed=0)
    texts = [m[-1]["content"] for m in book]
    assert len(texts) == 5 == len(set(texts)) and set(texts) <= own
    assert book == world.playbook(world.extractor, 5, seed=0) != world.playbook(world.extractor, 5, seed=1)
    assert len(world.playbook(world.extractor, 10**6, seed=0)) == len(own)
    from distillscope.demo.live import interleave, playbook_items

    items = playbook_items(world, world.extractor, 2, seed=0)
    assert [i["messages"] for i in items] == book[:2] and all(i["playbook"] for i in items)
    assert interleave([1, 2, 3], ["a"]) == [1, "a", 2, 3] and interleave([], ["a"]) == ["a"]
    # The history file the detector and the replay read is the same rows, time-shifted.
    path = write_history_file(world, tmp_path / "history.jsonl") and tmp_path / "history.jsonl"
    assert [(e.id, e.ts) for e in read_exchanges(path)] == [(e.id, e.ts) for e in world.history]


def test_torch_threads_follow_the_machine() -> None:
    settings = demo.DemoSettings()
    assert settings.torch_threads(2, 0.2) == 2  # idle: every core
    assert settings.torch_threads(2, 7.0) == 1  # busy: intra-op threads would wait on each other
    assert settings.torch_threads(32, None) == 8
    assert demo.DemoSettings(threads=3).torch_threads(2, 7.0) == 3  # as asked


def test_busy_cores_sees_a_spinning_process_and_not_an_idle_one() -> None:
    """The thread choice reads how busy the cores are now, not the 1-minute load average (which
    still counts the set-up that ran just before the demo)."""
    import multiprocessing

    from distillscope.demo.run import busy_cores

    if not Path("/proc/stat").exists():
        pytest.skip("no /proc/stat: busy_cores falls back to the load average")
    spinner = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
    spinner.start()
    try:
        time.sleep(0.3)
        busy = busy_cores(0.5)
    finally:
        spinner.terminate()
        spinner.join()
    assert busy is not None and busy >= 0.5  # one core of two spinning


def _spin() -> None:
    while True:
        pass
    with pytest.raises(ValueError, match="threads"):
        demo.DemoSettings(threads=0)


def test_progress_board_scales_the_eta_by_the_pace_so_far() -> None:
    board = StageBoard()
    board.add("a", "first", 10.0)
    board.add("b", "second", 20.0)
    board.add("c", "third", 0.0)
    assert board.pace() == 1.0 and board.remaining_s() == 30.0
    board.start("a")
    board.finish("a", "ok", 20.0)  # twice as slow as planned: the rest will be too
    assert board.pace() == 2.0
    assert board.remaining_s() == 40.0
    board.start("b")
    assert 0.0 < board.remaining_s() <= 40.0
    board.skip("c", "runs under --full")
    assert board.line("c").status == "skipped"


def test_progress_board_follows_a_machine_three_times_faster_than_the_plan() -> None:
    board = StageBoard()
    board.add("a", "first", 30.0)
    board.add("b", "second", 60.0)
    board.start("a")
    board.finish("a", "ok", 10.0)  # a faster day than the one the plan was measured on
    assert board.pace() == pytest.approx(1 / 3)
    assert board.remaining_s() == pytest.approx(20.0)


def test_the_default_plan_has_a_duration_for_every_stage_the_default_demo_runs() -> None:
    from distillscope.demo.settings import PLANNED_SECONDS

    plan = PLANNED_SECONDS["default"]
    assert set(plan) == set(PLANNED_SECONDS["full"])
    # the heavy stages dominate, as measured: the live exchange, the student and watermark attribution
    heavy = plan["live"] + plan["student"] + plan["attribution"]
    assert heavy > 0.8 * sum(plan.values())


def test_ctrl_c_inside_a_duckdb_query_ends_the_run_not_just_the_stage(tmp_path: Path) -> None:
    # DuckDB turns a SIGINT that lands mid-query into InterruptException, an ordinary Exception:
    # caught as one stage's failure, the run would go on and exit 0 (seen once in CI).
    import duckdb

    run = demo.DemoRun(demo.DemoSettings(quick=True), tmp_path)
    with pytest.raises(KeyboardInterrupt), run.stage("detect"):
        try:
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
        except duckdb.Error as exc:
            raise RuntimeError("the detector failed") from exc  # however deep it is wrapped
    assert (run.stages[-1].status, run.stages[-1].detail) == ("failed", "interrupted (Ctrl-C)")
    with run.stage("student"):  # an ordinary DuckDB error stays one stage's failure
        raise duckdb.CatalogException("Table with name ex does not exist")
    assert run.stages[-1].status == "failed"


def test_a_missing_component_is_reported_not_invented(tmp_path: Path) -> None:
    run = demo.DemoRun(demo.DemoSettings(quick=True), tmp_path)
    with run.stage("attribution"):  # a stage that cannot run says why
        raise demo.StageUnavailable("the live window served no watermarked answers")
    with run.stage("student"):
        raise RuntimeError("the trainer died")
    run.skip("radioactivity", "runs under --full")
    data = demo.report_json(run)
    assert data["attribution"] == {
        "not_measured": "not_available: the live window served no watermarked answers"
    }
    assert data["student"]["not_measured"] == "failed: RuntimeError: the trainer died"
    assert data["watermark"]["not_measured"] == "skipped: runs under --full"
    assert data["harvest"] == {"not_measured": "the stage did not run"}
    report = load_report(write_report_json(data, tmp_path / "report.json"))
    assert all(not report.sections[name].measured for name in SECTIONS)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # every stage on the real teacher: minutes on 2 idle cores, more on busy ones
def test_quick_demo_end_to_end(tmp_path: Path, teacher_dir: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(app, ["demo", *TINY, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Exposure as a target" in result.output and str(out / "report.html") in result.stdout
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    stages = {s["name"]: s for s in data["run"]["stages"]}
    assert {n: s["status"] for n, s in stages.items()} == {
        "world": "ok", "history": "ok", "backtest": "ok", "detect": "ok", "live": "ok", "attribution": "ok",
        "student": "ok", "frontier": "ok", "radioactivity": "skipped", "identity": "skipped", "report": "ok",
        "share": stages["share"]["status"],  # skipped when the detector found no campaign
    }  # fmt: skip
    assert stages["share"]["status"] in ("ok", "skipped")
    # The world: a population with hard negatives and two distillation styles, in the gateway's log.
    world = data["world"]
    styles = {g["style"] for g in world["groups"]}
    assert {"hydra", "heavy_extractor", "corporate_nat", "eval_harness", "batch_customer"} <= styles
    assert world["history_exchanges"] > 100
    # Every account of the world is judged online (backtest + live) and offline, with its role.
    guard = data["guard"]
    assert guard["backtest"]["benign_requests_delayed"]["of"] > 0
    roles = {a["account"]: a["role"] for a in guard["accounts"]}
    assert len(roles) == world["accounts"] and set(roles.values()) == {"attacker", "benign"}
    assert {a["account"] for a in guard["offline"]["accounts"]} <= set(roles)
    assert all(isinstance(a["reasons"], list) for a in guard["accounts"])
    # The live window went through the real gateway: the harvesters' requests are in the cost table.
    live = data["world"]["live"]
    cost = {r["account"]: r for r in guard["policy_cost"]["accounts"]}
    assert {live["extractor"], *live["hydra"]} <= set(cost)
    assert data["harvest"]["answered"] >= 1 and data["harvest"]["completion_tokens"] > 0
    # Attribution tested every account key and the controls; the harvesters' rows say what they took.
    attribution = data["attribution"]
    answered = {r["account"] for r in guard["policy_cost"]["accounts"] if r["answered"]}
    assert {k["account"] for k in attribution["keys"]} == answered and attribution["controls"]["count"] == 20
    harvested = {k["account"]: k["harvested"] for k in attribution["keys"] if k["harvested"]}
    # Scored where the teacher left the watermark room to act: a subset of every position, with the
    # every-position test beside it; no control key is named.
    assert 0 < attribution["positions"]["scored"] <= attribution["positions"]["of"]
    for key in attribution["keys"]:
        assert key["tokens_scored"] <= key["all_positions"]["tokens_scored"]
    assert attribution["controls"]["named"] == 0
    assert set(harvested) <= {live["extractor"], *live["hydra"]} and sum(harvested.values()) >= 1
    # The student, before and after, on held-out items of the harvested task.
    methods = {m["method"]: m for m in data["student"]["methods"]}
    assert set(methods) == {"untrained", "sft"}
    assert all(m["fidelity"].get("agreement") is not None for m in methods.values())
    assert data["student"]["teacher_task_score"] is not None
    assert data["watermark"]["not_measured"].startswith("skipped")
    # The radioactivity scenarios measured separately are read from the repository's evidence.
    scenarios = data["scenarios"]
    assert scenarios["measured_by"] == "bench/radioactivity.py" and scenarios["scenarios"]
    assert all("--scenario " + r["scenario"] in r["reproduce"] for r in scenarios["scenarios"])
    # Secrets stay out of the run directory and the report.
    assert not (out / "watermark.secret").exists()
    text = (out / "report.json").read_text(encoding="utf-8")
    assert "Bearer" not in text and '"key"' not in text
    _catches_come_from_the_components_outputs(out, data)
    # The report is rebuilt from report.json alone, identically.
    first = (out / "report.html").read_text(encoding="utf-8")
    (out / "report.html").unlink()
    assert build_report(out).read_text(encoding="utf-8") == first
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI")
        pytest.skip("chromium is not installed")
    page = visit(
        out / "report.html",
        evaluate="Array.from(document.querySelectorAll('section[data-section]')).map(s => s.id)",
    )
    assert page.console_errors == [] and page.network == []
    assert set(page.evaluated) == {"summary", "actions", *SECTIONS, "run"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _catches_come_from_the_components_outputs(out: Path, data: dict) -> None:
    """Every catch in report.json is what the shipped detector, replay, gateway and harvest wrote."""
    from distillscope.report.summary import counts

    guard = data["guard"]
    roles = {a["account"]: a["role"] for a in guard["accounts"]}
    # Offline: the report's flags are the detector's own output file, row for row.
    detected = {r["account"]: r for r in _jsonl(out / "detect" / "accounts.jsonl")}
    offline = guard["offline"]["accounts"]
    assert {a["account"] for a in offline} == set(detected)
    assert {a["account"]: a["flagged"] for a in offline} == {k: v["flagged"] for k, v in detected.items()}
    flagged = {k for k, v in detected.items() if v["flagged"]}
    assert counts(offline) == {
        "attackers": sum(1 for r in roles.values() if r == "attacker"),
        "attackers_flagged": sum(1 for a in flagged if roles[a] == "attacker"),
        "benign": sum(1 for a in detected if roles[a] == "benign"),
        "benign_flagged": sum(1 for a in flagged if roles[a] == "benign"),
    }
    # Online: an account is flagged iff guard replay's decisions or the live gateway's log acted on it.
    replayed = {r["account"]: r for r in _jsonl(out / "replay" / "accounts.jsonl")}
    live = {}
    for sent in json.loads((out / "live.json").read_text(encoding="utf-8")):
        live.setdefault(sent["account"], []).append(sent)
    for account in guard["accounts"]:
        past = {k for k, v in (replayed.get(account["account"], {}).get("decisions") or {}).items()
                if k != "allow" and v}  # fmt: skip
        if past:
            assert account["flagged"], account
        if not account["flagged"]:
            assert all(s["status"] == 200 for s in live.get(account["account"], [])), account
    # The live window: requests and answers per account are the client's own record of them.
    for row in guard["policy_cost"]["accounts"]:
        sent = live[row["account"]]
        assert row["requests"] == len(sent)
        assert row["answered"] == sum(1 for s in sent if s["status"] == 200)
        assert row["blocked"] == sum(1 for s in sent if s["status"] == 403)
    # Attribution: who harvested what is the attackers' dataset, the answers the watermark test read.
    harvest = _jsonl(out / "harvest" / "exchanges.jsonl")
    took = {}
    for row in harvest:
        took[row["account"]] = took.get(row["account"], 0) + 1
    assert {k["account"]: k["harvested"] for k in data["attribution"]["keys"] if k["harvested"]} == took
    assert data["attribution"]["texts"] == len(harvest) == data["harvest"]["answered"]
    assert data["student"]["queries"] == len(harvest)
    # The frontier: the evaluated rows are the frontier file's, and this run's point is paired on the
    # answers the gateway gave greedily, against the unwatermarked teacher's answers it cached.
    frontier = data["frontier"]
    source = json.loads(DEFAULT_FRONTIER.read_text(encoding="utf-8"))
    assert [(r["condition"], r["method"], r["gain_cut"]) for r in frontier["rows"]] == [
        (r["condition"], r["method"], (r["gain_cut"] or {}).get("mean")) for r in source["rows"]
    ]
    point = frontier["this_run"]
    task = [r for r in harvest if r["provenance"]["query_meta"].get("task")]
    greedy = [r for r in task if not (r.get("params") or {}).get("temperature")]
    # The attackers' other prompts are their own playbooks: prompts their logged history holds.
    book = [r for r in harvest if r["provenance"]["query_meta"].get("playbook")]
    live_attackers = {data["world"]["live"]["extractor"], *data["world"]["live"]["hydra"]}
    assert data["world"]["live"]["extractor"] in {r["account"] for r in book} <= live_attackers
    logged = {
        r.get("prompt") or r["messages"][-1]["content"]
        for r in _jsonl(out / "history.jsonl")
        if r["account"] in took
    }
    assert all(r["messages"][-1]["content"] in logged for r in book) and len(task) + len(book) == len(harvest)
    if not greedy:
        assert "not_measured" in point
        return
    plain = json.loads((out / "eval" / "unwatermarked.json").read_text(encoding="utf-8"))["continuations"]
    assert point["items"] == len(greedy) == len(plain)
    assert sorted(point["accounts"]) == sorted({r["account"] for r in greedy})
    identical = sum(
        1 for r, c in zip(greedy, plain, strict=True) if r["response_text"].strip() == c["text"].strip()
    )
    assert point["identical_answers"] == identical
    expected = 100 * (point["teacher_accuracy_without"] - point["teacher_accuracy_with"])
    assert abs(point["teacher_cost_points"] - expected) < 1e-9


@pytest.mark.slow
def test_ctrl_c_writes_what_was_measured_and_exits_130(tmp_path: Path, teacher_dir: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "distillscope", "demo", *TINY, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # as from a terminal: a child inherits an ignored SIGINT (something earlier in a full
        # pytest run leaves it ignored), and Python then never raises KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    seen = []
    deadline = time.monotonic() + 600
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        if "into the gateway's log" in line or time.monotonic() > deadline:
            break  # the history is written: the live window is starting
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
    assert code == 130, "".join(seen)
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    stages = {s["name"]: s for s in data["run"]["stages"]}
    assert stages["world"]["status"] == "ok"
    assert any(s["detail"].startswith("interrupted (Ctrl-C)") for s in stages.values()), stages
    assert "not_measured" in data["student"]
    assert (out / "report.html").exists()
    assert not (out / "watermark.secret").exists()


def test_a_request_that_times_out_is_a_failed_request_not_a_dead_worker() -> None:
    import socket

    import httpx
    import openai

    from distillscope.demo.live import _ask

    with socket.socket() as server:  # accepts the connection and never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0,
                               http_client=httpx.Client(timeout=0.5))  # fmt: skip
        status, answer, seconds = _ask(client, "m", [{"role": "user", "content": "hi"}], {}, {})
    assert (status, answer) == (504, None) and seconds >= 0.4


def test_the_demo_registers_its_harnesses_public_benchmark_in_its_guard(tmp_path: Path) -> None:
    """The provider registers the benchmark its evaluation harnesses run; the backtest, the offline
    detector and the report use it (the live gateway reads the same database)."""
    from distillscope.demo import run as stages
    from distillscope.guard.benchmarks import BenchmarkStore, read_benchmark
    from distillscope.guard.risk import body_of, request_question

    run = demo.DemoRun(demo.DemoSettings(quick=True, benign_users=12, days=3), tmp_path)
    stages._world(run)
    world = run.state["world"]
    assert [p.name for p in world.benchmark_files] == [f"bench-{run.settings.seed}.jsonl"]
    keys = set(read_benchmark(world.benchmark_files[0]).keys)
    harness = [e for e in world.history if world.members[e.account].style == "eval_harness"]
    public = [e for e in world.history if request_question(body_of(e)) in keys]
    assert harness and {e.id for e in public} == {e.id for e in harness}  # nobody else asks them
    stages._history(run)
    store = BenchmarkStore(run.state["db_url"])
    try:
        assert store.keys()[0] == frozenset(keys)  # in the gateway's own database
    finally:
        store.close()
    stages._backtest(run)
    assert run.state["replay"]["public_benchmark_questions"] == len(keys)  # the backtest scored with them
    stages._detect(run)
    guard = run.sections["guard"]
    assert guard["benchmarks"]["registered"] == [
        {"name": f"bench-{run.settings.seed}", "questions": len(keys)}
    ]
    offline = guard["offline"]["public_benchmarks"]
    assert offline["exchanges_left_out"] == len(harness) and offline["questions"] == len(keys)
    rows = {a["account"]: a for a in guard["offline"]["accounts"]}
    for account in {e.account for e in harness}:
        assert not rows[account]["flagged"]
        assert "registered public benchmark questions" in rows[account]["reasons"][-1]
