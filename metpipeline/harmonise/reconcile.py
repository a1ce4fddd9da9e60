"""The reconciliation ledger of a month: every extracted row counted or excluded with a reason, per system."""

import pandas as pd

from metpipeline.catalogue import CATALOGUE
from metpipeline.harmonise.rules import CONNECT_REASONS, CRIS_REASONS


class ReconciliationError(AssertionError):
    """counted + excluded != extracted: a row was lost or double-counted (a defect, never data)."""


def system_ledger(reasons: pd.Series, known: tuple[str, ...]) -> dict:
    """{'extracted', 'counted', 'excluded': {reason: n}} for one system; every known reason listed."""
    extracted = int(len(reasons))
    counts = reasons.dropna().value_counts()
    unknown = set(counts.index) - set(known)
    if unknown:
        raise ReconciliationError(f"exclusion reasons outside the ledger: {sorted(unknown)}")
    excluded = {reason: int(counts.get(reason, 0)) for reason in known}
    return {"extracted": extracted, "counted": int(reasons.isna().sum()), "excluded": excluded}


def reconciliation(
    month: str,
    cris_reasons: pd.Series,
    connect_reasons: pd.Series,
    harmonised: pd.DataFrame,
) -> dict:
    """The reconciliation JSON of docs/architecture.md, with its invariant asserted."""
    ledger = {
        "month": month,
        "systems": {
            "CRIS": system_ledger(cris_reasons, CRIS_REASONS),
            "CONNECT": system_ledger(connect_reasons, CONNECT_REASONS),
        },
        "counted": int(len(harmonised)),
        # Per table of geocoded records: the records it counts that its rows leave out for want of a geocode.
        "not_geocoded": {
            s.slug: int(s.counted_rows(harmonised)[s.not_geocoded].isna().sum())
            for s in CATALOGUE.values()
            if s.not_geocoded
        },
        "premises_defaulted": int(harmonised["premises_defaulted"].sum()),
    }
    check_invariant(ledger)
    return ledger


def check_invariant(ledger: dict) -> None:
    """For each system counted + sum(excluded) == extracted; the systems' counted add up to the total."""
    total = 0
    for system, entry in ledger["systems"].items():
        accounted = entry["counted"] + sum(entry["excluded"].values())
        if accounted != entry["extracted"]:
            raise ReconciliationError(
                f"{ledger['month']} {system}: counted {entry['counted']} + excluded "
                f"{sum(entry['excluded'].values())} != extracted {entry['extracted']}"
            )
        total += entry["counted"]
    if total != ledger["counted"]:
        raise ReconciliationError(
            f"{ledger['month']}: systems count {total} but {ledger['counted']} rows harmonised"
        )
