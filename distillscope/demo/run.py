"""The whole red-team exercise, stage by stage, and the report.json it writes.

Stages (each timed, each recorded as ok / failed / not available / skipped):

1. ``world``: the traffic simulator's population (benign users, hard negatives,
   a hydra and a heavy extractor), cut at "now";
2. ``history``: that history written into the gateway's exchange log;
3. ``backtest``: the history through the gateway's online score and default
   policy, each exchange's timestamp as the clock (``guard replay``);
4. ``detect``: the offline detector over the history; what it flags goes on the
   gateway's watch list;
5. ``live``: the teacher served behind the real gateway (risk warmed up from the
   log, default policy, the watch list, per-account watermark); the attackers
   harvest a task and benign accounts keep working, all through real HTTP;
6. ``attribution``: the watermark test of the harvested answers, per account key;
7. ``student``: the attacker's student trained on its harvest, before and after;
   ``frontier``: the countermeasure frontier measured by ``distillscope defend evaluate``
   (read from its file, labelled as measured there) and the served watermark's cost to
   the teacher, measured in this run;
8. ``radioactivity`` and ``identity`` (``--full``): the student tested for the
   watermark, and asked who trained it;
9. ``share``: the detected campaigns exported as STIX indicators;
10. ``report``: ``report.json`` and ``report.html``.

A stage that fails is recorded with its error and the run goes on; its report
section says "not measured" with the reason: no number is ever made up. Ctrl-C
writes the report of what was measured so far and exits 130. This module wires
the stages together; it must not measure anything itself.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from distillscope.clitools import console
from distillscope.demo.progress import LiveBoard, StageBoard
from distillscope.demo.settings import ASSUMED_PRICE, PLANNED_SECONDS, DemoSettings
from distillscope.errors import DistillscopeError

STAGES = (
    ("world", "simulating the world: users, hard negatives, a hydra and a heavy extractor"),
    ("history", "writing that history into the gateway's log"),
    ("backtest", "the history through the gateway's online score and default policy (guard replay)"),
    ("detect", "offline detector over the log; its campaigns go on the gateway's watch list"),
    ("live", "live: the teacher behind the gateway; attackers harvesting, benign users at work"),
    ("attribution", "watermark: who harvested the answers?"),
    ("student", "the attacker's student: trained on the harvest, measured before and after"),
    ("frontier", "countermeasure frontier: the evaluated table, and the watermark's cost measured now"),
    ("radioactivity", "radioactivity of the student (--full)"),
    ("identity", "who does the student say trained it? (--full)"),
    ("share", "campaigns exported as STIX indicators (no prompt text)"),
    ("report", "writing report.json and report.html"),
)
#: report.json section ← the stage that measures it (for "not measured: why").
SECTION_STAGE = {"world": "world", "guard": "backtest", "harvest": "live", "attribution": "attribution",
                 "student": "student", "frontier": "frontier", "watermark": "radioactivity",
                 "identity": "identity"}  # fmt: skip


class StageUnavailable(DistillscopeError, RuntimeError):
    """A component the stage needs is not there (not built, or its API differs)."""


@dataclass
class Stage:
    name: str
    status: str = "skipped"
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (all threads) in the stage


def cpu_time() -> float:
    """CPU seconds this process has used so far, all threads (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class DemoRun:
    """What the demo measured so far; becomes report.json."""

    settings: DemoSettings
    out: Path
    stages: list[Stage] = field(default_factory=list)
    sections: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    state: dict[str, Any] = field(default_factory=dict)  # hand-offs between stages
    board: StageBoard = field(default_factory=StageBoard)
    live_board: LiveBoard | None = None

    def __post_init__(self) -> None:
        planned = PLANNED_SECONDS[self.settings.mode]
        for name, label in STAGES:
            self.board.add(name, label, planned.get(name, 0.0))

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Stage]:
        stage = Stage(name)
        self.stages.append(stage)
        began, cpu = time.monotonic(), cpu_time()
        self.board.start(name)
        if self.live_board is not None:
            self.live_board.began(name)
        try:
            yield stage
            stage.status = "ok"
        except StageUnavailable as exc:
            stage.status, stage.detail = "not_available", str(exc)
        except KeyboardInterrupt:
            stage.status, stage.detail = "failed", "interrupted (Ctrl-C)"
            raise
        except Exception as exc:  # one stage's failure must not lose the others' evidence
            if _is_interrupt(exc):
                stage.status, stage.detail = "failed", "interrupted (Ctrl-C)"
                raise KeyboardInterrupt from exc
            stage.status, stage.detail = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            stage.seconds = round(time.monotonic() - began, 1)
            stage.cpu_seconds = round(cpu_time() - cpu, 1)
            self.board.finish(name, stage.status, stage.seconds, stage.detail)
            if self.live_board is not None:
                self.live_board.ended(name)

    def skip(self, name: str, why: str) -> None:
        self.stages.append(Stage(name, "skipped", why, 0.0))
        self.board.skip(name, why)
        if self.live_board is not None:
            self.live_board.ended(name)


