"""Recommended actions, computed from a report's evidence and ranked by their measured effect.

Each action names the number it rests on. An action whose effect this run could
not measure is still listed when the evidence points to it, but ranked after the
measured ones and marked so. This module must not invent numbers: no evidence,
no action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from distillscope.report.schema import Report


@dataclass
class Action:
    """One recommendation: what to do, why, and how much it is worth on this run's evidence."""

    title: str
    evidence: str
    effect: float | None  # a fraction (0..1) of the exposure it addresses; None when not measured
    effect_label: str
    area: str


def _retention(method: dict[str, Any], teacher_score: float | None) -> tuple[float | None, str]:
    """How much of the teacher a student kept: task score relative to the teacher, else agreement."""
    score = method.get("task_score")
    if score is not None and teacher_score:
        return float(score) / float(teacher_score), "of the teacher's task score"
    agreement = (method.get("fidelity") or {}).get("agreement")
    if agreement is not None:
        return float(agreement), "agreement with the teacher"
    return None, ""


def _logprob_action(report: Report) -> Action | None:
    student = report.get("student")
    harvest = report.get("harvest") or {}
    if not student:
        return None
    methods = {m["method"].lower(): m for m in student.get("methods", [])}
    kd = next((m for name, m in methods.items() if "kd" in name or "logprob" in name), None)
    sft = next((m for name, m in methods.items() if "sft" in name or "sequence" in name), None)
    if kd is None or sft is None:
        if harvest.get("top_logprobs"):
            return Action(
                "Strip or cap top_logprobs for unverified accounts",
                f"the attacker asked for top_logprobs={harvest['top_logprobs']}; this run trained no "
                "SFT-vs-KD pair, so their value to the attacker was not measured",
                None,
                "not measured",
                "API surface",
            )
        return None
    teacher_score = student.get("teacher_task_score")
    kd_kept, what = _retention(kd, teacher_score)
    sft_kept, _ = _retention(sft, teacher_score)
    if kd_kept is None or sft_kept is None:
        return None
    delta = kd_kept - sft_kept
    if delta <= 0:
        return Action(
            "top_logprobs gave the attacker no measurable gain here",
            f"the top-k KD student kept {kd_kept:.1%} {what}, the SFT student {sft_kept:.1%}; "
            "stripping them would not have reduced what leaked in this run",
            0.0,
            f"{delta:+.1%} (no gain)",
            "API surface",
        )
    return Action(
        "Strip top_logprobs from answers (or cap them for unverified accounts)",
        f"the student trained with top-k KD on the returned log-probs kept {kd_kept:.1%} {what}, "
        f"the one trained on text alone (SFT) {sft_kept:.1%}: {delta:+.1%} from the log-probs",
        delta,
        f"{delta:+.1%} retained",
        "API surface",
    )


def _attacker_queries_before_flag(guard: dict[str, Any]) -> tuple[int, int, list[str]]:
    """(queries answered before each attacker's first flag, attacker queries in all, missed accounts)."""
    attackers = [a for a in guard.get("accounts", []) if a.get("role") == "attacker"]
    timeline = guard.get("timeline", [])
    before = total = 0
    missed = []
    for account in attackers:
        rows = [r for r in timeline if r["account"] == account["account"]]
        count = len(rows) or int(account.get("queries") or 0)
        total += count
        flagged_at = account.get("first_flagged_ts")
        if not account.get("flagged") or flagged_at is None:
            missed.append(account["account"])
            before += count
        elif rows:
            before += sum(1 for r in rows if r["ts"] < flagged_at)
    return before, total, missed


