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
    keep: bool = False  # "keep doing it": this run shows it already working; ranked after the changes


def _retention(method: dict[str, Any], teacher_score: float | None) -> tuple[float | None, str]:
    """How much of the teacher a student kept: task score relative to the teacher, else agreement."""
    score = method.get("task_score")
    if score is not None and teacher_score:
        return float(score) / float(teacher_score), "of the teacher's task score"
    agreement = (method.get("fidelity") or {}).get("agreement")
    if agreement is not None:
        return float(agreement), "agreement with the teacher"
    return None, ""


def _logprob_policy_action(report: Report) -> Action | None:
    """How many of the log-prob answers the attackers asked for the policy let through."""
    harvest = report.get("harvest") or {}
    rows = [r for r in ((report.get("guard") or {}).get("policy_cost") or {}).get("accounts", [])
            if r.get("role") == "attacker" and r.get("asked_logprobs")]  # fmt: skip
    asked = sum(int(r["asked_logprobs"]) for r in rows)
    refused = _refused_logprob_askers(report)
    if not asked and refused:
        return Action(
            "Keep refusing the accounts that ask for top_logprobs at harvest volume",
            f"the attacker asked for top_logprobs={harvest.get('top_logprobs')}, but its "
            f"{refused} requests were all refused: no log-probs went out in this run",
            0.0,
            "0 log-prob answers leaked",
            "API surface",
        )
    if not asked:
        return Action(
            "Strip or cap top_logprobs for unverified accounts",
            f"the attacker asked for top_logprobs={harvest.get('top_logprobs')}; this run measured neither "
            "how many it got nor what they were worth to its student",
            None,
            "not measured",
            "API surface",
        )
    stripped = sum(int(r.get("logprobs_stripped") or 0) for r in rows)
    kept = asked - stripped
    if not kept:
        return Action(
            "Keep stripping top_logprobs from suspicious accounts' answers",
            f"the attackers asked for top_logprobs={harvest.get('top_logprobs')} on {asked} answered "
            f"requests; the policy stripped all {stripped}: no log-probs went out in this run",
            0.0,
            f"0/{asked} log-prob answers leaked",
            "API surface",
            keep=True,
        )
    return Action(
        "Strip top_logprobs from the first request of an unverified or suspicious account",
        f"the attackers asked for top_logprobs={harvest.get('top_logprobs')} on {asked} answered requests; "
        f"the policy stripped {stripped} and {kept} went out with the teacher's log-probs",
        kept / asked,
        f"{kept}/{asked} log-prob answers leaked",
        "API surface",
    )


def _refused_logprob_askers(report: Report) -> int:
    """Requests refused (403/429) to the live extractor (the attacker that asks for log-probs) when
    it got no answer at all; 0 when it got any."""
    extractor = ((report.get("world") or {}).get("live") or {}).get("extractor")
    rows = ((report.get("guard") or {}).get("policy_cost") or {}).get("accounts", [])
    row = next((r for r in rows if r.get("account") == extractor), None)
    if row is None or row.get("answered"):
        return 0
    return int(row.get("blocked") or 0) + int(row.get("rate_limited") or 0)


def _logprob_action(report: Report) -> Action | None:
    student = report.get("student")
    harvest = report.get("harvest") or {}
    if not student:
        return _logprob_policy_action(report) if harvest.get("top_logprobs") else None
    methods = {m["method"].lower(): m for m in student.get("methods", [])}
    kd = next((m for name, m in methods.items() if "kd" in name or "logprob" in name), None)
    sft = next((m for name, m in methods.items() if "sft" in name or "sequence" in name), None)
    if kd is None or sft is None:
        return _logprob_policy_action(report) if harvest.get("top_logprobs") else None
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


#: Online actions from the mildest to the harshest (what a flagged account's row is summed up by).
SEVERITY = ("strip_logprobs", "throttle", "rate_limited", "block")
ACTION_WORDS = {"strip_logprobs": "log-probs stripped", "throttle": "throttled",
                "rate_limited": "rate-limited", "block": "blocked"}  # fmt: skip