# -- the stages ------------------------------------------------------------------------------------


def _world(run: DemoRun) -> None:
    from distillscope.demo.world import WorldUnavailable, build_world

    try:
        world = build_world(run.settings, run.out / "simulated", now=time.time())
    except WorldUnavailable as exc:
        raise StageUnavailable(str(exc)) from exc
    run.state["world"] = world
    run.sections["world"] = world.summary()


def _history(run: DemoRun) -> None:
    from distillscope.demo.defence import register_benchmarks
    from distillscope.demo.world import write_history, write_history_file

    world = run.state["world"]
    run.state["db_url"] = str(run.out / "guard.db")
    run.state["logged_history"] = write_history(world, run.state["db_url"])
    run.state["history_path"] = run.out / "history.jsonl"
    write_history_file(world, run.state["history_path"])
    run.state["benchmarks"] = register_benchmarks(world, run.state["db_url"])


def _backtest(run: DemoRun) -> None:
    from distillscope.demo.defence import backtest

    run.state["replay"] = backtest(
        run.state["world"], run.state["history_path"], run.out, run.state["db_url"]
    )
    _guard(run)


def _detect(run: DemoRun) -> None:
    from distillscope.demo.defence import offline_detection, watch_from_detection

    run.state["offline"] = offline_detection(
        run.state["world"], run.state["history_path"], run.out, run.state["db_url"]
    )
    _guard(run)
    try:
        run.state["watch"] = watch_from_detection(run.out / "detect", run.state["db_url"])
    except ImportError as exc:
        run.state["watch_note"] = f"no watch list ({exc})"
    _guard(run)


def _live(run: DemoRun) -> None:
    from distillscope.demo.live import run_live
    from distillscope.guard.logstore import open_log_store

    live = run_live(run.settings, run.state["world"], run.out, run.state["db_url"],
                    progress=lambda note: run.board.progress("live", note))  # fmt: skip
    run.state["live"] = live
    store = open_log_store(run.state["db_url"])
    try:  # the rows logged after the history are the live window's
        fresh = store.count() - int(run.state["logged_history"])
        run.state["log"] = (
            [e for e in store.recent(max(fresh, 0)) if e.ts >= live.started] if fresh > 0 else []
        )
    finally:
        store.close()
    _guard(run)
    run.sections["harvest"] = _harvest_section(run)


def _guard(run: DemoRun) -> None:
    """(Re)build the guard section from what the stages so far measured."""
    from distillscope.demo.defence import guard_section

    section = guard_section(run.state["world"], run.state.get("live"), run.state.get("log", []),
                            run.state.get("replay"))  # fmt: skip
    if "benchmarks" in run.state:
        section["benchmarks"] = run.state["benchmarks"]
    if "offline" in run.state:
        section["offline"] = run.state["offline"]
    if "watch" in run.state:
        section["watch"] = {"entries": len(run.state["watch"]),
                            "accounts": [w["account"] for w in run.state["watch"]]}  # fmt: skip
    elif "watch_note" in run.state:
        section["watch"] = {"not_measured": run.state["watch_note"]}
    run.sections["guard"] = section


def _harvest_section(run: DemoRun) -> dict[str, Any]:
    live = run.state["live"]
    world = run.state["world"]
    rows = live.harvested
    accounts = []
    for account in [world.extractor, *world.hydra_live]:
        if account is None:
            continue
        sent = [s for s in live.sent if s.account == account]
        got = [e for e in rows if e.account == account]
        accounts.append(
            {
                "account": account,
                "style": world.members[account].style,
                "queries": len(sent),
                "answered": len(got),
                "completion_tokens": sum(e.completion_tokens or 0 for e in got),
                "cost_usd": round(sum(e.cost_usd or 0.0 for e in got), 6),
                "temperature": (got[0].params or {}).get("temperature") if got else None,
                "stripped": sum(
                    1 for s in sent if s.asked_logprobs and s.status == 200 and not s.got_logprobs
                ),
            }
        )
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
        "strategy": f"reasoning-gym task harvested live by {len(accounts)} attacker accounts "
        f"(disjoint slices; the extractor also asks top_logprobs), interleaved with prompts of the kinds "
        f"each account's own log shows ("
        f"{sum(1 for e in rows if ((e.provenance or {}).get('query_meta') or {}).get('playbook'))} "
        f"answered), answers capped at "
        f"{run.settings.max_new_tokens} tokens",
        "seconds": round(live.ended - live.started, 1),
        "accounts": accounts,
        "examples": [{"prompt": e.last_user_text, "response": e.response_text or ""} for e in rows[:3]],
        "errors": live.errors[:10],
    }


