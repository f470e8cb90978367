"""Human-readable summaries of a detection run: a rich table for the terminal and summary.md.

Summaries name accounts, campaigns, numbers and reasons; they never quote prompts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from distillscope.detect.run import DetectionResult


def summary_markdown(result: DetectionResult, top: int = 25) -> str:
    flagged = [a for a in result.accounts if a["flagged"]]
    lines = [
        "# distillscope detect — summary",
        "",
        f"- engine: {result.engine}",
        f"- exchanges read: {result.exchanges:,}",
        f"- malformed lines skipped: {sum(1 for e in result.errors if e.line > 0):,}"
        + (" (see errors.txt)" if result.errors else ""),
        f"- accounts: {len(result.accounts):,}; flagged: {len(flagged):,}; "
        f"campaigns: {len(result.campaigns):,}",
        *public_lines(result.public),
        "",
    ]
    if not result.accounts:
        lines += ["The log holds no exchanges: nothing to score, nothing flagged.", ""]
        return "\n".join(lines)
    if result.campaigns:
        lines += [
            "## Campaigns",
            "",
            "| campaign | accounts | exchanges | score | top reasons |",
            "|---|---:|---:|---:|---|",
        ]
        for c in result.campaigns[:top]:
            ev = c["evidence"]
            reasons = "; ".join(ev.get("reasons", [])[:3]).replace("|", "/")
            lines.append(
                f"| {c['campaign']} | {ev['accounts']} | {ev['exchanges']:,} | "
                f"{ev['score']:.2f} | {reasons} |"
            )
        lines.append("")
    lines += [
        "## Highest-scoring accounts",
        "",
        "| account | score | flagged | campaign | top reasons |",
        "|---|---:|---|---|---|",
    ]
    for a in result.accounts[:top]:
        reasons = "; ".join(a["reasons"][:3]).replace("|", "/")
        lines.append(
            f"| {a['account']} | {a['score']:.2f} | {'yes' if a['flagged'] else 'no'} | "
            f"{a['campaign'] or ''} | {reasons} |"
        )
    lines.append("")
    return "\n".join(lines)


def public_lines(public: dict[str, Any] | None) -> list[str]:
    """The summary's lines on the registered public benchmarks used (none without a registry)."""
    if public is None:
        return ["- registered public benchmarks: none used (--benchmarks / --guard-db)"]
    names = ", ".join(f"{b['name']} ({b['questions']:,})" for b in public["benchmarks"])
    return [
        f"- registered public benchmarks: {names}; {public['questions']:,} distinct questions",
        f"- exchanges asking them, not counted as harvest evidence: {public['exchanges_left_out']:,} "
        f"(of {public['accounts']:,} accounts)",
        *(f"- note: {note}" for note in public["notes"]),
    ]


def summary_table(result: DetectionResult, top: int = 15) -> Table:
    from rich.table import Table

    table = Table(
        title=f"distillscope detect: {len(result.campaigns)} campaign(s), "
        f"{len(result.flagged)} flagged of {len(result.accounts)} accounts"
    )
    table.add_column("campaign / account")
    table.add_column("accounts", justify="right")
    table.add_column("exchanges", justify="right")
    table.add_column("score", justify="right")
    table.add_column("top reason")
    for c in result.campaigns[:top]:
        ev = c["evidence"]
        table.add_row(
            c["campaign"],
            str(ev["accounts"]),
            f"{ev['exchanges']:,}",
            f"{ev['score']:.2f}",
            (ev.get("reasons") or [""])[0],
        )
    if not result.campaigns:
        for a in result.accounts[:5]:
            table.add_row(a["account"], "1", "", f"{a['score']:.2f}", (a["reasons"] or [""])[0])
    return table
