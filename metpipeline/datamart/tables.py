"""Shape one month of synthetic crimes into the contract tables (column lists in contract order).

Crimes recorded before the cut-over (London time) become CRIS reports; later ones CONNECT offences grouped
into occurrences. Open CRIS crimes of the last months before the cut-over are also migrated into CONNECT
(legacy_cris_ref, original recording time in UTC), some later cancelled there.
"""

from dataclasses import dataclass, field

import numpy as np

from metpipeline.datamart.crimes import CUTOVER_UTC, Crimes
from metpipeline.datamart.lookups import Lookups
from metpipeline.datamart.pii import PiiSampler
from metpipeline.datamart.schema import TABLES_BY_NAME
from metpipeline.datamart.timeutil import fmt_seconds, month_bounds_utc, utc_to_local

# Share of a CRIS-era month's counted crimes still open at cut-over and so migrated into CONNECT.
MIGRATION_RATES = {(2023, 10): 0.01, (2023, 11): 0.015, (2023, 12): 0.025, (2024, 1): 0.05, (2024, 2): 0.12}
MIGRATED_CANCELLED_RATE = 0.08
CRIS_AFTER_CUTOVER = {(2024, 2): 6, (2024, 3): 4}  # anomalies: CRIS rows recorded on/after the cut-over
RES_BURGLARY_NO_PREMISES_RATE = 0.02
OCCURRENCE_SIZES, OCCURRENCE_SIZE_P = np.array([1, 2, 3]), np.array([0.8, 0.15, 0.05])
NO_LOCATION_RATE = 0.005  # occurrences without a location row
ID_BLOCK = 1_000_000  # ids per month in each id space
CRIS_REFS_PER_MONTH = 830_000  # CRIS sequence numbers per month (7-digit refs, 12 months per year)

_STRAND_SPELLINGS = (
    ("Race", "RACE", "race"),
    ("Religion", "RELIGION", "religion"),
    ("Sexual Orientation", "SEXUAL ORIENTATION", "sexual orientation"),
    ("Disability", "DISABILITY", "disability"),
    ("Transgender", "TRANSGENDER", "transgender"),
)
_SEPARATORS = ("; ", ";", " ; ", ";  ")


@dataclass
class MonthTables:
    month: tuple[int, int]
    tables: dict[str, dict[str, list]] = field(default_factory=dict)

    def rows(self, name: str) -> list[tuple]:
        cols = self.tables[name]
        return list(zip(*(cols[c] for c in TABLES_BY_NAME[name].column_names), strict=True))

    def count(self, name: str) -> int:
        cols = self.tables.get(name)
        return len(next(iter(cols.values()))) if cols else 0


def _opt(values: np.ndarray, missing: np.ndarray) -> list:
    out = values.astype(object)
    out[missing] = None
    return out.tolist()


def _pick(rng, n: int, values: tuple, p: tuple) -> np.ndarray:
    return np.array(values, dtype=object)[rng.choice(len(values), n, p=p)]


def _premises(lk: Lookups, rng, code_row: np.ndarray, system: str) -> np.ndarray:
    split = lk.code_premises[code_row]
    if system == "CRIS":
        home, unconnected, other = "DWELLING", "UNCONNECTED BUILDING", ("DWELLING", "OTHER", None)
    else:
        home, unconnected = "Residential - Home", "Residential - Unconnected Building"
        other = ("Residential - Home", "Non-Residential", None)
    out = _pick(rng, len(code_row), other, (0.35, 0.55, 0.10))
    out[split == "HOME"] = home
    out[split == "UNCONNECTED BUILDING"] = unconnected
    # Residential burglaries without a premises type: counted as HOME and reported by the pipeline.
    out[(split == "HOME") & (rng.random(len(code_row)) < RES_BURGLARY_NO_PREMISES_RATE)] = None
    return out


def hate_strings(rng, hate: np.ndarray) -> list:
    """CONNECT's free-text strands: semicolon-separated, in mixed casing and spacing."""
    out: list = [None] * len(hate)
    for i in np.flatnonzero(hate.any(axis=1)):
        parts = [_STRAND_SPELLINGS[s][rng.integers(0, 3)] for s in np.flatnonzero(hate[i])]
        text = _SEPARATORS[rng.integers(0, len(_SEPARATORS))].join(parts)
        out[i] = (" " if rng.random() < 0.15 else "") + text + (" " if rng.random() < 0.05 else "")
    return out