def _attribution(run: DemoRun) -> None:
    from distillscope.demo.defence import attribution

    live = run.state["live"]
    if live.watermark is None:
        raise StageUnavailable(live.watermark_note)
    from transformers import AutoTokenizer

    from distillscope.models import resolve_model_path

    path = resolve_model_path(run.settings.model)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    vocab = int(live.watermark.vocab_size or _vocab_size(path))
    model = getattr(_teacher(run), "model", None)  # the provider's own teacher: it served the text
    run.sections["attribution"] = attribution(run.state["world"], live, tokenizer, vocab, model)


def _vocab_size(path: Path) -> int:
    from transformers import AutoConfig

    return int(AutoConfig.from_pretrained(str(path)).vocab_size)


def _teacher(run: DemoRun) -> Any:
    """The teacher the student and frontier stages measure against, made once."""
    from distillscope.demo.student import make_demo_teacher

    if "teacher" not in run.state:
        run.state["teacher"] = make_demo_teacher(run.settings)
    return run.state["teacher"]


def _student(run: DemoRun) -> None:
    from distillscope.demo.student import student_section

    section, paths = student_section(run.settings, run.state["live"], run.out, _teacher(run))
    run.sections["student"] = section
    run.state["students"] = paths


def _frontier(run: DemoRun) -> None:
    from distillscope.demo.frontier import frontier_section

    run.sections["frontier"] = frontier_section(run.settings, run.state["live"], _teacher(run), run.out)


def _radioactivity(run: DemoRun) -> None:
    from distillscope.demo.defence import radioactivity

    students = run.state.get("students") or {}
    result = radioactivity(run.state["world"], run.state["live"], students.get("sft"))
    run.sections["watermark"] = result


def _identity(run: DemoRun) -> None:
    from distillscope.demo.defence import identity

    students = run.state.get("students") or {}
    if not students:
        raise StageUnavailable("no student was trained")
    run.sections["identity"] = identity(run.settings, students)


def _share(run: DemoRun) -> None:
    from distillscope.demo.defence import share

    run.state["share"] = share(run.out, run.state["world"].history)  # the log's history, in memory


def _stages(run: DemoRun) -> None:
    s = run.settings
    with run.stage("world"):
        _world(run)
    if "world" not in run.state:
        return
    with run.stage("history"):
        _history(run)
    if "history_path" not in run.state:
        return
    with run.stage("backtest"):
        _backtest(run)
    with run.stage("detect"):
        _detect(run)
    with run.stage("live"):
        _live(run)
    if "live" not in run.state:
        return
    with run.stage("attribution"):
        _attribution(run)
    with run.stage("student"):
        _student(run)
    with run.stage("frontier"):
        _frontier(run)
    if s.radioactivity:
        with run.stage("radioactivity"):
            _radioactivity(run)
    else:
        run.skip(
            "radioactivity",
            "runs under --full: this run's student is trained for a few steps only, too few to carry "
            "the watermark (the adaptive-attacker scenarios measured separately are in the next section)",
        )
    if s.identity:
        with run.stage("identity"):
            _identity(run)
    else:
        run.skip("identity", "runs under --full")
    if run.state.get("offline", {}).get("campaigns"):
        with run.stage("share"):
            _share(run)
    else:
        run.skip("share", "the offline detector found no campaign to share")


# -- report.json -----------------------------------------------------------------------------------


def report_json(run: DemoRun) -> dict[str, Any]:
    """Everything measured so far, in report.json's schema (version 1)."""
    s = run.settings
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    data: dict[str, Any] = {
        "schema_version": 1,
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run": {
            "id": run.out.name,
            "mode": s.mode,
            "teacher": s.teacher_url or s.model or "smollm2-135m-instruct (embedded)",
            "student": f"layer subset ({s.student_layers}) of the teacher",
            "duration_s": round(time.time() - run.started, 1),
            "cpu_s": round(cpu_time() - run.state.get("cpu_at_start", 0.0), 1),
            "sizes": s.sizes(),
            "machine": {
                "cpus": os.cpu_count(),
                "load_average_at_start": run.state.get("load_at_start"),
                "load_average_at_end": [round(x, 2) for x in load] if load else None,
                "torch_threads": s.threads,
            },
            "stages": [st.__dict__ for st in run.stages],
        },
    }
    for section, stage_name in SECTION_STAGE.items():
        if section in run.sections:
            data[section] = run.sections[section]
        else:
            stage = next((st for st in run.stages if st.name == stage_name), None)
            reason = f"{stage.status}: {stage.detail}" if stage and stage.detail else "the stage did not run"
            data[section] = {"not_measured": reason}
    data["scenarios"] = run.sections.get("scenarios") or {"not_measured": "the report stage did not run"}
    if "share" in run.state:
        data["run"]["share"] = run.state["share"]
    data["probes"] = {"not_measured": "hidden-size and equality probes are run with `distillscope probe`"}
    return data


