"""The reconciliation invariant on random extracts: counted + excluded == extracted, per system."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metpipeline.harmonise.month import harmonise_month
from metpipeline.harmonise.reconcile import ReconciliationError, check_invariant
from metpipeline_tests.harmonise.frames import connect_frame, cris_frame

cris_rows = st.lists(
    st.fixed_dictionaries(
        {
            "crime_status": st.sampled_from(["CRIME", "NO CRIME", "TRANSFER"]),
            "migrated_to_connect": st.booleans(),
            "recorded_at": st.sampled_from(
                ["2024-02-01 00:00:00", "2024-02-27 23:59:59", "2024-02-28 00:00:00"]
            ),
            "offence_code": st.sampled_from(["105/01", "028/05", "046/00"]),
            "premises_type": st.sampled_from([None, "DWELLING", "UNCONNECTED BUILDING", "OTHER"]),
            "recorded_ocu": st.sampled_from(["CW", "SO18", None, "ZZ"]),
            "ward_code": st.sampled_from(["E05013799", None]),
        }
    ),
    max_size=15,
)
connect_rows = st.lists(
    st.fixed_dictionaries(
        {
            "offence_status": st.sampled_from(["CONFIRMED", "CANCELLED", "TRANSFERRED", "PENDING"]),
            "migrated_from_cris": st.booleans(),
            "legacy_ref_duplicate": st.booleans(),
            "recorded_at_utc": st.sampled_from(
                ["2024-02-01 00:00:00", "2024-02-27 23:30:00", "2024-02-28 10:00:00"]
            ),
            "ho_offence_code": st.sampled_from(["105A", "28E", "8M"]),
            "hate_crime_strands": st.sampled_from([None, "race;Religion", " disability "]),
            "lsoa_code": st.sampled_from(["E01004670", None]),
        }
    ),
    max_size=15,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cris_rows, connect_rows)
def test_every_extracted_row_is_counted_or_excluded(cris, connect):
    harmonised, ledger = harmonise_month("2024-02", cris_frame(cris), connect_frame(connect))
    for system, n in (("CRIS", len(cris)), ("CONNECT", len(connect))):
        entry = ledger["systems"][system]
        assert entry["extracted"] == n
        assert entry["counted"] + sum(entry["excluded"].values()) == n
    assert ledger["counted"] == len(harmonised)
    assert set(harmonised["system"]) <= {"CRIS", "CONNECT"}


def test_invariant_violation_is_reported():
    ledger = {
        "month": "2024-02",
        "systems": {"CRIS": {"extracted": 3, "counted": 1, "excluded": {"not a crime": 1}}},
        "counted": 1,
    }
    try:
        check_invariant(ledger)
    except ReconciliationError as err:
        assert "2024-02 CRIS" in str(err)
    else:
        raise AssertionError("expected ReconciliationError")
