"""The radioactivity table in the demo's report: the adaptive-attacker scenarios measured separately.

Radioactivity of a student trained on our answers (dilution, paraphrase, a small
student, a weaker watermark, a harvest spread over many accounts) takes student
training runs far beyond the demo's budget: ``bench/radioactivity.py`` measures each
scenario and saves its result under ``docs/evidence/watermark/``. The demo reads
them, as it reads the frontier, into a report section labelled *measured by
bench/radioactivity.py, not in this run*, with the command that reproduces each
row. The live radioactivity stage of ``--full`` is a different thing (this run's
own student) and keeps its own section.

Two layouts are read: ``scenarios.json`` (one summary row per scenario, with a
``scenarios`` or ``rows`` list) when it exists, else one ``radioactivity-<name>.json``
per scenario (the bench's full results, summarised here). Fields a file lacks are
shown as not recorded, never guessed.

This module only reads files; it must not train, score or change them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Where the repository keeps the measured scenarios (``bench/radioactivity.py --evidence``).
DEFAULT_EVIDENCE = Path(__file__).resolve().parents[2] / "docs" / "evidence" / "watermark"
MEASURED_BY = "bench/radioactivity.py"
#: A harvesting key is named, and the scenario counts as detected, below this p-value.
NAMING_ALPHA = 1e-3
#: The order in which the bench runs its scenarios (others follow, by name).
ORDER = ("pure", "clean", "mixed10", "mixed5", "paraphrase", "delta3", "delta2", "small", "spread")
DESCRIPTIONS = {
    "pure": "our answers are all of the student's training data",
    "clean": "negative control: the teacher's unwatermarked answers to the same prompts",
    "mixed10": "our answers 10 % of the training tokens, the rest unwatermarked",
    "mixed5": "our answers 5 % of the training tokens",
    "paraphrase": "every answer rewritten by the unwatermarked teacher before training",
    "delta3": "watermark delta 3",
    "delta2": "watermark delta 2",
    "small": "a student smaller than the teacher",
    "spread": "the harvest spread over many accounts, one answer each",
}


class ScenariosUnavailable(ValueError):
    """No scenario file, or none this reader can use (the reason is shown in the report)."""


def _display(path: Path) -> str:
    root = DEFAULT_EVIDENCE.parents[2]
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _reproduce(name: str) -> str:
    return f"PYTHONPATH=$PWD .venv/bin/python {MEASURED_BY} --scenario {name}"


def _order(name: str) -> tuple[int, str]:
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)


def outcome(control: bool, named: int, keys: int, pooled_p: float | None) -> str:
    """How a scenario came out, as the report colours it: ``all``, ``some``, ``pooled`` (our model
    named, no account alone), ``none``; a negative control: ``quiet`` or ``failed``."""
    if control:
        return "quiet" if named == 0 and (pooled_p is None or pooled_p >= NAMING_ALPHA) else "failed"
    if keys and named >= keys:
        return "all"
    if named:
        return "some"
    return "pooled" if pooled_p is not None and pooled_p < NAMING_ALPHA else "none"


VERDICTS = {
    "all": "detected: every harvesting key named",
    "some": "partly detected: {named} of {keys} harvesting keys named",
    "pooled": "our model detected (pooled test), no single account named",
    "none": "not detected: a measured limit",
    "quiet": "negative control: nothing named",
    "failed": "negative control FAILED: a key was named",
}


def _verdict(kind: str, named: int, keys: int) -> str:
    return VERDICTS[kind].format(named=named, keys=keys)


def summarize_result(result: dict[str, Any], source: str) -> dict[str, Any]:
    """One table row from a ``radioactivity-<name>.json`` result of the bench."""
    name = str(result.get("scenario") or Path(source).stem.removeprefix("radioactivity-"))
    summary = ((result.get("suspect") or {}).get("summary")) or {}
    harvesters = [
        {"name": str(account), "p": _number(v.get("p")), "p_adjusted": _number(v.get("p_adjusted")),
         "scored": v.get("scored"), "green_fraction": _number(v.get("green_fraction"))}
        for account, v in (summary.get("harvesters") or {}).items()
        if isinstance(v, dict)
    ]  # fmt: skip
    training = result.get("training") or {}
    mix = result.get("mix") or {}
    share = _number(mix.get("share")) if mix else (0.0 if name == "clean" else 1.0 if training else None)
    pooled = ((result.get("pooled") or {}).get("pooled")) or {}
    pooled_p = _number(pooled.get("p_value"))
    untrained = ((result.get("untrained") or {}).get("summary") or {}).get("harvesters") or {}
    untrained_p = [_number(v.get("p")) for v in untrained.values() if isinstance(v, dict)]
    untrained_pooled = ((result.get("untrained_pooled") or {}).get("pooled") or {}).get("p_value")
    named = summary.get("named") or []
    row: dict[str, Any] = {
        "scenario": name,
        "description": DESCRIPTIONS.get(name, name),
        "share": share,
        "delta": _number((result.get("harvest") or {}).get("delta")),
        "student": training.get("layers"),
        "training_tokens": training.get("answer_tokens"),
        "harvesters": harvesters,
        "named": len(named),
        "pooled_p": pooled_p,
        "bystanders_min_p": _number(summary.get("bystanders_min_p")),
        "controls": {
            "count": summary.get("controls"),
            "min_p": _number(summary.get("controls_min_p")),
            "below_0.05": summary.get("controls_below_0.05"),
        },
        "untrained_min_p": min((p for p in untrained_p if p is not None), default=_number(untrained_pooled)),
        "reproduce": _reproduce(name),
        "source": source,
    }
    row["outcome"] = outcome(name == "clean", len(named), len(harvesters), pooled_p)
    row["verdict"] = _verdict(row["outcome"], len(named), len(harvesters))
    return row


def _from_rows(rows: list[Any], source: str) -> list[dict[str, Any]]:
    """Rows of a ``scenarios.json``: taken as written, with the fields this report shows filled in."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not row.get("scenario"):
            raise ScenariosUnavailable(f"{source}: row {i} names no scenario")
        if isinstance(row.get("suspect"), dict):  # a full bench result inside the list
            out.append(summarize_result(row, source))
            continue
        name = str(row["scenario"])
        keys = row.get("harvesters") or row.get("harvesting_keys") or []
        if isinstance(keys, dict):
            keys = [{"name": k, **(v if isinstance(v, dict) else {"p": v})} for k, v in keys.items()]
        harvesters = [
            {"name": str(k.get("name") or k.get("account") or "?"),
             "p": _number(k.get("p", k.get("p_value"))),
             "p_adjusted": _number(k.get("p_adjusted", k.get("p_holm"))),
             "scored": k.get("scored", k.get("pairs")),
             "green_fraction": _number(k.get("green_fraction", k.get("green")))}
            for k in keys
            if isinstance(k, dict)
        ]  # fmt: skip
        controls = row.get("controls") if isinstance(row.get("controls"), dict) else {}
        named = row.get("named")
        named_count = len(named) if isinstance(named, list) else named if isinstance(named, int) else None
        if named_count is None:
            adjusted = [k["p_adjusted"] for k in harvesters if k["p_adjusted"] is not None]
            named_count = sum(1 for p in adjusted if p < NAMING_ALPHA)
        pooled = row.get("pooled")
        pooled_p = _number(pooled.get("p") if isinstance(pooled, dict) else row.get("pooled_p"))
        student = row.get("student")
        control = bool(row.get("negative_control", name == "clean"))
        kind = outcome(control, named_count, len(harvesters), pooled_p)
        untrained = _number(row.get("untrained_min_p"))
        if untrained is None and isinstance(pooled, dict):
            untrained = _number(pooled.get("untrained_p"))
        out.append(
            {
                "scenario": name,
                "description": str(row.get("description") or DESCRIPTIONS.get(name, name)),
                "share": _number(row.get("share")),
                "delta": _number(row.get("delta")),
                "student": student.get("layers") if isinstance(student, dict) else student,
                "training_tokens": student.get("answer_tokens") if isinstance(student, dict) else None,
                "harvesters": harvesters,
                "named": named_count,
                "pooled_p": pooled_p,
                "bystanders_min_p": _number(row.get("bystanders_min_p")),
                "controls": {
                    "count": controls.get("count", controls.get("tests")),
                    "min_p": _number(controls.get("min_p", controls.get("controls_min_p"))),
                    "below_0.05": controls.get("below_0.05", controls.get("controls_below_0.05")),
                },
                "untrained_min_p": untrained,
                "reading": str(row["reading"]) if row.get("reading") else None,
                "outcome": kind,
                "verdict": str(row.get("verdict") or _verdict(kind, named_count, len(harvesters))),
                "reproduce": str(row.get("reproduce") or row.get("command") or _reproduce(name)),
                "source": str(row.get("evidence") or source),
            }
        )
    return out


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenariosUnavailable(f"{_display(path)} is not readable JSON: {exc}") from exc