def _is_interrupt(exc: BaseException) -> bool:
    """Whether ``exc`` is Ctrl-C in disguise: DuckDB turns a SIGINT that lands mid-query into
    ``duckdb.InterruptException``, an ordinary ``Exception`` that would otherwise fail one stage
    and let the run go on."""
    duckdb = sys.modules.get("duckdb")
    seen: BaseException | None = exc
    while seen is not None:
        if duckdb is not None and isinstance(seen, duckdb.InterruptException):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def run_demo(settings: DemoSettings) -> Path:
    """Run the whole exercise; return the run directory (report.json and report.html inside)."""
    out = settings.out or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    run = DemoRun(settings, out.resolve())
    _quiet_libraries()
    run.state["cpu_at_start"] = cpu_time()
    if hasattr(os, "getloadavg"):
        run.state["load_at_start"] = [round(x, 2) for x in os.getloadavg()]
    run.state["busy_cores_at_start"] = busy = busy_cores()
    settings.threads = settings.torch_threads(os.cpu_count(), busy)
    _use_threads(settings.threads)
    with LiveBoard(run.board, console) as live_board:
        run.live_board = live_board
        try:
            _stages(run)
        except KeyboardInterrupt:
            console.print("[yellow]interrupted: writing the report of what was measured so far[/]")
            _mark_interrupted(run)
            _finish(run)
            raise
        return _finish(run)


def busy_cores(window_s: float = 1.0) -> float | None:
    """How many cores other work keeps busy now: measured over ``window_s`` from ``/proc/stat``
    where it exists (the 1-minute load average still counts work that ended up to a minute ago,
    e.g. the set-up that ran just before), else that load average, else None."""
    stat = Path("/proc/stat")
    if stat.exists():
        try:
            first = _cpu_ticks(stat)
            time.sleep(window_s)
            second = _cpu_ticks(stat)
        except (OSError, ValueError):
            pass
        else:
            total = second[0] - first[0]
            idle = second[1] - first[1]
            if total > 0:
                return round((1 - idle / total) * (os.cpu_count() or 1), 2)
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def _cpu_ticks(stat: Path) -> tuple[int, int]:
    """(all ticks, idle + iowait ticks) of the machine's aggregate ``cpu`` line."""
    fields = [int(x) for x in stat.read_text().splitlines()[0].split()[1:]]
    return sum(fields), fields[3] + (fields[4] if len(fields) > 4 else 0)


def _mark_interrupted(run: DemoRun) -> None:
    """Ctrl-C between two stages: the next stage is recorded as interrupted before it began."""
    if any(st.detail.startswith("interrupted") for st in run.stages):
        return
    done = {st.name for st in run.stages}
    upcoming = next((name for name, _ in STAGES if name not in done and name != "report"), None)
    if upcoming is not None:
        run.stages.append(Stage(upcoming, "failed", "interrupted (Ctrl-C) before it began"))


def _use_threads(threads: int) -> None:
    """This process's torch threads (evaluation, the student's generations); the server and the
    trainer are given the same number."""
    with contextlib.suppress(ImportError):
        import torch

        torch.set_num_threads(threads)


def _quiet_libraries() -> None:
    """No per-file progress bars from transformers under the stage board."""
    with contextlib.suppress(Exception):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _finish(run: DemoRun) -> Path:
    from distillscope.report.build import build_report
    from distillscope.report.schema import write_report_json

    with run.stage("report"):
        from distillscope.demo.radioactivity_table import scenarios_section

        run.sections["scenarios"] = scenarios_section(run.settings.scenarios)  # read, not measured here
        for leftover in ("watermark.secret",):
            with contextlib.suppress(FileNotFoundError):
                (run.out / leftover).unlink()
        shutil.rmtree(run.out / "simulated", ignore_errors=True)
        write_report_json(report_json(run), run.out / "report.json")
        html = build_report(run.out)
        if run.settings.screenshot is not None:
            _screenshot(html, run.settings.screenshot)
    # The report stage's own line is in the stage log too: write it once more with its time.
    write_report_json(report_json(run), run.out / "report.json")
    build_report(run.out)
    return run.out


def _screenshot(html: Path, target: Path) -> None:
    from distillscope.report.browser import BrowserError, visit

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(visit(html, max_height=2400).screenshot or b"")
    except BrowserError as exc:
        console.print(f"[yellow]no screenshot: {exc}[/]")
