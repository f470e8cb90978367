"""Render a checked report.json as ONE self-contained HTML page.

The page has no scripts, no external fonts, stylesheets or images: plots are
inline SVG data URIs and a Content-Security-Policy forbids any fetch, so it
opens offline and can be mailed as one file. Every piece of text that came from
a run (prompts, answers, account names) is HTML-escaped, and anything shaped
like an API key is redacted. This module must not compute evidence beyond
simple ratios; the recommendations come from :mod:`distillscope.report.recommend`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from distillscope import __version__
from distillscope.report import plots
from distillscope.report.recommend import recommend
from distillscope.report.schema import KEY_PATTERN, SECTIONS, Report, Section
from distillscope.report.summary import counts, executive_summary

TITLES = {
    "summary": "Executive summary",
    "actions": "Recommended actions",
    "world": "The exercise: who was in the gateway's log",
    "attribution": "Watermark: who harvested the answers",
    "harvest": "What was harvested",
    "student": "What the student kept",
    "frontier": "Countermeasures: teacher quality lost vs fidelity denied",
    "guard": "What the guard caught",
    "watermark": "Watermark evidence",
    "scenarios": "Radioactivity under adaptive attackers (measured separately)",
    "identity": "Identity leakage",
    "probes": "API audits",
    "run": "How this run went",
}


CSS = """
:root{--fg:#1d2330;--muted:#5d6778;--bg:#fff;--panel:#f5f7fa;--line:#dde2ea;--bad:#c0392b;--ok:#1e8449;
--warn:#b9770e;--accent:#2c6fbb}
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--fg);background:var(--bg)}
main{max-width:1000px;margin:0 auto;padding:1rem}
header{background:#1d2330;color:#fff;padding:1.2rem 1rem}
header .inner{max-width:1000px;margin:0 auto}
header h1{margin:0 0 .3rem;font-size:1.6rem}
header p{margin:0;color:#c9d1de;font-size:.9rem}
nav{display:flex;flex-wrap:wrap;gap:.4rem;margin:1rem 0}
nav a{padding:.25rem .6rem;border:1px solid var(--line);border-radius:1rem;text-decoration:none;
color:var(--accent);font-size:.85rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(160px,100%),1fr));gap:.8rem;
margin:1rem 0}
.card{background:var(--panel);border:1px solid var(--line);border-radius:.5rem;padding:.8rem}
.card .big{font-size:1.5rem;font-weight:700}
.card .label{color:var(--muted);font-size:.85rem}
section{border-top:1px solid var(--line);padding:1rem 0}
h2{font-size:1.3rem;margin:.2rem 0 .6rem}
h3{font-size:1.05rem;margin:1rem 0 .4rem}
.table-wrap{overflow-x:auto;margin:.5rem 0}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--panel);font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
img.plot{width:100%;max-width:760px;height:auto;display:block;margin:.5rem 0}
.missing{background:#fdf6e3;border:1px dashed var(--warn);border-radius:.5rem;padding:.8rem}
.invalid{background:#fdecea;border:1px dashed var(--bad);border-radius:.5rem;padding:.8rem}
.tag{display:inline-block;padding:0 .45rem;border-radius:.8rem;font-size:.8rem;font-weight:600}
.tag.bad{background:#fdecea;color:var(--bad)}.tag.ok{background:#e9f7ef;color:var(--ok)}
.tag.muted{background:var(--panel);color:var(--muted)}
.quote{white-space:pre-wrap;word-break:break-word;background:var(--panel);border-left:3px solid var(--line);
padding:.4rem .6rem;margin:.2rem 0;font-size:.9rem}
ol.actions li{margin:.6rem 0}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(300px,100%),1fr));gap:1rem}
.cols ul{margin:.2rem 0;padding-left:1.1rem}.cols li{margin:.3rem 0}
#summary{border-top:none}
.muted{color:var(--muted)}
footer{color:var(--muted);font-size:.8rem;padding:1rem 0}
@media (max-width:600px){body{font-size:15px}header h1{font-size:1.3rem}th,td{padding:.3rem}}
"""


def esc(value: Any) -> str:
    """HTML-escape any value for text or attributes, with key-shaped strings redacted."""
    text = "" if value is None else str(value)
    return html.escape(KEY_PATTERN.sub("[redacted]", text), quote=True)


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10**-digits or abs(value) >= 1e6):
            return f"{value:.{digits}g}"
        return f"{value:,.{digits}f}".rstrip("0").rstrip(".")
    return esc(value)


def _money(value: Any) -> str:
    return "—" if value is None else f"${float(value):,.4f}"


def _pct(value: Any) -> str:
    return "—" if value is None else f"{float(value):.1%}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _plot(uri: str | None, alt: str) -> str:
    return f'<img class="plot" src="{uri}" alt="{esc(alt)}">' if uri else ""


def _tag(text: str, kind: str) -> str:
    return f'<span class="tag {kind}">{esc(text)}</span>'


def _wrap(name: str, body: str, status: str = "measured") -> str:
    return (
        f'<section id="{name}" data-section="{name}" data-status="{status}">'
        f"<h2>{esc(TITLES[name])}</h2>{body}</section>"
    )


def _missing(section: Section) -> str:
    if section.invalid is not None:
        body = (
            f'<div class="invalid"><strong>Could not be read from report.json.</strong> '
            f"{esc(section.invalid)}</div>"
        )
        return _wrap(section.name, body, "invalid")
    body = (
        f'<div class="missing"><strong>Not measured in this run.</strong> '
        f"{esc(section.not_measured or '')}</div>"
    )
    return _wrap(section.name, body, "not-measured")


# -- sections -------------------------------------------------------------------------------


def _harvest(data: dict[str, Any]) -> str:
    parts = [
        '<div class="cards">',
        _card(_num(data.get("queries")), "queries sent"),
        _card(_num(data.get("completion_tokens")), "completion tokens taken"),
        _card(_money(data.get("cost_usd")), "what the harvest cost"),
        _card(_num(data.get("top_logprobs")) if data.get("top_logprobs") else "none", "top_logprobs asked"),
        "</div>",
        f'<p class="muted">Strategy: {esc(data.get("strategy") or "—")}. Answered '
        f"{_num(data.get('answered'))}, failed {_num(data.get('failed'))}, prompt tokens "
        f"{_num(data.get('prompt_tokens'))}.</p>",
    ]
    accounts = data.get("accounts", [])
    if accounts:
        parts.append("<h3>Per harvesting account</h3>")
        parts.append(_plot(plots.harvest_by_account(data), "completion tokens per harvesting account"))
        rows = [
            (
                esc(a["account"]),
                _num(a.get("queries")),
                _num(a.get("answered")),
                _num(a.get("completion_tokens")),
                _money(a.get("cost_usd")),
                _num(a.get("temperature")),
                _num(a.get("stripped")),
            )
            for a in accounts
        ]
        parts.append(
            _table(
                [
                    "account",
                    "queries",
                    "answered",
                    "completion tokens",
                    "cost",
                    "temperature",
                    "answers without logprobs",
                ],
                rows,
                {1, 2, 3, 4, 5, 6},
            )  # fmt: skip
        )
    examples = data.get("examples", [])
    if examples:
        parts.append("<h3>Examples of what was taken</h3>")
        for example in examples:
            parts.append(
                f'<div class="quote"><strong>prompt:</strong> {_quote(example.get("prompt"))}\n'
                f"<strong>answer:</strong> {_quote(example.get('response'))}</div>"
            )
    return _wrap("harvest", "".join(parts))


def _card(big: str, label: str) -> str:
    return f'<div class="card"><div class="big">{big}</div><div class="label">{esc(label)}</div></div>'


def _student(data: dict[str, Any]) -> str:
    parts = []
    task = data.get("task") or {}
    teacher = data.get("teacher_task_score")
    if task:
        parts.append(
            f"<p>Task: <strong>{esc(task.get('name'))}</strong> ({_num(task.get('n'))} held-out items). "
            f"Teacher's score: <strong>{_num(teacher)}</strong>.</p>"
        )
    methods = data.get("methods", [])
    if methods:
        metrics = list(dict.fromkeys(k for m in methods for k in (m.get("fidelity") or {})))
        rows = []
        for m in methods:
            kept = _pct(m["task_score"] / teacher) if m.get("task_score") is not None and teacher else "—"
            fidelity = m.get("fidelity") or {}
            rows.append(
                [esc(m["method"]), _num(m.get("task_score")), kept] + [_num(fidelity.get(k)) for k in metrics]
            )
        parts.append(
            _table(
                ["student", "task score", "kept of teacher"] + metrics,
                rows,
                set(range(1, 3 + len(metrics))),
            )
        )
    uri = plots.retention_curve(data)
    if uri:
        parts.append("<h3>Retention curve</h3>")
        parts.append(_plot(uri, "student score against queries harvested"))
        rows = [
            (
                esc(p["method"]),
                _num(p.get("queries")),
                _money(p.get("cost_usd")),
                _num(p.get("task_score")),
                _num(p.get("agreement")),
            )
            for p in data.get("retention_curve", [])
        ]
        parts.append(_table(["student", "queries", "cost", "task score", "agreement"], rows, {1, 2, 3, 4}))
    if not parts:
        parts.append('<div class="missing">The student section holds no measurements.</div>')
    return _wrap("student", "".join(parts))


def _ts(value: Any) -> str:
    if value is None:
        return "—"
    return datetime.fromtimestamp(float(value), UTC).strftime("%H:%M:%S UTC")


def _role_tag(role: Any) -> str:
    if role == "attacker":
        return _tag("attacker", "bad")
    if role == "benign":
        return _tag("benign", "muted")
    return _tag("unlabelled", "muted")


def detection_counts(accounts: list[dict[str, Any]]) -> dict[str, int]:
    """Hits and false positives against the run's own labels, with their denominators."""
    return counts(accounts)