def cris_table(lk, rng, pii: PiiSampler, c: Crimes, idx: np.ndarray, ym, local: np.ndarray) -> dict:
    n = len(idx)
    seq = (ym[1] - 1) * CRIS_REFS_PER_MONTH + 1 + np.arange(n)
    yy = ym[0] % 100
    refs = [f"{s:07d}/{yy:02d}" for s in seq.tolist()]
    rec = local[idx]
    end_local = int(utc_to_local(np.array([month_bounds_utc(ym)[1] - 1]))[0])
    committed_from = rec - rng.exponential(1.5 * 86400, n).astype(np.int64)
    committed_to = committed_from + rng.exponential(3 * 3600, n).astype(np.int64)
    committed_to = np.minimum(committed_to, rec)
    modified = np.maximum(np.minimum(rec + rng.exponential(5 * 86400, n).astype(np.int64), end_local), rec)
    status = np.where(c.counted[idx], "CRIME", _pick(rng, n, ("NO CRIME", "TRANSFER"), (0.8, 0.2))).astype(
        object
    )
    geo_missing = c.lsoa[idx] == None  # noqa: E711 (element-wise on an object array)
    return {
        "cris_ref": refs,
        "recorded_ocu": np.array(lk.cris_ocu, dtype=object)[c.borough[idx]].tolist(),
        "offence_code": lk.code_cris[c.code_row[idx]].tolist(),
        "premises_type": _premises(lk, rng, c.code_row[idx], "CRIS").tolist(),
        "recorded_at": fmt_seconds(rec).tolist(),
        "committed_from": _opt(fmt_seconds(committed_from), rng.random(n) < 0.1),
        "committed_to": _opt(fmt_seconds(committed_to), rng.random(n) < 0.4),
        "crime_status": status.tolist(),
        "lsoa_code": c.lsoa[idx].tolist(),
        "ward_code": c.ward[idx].tolist(),
        "easting": _opt(np.nan_to_num(c.easting[idx]).astype(np.int64), geo_missing),
        "northing": _opt(np.nan_to_num(c.northing[idx]).astype(np.int64), geo_missing),
        **{
            f"hate_{s}": c.hate[idx, k].astype(int).tolist()
            for k, s in enumerate(("race", "religion", "sexual_orientation", "disability", "transgender"))
        },
        "domestic_abuse": c.domestic_abuse[idx].astype(int).tolist(),
        "victim_name": pii.names(rng, n, refs, "victim_name", null_rate=0.15),
        "victim_dob": pii.dates_of_birth(rng, c.utc[idx], null_rate=0.2),
        "mo_text": pii.text(rng, pii.pools.mo_texts, n, refs, "mo_text", null_rate=0.05),
        "last_modified_at": fmt_seconds(modified).tolist(),
    }


def _cris_to_connect_premises(values: list) -> np.ndarray:
    mapping = {
        "DWELLING": "Residential - Home",
        "UNCONNECTED BUILDING": "Residential - Unconnected Building",
        "OTHER": "Non-Residential",
    }
    return np.array([mapping.get(v) if v else None for v in values], dtype=object)


def _occurrence_starts(rng, borough: np.ndarray) -> np.ndarray:
    """Group consecutive offences (sorted by unit, then time) into occurrences of 1-3 offences, never
    across units: an occurrence has one owning unit."""
    n = len(borough)
    start = np.zeros(n, dtype=bool)
    if n == 0:
        return start
    sizes = rng.choice(OCCURRENCE_SIZES, n, p=OCCURRENCE_SIZE_P)
    pos = np.cumsum(sizes) - sizes
    start[pos[pos < n]] = True
    start[1:] |= borough[1:] != borough[:-1]
    return start


