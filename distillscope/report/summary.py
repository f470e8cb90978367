"""The executive summary a report opens with: exposure as a target, exposure as a tactic, three actions.

Built from report.json alone, as short sentences that each carry their numbers
and denominators; the demo prints the same summary on the terminal. A sentence
whose evidence this run did not measure is left out (or says "not measured"),
never guessed. This module must not compute evidence beyond counts and ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from distillscope.report.recommend import (
    Action,
    describe_actions,
    frontier_cuts,
    harshest_actions,
    recommend,
    served_watermark_cost,
)
from distillscope.report.schema import Report


@dataclass
class ExecutiveSummary:
    target: list[str] = field(default_factory=list)
    tactic: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)


def counts(accounts: list[dict[str, Any]]) -> dict[str, int]:
    """Hits and false positives against the run's own labels, with their denominators."""
    attackers = [a for a in accounts if a.get("role") == "attacker"]
    benign = [a for a in accounts if a.get("role") == "benign"]
    return {
        "attackers": len(attackers),
        "attackers_flagged": sum(1 for a in attackers if a.get("flagged")),
        "benign": len(benign),
        "benign_flagged": sum(1 for a in benign if a.get("flagged")),
    }


def _p(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1e}" if value < 1e-3 else f"{float(value):.3f}"


def _world_line(world: dict[str, Any]) -> str | None:
    groups = world.get("groups") or []
    if not groups:
        return None

    def by_style(rows: list[dict[str, Any]]) -> str:
        sizes: dict[str, int] = {}
        for g in rows:
            style = str(g.get("style") or g.get("group")).replace("_", " ")
            sizes[style] = sizes.get(style, 0) + int(g.get("accounts") or 0)
        return ", ".join(f"{style} ({n})" for style, n in sorted(sizes.items()))

    hard = by_style([g for g in groups if g.get("hard_negative")])
    attackers = by_style([g for g in groups if g.get("role") == "attacker"])
    benign = sum(g["accounts"] for g in groups if g.get("role") == "benign")
    hours = float(world.get("history_hours") or 0)
    span = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:g} h"
    return (
        f"The gateway's log held {world.get('history_exchanges', 0):,} exchanges of "
        f"{world.get('accounts', 0)} accounts over {span}: {benign} benign "
        f"(hard negatives: {hard or 'none'}) and the attackers: {attackers or 'none'}."
    )


def _target(report: Report) -> list[str]:
    lines = []
    world = report.get("world")
    if world:
        line = _world_line(world)
        if line:
            lines.append(line)
    harvest = report.get("harvest")
    if harvest:
        lines.append(
            f"Live, {len(harvest.get('accounts', []))} attacker accounts asked {harvest.get('queries', 0)} "
            f"questions and took {harvest.get('answered', 0)} answers "
            f"({harvest.get('completion_tokens', 0):,} tokens, "
            f"${harvest.get('cost_usd', 0):.4f} at list price) "
            f"in {harvest.get('seconds', 0):.0f} s."
        )
    guard = report.get("guard")
    if guard:
        on = counts(guard.get("accounts", []))
        cost = guard.get("policy_cost") or {}
        benign_how = describe_actions(harshest_actions(guard.get("accounts", []), "benign"))
        lines.append(
            f"Online guard: {on['attackers_flagged']} of {on['attackers']} attacker accounts flagged or "
            "acted on, "
            f"{on['benign_flagged']} of {on['benign']} benign accounts"
            + (f" ({benign_how})" if benign_how else "")
            + "; "
            f"{cost.get('benign_requests_delayed', 0)} of {cost.get('benign_requests', 0)} live benign "
            "requests "
            f"delayed, {cost.get('benign_requests_refused', 0)} refused."
        )
        offline = guard.get("offline")
        if offline:
            off = counts(offline.get("accounts", []))
            lines.append(
                f"Offline detector: {off['attackers_flagged']} of {off['attackers']} attacker accounts "
                "flagged, "
                f"{off['benign_flagged']} of {off['benign']} benign accounts; "
                f"{len(offline.get('campaigns', []))} campaign(s)."
            )
    attribution = report.get("attribution")
    if attribution:
        keys = attribution.get("keys", [])
        harvesters = [k for k in keys if k.get("harvested")]
        named = [k for k in harvesters if k.get("named")]
        others = [k for k in keys if not k.get("harvested") and k.get("named")]
        controls = attribution.get("controls") or {}
        worst = max((k["p_value"] for k in named if k.get("p_value") is not None), default=None)
        lines.append(
            f"Watermark: the harvested answers name {len(named)} of {len(harvesters)} harvesting "
            "accounts' keys "
            f"(p < {attribution.get('alpha')}; largest {_p(worst)}); {len(others)} other account keys and "
            f"{controls.get('named', 0)} of {controls.get('count', 0)} control keys named."
        )
    frontier = _frontier_line(report.get("frontier"))
    if frontier:
        lines.append(frontier)
    return lines


