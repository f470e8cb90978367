"""The report in headless Chromium: no console errors, no network, every section, a screenshot."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from distillscope.report.browser import find_chromium, visit
from distillscope.report.build import build_report
from distillscope.report.schema import SECTIONS, write_report_json

pytestmark = pytest.mark.browser

SECTION_CHECK = (
    "Array.from(document.querySelectorAll('section[data-section]'))"
    ".map(s => [s.id, s.dataset.status, s.querySelector('h2').textContent])"
)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (scripts/ci-services.sh installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    return path


def test_full_report_in_chromium(tmp_path: Path, report_data: dict[str, Any], chromium: str) -> None:
    write_report_json(report_data, tmp_path / "report.json")
    html = build_report(tmp_path)
    page = visit(html, evaluate=SECTION_CHECK, executable=chromium)
    assert page.console_errors == []
    assert page.network == []
    sections = {sid: status for sid, status, _ in page.evaluated}
    assert set(sections) == {"summary", "actions", *SECTIONS, "run"}
    assert set(sections.values()) == {"measured"}
    # The artifact: kept under pytest's tmp dir (and copied by CI as an artifact if it wants).
    shot = tmp_path / "report-screenshot.png"
    shot.write_bytes(page.screenshot or b"")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000
    keep = os.environ.get("DISTILLSCOPE_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-screenshot.png")


def test_phone_width_has_no_horizontal_scroll(
    tmp_path: Path, report_data: dict[str, Any], chromium: str
) -> None:
    write_report_json(report_data, tmp_path / "report.json")
    page = visit(
        build_report(tmp_path),
        evaluate="[document.documentElement.scrollWidth, window.innerWidth]",
        width=390,
        screenshot=False,
        executable=chromium,
    )
    scroll_width, inner_width = page.evaluated
    assert inner_width == 390
    assert scroll_width <= inner_width  # wide tables scroll inside their own box, not the page
    assert page.console_errors == []


def test_empty_report_renders_not_measured_sections(tmp_path: Path, chromium: str) -> None:
    write_report_json({"schema_version": 1}, tmp_path / "report.json")
    page = visit(build_report(tmp_path), evaluate=SECTION_CHECK, screenshot=False, executable=chromium)
    assert page.console_errors == []
    statuses = {sid: status for sid, status, _ in page.evaluated}
    assert all(statuses[name] == "not-measured" for name in SECTIONS)


def test_console_errors_are_caught(tmp_path: Path, chromium: str) -> None:
    # The check itself must be able to fail: a page with an error and a blocked fetch.
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        'script-src \'unsafe-inline\'"></head><body><img src="http://203.0.113.1/x.png">'
        "<script>console.error('boom'); undefinedFunction();</script></body></html>",
        encoding="utf-8",
    )
    page = visit(bad, screenshot=False, executable=chromium)
    joined = " | ".join(page.console_errors)
    assert "boom" in joined and "undefinedFunction" in joined
    assert any("Content Security Policy" in e or "Refused" in e for e in page.console_errors)