def harshest_actions(accounts: list[dict[str, Any]], role: str) -> dict[str, int]:
    """Flagged accounts of ``role`` by the harshest online action taken on them ("block ×3, throttle ×9")."""
    out: dict[str, int] = {}
    for a in accounts:
        if a.get("role") != role or not a.get("flagged"):
            continue
        parts = str(a.get("action") or "").split(",")
        taken = {part.split(" ×")[0].strip() for part in parts if part.strip()}
        worst = max((x for x in taken if x in SEVERITY), key=SEVERITY.index, default="flagged")
        out[worst] = out.get(worst, 0) + 1
    return out


def describe_actions(by_action: dict[str, int]) -> str:
    """``{"block": 1, "strip_logprobs": 2}`` -> "1 blocked, 2 log-probs stripped" (harshest first)."""
    order = sorted(by_action, key=lambda x: -SEVERITY.index(x) if x in SEVERITY else 1)
    return ", ".join(f"{by_action[x]} {ACTION_WORDS.get(x, x)}" for x in order)


def _names(items: list[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _answered_by(guard: dict[str, Any], accounts: set[str]) -> tuple[int, int]:
    """(live answers the given accounts got, live answers all attackers got), from the policy cost table."""
    rows = [r for r in (guard.get("policy_cost") or {}).get("accounts", []) if r.get("role") == "attacker"]
    return sum(int(r.get("answered") or 0) for r in rows if r["account"] in accounts), sum(
        int(r.get("answered") or 0) for r in rows
    )


def _detection_actions(guard: dict[str, Any]) -> list[Action]:
    """Attackers the online guard let through that the offline detector caught, or nobody caught."""
    online = {a["account"]: a for a in guard.get("accounts", []) if a.get("role") == "attacker"}
    offline_rows = (guard.get("offline") or {}).get("accounts", [])
    offline = {a["account"]: a for a in offline_rows if a.get("role") == "attacker"}
    if not online:
        return []
    missed_online = [a for a, row in online.items() if not row.get("flagged")]
    caught_offline = [a for a in missed_online if offline.get(a, {}).get("flagged")]
    missed_both = [a for a in missed_online if a not in caught_offline] if offline else []
    actions = []
    total = len(online)
    if caught_offline:
        got, all_got = _answered_by(guard, set(caught_offline))
        live = f"; live, they took {got} of the attackers' {all_got} answers unhindered" if all_got else ""
        watched = set((guard.get("watch") or {}).get("accounts") or [])
        on_list = sum(1 for a in caught_offline if a in watched)
        title = (
            "Keep feeding the offline detector's campaigns to the gateway (watch list)"
            if on_list
            else "Feed the offline detector's campaigns to the gateway's policy (a watch list)"
        )
        listed = f"; the watch list now holds {on_list} of them" if on_list else ""
        actions.append(
            Action(
                title,
                f"{len(caught_offline)} of {total} attacker accounts were never acted on online but the "
                "offline "
                f"detector flagged them ({_names(caught_offline)}){live}{listed}",
                len(caught_offline) / total,
                f"{len(caught_offline)}/{total} attacker accounts",
                "detection",
            )
        )
    if missed_both:
        styles = sorted({str(online[a].get("style") or "?").replace("_", " ") for a in missed_both})
        actions.append(
            Action(
                "Close the detection gap: attacker accounts passed both detectors",
                f"{len(missed_both)} of {total} attacker accounts ({', '.join(styles)}) were flagged neither "
                f"online nor offline ({_names(missed_both)})",
                len(missed_both) / total,
                f"{len(missed_both)}/{total} attacker accounts missed",
                "detection",
            )
        )
    elif not offline and missed_online:
        actions.append(
            Action(
                "Tighten the online policy: attacker accounts were never flagged",
                f"{len(missed_online)} of {total} attacker accounts were never flagged online "
                f"({_names(missed_online)})",
                len(missed_online) / total,
                f"{len(missed_online)}/{total} attacker accounts",
                "guard",
            )
        )
    return actions


def _false_positive_action(guard: dict[str, Any]) -> Action | None:
    """Benign accounts flagged online or offline, by group: review before enforcing."""
    benign = [a for a in guard.get("accounts", []) if a.get("role") == "benign"]
    offline = [a for a in (guard.get("offline") or {}).get("accounts", []) if a.get("role") == "benign"]
    flagged = {a["account"]: a for a in benign if a.get("flagged")}
    flagged.update({a["account"]: a for a in offline if a.get("flagged")})
    if not benign or not flagged:
        return None
    groups: dict[str, int] = {}
    for row in flagged.values():
        groups[str(row.get("group") or row["account"])] = (
            groups.get(str(row.get("group") or row["account"]), 0) + 1
        )
    cost = guard.get("policy_cost") or {}
    delayed = cost.get("benign_requests_delayed")
    requests = cost.get("benign_requests")
    live = f"; {delayed} of {requests} live benign requests were delayed" if requests else ""
    where = ", ".join(f"{g} ×{n}" for g, n in sorted(groups.items()))
    online = describe_actions(harshest_actions(benign, "benign"))
    offline_n = sum(1 for a in offline if a.get("flagged"))
    how = "; ".join(x for x in (f"online: {online}" if online else "",
                                f"offline: {offline_n} flagged" if offline_n else "") if x)  # fmt: skip
    return Action(
        "Review the flag thresholds before enforcing: benign customers were flagged",
        f"{len(flagged)} of {len(benign)} benign accounts flagged online or offline ({where}; {how}){live}",
        len(flagged) / len(benign),
        f"{len(flagged)}/{len(benign)} benign accounts",
        "guard",
    )


def _enforcement_action(guard: dict[str, Any]) -> Action | None:
    """Attackers the policy acted on that still got their answers: the action was too mild."""
    rows = [r for r in (guard.get("policy_cost") or {}).get("accounts", []) if r.get("role") == "attacker"]
    acted = [r for r in rows if r.get("delayed") or r.get("logprobs_stripped") or r.get("blocked")]
    if not acted:
        return None
    answered = sum(int(r.get("answered") or 0) for r in acted)
    requests = sum(int(r.get("requests") or 0) for r in acted)
    delay = sum(float(r.get("delay_s") or 0.0) for r in acted)
    stripped = sum(int(r.get("logprobs_stripped") or 0) for r in acted)
    if not requests or not answered:
        return None
    return Action(
        "Rate-limit or block confirmed campaign accounts instead of only delaying them",
        f"the policy acted on {len(acted)} attacker account(s) ({_names([r['account'] for r in acted])}), "
        f"yet they got {answered} of {requests} requests answered ({stripped} without log-probs); "
        f"the delays cost them {delay:.1f} s in all",
        answered / requests,
        f"{answered}/{requests} answered anyway",
        "guard",
    )


def _guard_actions(report: Report) -> list[Action]:
    guard = report.get("guard")
    if not guard:
        return []
    actions = _detection_actions(guard)
    for build in (_false_positive_action, _enforcement_action):
        action = build(guard)
        if action is not None:
            actions.append(action)
    return actions


def _attribution_action(report: Report) -> Action | None:
    """Did the harvested text name the harvesting accounts' watermark keys?"""
    data = report.get("attribution")
    if not data:
        return None
    keys = data.get("keys", [])
    harvesters = [k for k in keys if k.get("harvested")]
    if not harvesters:
        return None
    named = [k for k in harvesters if k.get("named")]
    wrong = [k["account"] for k in keys if k.get("named") and not k.get("harvested")]
    controls = data.get("controls") or {}
    if wrong or controls.get("named"):
        return Action(
            "Check the watermark keys: accounts that harvested nothing were named",
            f"named without harvesting: {_names(wrong) or 'none'}; "
            f"control keys named: {controls.get('named', 0)}",
            None,
            "check",
            "watermark",
        )
    if len(named) == len(harvesters):
        worst = max(k["p_value"] for k in named if k.get("p_value") is not None)
        return Action(
            "Keep the per-account watermark on: leaked answers name the accounts that harvested them",
            f"the pooled harvested answers name all {len(named)} harvesting accounts' keys (largest adjusted "
            f"p = {worst:.1e}), no other account key and none of {controls.get('count', 0)} control keys",
            None,
            "evidence obtained",
            "watermark",
            keep=True,
        )
    missed = [k for k in harvesters if not k.get("named")]
    sampling = {
        a.get("account"): a.get("temperature") for a in (report.get("harvest") or {}).get("accounts", [])
    }
    greedy = [k["account"] for k in missed if sampling.get(k["account"]) == 0]
    why = (
        f"; {_names(greedy)} decoded greedily: under one key similar prompts get near-identical answers, "
        "and a repeated (context, token) pair counts once"
        if greedy
        else " (the fewer answers an account took, the weaker its evidence)"
    )
    return Action(
        "Strengthen the watermark (larger bias) or collect more text before attributing",
        f"the harvested answers name {len(named)} of {len(harvesters)} harvesting accounts; not named: "
        + ", ".join(
            f"{k['account']} ({k.get('harvested')} answers, p = {float(k['p_value']):.2g})"
            for k in missed
            if k.get("p_value") is not None
        )  # fmt: skip
        + why,
        None,
        "partly named",
        "watermark",
    )


def _watermark_action(report: Report) -> Action | None:
    text = _attribution_action(report)
    if text is not None:
        return text
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


def _student_gain(report: Report) -> tuple[float, float, int] | None:
    """(agreement before, after, answers) of this run's trained student, when measured."""
    student = report.get("student") or {}
    methods = {m.get("method"): m for m in student.get("methods", [])}
    before = (methods.get("untrained") or {}).get("fidelity", {}).get("agreement")
    trained = next((m for name, m in methods.items() if name != "untrained"), None)
    after = ((trained or {}).get("fidelity") or {}).get("agreement")
    if before is None or after is None:
        return None
    return float(before), float(after), int(student.get("queries") or 0)


def frontier_cuts(frontier: dict[str, Any]) -> list[dict[str, Any]]:
    """Each countermeasure's gain cut and teacher cost: against the distiller's best response (its best
    student method on the defended answers) when the frontier has it, else per row."""
    rows = frontier.get("best_response") or frontier.get("rows", [])
    return [r for r in rows if r.get("kind") != "reference" and r.get("gain_cut") is not None
            and r.get("teacher_cost_points") is not None]  # fmt: skip


def served_watermark_cost(point: dict[str, Any]) -> str | None:
    """This run's own watermark cost in words: the teacher's task accuracy with and without it, paired."""
    cost = point.get("teacher_cost_points")
    if cost is None:
        return None
    se = point.get("teacher_cost_se")
    change = f"{-cost:+.1f}" + (f" ± {se:.1f}" if se is not None else "") + " points"
    before, after = point.get("teacher_accuracy_without"), point.get("teacher_accuracy_with")
    known = before is not None and after is not None
    span = f"from {before:.1%} to {after:.1%} ({change})" if known else change
    return (f"this run's watermark ({point.get('condition')}) moved the teacher's task accuracy {span} "
            f"on {point.get('items')} paired greedy answers")  # fmt: skip


def _countermeasure_action(report: Report) -> Action | None:
    """Deny the student its gain on watched accounts, priced by the frontier and this run's own cost."""
    frontier = report.get("frontier") or {}
    gain = _student_gain(report)
    halving = [r for r in frontier_cuts(frontier) if r["gain_cut"] >= 0.5]
    if gain is None or gain[1] <= gain[0] or not halving:
        return None
    best = min(halving, key=lambda r: r["teacher_cost_points"])
    served = served_watermark_cost(frontier.get("this_run") or {})
    here = f"; {served}" if served else ""
    return Action(
        "Serve watched accounts a countermeasure (the policy's defend action), priced by the frontier",
        f"the attacker's student went from {gain[0]:.1%} to {gain[1]:.1%} agreement with the teacher on "
        f"{gain[2]} harvested answers; measured separately ({frontier.get('measured_by')}), "
        f"{best['condition']} cut such a student's gain by {best['gain_cut']:.0%} for "
        f"{best['teacher_cost_points']:.1f} points of teacher accuracy, a cost only watched accounts' "
        f"answers would pay{here}",
        None,
        f"{best['gain_cut']:.0%} of the gain (measured separately)",
        "countermeasures",
    )


def recommend(report: Report) -> list[Action]:
    """All actions the evidence supports: changes before "keep doing it", measured effects first."""
    actions: list[Action] = []
    for build in (_logprob_action, _watermark_action, _identity_action, _countermeasure_action):
        action = build(report)
        if action is not None:
            actions.append(action)
    actions.extend(_guard_actions(report))
    return sorted(actions, key=lambda a: (a.keep, a.effect is None, -(a.effect or 0.0)))