#: Account tables show at most this many rows one by one; the rest are summed up per group.
ROWS_SHOWN = 25


#: Styles always shown one by one: the solo extractor and the hard negatives.
ALWAYS_SHOWN = ("heavy_extractor", "corporate_nat", "eval_team", "eval_harness", "batch_customer")


def _worth_a_row(a: dict[str, Any]) -> bool:
    return bool(a.get("flagged") or a.get("live") or a.get("style") in ALWAYS_SHOWN)


def _compact(accounts: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows worth showing one by one (flagged, live, hard negatives) and one line per other group."""
    shown = [a for a in accounts if _worth_a_row(a)][:ROWS_SHOWN]
    rest: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in accounts:
        if a not in shown:
            rest.setdefault((str(a.get("role")), str(a.get("group") or "other")), []).append(a)
    lines = []
    for (role, group), rows in sorted(rest.items()):
        scores = [float(r["score"]) for r in rows if r.get("score") is not None]
        flagged = sum(1 for r in rows if r.get("flagged"))
        top = f", highest score {max(scores):.2f}" if scores else ""
        lines.append(f"{len(rows)} more {role} accounts of group {group}: {flagged} flagged{top}")
    return shown, lines


def _account_rows(rows: list[dict[str, Any]], online: bool) -> list[tuple[str, ...]]:
    out = []
    for a in rows:
        cells = [esc(a["account"]), _role_tag(a.get("role")), esc(a.get("group") or "—")]
        if online:
            cells.append(_num(a.get("queries")))
        cells += [
            _num(a.get("score")),
            _tag("flagged", "bad") if a.get("flagged") else _tag("not flagged", "ok"),
        ]
        if online:
            cells.append(esc(a.get("action") or "—"))
        else:
            cells.append(esc(a.get("campaign") or "—"))
        cells.append(esc("; ".join(a.get("reasons") or []) or "—"))
        out.append(tuple(cells))
    return out


def _policy_cost(cost: dict[str, Any], policy: dict[str, Any]) -> str:
    rows = [
        (
            esc(r["account"]),
            _role_tag(r.get("role")),
            _num(r.get("requests")),
            _num(r.get("answered")),
            _num(r.get("blocked")),
            f"{_num(r.get('delayed'))} ({_num(r.get('delay_s'), 1)} s)",
            f"{_num(r.get('logprobs_stripped'))} of {_num(r.get('asked_logprobs'))}",
        )
        for r in cost.get("accounts", [])
    ]
    rules = ", ".join(f"{k} ≥ {v}" for k, v in policy.items() if k != "throttle_delay_ms" and v is not None)
    return (
        f"<h3>The policy in the live window ({_num(cost.get('window_s'), 0)} s)</h3>"
        f'<p class="muted">Default policy: {esc(rules)}; a throttle delays a request by '
        f"{_num(policy.get('throttle_delay_ms'))} ms. Live benign requests delayed: "
        f"{_num(cost.get('benign_requests_delayed'))} of {_num(cost.get('benign_requests'))}, refused: "
        f"{_num(cost.get('benign_requests_refused'))}.</p>"
        + _table(
            ["account", "role", "requests", "answered", "refused (403)", "delayed", "log-probs stripped"],
            rows,
            {2, 3, 4},
        )
    )


def _rate(value: Any) -> str:
    if not isinstance(value, dict) or value.get("of") is None:
        return "—"
    rate = value.get("rate")
    return f"{_num(value.get('count'))} of {_num(value.get('of'))}" + (
        f" ({rate:.1%})" if rate is not None else ""
    )


def _backtest(metrics: dict[str, Any]) -> str:
    first = metrics.get("first_n") or 200
    rows = [
        (f"campaign accounts acted on within their first {first} requests",
         _rate(metrics.get("campaign_acted_within_first"))),
        ("campaign accounts ever throttled", _rate(metrics.get("campaign_ever_throttled"))),
        ("campaign accounts ever blocked", _rate(metrics.get("campaign_ever_blocked"))),
        ("benign accounts throttled", _rate(metrics.get("benign_accounts_throttled"))),
        ("benign accounts blocked", _rate(metrics.get("benign_accounts_blocked"))),
        ("benign requests delayed", _rate(metrics.get("benign_requests_delayed"))),
    ]  # fmt: skip
    for style, values in (metrics.get("campaign_by_style") or {}).items():
        rows.append((f"{style.replace('_', ' ')} accounts ever acted on", _rate(values.get("ever_acted"))))
    for group, values in (metrics.get("benign_by_group") or {}).items():
        rows.append((f"{group.replace('_', ' ')}: requests delayed", _rate(values.get("requests_delayed"))))
    return "<h3>Backtest: the default policy over the history (guard replay)</h3>" + _table(
        ["measure", "value"], [(esc(a), b) for a, b in rows], {1}
    )


def _guard(data: dict[str, Any]) -> str:
    accounts = data.get("accounts", [])
    on = detection_counts(accounts)
    offline = data.get("offline")
    off = detection_counts(offline.get("accounts", [])) if offline else None
    parts = [
        '<div class="cards">',
        _card(f"{on['attackers_flagged']} / {on['attackers']}", "attacker accounts flagged online"),
        _card(f"{on['benign_flagged']} / {on['benign']}", "benign accounts flagged online"),
    ]
    if off:
        parts += [
            _card(f"{off['attackers_flagged']} / {off['attackers']}", "attacker accounts flagged offline"),
            _card(f"{off['benign_flagged']} / {off['benign']}", "benign accounts flagged offline"),
        ]
    parts.append("</div>")
    if data.get("scored_from"):
        parts.append(
            f'<p class="muted">Online: {esc(data["scored_from"])}; an account counts as flagged when the '
            f"policy acted on it or its score is at or above the first action threshold "
            f"({_num(data.get('threshold'))}).</p>"
        )
    backtest = data.get("backtest")
    if backtest:
        parts.append(_backtest(backtest))
    cost = data.get("policy_cost")
    if cost:
        parts.append(_policy_cost(cost, data.get("policy") or {}))
    registry = data.get("benchmarks")
    if isinstance(registry, dict):
        names = ", ".join(
            f"{b['name']} ({_num(b['questions'])} questions)" for b in registry.get("registered") or []
        )
        parts.append(
            f"<p>Public benchmark registry: <strong>{esc(names or 'none')}</strong> "
            f"({esc(registry.get('note') or '')}).</p>"
        )
    watch = data.get("watch")
    if watch and "entries" in watch:
        parts.append(
            f"<p>Watch list fed by the offline detector: <strong>{_num(watch['entries'])}</strong> accounts "
            f"({esc(_short(', '.join(watch.get('accounts') or []) or 'none', 300))}).</p>"
        )
    parts.append(_plot(plots.guard_timeline(data), "online risk score per account over the live window"))
    if accounts:
        shown, rest = _compact(accounts)
        parts.append("<h3>Online scores (the gateway, per account)</h3>")
        parts.append(
            _table(
                ["account", "role", "group", "requests", "score", "flag", "action", "why"],
                _account_rows(shown, online=True),
                {3, 4},
            )
        )
        parts += [f'<p class="muted">{esc(line)}</p>' for line in rest]
    if offline:
        parts.append(
            f"<h3>Offline detector ({esc(offline.get('engine') or 'batch')}) over the gateway's log</h3>"
        )
        shown, rest = _compact(offline.get("accounts", []))
        parts.append(
            _table(
                ["account", "role", "group", "score", "flag", "campaign", "why"],
                _account_rows(shown, False),
                {3},
            )
        )
        parts += [f'<p class="muted">{esc(line)}</p>' for line in rest]
        for campaign in offline.get("campaigns", []):
            evidence = campaign.get("evidence") or {}
            shown_ev = "; ".join(f"{esc(k)}: {esc(_short(v))}" for k, v in evidence.items()) or "—"
            members = [str(m) for m in campaign.get("accounts", [])]
            parts.append(
                f"<p><strong>Campaign {esc(campaign['campaign'])}</strong> ({len(members)} accounts): "
                f"{esc(_short(', '.join(members), 300))}. Evidence: {shown_ev}</p>"
            )
    return _wrap("guard", "".join(parts))


def _quote(value: Any, limit: int = 600) -> str:
    """Prompt or answer text for a quote block: blank runs collapsed, clipped, escaped."""
    text = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", str(value or "")).strip()
    if not text:
        return '<span class="muted">(empty or only whitespace)</span>'
    return esc(text if len(text) <= limit else text[: limit - 1] + "…")


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _pvalue(value: Any, alpha: float) -> str:
    if value is None:
        return "—"
    verdict = _tag("radioactive", "bad") if value < alpha else _tag("not detected", "muted")
    return f"{float(value):.3g} {verdict}"


def _watermark(data: dict[str, Any]) -> str:
    if not data.get("enabled", True):
        return _wrap("watermark", '<div class="missing">The watermark was off in this run.</div>')
    alpha = float(data.get("alpha") or 0.01)
    parts = [
        f"<p>Radioactivity test of <strong>{esc(data.get('suspect') or 'the student')}</strong> "
        f"({esc(data.get('method') or 'keyed green-list test')}), alpha = {alpha}. "
        f"Overall p-value: <strong>{_pvalue(data.get('overall_p_value'), alpha)}</strong>.</p>",
        _plot(plots.watermark_pvalues(data), "radioactivity p-value per account key"),
    ]
    rows = [
        (
            esc(a["account"]),
            _role_tag(a.get("role")),
            _pvalue(a.get("p_value"), alpha),
            _num(a.get("z")),
            _num(a.get("tokens_scored")),
        )
        for a in data.get("accounts", [])
    ]
    control = data.get("negative_control")
    if control:
        rows.append(
            (
                f"negative control: {esc(control.get('model') or 'unwatermarked model')}",
                _tag("control", "ok"),
                _pvalue(control.get("p_value"), alpha),
                _num(control.get("z")),
                _num(control.get("tokens_scored")),
            )
        )
    else:
        parts.append('<p class="missing">No negative control was run: read the p-values with care.</p>')
    if rows:
        parts.append(_table(["account key", "role", "p-value", "z", "tokens scored"], rows, {3, 4}))
    return _wrap("watermark", "".join(parts))


def _p_short(value: Any) -> str:
    return "—" if value is None else f"{float(value):.2g}"


def _scenario_keys(row: dict[str, Any]) -> str:
    """The harvesting keys' p-values of one scenario (many keys: their smallest, and the pooled test)."""
    keys = row.get("harvesters") or []
    if len(keys) > 4:
        ps = [k["p"] for k in keys if k.get("p") is not None]
        smallest = _p_short(min(ps, default=None))
        text = f"{len(keys)} keys, each alone: min p {smallest}, {_num(row.get('named'))} named"
        if row.get("pooled_p") is not None:
            text += f"; <strong>pooled p {_p_short(row['pooled_p'])}</strong>"
        return text
    return (
        "<br>".join(
            f"{esc(k['name'])}: <strong>{_p_short(k.get('p'))}</strong>"
            + (f" ({_num(k.get('scored'))} pairs)" if k.get("scored") is not None else "")
            for k in keys
        )
        or "—"
    )


_OUTCOME_TAGS = {"all": "ok", "pooled": "ok", "quiet": "ok", "some": "muted", "none": "bad", "failed": "bad"}


def _scenario_verdict(row: dict[str, Any]) -> str:
    kind = str(row.get("outcome") or "")
    return _tag(str(row.get("verdict") or kind or "—"), _OUTCOME_TAGS.get(kind, "muted"))


def _command(value: Any) -> str:
    """A reproduce command without the environment prefix the section's lead already shows."""
    return re.sub(r"^(?:PYTHONPATH=\S+\s+)?(?:nice -n \d+\s+)?(?:\S*/)?(python\b)", r"\1", str(value or "—"))


def _scenarios(data: dict[str, Any]) -> str:
    rows = data.get("scenarios") or []
    parts = [
        f"<p><strong>Measured by <code>{esc(data.get('measured_by'))}</code>, not in this run</strong>: "
        f"read from <code>{esc(data.get('source'))}</code>"
        + (f" (machine: {esc(data.get('machine'))})" if data.get("machine") else "")
        + ". Each row is a student trained on our watermarked answers by an attacker who tries to hide "
        "it (dilution, paraphrase, a smaller student, a weaker watermark, many accounts), then read "
        "for the harvesting accounts' keys beside control keys nobody used; a key is named at "
        f"Holm-adjusted p &lt; {_num(data.get('alpha'))}. This run's own student is tested only under "
        "<code>--full</code> (the section above).</p>",
        f"<p>Reproduce every row: <code>{esc(data.get('command'))}</code></p>",
    ]
    table = [
        (
            f"<strong>{esc(r['scenario'])}</strong><br>{esc(r.get('description') or '')}"
            + (f'<br><span class="muted">read on {esc(r["reading"])}</span>' if r.get("reading") else ""),
            _pct(r.get("share")),
            _num(r.get("delta"), 1),
            esc(r.get("student") or "—"),
            _scenario_keys(r),
            f"min p {_p_short((r.get('controls') or {}).get('min_p'))}, "
            f"{_num((r.get('controls') or {}).get('below_0.05'))} of "
            f"{_num((r.get('controls') or {}).get('count'))} &lt; 0.05",
            _p_short(r.get("untrained_min_p")),
            _scenario_verdict(r),
            f"<code>{esc(_command(r.get('reproduce')))}</code>",
        )
        for r in rows
    ]
    headers = ["scenario", "our share of training tokens", "delta", "student", "harvesting keys: p",
               "control keys", "untrained copy: min p", "verdict", "reproduce"]  # fmt: skip
    parts.append(_table(headers, table, {1, 2, 6}))
    return _wrap("scenarios", "".join(parts))


def _world(data: dict[str, Any]) -> str:
    parts = [
        f"<p>Simulated by <code>{esc(data.get('simulator'))}</code>: {_num(data.get('accounts'))} accounts, "
        f"{_num(data.get('history_exchanges'))} exchanges over {_num(data.get('history_hours'), 1)} h of "
        "history in the gateway's log, then a live window through the real gateway. Roles are the "
        "simulator's labels: used to count hits and false positives, never shown to a detector.</p>"
    ]
    rows = [
        (
            _role_tag(g.get("role")),
            esc(g.get("group")),
            esc(str(g.get("style") or "").replace("_", " "))
            + (" " + _tag("hard negative", "muted") if g.get("hard_negative") else ""),
            _num(g.get("accounts")),
            _num(g.get("history_exchanges")),
        )
        for g in data.get("groups", [])
    ]
    parts.append(_table(["role", "group", "kind", "accounts", "exchanges in the log"], rows, {3, 4}))
    live = data.get("live") or {}
    if live:
        parts.append(
            f'<p class="muted">Live: extractor {esc(live.get("extractor") or "—")}; hydra accounts '
            f"{esc(', '.join(live.get('hydra') or []) or '—')}; benign accounts "
            f"{esc(', '.join(live.get('benign') or []) or '—')}.</p>"
        )
    return _wrap("world", "".join(parts))


def _round_text(r: dict[str, Any]) -> str:
    named = ", ".join(str(n) for n in r.get("named") or [])
    text = (
        f"round {_num(r.get('round'))} (alpha {_num(r.get('alpha'))}, {_num(r.get('texts'))} answers) named "
        f"<strong>{esc(named or 'no key')}</strong>"
    )
    if r.get("explained"):
        text += f", whose answers explained {_num(r['explained'])} of them"
    return text


def _named(k: dict[str, Any], alpha: float) -> str:
    value = k.get("p_value")
    if value is None:
        return "—"
    named = k["named"] if isinstance(k.get("named"), bool) else value < alpha
    where = f" in round {_num(k['round'])}" if named and k.get("round") else ""
    tag = _tag("named" + where, "bad") if named else _tag("not named", "muted")
    return f"{float(value):.3g} {tag}"


def _attribution(data: dict[str, Any]) -> str:
    alpha = float(data.get("alpha") or 1e-6)
    keys = data.get("keys", [])
    shown = [k for k in keys if k.get("harvested") or k.get("named")]
    rest = [k for k in keys if k not in shown]
    controls = data.get("controls") or {}
    compare = any(isinstance(k.get("all_positions"), dict) for k in keys)
    parts = [
        f"<p>{esc(data.get('method') or '')}: {_num(data.get('texts'))} answers, {_num(data.get('tokens'))} "
        f"tokens; an account is named at adjusted p &lt; {alpha:g}"
        + (" (split over the rounds)" if data.get("rounds") else "")
        + "."
        + (
            " The last column is the same test over every position, shown for comparison only: "
            "where the teacher had no choice, any key's green list is hit by chance."
            if compare
            else ""
        )
        + "</p>"
    ]
    rounds = data.get("rounds") or []
    if rounds:
        parts.append("<p>" + "; ".join(_round_text(r) for r in rounds) + ".</p>")

    def everywhere(k: dict[str, Any]) -> tuple[str, ...]:
        other = k.get("all_positions") or {}
        return (f"{_num(other.get('p_value'))} (z {_num(other.get('z'), 1)})",) if compare else ()

    rows = [
        (
            esc(k["account"]),
            _role_tag(k.get("role")),
            _num(k.get("harvested")),
            _named(k, alpha),
            _num(k.get("z")),
            _num(k.get("tokens_scored")),
            *everywhere(k),
        )
        for k in shown
    ]
    blank = ("—",) if compare else ()
    if rest:
        smallest = min((k["p_value"] for k in rest if k.get("p_value") is not None), default=None)
        rows.append(
            (f"{len(rest)} other account keys", _tag("answered, not harvesters", "muted"), "0",
             f"smallest {_num(smallest)}", "—", "—", *blank)
        )  # fmt: skip
    rows.append(
        (f"{_num(controls.get('count'))} control keys (no account)", _tag("control", "ok"), "0",
         f"smallest {_num(controls.get('smallest_p'))}", "—", "—", *blank)
    )  # fmt: skip
    headers = ["account key", "role", "answers harvested", "p-value", "z", "pairs scored"]
    headers += ["every position: p (z)"] if compare else []
    parts.append(_table(headers, rows, {2, 4, 5}))
    return _wrap("attribution", "".join(parts))


def _points(value: Any, se: Any = None) -> str:
    if value is None:
        return "—"
    return f"{float(value):+.1f}" + (f" ± {float(se):.1f}" if se is not None else "")


def _this_run_point(point: dict[str, Any]) -> str:
    if "not_measured" in point:
        return (
            '<div class="missing"><strong>Not measured in this run:</strong> '
            f"the watermark's cost to the teacher ({esc(point['not_measured'])}).</div>"
        )
    return (
        f"<h3>Measured in this run: {esc(point.get('condition'))}</h3>"
        f"<p>{esc(point.get('method') or '')}: on {_num(point.get('items'))} questions the teacher scored "
        f"<strong>{_pct(point.get('teacher_accuracy_with'))}</strong> with the watermark and "
        f"<strong>{_pct(point.get('teacher_accuracy_without'))}</strong> without it: a cost of "
        f"<strong>{_points(point.get('teacher_cost_points'), point.get('teacher_cost_se'))} points</strong> "
        f"(mean ± standard error; {_num(point.get('identical_answers'))} of {_num(point.get('items'))} "
        "answers identical). The student's fidelity denied at this strength is not measured in this run: "
        "that needs a second student trained on unwatermarked answers (the table below).</p>"
    )


def _frontier(data: dict[str, Any]) -> str:
    parts = [_this_run_point(data.get("this_run") or {"not_measured": "no measurement"})]
    rows = data.get("rows") or []
    if not rows:
        parts.append(f'<div class="missing"><strong>No evaluated frontier:</strong> '
                     f"{esc(data.get('unavailable') or 'no rows')}</div>")  # fmt: skip
        return _wrap("frontier", "".join(parts))
    parts.append(
        "<h3>Measured separately, not in this run</h3>"
        f"<p>By <code>{esc(data.get('measured_by'))}</code>, read from <code>{esc(data.get('source'))}</code>"
        f" (machine: {esc(data.get('machine') or 'not recorded')}): task {esc(data.get('task'))}, "
        f"{_num(data.get('train_answers'))} harvested answers per condition through a defended server, "
        f"students of {esc(data.get('student_layers'))} layers. <em>Teacher cost</em> is task accuracy lost "
        "in points; <em>gain cut</em> is the share of the undefended student's fidelity gain the "
        "countermeasure denied (1 = all of it).</p>"
    )
    parts.append(_plot(plots.frontier(data), "countermeasure frontier: teacher cost against gain cut"))
    table = [
        (
            esc(r["condition"]),
            esc(r.get("method")),
            _num(r.get("seeds")),
            _points(r.get("teacher_cost_points"), r.get("teacher_cost_se")),
            "—"
            if r.get("gain_cut") is None
            else f"{r['gain_cut']:.2f}" + (f" ± {r['gain_cut_sd']:.2f}" if r.get("gain_cut_sd") else ""),
            _num(r.get("fidelity_gain")),
        )
        for r in rows
    ]
    parts.append(
        _table(
            ["condition", "student", "seeds", "teacher cost (points)", "gain cut", "student's gain"],
            table,
            {2, 3, 4, 5},
        )  # fmt: skip
    )
    goal = data.get("goal") or {}
    if goal:
        met = goal.get("met_by") or []
        parts.append(
            f"<p>Goal: cut the gain by {_pct(goal.get('gain_cut'))} for at most "
            f"{_pct(goal.get('max_relative_accuracy_cost'))} of the teacher's accuracy; met by "
            f"<strong>{esc(', '.join(met) or 'no condition')}</strong>.</p>"
        )
    return _wrap("frontier", "".join(parts))


def _identity(data: dict[str, Any]) -> str:
    names = data.get("watch_names", [])
    parts = [f"<p>Names watched for: {esc(', '.join(names) or '—')}.</p>"]
    for probe in data.get("probes", []):
        hits = probe.get("hits") or []
        verdict = _tag("names " + ", ".join(hits), "bad") if hits else _tag("no watched name", "ok")
        parts.append(
            f'<div class="quote"><strong>{esc(probe["model"])}</strong> {verdict}\n'
            f"<strong>Q:</strong> {_quote(probe['question'])}\n"
            f"<strong>A:</strong> {_quote(probe.get('answer'))}</div>"
        )
    return _wrap("identity", "".join(parts))


def _probes(data: dict[str, Any]) -> str:
    parts = []
    hidden = data.get("hidden_size")
    if hidden:
        parts.append(
            f"<h3>Hidden size from the softmax bottleneck</h3><p>Estimated hidden size: "
            f"<strong>{_num(hidden.get('estimate'))}</strong> from {_num(hidden.get('prompts'))} prompts × "
            f"{_num(hidden.get('tokens'))} tokens, {_num(hidden.get('queries'))} queries.</p>"
        )
    equality = data.get("equality")
    if equality:
        parts.append(
            f"<h3>Model equality</h3><p>{esc(equality.get('a'))} vs {esc(equality.get('b'))}: p = "
            f"<strong>{_num(equality.get('p_value'))}</strong>, greedy agreement "
            f"{_pct(equality.get('greedy_agreement'))}.</p>"
        )
    for key, value in data.items():
        if key not in ("hidden_size", "equality"):
            parts.append(f"<h3>{esc(key)}</h3><p>{esc(_short(value, 400))}</p>")
    return _wrap("probes", "".join(parts) or '<div class="missing">No audit ran.</div>')


def _actions(report: Report) -> str:
    actions = recommend(report)
    if not actions:
        return _wrap(
            "actions",
            '<div class="missing">Not measured in this run: no evidence to base an action on.</div>',
            "not-measured",
        )
    items = "".join(
        f"<li><strong>{esc(a.title)}</strong> {_tag(a.effect_label, 'bad' if a.effect else 'muted')}"
        f'<br><span class="muted">{esc(a.area)}:</span> {esc(a.evidence)}</li>'
        for a in actions
    )
    return _wrap(
        "actions", f'<p class="muted">Ranked by measured effect.</p><ol class="actions">{items}</ol>'
    )


def _run(report: Report) -> str:
    stages = report.run.get("stages", [])
    if not stages:
        return _wrap(
            "run", '<div class="missing">Not measured in this run: no stage log.</div>', "not-measured"
        )
    kinds = {"ok": "ok", "failed": "bad", "not_available": "bad", "skipped": "muted"}
    rows = [
        (
            esc(s["name"]),
            _tag(s["status"], kinds[s["status"]]),
            _num(s.get("seconds"), 1),
            _num(s.get("cpu_seconds"), 1),
            esc(s.get("detail") or ""),
        )
        for s in stages
    ]
    machine = report.run.get("machine") or {}
    lead = ""
    if report.run.get("duration_s") is not None:
        load = machine.get("load_average_at_start")
        lead = (
            f"<p>The run took <strong>{float(report.run['duration_s']) / 60:.1f} min</strong>"
            + (f" on {_num(machine.get('cpus'))} CPUs" if machine.get("cpus") else "")
            + (f", {float(report.run['cpu_s']) / 60:.1f} min of CPU time" if report.run.get("cpu_s") else "")
            + (
                f" (load average {load[0]:.1f} at the start: other work was running)"
                if load and load[0] > 1.5
                else ""
            )
            + ".</p>"
        )
    return _wrap("run", lead + _table(["stage", "status", "seconds", "CPU seconds", "detail"], rows, {2, 3}))


_RENDERERS = {
    "world": _world,
    "attribution": _attribution,
    "harvest": _harvest,
    "student": _student,
    "frontier": _frontier,
    "guard": _guard,
    "watermark": _watermark,
    "scenarios": _scenarios,
    "identity": _identity,
    "probes": _probes,
}


def _headline_cards(report: Report) -> list[str]:
    cards = []
    guard = report.get("guard")
    if guard:
        on = counts(guard.get("accounts", []))
        cards.append(
            _card(f"{on['attackers_flagged']} / {on['attackers']}", "attacker accounts caught online")
        )
        offline = guard.get("offline")
        if offline:
            off = counts(offline.get("accounts", []))
            cards.append(_card(f"{off['attackers_flagged']} / {off['attackers']}", "caught offline"))
            benign = {a["account"] for a in guard.get("accounts", []) + offline.get("accounts", [])
                      if a.get("role") == "benign" and a.get("flagged")}  # fmt: skip
            cards.append(_card(f"{len(benign)} / {on['benign']}", "benign accounts flagged (either)"))
    attribution = report.get("attribution")
    if attribution:
        harvesters = [k for k in attribution.get("keys", []) if k.get("harvested")]
        named = sum(1 for k in harvesters if k.get("named"))
        cards.append(_card(f"{named} / {len(harvesters)}", "harvesting accounts named by the watermark"))
    student = report.get("student")
    if student:
        methods = {m["method"]: m for m in student.get("methods", [])}
        trained = next((m for name, m in methods.items() if name != "untrained"), None)
        if trained and (trained.get("fidelity") or {}).get("agreement") is not None:
            before = (methods.get("untrained", {}).get("fidelity") or {}).get("agreement")
            label = "student's agreement with the teacher" + (
                f" (from {_pct(before)})" if before is not None else ""
            )
            cards.append(_card(_pct(trained["fidelity"]["agreement"]), label))
    return cards


def _summary(report: Report) -> str:
    summary = executive_summary(report)
    cards = _headline_cards(report)
    columns = []
    for title, lines in (("Exposure as a target", summary.target), ("Exposure as a tactic", summary.tactic)):
        items = "".join(f"<li>{esc(line)}</li>" for line in lines) or "<li>Not measured in this run.</li>"
        columns.append(f'<div class="col"><h3>{title}</h3><ul>{items}</ul></div>')
    actions = (
        "".join(
            f"<li><strong>{esc(a.title)}</strong> {_tag(a.effect_label, 'bad' if a.effect else 'muted')}"
            f'<br><span class="muted">{esc(a.evidence)}</span></li>'
            for a in summary.actions
        )
        or "<li>No evidence to base an action on.</li>"
    )
    body = (
        (f'<div class="cards">{"".join(cards)}</div>' if cards else "")
        + f'<div class="cols">{"".join(columns)}</div>'
        + f'<h3>Three actions from this run\'s numbers</h3><ol class="actions">{actions}</ol>'
    )
    return _wrap("summary", body)


def render_html(report: Report) -> str:
    """The whole report page as a string."""
    run = report.run
    subtitle = " · ".join(
        esc(x)
        for x in (
            f"run {run.get('id')}" if run.get("id") else None,
            f"mode {run.get('mode')}" if run.get("mode") else None,
            f"teacher {run.get('teacher')}" if run.get("teacher") else None,
            f"student {run.get('student')}" if run.get("student") else None,
            f"generated {report.raw.get('generated_at')}" if report.raw.get("generated_at") else None,
        )
        if x
    )
    order = ["actions", *SECTIONS, "run"]
    nav = "".join(f'<a href="#{n}">{esc(TITLES[n])}</a>' for n in order)
    body = [_summary(report), f"<nav>{nav}</nav>", _actions(report)]
    for name in order[1:-1]:
        section = report.sections[name]
        body.append(_RENDERERS[name](section.data) if section.measured else _missing(section))
    body.append(_run(report))
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Distillation exposure report</title><style>{CSS}</style></head><body>"
        f'<header><div class="inner"><h1>Distillation exposure report</h1><p>{subtitle}</p></div></header>'
        f"<main>{''.join(body)}<footer>distillscope {esc(__version__)} · rendered from report.json "
        f"(schema {esc(report.raw.get('schema_version'))})</footer></main></body></html>\n"
    )
