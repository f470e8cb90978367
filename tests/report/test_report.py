"""report.json -> report.html: schema checks, escaping, missing sections, recommendations, CLI."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from distillscope.cli import app
from distillscope.report.build import build_report
from distillscope.report.html import render_html
from distillscope.report.recommend import recommend
from distillscope.report.schema import (
    SECTIONS,
    ReportFormatError,
    load_report,
    parse_report,
    write_report_json,
)

from .conftest import EVIL_PROMPT, FAKE_KEY

runner = CliRunner()


def _sections(html: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="(\w+)" data-section="\w+" data-status="([\w-]+)"', html))


def test_full_report_has_every_section_measured(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    found = _sections(html)
    assert set(found) == {"summary", "actions", *SECTIONS, "run"}
    assert all(status == "measured" for status in found.values()), found
    # The numbers of the fixture reach the page.
    assert "9,000" in html and "$0.0123" in html and "70.0%" in html
    # The backtest and the live policy, each number with its denominator.
    assert "3 of 2,400 (0.1%)" in html and "1 of 2 (50.0%)" in html
    assert "40 of 60" in html  # atk-1's log-probs stripped in the live window
    assert "Watch list fed by the offline detector: <strong>2</strong>" in html


def test_user_text_is_escaped_and_keys_redacted(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    assert EVIL_PROMPT not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script" not in html.lower()  # the page carries no script at all
    assert "<img src=x>" not in html and "&lt;img src=x&gt;" in html
    assert FAKE_KEY not in html and "[redacted]" in html


def test_page_is_self_contained(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    assert not re.search(r'(src|href)="(?!data:|#)', html), "only inline data: and in-page links are allowed"
    assert "default-src 'none'" in html  # CSP: the browser itself refuses any fetch
    # harvest, retention, timeline, frontier, watermark
    assert html.count('src="data:image/svg+xml;base64,') == 5


def test_secret_fields_are_dropped_wherever_they_are(report_data: dict[str, Any]) -> None:
    report_data["harvest"]["accounts"][0]["api_key"] = FAKE_KEY
    report_data["run"]["api_key"] = FAKE_KEY
    report = parse_report(report_data)
    assert FAKE_KEY not in json.dumps(report.raw)
    assert FAKE_KEY not in render_html(report)


def test_missing_sections_say_not_measured_with_the_stage_reason() -> None:
    data = {
        "schema_version": 1,
        "run": {
            "stages": [{"name": "watermark", "status": "not_available", "detail": "no radioactivity API"}]
        },
    }
    report = parse_report(data)
    assert report.sections["watermark"].not_measured == "not_available: no radioactivity API"
    html = render_html(report)
    found = _sections(html)
    for name in SECTIONS:
        assert found[name] == "not-measured", name
    assert "Not measured in this run" in html and "no radioactivity API" in html
    # Without any evidence there is nothing measured to recommend except turning the watermark on.
    assert [a.title for a in recommend(report)] == ["Enable the per-account watermark"]


def test_explicit_not_measured_marker(report_data: dict[str, Any]) -> None:
    report_data["student"] = {"not_measured": "training was skipped (--no-train)"}
    html = render_html(parse_report(report_data))
    assert _sections(html)["student"] == "not-measured"
    assert "training was skipped (--no-train)" in html


def test_malformed_section_is_shown_as_invalid_and_the_rest_renders(report_data: dict[str, Any]) -> None:
    report_data["guard"]["accounts"][0]["score"] = "very high"
    report_data["watermark"] = ["not", "an", "object"]
    report = parse_report(report_data)
    assert "accounts[0]: 'score' must be a number" in report.sections["guard"].invalid
    html = render_html(report)
    found = _sections(html)
    assert found["guard"] == "invalid" and found["watermark"] == "invalid"
    assert found["harvest"] == "measured" and found["student"] == "measured"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "must hold a JSON object"),
        ({"harvest": {}}, "no 'schema_version'"),
        ({"schema_version": 99}, "schema_version 99"),
        ({"schema_version": "1"}, "positive integer"),
        (
            {"schema_version": 1, "run": {"stages": [{"name": "x", "status": "great"}]}},
            "status must be one of",
        ),
    ],
)
def test_unusable_reports_are_refused_clearly(data: Any, message: str) -> None:
    with pytest.raises(ReportFormatError, match=message):
        parse_report(data)


def test_load_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ReportFormatError, match="no such file"):
        load_report(tmp_path)
    (tmp_path / "report.json").write_text('{"schema_version": 1,', encoding="utf-8")
    with pytest.raises(ReportFormatError, match="invalid JSON"):
        load_report(tmp_path)


def test_recommendations_are_computed_from_the_evidence(report_data: dict[str, Any]) -> None:
    actions = recommend(parse_report(report_data))
    by_title = {a.title: a for a in actions}
    logprobs = next(a for a in actions if "top_logprobs" in a.title)
    # topk-kd kept 0.28/0.4 = 70%, SFT 0.2/0.4 = 50%: the log-probs were worth 20 points.
    assert logprobs.effect == pytest.approx(0.2)
    # atk-2 was never acted on online, but the offline detector flagged it: feed it back.
    feed = next(a for t, a in by_title.items() if "feeding the offline detector" in t.lower())
    assert feed.effect == pytest.approx(1 / 2)
    assert "atk-2" in feed.evidence and "58 of the attackers' 118 answers" in feed.evidence
    # atk-1 was delayed 47 times yet got all 60 answers, atk-2 58 of 60: the actions were too mild.
    enforce = next(a for t, a in by_title.items() if t.startswith("Rate-limit or block"))
    assert enforce.effect == pytest.approx(118 / 120)
    assert "118 of 120 requests answered" in enforce.evidence and "11.8 s" in enforce.evidence
    watermark = next(a for a in actions if a.area == "watermark")
    assert watermark.title.startswith("Keep the per-account watermark on") and "3.0e-09" in watermark.evidence
    measured = [a.effect for a in actions if a.effect is not None]
    assert measured == sorted(measured, reverse=True)
    assert all(a.effect is not None for a in actions[: len(measured)])
    assert not any("benign" in a.title for a in actions)  # no benign account was flagged

    # If the log-probs did not help, the report says so instead of recommending to strip them.
    report_data["student"]["methods"][2]["task_score"] = 0.18
    actions = recommend(parse_report(report_data))
    assert any(a.title.startswith("top_logprobs gave the attacker no measurable gain") for a in actions)


def test_false_positives_and_misses_become_actions(report_data: dict[str, Any]) -> None:
    guard = report_data["guard"]
    guard["offline"]["accounts"][2]["flagged"] = True  # alice, benign, flagged offline
    guard["offline"]["accounts"][1]["flagged"] = False  # atk-2 now passes both detectors
    actions = {a.title: a for a in recommend(parse_report(report_data))}
    review = next(a for t, a in actions.items() if t.startswith("Review the flag thresholds"))
    assert review.effect == pytest.approx(1.0) and "1 of 1 benign accounts" in review.evidence
    gap = next(a for t, a in actions.items() if t.startswith("Close the detection gap"))
    assert gap.effect == pytest.approx(1 / 2) and "atk-2" in gap.evidence


def test_a_refused_logprob_extractor_leaks_no_logprobs(report_data: dict[str, Any]) -> None:
    report_data["student"]["methods"] = [
        m for m in report_data["student"]["methods"] if m["method"] != "topk-kd"
    ]
    cost = report_data["guard"]["policy_cost"]["accounts"]
    cost[0]["asked_logprobs"] = cost[0]["logprobs_stripped"] = 0
    cost.append(
        {
            "account": "xtr",
            "role": "attacker",
            "requests": 4,
            "answered": 0,
            "blocked": 4,
            "rate_limited": 0,
            "delayed": 0,
            "delay_s": 0.0,
            "asked_logprobs": 0,
            "logprobs_stripped": 0,
        }
    )
    report_data["world"]["live"]["extractor"] = "xtr"
    action = next(a for a in recommend(parse_report(report_data)) if a.area == "API surface")
    assert action.title.startswith("Keep refusing") and "4 requests were all refused" in action.evidence
    cost[-1].update(answered=1, requests=5)  # it got an answer: the run measured a different thing
    action = next(a for a in recommend(parse_report(report_data)) if a.area == "API surface")
    assert not action.title.startswith("Keep refusing")


def test_benign_accounts_acted_on_are_described_by_the_harshest_action(report_data: dict[str, Any]) -> None:
    from distillscope.report.summary import executive_summary

    alice = report_data["guard"]["accounts"][2]
    alice.update(flagged=True, action="strip_logprobs ×548, throttle ×3")
    target = " ".join(executive_summary(parse_report(report_data)).target)
    assert "1 of 1 benign accounts (1 throttled)" in target
    review = next(a for a in recommend(parse_report(report_data)) if a.title.startswith("Review the flag"))
    assert "(alice ×1; online: 1 throttled)" in review.evidence
    alice.update(action="strip_logprobs ×548")
    target = " ".join(executive_summary(parse_report(report_data)).target)
    assert "1 of 1 benign accounts (1 log-probs stripped)" in target


def test_executive_summary_states_this_runs_numbers(report_data: dict[str, Any]) -> None:
    from distillscope.report.summary import executive_summary

    summary = executive_summary(parse_report(report_data))
    target = " ".join(summary.target)
    assert "4,000 exchanges of 5 accounts over 24 h" in target
    assert "hard negatives: corporate nat (1)" in target
    assert "1 of 2 attacker accounts flagged or acted on" in target
    assert "Offline detector: 2 of 2 attacker accounts flagged, 0 of 1 benign" in target
    assert "name 2 of 2 harvesting accounts' keys" in target and "0 of 20 control keys" in target
    tactic = " ".join(summary.tactic)
    assert "31.0% of answer tokens, from 1.0% untrained" in tactic
    assert "Radioactivity of the student: p = 2.0e-07" in tactic
    assert len(summary.actions) == 3
    html = render_html(parse_report(report_data))
    assert html.index('id="summary"') < html.index('id="actions"') < html.index('id="world"')


def test_frontier_section_labels_where_each_number_was_measured(report_data: dict[str, Any]) -> None:
    from distillscope.report.summary import executive_summary

    html = render_html(parse_report(report_data))
    section = html[
        html.index('<section id="frontier"') : html.index("</section>", html.index('id="frontier"'))
    ]
    assert "Measured in this run: watermark delta 2" in section and "37.5%" in section and "50.0%" in section
    assert "+12.5 ± 6.9 points" in section and "5 of 24" in section
    assert "Measured separately, not in this run" in section and "a 2-core test box" in section
    assert "docs/evidence/defend/frontier.json" in section and "<img" in section  # the plot
    assert "watermark-4" in section and "+10.9 ± 4.2" in section and "0.95" in section
    assert "&lt;i&gt;with&lt;/i&gt;" in section  # text from the file is escaped
    target = " ".join(executive_summary(parse_report(report_data)).target)
    assert (
        "This run's watermark (watermark delta 2) moved the teacher's task accuracy from 50.0% to 37.5% "
        "(-12.5 ± 6.9 points) on 24 paired greedy answers." in target
    )
    assert "halves the student's fidelity gain is watermark-4" in target and "noise-2" in target
    # No evaluated table: this run's point still shows, and the gap says why.
    report_data["frontier"].update(rows=[], unavailable="no frontier file at x.json")
    html = render_html(parse_report(report_data))
    assert "No evaluated frontier" in html and "no frontier file at x.json" in html
    assert "Measured in this run: watermark delta 2" in html
    # A malformed row is shown as invalid, not drawn.
    report_data["frontier"]["rows"] = [{"condition": "x", "method": "sft", "gain_cut": "lots"}]
    assert (
        parse_report(report_data).sections["frontier"].invalid
        == "rows[0]: 'gain_cut' must be a number, got str"
    )


def test_attribution_shows_the_every_position_test_beside_for_comparison(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    assert "every position: p (z)" not in html  # a run that scored every position has one test
    key = report_data["attribution"]["keys"][1]
    key["all_positions"] = {"p_value": 0.19, "z": 2.08, "tokens_scored": 1627}
    html = render_html(parse_report(report_data))
    section = html[html.index('<section id="attribution"') :]
    section = section[: section.index("</section>")]
    assert "every position: p (z)" in section and "0.19 (z 2.1)" in section
    assert "shown for comparison only" in section


def test_countermeasure_action_is_priced_by_the_frontier_and_this_run(report_data: dict[str, Any]) -> None:
    actions = recommend(parse_report(report_data))
    [action] = [a for a in actions if a.area == "countermeasures"]
    assert "from 1.0% to 31.0% agreement with the teacher on 118 harvested answers" in action.evidence
    assert "watermark-4 cut such a student's gain by 95% for 10.9 points" in action.evidence
    assert "task accuracy from 50.0% to 37.5% (-12.5 ± 6.9 points) on 24 paired greedy" in action.evidence
    assert action.effect is None and action.effect_label == "95% of the gain (measured separately)"
    # Whatever this run shows already working ranks after the changes it calls for.
    assert all(not a.keep for a in actions[: actions.index(next(a for a in actions if a.keep))])
    report_data["frontier"]["rows"] = [r for r in report_data["frontier"]["rows"] if r["gain_cut"] < 0.5]
    assert not [a for a in recommend(parse_report(report_data)) if a.area == "countermeasures"]


def test_a_harvester_the_watermark_missed_is_explained(report_data: dict[str, Any]) -> None:
    key = report_data["attribution"]["keys"][1]
    key.update(named=False, p_value=0.5)
    [action] = [a for a in recommend(parse_report(report_data)) if a.area == "watermark"]
    assert action.title.startswith("Strengthen the watermark") and not action.keep
    assert "name 1 of 2 harvesting accounts; not named: atk-2 (58 answers, p = 0.5)" in action.evidence
    assert "the fewer answers an account took" in action.evidence
    next(a for a in report_data["harvest"]["accounts"] if a["account"] == "atk-2")["temperature"] = 0.0
    [action] = [a for a in recommend(parse_report(report_data)) if a.area == "watermark"]
    assert (
        "atk-2 decoded greedily: under one key similar prompts get near-identical answers" in action.evidence
    )


def test_write_report_json_round_trips(tmp_path: Path, report_data: dict[str, Any]) -> None:
    path = write_report_json(report_data, tmp_path / "run" / "report.json")
    assert load_report(path.parent).raw["harvest"]["queries"] == 120
    with pytest.raises(ReportFormatError):
        write_report_json({"no": "version"}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_cli_builds_the_report(tmp_path: Path, report_data: dict[str, Any]) -> None:
    write_report_json(report_data, tmp_path / "report.json")
    result = runner.invoke(app, ["report", "--run", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html_path = tmp_path / "report.html"
    assert html_path.read_text(encoding="utf-8") == render_html(load_report(tmp_path))
    assert str(html_path) in result.stdout


def test_cli_errors_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--run", str(tmp_path)])
    assert result.exit_code == 2
    assert "no such file" in " ".join(result.output.split())
    (tmp_path / "report.json").write_text("not json", encoding="utf-8")
    result = runner.invoke(app, ["report", "--run", str(tmp_path)])
    assert result.exit_code == 2 and "invalid JSON" in " ".join(result.output.split())
    assert not (tmp_path / "report.html").exists()


def test_build_report_to_custom_path(tmp_path: Path, report_data: dict[str, Any]) -> None:
    write_report_json(report_data, tmp_path / "report.json")
    out = build_report(tmp_path / "report.json", tmp_path / "site" / "index.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_blank_and_long_answers_are_tidied(report_data: dict[str, Any]) -> None:
    report_data["identity"]["probes"][1]["answer"] = "\n" * 40
    report_data["harvest"]["examples"][0]["response"] = "word " * 400
    html = render_html(parse_report(report_data))
    assert "(empty or only whitespace)" in html
    assert "word " * 119 in html and "word " * 125 not in html and "…" in html


def test_scenarios_section_is_labelled_measured_elsewhere_with_commands(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    start = html.index('<section id="scenarios"')
    section = html[start : html.index("</section>", start)]
    assert "Measured by <code>bench/radioactivity.py</code>, not in this run" in section
    assert "a shared 2-core box" in section and "docs/evidence/watermark/radioactivity-*.json" in section
    assert (
        "--scenario all" in section
        and "<code>python bench/radioactivity.py --scenario paraphrase</code>" in section
    )
    assert "attacker-1: <strong>3.5e-17</strong> (470 pairs)" in section  # each key's p-value
    assert "16 keys, each alone: min p 0.0071, 0 named; <strong>pooled p 1e-59</strong>" in section
    assert "min p 0.037, 1 of 20 &lt; 0.05" in section  # controls with their denominator
    assert "10.0%" in section and "partly detected: 1 of 2 harvesting keys named" in section
    assert "not detected: a measured limit" in section
    assert "<b>rewritten</b>" not in section and "&lt;b&gt;rewritten&lt;/b&gt;" in section
    # The default run's own radioactivity is skipped: its section says so, the table still shows.
    report_data["watermark"] = {"not_measured": "skipped: runs under --full"}
    html = render_html(parse_report(report_data))
    found = _sections(html)
    assert found["watermark"] == "not-measured" and found["scenarios"] == "measured"
    assert "runs under --full" in html
    # A malformed row is shown as invalid, not drawn.
    report_data["scenarios"]["scenarios"][0]["harvesters"][0]["p"] = "tiny"
    assert parse_report(report_data).sections["scenarios"].invalid == (
        "scenarios[0].harvesters[0]: 'p' must be a number, got str"
    )


def test_summary_says_how_the_separately_measured_scenarios_came_out(report_data: dict[str, Any]) -> None:
    from distillscope.report.summary import executive_summary

    report_data["watermark"] = {"not_measured": "skipped: runs under --full"}
    tactic = executive_summary(parse_report(report_data)).tactic
    assert "Radioactivity of the student: not measured in this run (skipped: runs under --full)." in tactic
    line = next(t for t in tactic if t.startswith("Radioactivity measured separately"))
    assert "(bench/radioactivity.py, not in this run)" in line
    assert "every harvesting key named in 1 of 4 adaptive-attacker scenarios (mixed10)" in line
    assert "partly in paraphrase, spread" in line and "not detected in small (measured limits)" in line
    report_data["scenarios"] = {"not_measured": "no scenario file"}
    tactic = executive_summary(parse_report(report_data)).tactic
    assert not any("measured separately (bench" in t for t in tactic)


def test_attribution_in_rounds_says_which_round_named_each_key(report_data: dict[str, Any]) -> None:
    html = render_html(parse_report(report_data))
    start = html.index('<section id="attribution"')
    section = html[start : html.index("</section>", start)]
    assert "named at adjusted p &lt; 1e-06 (split over the rounds)" in section
    assert (
        "round 1 (alpha 5e-07, 118 answers) named <strong>atk-1</strong>, whose answers explained 60"
        in section
    )
    assert "round 2 (alpha 2.5e-07, 58 answers) named <strong>atk-2</strong>" in section
    assert "3e-09 " in section and "named in round 2" in section
    report_data["attribution"]["rounds"][0]["named"] = ["<b>x</b>"]
    assert "&lt;b&gt;x&lt;/b&gt;" in render_html(parse_report(report_data))
    report_data["attribution"]["rounds"][0]["alpha"] = "small"
    assert "rounds[0]: 'alpha' must be a number" in str(
        parse_report(report_data).sections["attribution"].invalid
    )


def test_the_guard_section_says_which_benchmark_registry_was_used(report_data: dict[str, Any]) -> None:
    data = copy.deepcopy(report_data)
    assert "Public benchmark registry" not in render_html(parse_report(data))  # older reports: no line
    data["guard"]["benchmarks"] = {
        "registered": [{"name": "bench-<0>", "questions": 1492}],
        "note": "registered",
    }
    html = render_html(parse_report(data))
    assert (
        "Public benchmark registry: <strong>bench-&lt;0&gt; (1,492 questions)</strong> (registered)" in html
    )
    data["guard"]["benchmarks"] = {"registered": [], "note": "the world has no evaluation-harness traffic"}
    html = render_html(parse_report(data))
    assert (
        "Public benchmark registry: <strong>none</strong> (the world has no evaluation-harness traffic)"
        in html
    )
