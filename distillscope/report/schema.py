"""The ``report.json`` schema (version 1): what a red-team run measured, and nothing else.

The exposure report (``report.html``) is rendered from this file alone, so a run
can be re-rendered, diffed and archived. Every top-level section is optional; a
section that is absent, ``null``, or ``{"not_measured": "why"}`` is shown as
"not measured in this run" with the reason — never invented. A section that is
present but malformed is shown as "could not be read" with the validation error,
and the rest of the report still renders.

This module only loads and checks the file. It must not compute evidence, draw
plots or import heavy libraries.

Schema, version 1 (all numbers are plain JSON numbers; ``ts`` are Unix seconds, UTC)::

    {
      "schema_version": 1,                       # required; a newer major version is refused
      "generated_at": "2026-11-27T12:00:00Z",
      "run": {"id": str, "mode": str, "teacher": str, "student": str, "duration_s": float,
              "stages": [{"name": str, "status": "ok"|"failed"|"not_available"|"skipped",
                          "detail": str, "seconds": float, "cpu_seconds": float}],
              "cpu_s": float, "sizes": {...}, "machine": {"cpus": int, "load_average_at_start": [float]}},
      "world": {                                 # the simulated population in the gateway's log
        "simulator": str, "accounts": int, "history_exchanges": int, "history_hours": float,
        "groups": [{"role": "attacker"|"benign", "group": str, "style": str, "accounts": int,
                    "history_exchanges": int, "hard_negative": bool}],
        "live": {"extractor": str|null, "hydra": [str], "benign": [str]}},
      "harvest": {                               # what the attacker took
        "queries": int, "answered": int, "failed": int,
        "prompt_tokens": int, "completion_tokens": int, "cost_usd": float,
        "top_logprobs": int|null, "strategy": str,
        "accounts": [{"account": str, "queries": int, "answered": int, "completion_tokens": int,
                      "cost_usd": float, "temperature": float|null,  # the sampling it asked for
                      "stripped": int}],                             # stripped: answers sent without logprobs
        "examples": [{"prompt": str, "response": str}]},             # a few, shown HTML-escaped
      "student": {                               # what the student kept
        "task": {"name": str, "n": int}, "teacher_task_score": float|null,
        "methods": [{"method": str, "task_score": float|null,
                     "fidelity": {"agreement": float, "kl": float, ...}}],
        "retention_curve": [{"method": str, "queries": int, "cost_usd": float,
                             "task_score": float|null, "agreement": float|null}]},
      "guard": {                                 # what the gateway caught
        "threshold": float|null,
        "accounts": [{"account": str, "role": "attacker"|"benign"|null, "queries": int,
                      "score": float, "flagged": bool, "action": str|null,
                      "first_flagged_ts": float|null, "reasons": [str]}],
        "timeline": [{"ts": float, "account": str, "score": float, "action": str|null}],
        "policy_cost": {"window_s": float, "benign_requests": int, "benign_requests_delayed": int,
                        "benign_requests_refused": int,
                        "accounts": [{"account", "role", "requests", "answered", "blocked", "rate_limited",
                                      "delayed", "delay_s", "asked_logprobs", "logprobs_stripped", ...}]},
        "offline": {"engine": str,
                    "accounts": [{"account", "score", "flagged", "campaign", "reasons", "role"}],
                    "campaigns": [{"campaign": str, "accounts": [str], "evidence": {...}}]}},
      "attribution": {                           # the watermark in the harvested text, per account key
        "alpha": float, "texts": int, "tokens": int, "method": str,
        "keys": [{"account": str, "role": str|null, "harvested": int, "p_value": float|null,
                  "z": float|null, "tokens_scored": int, "named": bool, "round": int}],  # round: optional
        "rounds": [{"round": int, "alpha": float, "texts": int, "named": [str], "explained": int}],
        "controls": {"count": int, "smallest_p": float|null, "named": int}},
      "frontier": {                              # countermeasures: teacher quality lost vs fidelity denied
        "source": str, "measured_by": str, "machine": str|null,   # where the table was measured
        "task": str, "train_answers": int, "student_layers": str, "goal": {...}|null,
        "rows": [{"condition": str, "kind": str, "method": str, "seeds": int,
                  "teacher_cost_points": float|null, "teacher_cost_se": float|null,
                  "fidelity_gain": float|null, "gain_cut": float|null, "gain_cut_sd": float|null,
                  "meets_goal": bool|null}],
        "unavailable": str,                      # instead of rows, when no frontier file was readable
        "this_run": {"condition": str, "items": int, "teacher_accuracy_with": float,
                     "teacher_accuracy_without": float, "teacher_cost_points": float,
                     "teacher_cost_se": float|null, "identical_answers": int, "method": str}
                    | {"not_measured": str}},
      "watermark": {                             # the radioactivity evidence
        "enabled": bool, "alpha": float, "suspect": str, "method": str,
        "accounts": [{"account": str, "role": str|null, "p_value": float|null,
                      "z": float|null, "tokens_scored": int}],
        "overall_p_value": float|null,
        "negative_control": {"model": str, "p_value": float|null, "tokens_scored": int}},
      "scenarios": {                             # radioactivity under adaptive attackers, measured elsewhere
        "measured_by": str, "source": str, "command": str, "alpha": float, "machine": str,
        "scenarios": [{"scenario": str, "description": str, "share": float|null, "delta": float|null,
                       "student": str|null, "training_tokens": int|null,
                       "harvesters": [{"name": str, "p": float|null, "p_adjusted": float|null,
                                       "scored": int|null, "green_fraction": float|null}],
                       "named": int, "pooled_p": float|null, "bystanders_min_p": float|null,
                       "controls": {"count": int|null, "min_p": float|null, "below_0.05": int|null},
                       "untrained_min_p": float|null, "verdict": str, "reproduce": str,
                       "reading": str|null,                 # which texts the student was read on
                       "outcome": "all"|"some"|"pooled"|"none"|"quiet"|"failed"}]},  # quiet/failed: a control
      "identity": {                              # who the models say trained them
        "watch_names": [str],
        "probes": [{"model": str, "question": str, "answer": str, "hits": [str]}]},
      "probes": {"hidden_size": {...}, "equality": {...}}            # optional extra audits
    }

Role labels (``attacker``/``benign``) come from the run's own ground truth and are
used only to count hits and false positives; the detectors never see them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillscope.errors import InputError

SCHEMA_VERSION = 1

#: Section names in report order.
SECTIONS = (
    "world",
    "harvest",
    "guard",
    "attribution",
    "student",
    "frontier",
    "watermark",
    "scenarios",
    "identity",
    "probes",
)

STAGE_STATUSES = {"ok", "failed", "not_available", "skipped"}

# Keys that must never reach a report, wherever they appear.
_SECRET_KEYS = {"api_key", "apikey", "key", "secret", "token_secret", "authorization", "password"}


# Credentials that could slip into free text (a prompt that quotes a key, an error message).
KEY_PATTERN = re.compile(r"\b(?:sk|ds|dsk|key)[-_][A-Za-z0-9_\-]{12,}|Bearer\s+\S+", re.IGNORECASE)


class ReportFormatError(InputError):
    """A report.json that cannot be used at all (unreadable, not an object, wrong version)."""


@dataclass
class Section:
    """One section of a report: measured data, or why it is missing or unreadable."""

    name: str
    data: dict[str, Any] | None = None
    not_measured: str | None = None
    invalid: str | None = None

    @property
    def measured(self) -> bool:
        return self.data is not None


@dataclass
class Report:
    """A loaded, checked report.json."""

    raw: dict[str, Any]
    run: dict[str, Any]
    sections: dict[str, Section] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, Any] | None:
        section = self.sections.get(name)
        return section.data if section else None

    def stage(self, name: str) -> dict[str, Any] | None:
        for stage in self.run.get("stages", []):
            if stage.get("name") == name:
                return stage
        return None


# -- field checks ---------------------------------------------------------------------------


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _num(data: dict[str, Any], key: str, *, optional: bool = True) -> None:
    value = data.get(key)
    if value is None:
        if not optional:
            raise ValueError(f"'{key}' is required")
        return
    if not _is_num(value):
        raise ValueError(f"'{key}' must be a number, got {type(value).__name__}")


def _list_of_dicts(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"'{key}' must be a list of objects")
    return value


def _rows(data: dict[str, Any], key: str, required: tuple[str, ...], numbers: tuple[str, ...]) -> None:
    for i, row in enumerate(_list_of_dicts(data, key)):
        for name in required:
            if row.get(name) is None:
                raise ValueError(f"{key}[{i}]: '{name}' is required")
        for name in numbers:
            try:
                _num(row, name)
            except ValueError as exc:
                raise ValueError(f"{key}[{i}]: {exc}") from None


def _check_harvest(data: dict[str, Any]) -> None:
    for key in ("queries", "answered", "failed", "prompt_tokens", "completion_tokens", "cost_usd"):
        _num(data, key)
    _num(data, "queries", optional=False)
    _rows(data, "accounts", ("account",), ("queries", "completion_tokens", "cost_usd", "stripped"))
    _rows(data, "examples", ("prompt",), ())


def _check_student(data: dict[str, Any]) -> None:
    _num(data, "teacher_task_score")
    _rows(data, "methods", ("method",), ("task_score",))
    for i, method in enumerate(_list_of_dicts(data, "methods")):
        fidelity = method.get("fidelity", {})
        if not isinstance(fidelity, dict) or not all(v is None or _is_num(v) for v in fidelity.values()):
            raise ValueError(f"methods[{i}].fidelity must map metric names to numbers")
    _rows(data, "retention_curve", ("method", "queries"), ("queries", "cost_usd", "task_score", "agreement"))


def _check_guard(data: dict[str, Any]) -> None:
    _num(data, "threshold")
    _rows(data, "accounts", ("account",), ("score", "queries", "first_flagged_ts"))
    _rows(data, "timeline", ("ts", "account", "score"), ("ts", "score"))
    offline = data.get("offline")
    if offline is not None:
        if not isinstance(offline, dict):
            raise ValueError("'offline' must be an object")
        _rows(offline, "accounts", ("account",), ("score",))
        _rows(offline, "campaigns", ("campaign",), ())


def _check_world(data: dict[str, Any]) -> None:
    for key in ("accounts", "history_exchanges", "history_hours"):
        _num(data, key)
    _rows(data, "groups", ("role", "group"), ("accounts", "history_exchanges"))


def _check_attribution(data: dict[str, Any]) -> None:
    for key in ("alpha", "texts", "tokens"):
        _num(data, key)
    _rows(data, "keys", ("account",), ("p_value", "z", "tokens_scored", "harvested", "round"))
    _rows(data, "rounds", ("round",), ("round", "alpha", "texts", "explained"))
    controls = data.get("controls")
    if controls is not None:
        if not isinstance(controls, dict):
            raise ValueError("'controls' must be an object")
        _num(controls, "smallest_p")


def _check_frontier(data: dict[str, Any]) -> None:
    numbers = ("teacher_cost_points", "teacher_cost_se", "gain_cut", "gain_cut_sd", "fidelity_gain", "seeds")
    _rows(data, "rows", ("condition", "method"), numbers)
    _rows(data, "best_response", ("condition",), ("gain_cut", "teacher_cost_points"))
    this_run = data.get("this_run")
    if this_run is not None:
        if not isinstance(this_run, dict):
            raise ValueError("'this_run' must be an object")
        for key in ("items", "teacher_cost_points", "teacher_cost_se", "teacher_accuracy_with",
                    "teacher_accuracy_without"):  # fmt: skip
            _num(this_run, key)


def _check_watermark(data: dict[str, Any]) -> None:
    if not isinstance(data.get("enabled", True), bool):
        raise ValueError("'enabled' must be true or false")
    _num(data, "alpha")
    _num(data, "overall_p_value")
    _rows(data, "accounts", ("account",), ("p_value", "z", "tokens_scored"))
    control = data.get("negative_control")
    if control is not None:
        if not isinstance(control, dict):
            raise ValueError("'negative_control' must be an object")
        _num(control, "p_value")


def _check_scenarios(data: dict[str, Any]) -> None:
    _num(data, "alpha")
    numbers = ("share", "delta", "named", "pooled_p", "bystanders_min_p", "untrained_min_p")
    _rows(data, "scenarios", ("scenario", "verdict"), numbers)
    for i, row in enumerate(_list_of_dicts(data, "scenarios")):
        try:
            _rows(row, "harvesters", ("name",), ("p", "p_adjusted", "scored", "green_fraction"))
            controls = row.get("controls") or {}
            if not isinstance(controls, dict):
                raise ValueError("'controls' must be an object")
            for key in ("count", "min_p", "below_0.05"):
                _num(controls, key)
        except ValueError as exc:
            raise ValueError(f"scenarios[{i}].{exc}") from None


def _check_identity(data: dict[str, Any]) -> None:
    names = data.get("watch_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("'watch_names' must be a list of strings")
    _rows(data, "probes", ("model", "question"), ())


def _check_probes(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if not isinstance(value, dict):
            raise ValueError(f"'{key}' must be an object")


_CHECKS = {
    "world": _check_world,
    "attribution": _check_attribution,
    "harvest": _check_harvest,
    "student": _check_student,
    "frontier": _check_frontier,
    "guard": _check_guard,
    "watermark": _check_watermark,
    "scenarios": _check_scenarios,
    "identity": _check_identity,
    "probes": _check_probes,
}


# -- loading --------------------------------------------------------------------------------


def scrub_secrets(value: Any) -> Any:
    """A copy of ``value`` without fields that could hold a credential, and key-shaped text redacted."""
    if isinstance(value, str):
        return KEY_PATTERN.sub("[redacted]", value)
    if isinstance(value, dict):
        return {k: scrub_secrets(v) for k, v in value.items() if str(k).lower() not in _SECRET_KEYS}
    if isinstance(value, list):
        return [scrub_secrets(v) for v in value]
    return value


def _section(name: str, value: Any, run: dict[str, Any]) -> Section:
    if value is None:
        stage = next((s for s in run.get("stages", []) if s.get("name") == name), None)
        reason = f"{stage.get('status')}: {stage.get('detail', '')}".strip(": ") if stage else None
        return Section(name, not_measured=reason or "this run did not produce it")
    if not isinstance(value, dict):
        return Section(name, invalid=f"expected an object, got {type(value).__name__}")
    if "not_measured" in value:
        return Section(name, not_measured=str(value.get("not_measured") or "no reason given"))
    try:
        _CHECKS[name](value)
    except ValueError as exc:
        return Section(name, invalid=str(exc))
    return Section(name, data=value)


def _check_run(run: Any) -> dict[str, Any]:
    if run is None:
        return {"stages": []}
    if not isinstance(run, dict):
        raise ReportFormatError("'run' must be an object")
    stages = run.get("stages", [])
    if not isinstance(stages, list) or not all(isinstance(s, dict) and s.get("name") for s in stages):
        raise ReportFormatError("'run.stages' must be a list of objects with a 'name'")
    for stage in stages:
        if stage.get("status") not in STAGE_STATUSES:
            raise ReportFormatError(
                f"run.stages[{stage['name']!r}].status must be one of {sorted(STAGE_STATUSES)}"
            )
    return {**run, "stages": stages}


def parse_report(data: Any) -> Report:
    """Check a parsed report.json; bad sections are kept as ``invalid``, not raised."""
    if not isinstance(data, dict):
        raise ReportFormatError(f"report.json must hold a JSON object, got {type(data).__name__}")
    version = data.get("schema_version")
    if version is None:
        raise ReportFormatError("report.json has no 'schema_version'")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ReportFormatError(f"'schema_version' must be a positive integer, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ReportFormatError(
            f"report.json has schema_version {version}; this distillscope reads up to {SCHEMA_VERSION}"
        )
    data = scrub_secrets(data)
    run = _check_run(data.get("run"))
    report = Report(raw=data, run=run)
    for name in SECTIONS:
        report.sections[name] = _section(name, data.get(name), run)
    return report


def load_report(path: str | os.PathLike[str]) -> Report:
    """Read and check a report.json (a file, or a run directory that holds one)."""
    target = Path(path)
    if target.is_dir():
        target = target / "report.json"
    if not target.exists():
        raise ReportFormatError(f"{target}: no such file")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportFormatError(f"{target}: invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    except UnicodeDecodeError as exc:
        raise ReportFormatError(f"{target}: not UTF-8 text") from exc
    return parse_report(data)


def write_report_json(data: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a report.json atomically (temp file, then rename), after checking it parses."""
    parse_report(data)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(scrub_secrets(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
