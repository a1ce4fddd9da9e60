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


def test_information_loss_beside_the_previous_release_by_dataset_and_category():
    from metpipeline.approval.release_notice import report_markdown

    def loss(suppressed, cells, rape):
        return {
            "information_loss": {
                "ward": {
                    "cells": cells,
                    "suppressed": suppressed,
                    "share": suppressed / cells,
                    "crimes_hidden": 7,
                    "by_category": {
                        "SEXUAL OFFENCES / RAPE": {"suppressed": rape, "cells": 40, "share": rape / 40}
                    },
                }
            }
        }

    now, before = loss(12, 400, 10), loss(9, 380, 8)
    ledger = {"systems": {}, "counted": 9, "not_geocoded": {}}
    report = build_report("2024-03", [], {"policy_version": "2026.1", **now}, ledger, {"202403": 9}, before)
    (row,) = report["disclosure"]["information_loss"]
    assert (row["suppressed"], row["previous_suppressed"]) == (12, 9)
    assert row["by_category"][0] == {
        "category": "SEXUAL OFFENCES / RAPE",
        "suppressed": 10,
        "share": 0.25,
        "previous_suppressed": 8,
        "previous_share": 0.2,
    }
    html = render_html(report)
    assert "3.00%" in html and "2.37%" in html and "25.00%" in html and "20.00%" in html
    markdown = report_markdown(report, {})
    assert "| ward | 12 | 3.00% | 9 | 2.37% |" in markdown
    assert "| ward: SEXUAL OFFENCES / RAPE | 10 | 25.00% | 8 | 20.00% |" in markdown
