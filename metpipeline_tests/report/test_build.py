"""Release report: a JSON dict with counts per outcome, and a self-contained HTML page with an SVG chart."""

from metpipeline.report.build import build_report, render_html


def test_report_gathers_outcomes_and_renders():
    checks = [
        {"name": "disclosure_threshold", "passed": True, "severity": "ERROR", "description": "0 cells"},
        {"name": "volume_within_trailing_range", "passed": False, "severity": "WARN", "description": "+40%"},
    ]
    disclosure = {
        "policy_version": "2025.1",
        "suppressed_cells": {"ward": {"primary": 3, "secondary": 2}},
        "withheld_categories": {"lsoa": [{"major": "SEXUAL OFFENCES", "minor": "RAPE"}]},
    }
    systems = {"CONNECT": {"extracted": 10, "counted": 9, "excluded": {"cancelled": 1}}}
    ledger = {"systems": systems, "counted": 9, "not_geocoded": {"ward": 1, "lsoa": 2}}
    report = build_report("2024-03", checks, disclosure, ledger, {"202402": 8, "202403": 9})
    assert report["status"] == "warn" and report["counts"] == {"pass": 1, "warn": 1, "fail": 0}
    assert report["warnings"] == ["volume_within_trailing_range: +40%"]
    html = render_html(report)
    assert html.startswith("<!doctype html>") and "<svg" in html and "RAPE" in html and "cancelled: 1" in html
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # self-contained