def _guard_actions(report: Report) -> list[Action]:
    guard = report.get("guard")
    if not guard:
        return []
    actions = []
    before, total, missed = _attacker_queries_before_flag(guard)
    if total:
        share = before / total
        if missed:
            actions.append(
                Action(
                    "Tighten the online policy: lower per-account RPM and the flag threshold",
                    f"{len(missed)} attacker account(s) were never flagged online ({', '.join(missed)}); "
                    f"{before} of {total} attacker queries ({share:.0%}) were answered before any flag",
                    share,
                    f"{share:.0%} of attacker queries",
                    "guard",
                )
            )
        elif before:
            actions.append(
                Action(
                    "Lower per-account RPM so campaigns are flagged sooner",
                    f"{before} of {total} attacker queries ({share:.0%}) were answered before each "
                    "attacker account's first flag",
                    share,
                    f"{share:.0%} of attacker queries",
                    "guard",
                )
            )
    offline = guard.get("offline") or {}
    online_flagged = {a["account"] for a in guard.get("accounts", []) if a.get("flagged")}
    for campaign in offline.get("campaigns", []):
        unseen = [a for a in campaign.get("accounts", []) if a not in online_flagged]
        if unseen:
            members = len(campaign.get("accounts", []))
            actions.append(
                Action(
                    "Run the offline campaign detector on a schedule and feed it back to the policy",
                    f"campaign {campaign['campaign']} links {members} accounts; "
                    f"{len(unseen)} of them were not flagged online ({', '.join(unseen)})",
                    len(unseen) / members if members else None,
                    f"{len(unseen)} of {members} campaign accounts",
                    "detection",
                )
            )
    benign = [a for a in guard.get("accounts", []) if a.get("role") == "benign"]
    false_pos = [a["account"] for a in benign if a.get("flagged")]
    if false_pos:
        actions.append(
            Action(
                "Review the flag threshold before blocking: benign accounts were flagged",
                f"{len(false_pos)} of {len(benign)} benign accounts flagged ({', '.join(false_pos)})",
                len(false_pos) / len(benign),
                f"{len(false_pos)}/{len(benign)} false positives",
                "guard",
            )
        )
    return actions


def _watermark_action(report: Report) -> Action | None:
    watermark = report.get("watermark")
    if watermark is None:
        return Action(
            "Enable the per-account watermark",
            "this run measured no watermark evidence, so a student trained on your answers "
            "could not be traced back to the accounts that harvested them",
            None,
            "not measured",
            "watermark",
        )
    if not watermark.get("enabled", True):
        return Action(
            "Enable the per-account watermark",
            "the watermark was off in this run: no radioactivity evidence is possible",
            None,
            "not measured",
            "watermark",
        )
    alpha = float(watermark.get("alpha") or 0.01)
    p_value = watermark.get("overall_p_value")
    hits = [a for a in watermark.get("accounts", []) if a.get("p_value") is not None and a["p_value"] < alpha]
    if p_value is not None and p_value < alpha:
        named = ", ".join(a["account"] for a in hits) or "no single account"
        return Action(
            "Keep the watermark on: it traces the student to the harvesting accounts",
            f"the student is radioactive (p = {p_value:.2g} < {alpha}); accounts named: {named}",
            None,
            "evidence obtained",
            "watermark",
        )
    return Action(
        "Strengthen the watermark (higher bias, per-account keys) or test with more tokens",
        f"the student trained on watermarked answers did not test radioactive "
        f"(p = {p_value if p_value is None else f'{p_value:.2g}'}, alpha {alpha})",
        None,
        "not detected",
        "watermark",
    )


def _identity_action(report: Report) -> Action | None:
    identity = report.get("identity")
    if not identity:
        return None
    leaks = [p for p in identity.get("probes", []) if p.get("hits") and p.get("model") != "teacher"]
    if not leaks:
        return None
    names = sorted({h for p in leaks for h in p["hits"]})
    return Action(
        "Add the identity probe to suspect-model audits",
        f"the student names {', '.join(names)} when asked who trained it "
        f"({len(leaks)} of {sum(1 for p in identity.get('probes', []) if p.get('model') != 'teacher')} "
        "answers): cheap evidence of where it came from",
        None,
        "evidence obtained",
        "probe",
    )


def recommend(report: Report) -> list[Action]:
    """All actions the evidence supports, measured effects first (largest first)."""
    actions: list[Action] = []
    for build in (_logprob_action, _watermark_action, _identity_action):
        action = build(report)
        if action is not None:
            actions.append(action)
    actions.extend(_guard_actions(report))
    return sorted(actions, key=lambda a: (a.effect is None, -(a.effect or 0.0)))
