"""The report's plots: matplotlib figures rendered to inline SVG data URIs.

SVG keeps the plots sharp on a phone and a laptop alike; text is drawn as paths,
so no font is fetched. Each function takes plain report.json data and returns a
``data:image/svg+xml;base64,...`` URI, or ``None`` when there is nothing to draw.
This module must not read files or decide what the evidence means.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import UTC, datetime
from typing import Any

ATTACKER = "#c0392b"
BENIGN = "#7f8c8d"
ACCENT = "#2c6fbb"
CONTROL = "#27ae60"


def _figure(width: float = 7.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "path", "font.size": 9, "axes.spines.top": False})
    plt.rcParams.update({"axes.spines.right": False, "svg.hashsalt": "distillscope"})
    return plt.subplots(figsize=(width, height), dpi=100)


def _to_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def harvest_by_account(harvest: dict[str, Any]) -> str | None:
    """Completion tokens taken per harvesting account."""
    rows = [r for r in harvest.get("accounts", []) if r.get("completion_tokens") or r.get("queries")]
    if not rows:
        return None
    fig, ax = _figure(7.0, 0.5 + 0.35 * len(rows))
    names = [str(r["account"]) for r in rows]
    tokens = [float(r.get("completion_tokens") or 0) for r in rows]
    queries = [int(r.get("queries") or 0) for r in rows]
    ax.barh(names, tokens, color=ATTACKER)
    for y, (t, q) in enumerate(zip(tokens, queries, strict=True)):
        ax.text(t, y, f" {q} queries", va="center", fontsize=8)
    ax.set_xlabel("completion tokens harvested")
    ax.invert_yaxis()
    return _to_uri(fig)


def retention_curve(student: dict[str, Any]) -> str | None:
    """Task score (or agreement) of each student method against queries harvested."""
    curve = student.get("retention_curve", [])
    metric = "task_score" if any(p.get("task_score") is not None for p in curve) else "agreement"
    points = [p for p in curve if p.get(metric) is not None]
    if not points:
        return None
    fig, ax = _figure()
    for method in dict.fromkeys(p["method"] for p in points):
        series = sorted((p for p in points if p["method"] == method), key=lambda p: p["queries"])
        ax.plot([p["queries"] for p in series], [p[metric] for p in series], marker="o", label=str(method))
    teacher = student.get("teacher_task_score")
    if metric == "task_score" and teacher is not None:
        ax.axhline(float(teacher), color="black", linestyle="--", linewidth=1, label="teacher")
    ax.set_xlabel("queries harvested")
    ax.set_ylabel("task score" if metric == "task_score" else "agreement with teacher")
    ax.legend(frameon=False, fontsize=8)
    return _to_uri(fig)


def guard_timeline(guard: dict[str, Any]) -> str | None:
    """Online risk score of every account over time; crosses where the account was flagged."""
    timeline = guard.get("timeline", [])
    if not timeline:
        return None
    roles = {a["account"]: a.get("role") for a in guard.get("accounts", [])}
    start = min(r["ts"] for r in timeline)
    fig, ax = _figure(7.0, 3.4)
    for account in dict.fromkeys(r["account"] for r in timeline):
        rows = sorted((r for r in timeline if r["account"] == account), key=lambda r: r["ts"])
        color = ATTACKER if roles.get(account) == "attacker" else BENIGN
        ax.plot([r["ts"] - start for r in rows], [r["score"] for r in rows], color=color, linewidth=1.2)
    for account in guard.get("accounts", []):
        flagged_at = account.get("first_flagged_ts")
        if account.get("flagged") and flagged_at is not None:
            color = ATTACKER if account.get("role") == "attacker" else BENIGN
            ax.plot([flagged_at - start], [account.get("score") or 0], "x", color=color, markersize=9)
    if guard.get("threshold") is not None:
        ax.axhline(float(guard["threshold"]), color="black", linestyle="--", linewidth=1)
    ax.plot([], [], color=ATTACKER, label="attacker accounts")
    ax.plot([], [], color=BENIGN, label="benign accounts")
    ax.plot([], [], "x", color="black", label="first flag")
    ax.set_xlabel(f"seconds since {datetime.fromtimestamp(start, UTC):%H:%M:%S} UTC")
    ax.set_ylabel("online risk score")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    return _to_uri(fig)


def watermark_pvalues(watermark: dict[str, Any]) -> str | None:
    """-log10 p-value of the radioactivity test per account key, with the negative control."""
    rows = [(str(a["account"]), a["p_value"], a.get("role")) for a in watermark.get("accounts", [])]
    rows = [r for r in rows if r[1] is not None]
    control = watermark.get("negative_control") or {}
    if control.get("p_value") is not None:
        rows.append((f"control: {control.get('model', 'unwatermarked')}", control["p_value"], "control"))
    if not rows:
        return None
    fig, ax = _figure(7.0, 0.6 + 0.35 * len(rows))
    heights = [-math.log10(max(float(p), 1e-300)) for _, p, _ in rows]
    colors = [ATTACKER if r == "attacker" else CONTROL if r == "control" else BENIGN for _, _, r in rows]
    ax.barh([r[0] for r in rows], heights, color=colors)
    alpha = float(watermark.get("alpha") or 0.01)
    ax.axvline(-math.log10(alpha), color="black", linestyle="--", linewidth=1, label=f"alpha = {alpha}")
    ax.set_xlabel("-log10 p-value (longer bar = stronger evidence)")
    ax.invert_yaxis()
    ax.legend(frameon=False, fontsize=8)
    return _to_uri(fig)


def frontier(section: dict[str, Any]) -> str | None:
    """Each countermeasure's teacher cost (points) against the student's gain it cut, by student method;
    this run's measured watermark cost as a vertical band (its fidelity side was not measured)."""
    rows = [r for r in section.get("rows", []) if r.get("teacher_cost_points") is not None
            and r.get("gain_cut") is not None and r.get("kind") != "reference"]  # fmt: skip
    if not rows:
        return None
    fig, ax = _figure(7.0, 4.0)
    markers = {"watermark": "o", "antidistill": "s", "logprobs": "^"}
    for method in dict.fromkeys(r["method"] for r in rows):
        series = [r for r in rows if r["method"] == method]
        color = ACCENT if method == "sft" else ATTACKER
        for r in series:
            ax.errorbar(r["teacher_cost_points"], r["gain_cut"], xerr=r.get("teacher_cost_se"),
                        yerr=r.get("gain_cut_sd"), fmt=markers.get(r.get("kind"), "D"), color=color,
                        capsize=2, markersize=5)  # fmt: skip
            ax.annotate(r["condition"], (r["teacher_cost_points"], r["gain_cut"]), fontsize=7,
                        xytext=(4, 3), textcoords="offset points")  # fmt: skip
        ax.plot([], [], "o", color=color, label=f"{method} student (measured separately)")
    point = section.get("this_run") or {}
    if point.get("teacher_cost_points") is not None:
        cost, se = float(point["teacher_cost_points"]), point.get("teacher_cost_se")
        if se:
            ax.axvspan(cost - float(se), cost + float(se), color=CONTROL, alpha=0.15)
        ax.axvline(cost, color=CONTROL, linewidth=1.5,
                   label=f"{point.get('condition')}: teacher cost measured in this run")  # fmt: skip
    ax.axhline(0, color="black", linewidth=0.6)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_xlabel("teacher task accuracy lost (points; left is cheaper)")
    ax.set_ylabel("student's fidelity gain cut (1 = all)")
    ax.legend(frameon=False, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return _to_uri(fig)