def read_scenarios(path: Path | None = None) -> dict[str, Any]:
    """The report's radioactivity-scenarios section, from a ``scenarios.json`` file or from a folder
    (its ``scenarios.json``, else its ``radioactivity-*.json``); raises ScenariosUnavailable."""
    path = Path(path) if path is not None else DEFAULT_EVIDENCE
    meta: dict[str, Any] = {}
    single = path if path.is_file() else path / "scenarios.json"
    if single.is_file():
        data = _load(single)
        rows = data if isinstance(data, list) else (data.get("scenarios") or data.get("rows"))
        if not isinstance(rows, list) or not rows:
            raise ScenariosUnavailable(f"{_display(single)} holds no scenario rows")
        scenarios = _from_rows(rows, _display(single))
        if isinstance(data, dict):
            meta = {
                k: data[k]
                for k in ("machine", "measured_at", "setup", "teacher")
                if isinstance(data.get(k), str)
            }
            if _number(data.get("alpha")) is not None:
                meta["alpha"] = _number(data["alpha"])
        source = _display(single)
    elif path.is_dir():
        files = sorted(path.glob("radioactivity-*.json"))
        if not files:
            raise ScenariosUnavailable(
                f"no scenario results in {_display(path)}: run `python {MEASURED_BY} --scenario all`"
            )
        scenarios = []
        for file in files:
            data = _load(file)
            if not isinstance(data, dict) or not isinstance(data.get("suspect"), dict):
                raise ScenariosUnavailable(f"{_display(file)} is not a {MEASURED_BY} result")
            scenarios.append(summarize_result(data, _display(file)))
        source = f"{_display(path)}/radioactivity-*.json"
    else:
        raise ScenariosUnavailable(
            f"no scenario file at {_display(path)}: run `python {MEASURED_BY} --scenario all`"
        )
    scenarios.sort(key=lambda r: _order(r["scenario"]))
    return {
        "measured_by": MEASURED_BY,
        "source": source,
        "alpha": NAMING_ALPHA,
        **meta,
        "command": f"PYTHONPATH=$PWD nice -n 10 .venv/bin/python {MEASURED_BY} --scenario all",
        "scenarios": scenarios,
    }


def scenarios_section(path: Path | None = None) -> dict[str, Any]:
    """The section as report.json holds it: the scenarios, or ``{"not_measured": why}``."""
    try:
        return read_scenarios(path)
    except ScenariosUnavailable as exc:
        return {"not_measured": str(exc)}