def _frontier_line(frontier: dict[str, Any] | None) -> str | None:
    """The served watermark's measured cost, and the evaluated frontier's best cut (labelled as such)."""
    if not frontier:
        return None
    parts = []
    served = served_watermark_cost(frontier.get("this_run") or {})
    if served:
        parts.append(served[0].upper() + served[1:] + ".")
    rows = frontier_cuts(frontier)
    if rows:
        halving = [r for r in rows if r["gain_cut"] >= 0.5]
        cheap = [r for r in rows if r["teacher_cost_points"] <= 1.0]
        found = []
        if halving:
            best = min(halving, key=lambda r: r["teacher_cost_points"])
            found.append(f"the cheapest countermeasure that halves the student's fidelity gain is "
                         f"{best['condition']} (cut {best['gain_cut']:.0%} for "
                         f"{best['teacher_cost_points']:.1f} points of teacher accuracy)")  # fmt: skip
        if cheap:
            top = max(cheap, key=lambda r: r["gain_cut"])
            found.append(
                f"the best costing at most 1 point is {top['condition']} (cut {top['gain_cut']:.0%})"
            )
        line = f"Measured separately ({frontier.get('measured_by')}, {len(rows)} countermeasures"
        line += ", against the distiller's best response" if frontier.get("best_response") else ""
        line += "): " + "; ".join(found)
        parts.append(line + ".")
    return " ".join(parts) or None


def _tactic(report: Report) -> list[str]:
    lines = []
    student = report.get("student")
    if student:
        methods = {m["method"]: m for m in student.get("methods", [])}
        before = methods.get("untrained")
        for name, after in methods.items():
            if name == "untrained" or before is None:
                continue
            a0 = (before.get("fidelity") or {}).get("agreement")
            a1 = (after.get("fidelity") or {}).get("agreement")
            if a0 is None or a1 is None:
                continue
            queries = student.get("queries") or 0
            cost = student.get("cost_usd") or 0.0
            gain = a1 - a0
            per_query = f"{100 * gain / queries:+.3f} per 100 queries" if queries else ""
            per_dollar = f", {gain / cost:+.0f} per dollar" if cost else ""
            lines.append(
                f"The attacker's {name.upper()} student, trained {student.get('train_steps', '?')} steps on "
                f"{queries} harvested answers (${cost:.4f}), agrees with the teacher on {a1:.1%} of "
                "answer tokens, "
                f"from {a0:.1%} untrained ({per_query}{per_dollar})."
            )
            t0, t1, teacher = (
                before.get("task_score"),
                after.get("task_score"),
                student.get("teacher_task_score"),
            )
            if t1 is not None and teacher is not None:
                task = (student.get("task") or {}).get("name", "the task")
                lines.append(
                    f"Task score on {task}: {t1:.2f} after, {t0 if t0 is None else f'{t0:.2f}'} before; "
                    f"the teacher scores {teacher:.2f} on the same "
                    f"{(student.get('task') or {}).get('n')} items."
                )
    section = report.sections.get("student")
    if section is not None and not section.measured:
        lines.append(
            f"The attacker's student: not measured in this run ({section.not_measured or section.invalid})."
        )
    watermark = report.sections.get("watermark")
    if watermark is not None and watermark.measured:
        data = watermark.data or {}
        lines.append(
            f"Radioactivity of the student: p = {_p(data.get('overall_p_value'))} "
            f"(control {_p((data.get('negative_control') or {}).get('p_value'))})."
        )
    elif watermark is not None and watermark.not_measured:
        lines.append(f"Radioactivity of the student: not measured in this run ({watermark.not_measured}).")
    scenarios = _scenarios_line(report.get("scenarios"))
    if scenarios:
        lines.append(scenarios)
    return lines


def _scenarios_line(data: dict[str, Any] | None) -> str | None:
    """How the radioactivity scenarios measured separately came out (labelled as measured there)."""
    rows = [r for r in (data or {}).get("scenarios", []) if r.get("outcome") not in ("quiet", "failed")]
    if not rows:
        return None

    def names(*kinds: str) -> list[str]:
        return [str(r["scenario"]) for r in rows if r.get("outcome") in kinds]

    every, partly, missed = names("all"), names("some", "pooled"), names("none")
    parts = [f"every harvesting key named in {len(every)} of {len(rows)} adaptive-attacker scenarios"
             + (f" ({', '.join(every)})" if every else "")]  # fmt: skip
    if partly:
        parts.append(f"partly in {', '.join(partly)}")
    if missed:
        parts.append(f"not detected in {', '.join(missed)} (measured limits)")
    source = (data or {}).get("measured_by")
    return f"Radioactivity measured separately ({source}, not in this run): " + "; ".join(parts) + "."


def executive_summary(report: Report) -> ExecutiveSummary:
    """The summary of one report: what was exposed, what the attacker got, the three top actions."""
    return ExecutiveSummary(_target(report), _tactic(report), recommend(report)[:3])