def connect_tables(lk, rng, pii: PiiSampler, c: Crimes, native: np.ndarray, migrated, ym) -> dict:
    """`migrated`: (row indices, cris refs, cris premises) of CRIS crimes migrated into CONNECT."""
    mig_idx, mig_refs, mig_premises = migrated
    mi = (ym[0] - 2000) * 12 + ym[1] - 1
    nat = native[np.lexsort((c.utc[native], c.borough[native]))]
    src = np.concatenate([nat, mig_idx]).astype(np.int64)
    is_mig = np.arange(len(src)) >= len(nat)
    start = np.concatenate([_occurrence_starts(rng, c.borough[nat]), np.ones(len(mig_idx), dtype=bool)])
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    n, g = len(src), len(first)
    if max(n, g) >= ID_BLOCK:
        raise ValueError(f"{ym}: {n} offences exceed the id block of {ID_BLOCK} per month; lower the scale")

    offence_id = 1_000_000_000_000 + mi * ID_BLOCK + np.arange(n)
    occurrence_id = 2_000_000_000_000 + mi * ID_BLOCK + np.arange(g)
    location_id = 3_000_000_000_000 + mi * ID_BLOCK + np.arange(g)
    utc = c.utc[src]
    month_end_utc = month_bounds_utc(ym)[1] - 1

    status = np.where(
        c.counted[src],
        "CONFIRMED",
        _pick(rng, n, ("CANCELLED", "TRANSFERRED", "PENDING"), (0.55, 0.15, 0.30)),
    ).astype(object)
    status[is_mig] = np.where(rng.random(is_mig.sum()) < MIGRATED_CANCELLED_RATE, "CANCELLED", "CONFIRMED")
    modified = np.minimum(utc + rng.exponential(5 * 86400, n).astype(np.int64), max(month_end_utc, 0))
    modified = np.maximum(modified, utc)
    modified[is_mig] = CUTOVER_UTC + rng.integers(86400, 150 * 86400, is_mig.sum())
    premises = _premises(lk, rng, c.code_row[src], "CONNECT")
    premises[is_mig] = _cris_to_connect_premises(mig_premises)
    legacy = np.full(n, None, dtype=object)
    legacy[is_mig] = mig_refs

    occ_src = src[first]
    yy = ym[0] % 100
    unit_no = c.borough[occ_src] + 1
    seq = (ym[1] - 1) * 83_000 + 1 + np.arange(g)
    has_location = rng.random(g) >= NO_LOCATION_RATE
    geo_missing = c.lsoa[occ_src] == None  # noqa: E711 (element-wise on an object array)
    lat = 51.5073 + (c.northing[occ_src] - 180380) / 111_200
    lon = -0.1276 + (c.easting[occ_src] - 530040) / 69_300
    loc_ids = location_id[has_location]
    loc_src = occ_src[has_location]
    loc_missing = geo_missing[has_location]

    tables = {
        "connect_offence": {
            "offence_id": offence_id.tolist(),
            "occurrence_id": occurrence_id[group].tolist(),
            "ho_offence_code": lk.code_ho[c.code_row[src]].tolist(),
            "premises_type": premises.tolist(),
            "recorded_at_utc": fmt_seconds(utc).tolist(),
            "offence_status": status.tolist(),
            "legacy_cris_ref": legacy.tolist(),
            "hate_crime_strands": hate_strings(rng, c.hate[src]),
            "domestic_abuse_flag": np.where(c.domestic_abuse[src], "Y", "N").astype(object).tolist(),
            "last_modified_at_utc": fmt_seconds(modified).tolist(),
        },
        "connect_occurrence": {
            "occurrence_id": occurrence_id.tolist(),
            "occurrence_ref": [
                f"{u:02d}/{s:06d}/{yy:02d}" for u, s in zip(unit_no.tolist(), seq.tolist(), strict=True)
            ],
            "owning_unit_code": np.array(lk.connect_unit, dtype=object)[c.borough[occ_src]].tolist(),
            "location_id": _opt(location_id, ~has_location),
            "reported_at_utc": fmt_seconds(
                utc[first] - rng.exponential(40 * 60, g).astype(np.int64)
            ).tolist(),
        },
        "connect_location": {
            "location_id": loc_ids.tolist(),
            "latitude": _opt(np.round(lat[has_location], 6), loc_missing),
            "longitude": _opt(np.round(lon[has_location], 6), loc_missing),
            "lsoa_code": c.lsoa[loc_src].tolist(),
            "ward_code": c.ward[loc_src].tolist(),
            "borough_gss_code": _opt(np.array(lk.gss, dtype=object)[c.loc_gss[loc_src]], loc_missing),
            "address_text": pii.text(
                rng, pii.pools.addresses, len(loc_ids), loc_ids.tolist(), "address_text"
            ),
        },
    }
    tables.update(_people(rng, pii, offence_id, utc, mi))
    return tables


def _people(rng, pii: PiiSampler, offence_id: np.ndarray, utc: np.ndarray, mi: int) -> dict:
    links_off, links_role, at = [], [], []
    for role, p in (("VICTIM", 0.75), ("SUSPECT", 0.3), ("WITNESS", 0.1)):
        mask = rng.random(len(offence_id)) < p
        links_off.append(offence_id[mask])
        links_role.append(np.full(mask.sum(), role, dtype=object))
        at.append(utc[mask])
    off, roles, at_s = np.concatenate(links_off), np.concatenate(links_role), np.concatenate(at)
    k = len(off)
    if k >= ID_BLOCK:
        raise ValueError(f"{k} people exceed the id block of {ID_BLOCK} per month; lower the scale")
    person_id = 4_000_000_000_000 + mi * ID_BLOCK + np.arange(k)
    keys = person_id.tolist()
    return {
        "connect_person": {
            "person_id": keys,
            "surname": pii.text(rng, pii.pools.surnames, k, keys, "surname"),
            "forenames": pii.text(rng, pii.pools.forenames, k, keys, "forenames"),
            "date_of_birth": pii.dates_of_birth(rng, at_s, null_rate=0.1),
            "ethnicity_code": pii.ethnicity(rng, k),
        },
        "connect_offence_person": {"offence_id": off.tolist(), "person_id": keys, "role": roles.tolist()},
    }
