"""Counting rules 1-7, one test group per rule, plus the unmapped-code message."""

import pandas as pd
import pytest

from metpipeline.harmonise import rules
from metpipeline.harmonise.month import harmonise_month
from metpipeline_tests.harmonise.frames import connect_frame, cris_frame


def test_rule1_connect_month_in_london_time():
    df = connect_frame(
        [{"recorded_at_utc": "2024-03-31 23:30:00"}, {"recorded_at_utc": "2024-10-27 00:30:00"}]
    )
    assert list(rules.counting_month(rules.connect_local_time(df))) == ["2024-04", "2024-10"]


def test_rule2_and_3_cris_reasons_and_precedence():
    df = cris_frame(
        [
            {"crime_status": "CRIME"},
            {"crime_status": "NO CRIME"},
            {"crime_status": "TRANSFER"},
            {"crime_status": "NO CRIME", "migrated_to_connect": True},  # migrated wins over status
            {"crime_status": "CRIME", "recorded_at": "2024-02-28 00:00:00"},
            {"crime_status": "CRIME", "recorded_at": "2024-02-27 23:59:59"},
        ]
    )
    assert list(rules.cris_exclusion_reason(df).fillna("-")) == [
        "-", "not a crime", "transferred", "duplicate of migrated crime", "CRIS after cut-over", "-",
    ]  # fmt: skip


def test_rule2_and_3_connect_reasons_and_precedence():
    df = connect_frame(
        [
            {"offence_status": "CONFIRMED"},
            {"offence_status": "CANCELLED"},
            {"offence_status": "TRANSFERRED"},
            {"offence_status": "PENDING"},
            {"offence_status": "CONFIRMED", "migrated_from_cris": True, "legacy_ref_duplicate": True},
            {"offence_status": "CONFIRMED", "recorded_at_utc": "2024-02-27 23:59:59"},
            {
                "offence_status": "CONFIRMED",
                "recorded_at_utc": "2023-06-01 10:00:00",
                "migrated_from_cris": True,
            },
        ]
    )
    assert list(rules.connect_exclusion_reason(df).fillna("-")) == [
        "-", "cancelled", "transferred", "pending", "duplicate legacy reference",
        "CONNECT before cut-over", "-",
    ]  # fmt: skip


def test_unknown_status_is_a_data_error():
    with pytest.raises(rules.DataError, match="REOPENED"):
        rules.connect_exclusion_reason(connect_frame([{"offence_status": "REOPENED"}]))


def test_rule4_classification_and_premises_split():
    codes = pd.Series(["028/05", "028/05", "028/06", "105/01", "028/05"])
    premises = pd.Series(["DWELLING", "UNCONNECTED BUILDING", None, None, "OTHER"])
    out = rules.classify(codes, premises, "CRIS")
    assert list(out["mps_minor"]) == [
        "RES BURGLARY OF A HOME", "RES BURGLARY OF UNCONNECTED BUILDING", "RES BURGLARY OF A HOME",
        "VIOLENCE WITHOUT INJURY", "RES BURGLARY OF A HOME",
    ]  # fmt: skip
    assert list(out["premises_defaulted"]) == [False, False, True, False, True]
    assert list(out["ho_code"]) == ["28E", "28E", "28F", "105A", "28E"]
    c = rules.classify(
        pd.Series(["28E", "28E", "4.10"]),
        pd.Series(["Residential - Home", "residential - unconnected building", None]),
        "CONNECT",
    )
    assert list(c["mps_minor"]) == [
        "RES BURGLARY OF A HOME",
        "RES BURGLARY OF UNCONNECTED BUILDING",
        "HOMICIDE",
    ]


def test_unmapped_codes_stop_the_month_with_code_system_and_rows():
    feb, feb_utc = {"recorded_at": "2024-02-01 10:00:00"}, {"recorded_at_utc": "2024-02-28 10:00:00"}
    cris = cris_frame([{**feb, "offence_code": "999/99"}] * 12 + [{**feb, "offence_code": "105/01"}])
    # A cancelled offence with an unmapped code does not stop the month: it is never counted.
    connect = connect_frame(
        [{**feb_utc, "ho_offence_code": "99Z"}] * 4
        + [{**feb_utc, "ho_offence_code": "98Y", "offence_status": "CANCELLED"}]
    )
    with pytest.raises(rules.DataError) as err:
        harmonise_month("2024-02", cris, connect)
    assert str(err.value) == (
        "2024-02: 2 offence codes are not in offence_classification.csv: CRIS 999/99 (12 rows), "
        "CONNECT 99Z (4 rows) — map them before this month can be released"
    )


def test_rule5_boroughs():
    assert list(rules.cris_borough(pd.Series(["CW", "SO18", None, "ZZ", " ht "]))) == [
        "Westminster", "London Heathrow and London City Airports", "Unknown", "Unknown", "Tower Hamlets",
    ]  # fmt: skip
    assert list(rules.connect_borough(pd.Series(["E09000033", "SO18", None, "E09000099"]))) == [
        "Westminster", "London Heathrow and London City Airports", "Unknown", "Unknown",
    ]  # fmt: skip


def test_rule6_geography_names_and_not_geocoded():
    out = rules.geography(pd.Series(["E05013799", None]), pd.Series(["E01035704", None]))
    assert out.iloc[0].tolist() == [
        "E05013799", "Little Venice", "Westminster", "E01035704", "Tower Hamlets 036C", "Tower Hamlets",
    ]  # fmt: skip
    assert out.iloc[1].isna().all()


def test_rule6_unknown_geography_code_is_named():
    with pytest.raises(rules.DataError, match="E05999999"):
        rules.geography(pd.Series(["E05999999"]), pd.Series([None]))


@pytest.mark.parametrize(
    "text, expected",
    [
        (" race ; RELIGION;sexual  orientation ;", {"hate_race", "hate_religion", "hate_sexual_orientation"}),
        ("Disability;Transgender", {"hate_disability", "hate_transgender"}),
        ("SexualOrientation", {"hate_sexual_orientation"}),
        (None, set()),
        ("", set()),
        (" ; ", set()),
    ],
)
def test_rule7_hate_strands_parsed(text, expected):
    assert rules.parse_hate_strands(text) == expected


def test_rule7_unknown_strand_is_named():
    with pytest.raises(rules.DataError, match="'Age'"):
        rules.parse_hate_strands("Race; Age")


def test_rule7_flags():
    c = rules.connect_flags(connect_frame([{"hate_crime_strands": "race", "domestic_abuse_flag": "Y"}, {}]))
    assert c["hate_race"].tolist() == [True, False] and c["domestic_abuse"].tolist() == [True, False]
    with pytest.raises(rules.DataError, match="'X'"):
        rules.connect_flags(connect_frame([{"domestic_abuse_flag": "X"}]))
    k = rules.cris_flags(cris_frame([{"hate_religion": 1, "domestic_abuse": 1}]))
    assert k.iloc[0].tolist() == [False, True, False, False, False, True]
