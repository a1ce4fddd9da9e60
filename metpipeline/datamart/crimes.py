"""One month of synthetic crimes as column arrays, before they are shaped into CRIS and CONNECT tables.

Volumes follow mps_volumes_2023.csv (per borough and minor category) with a mild seasonality and a small,
bounded month-to-month noise on each category's London total, so every category with enough volume stays
within 10% of its 2023 average; boroughs get a multinomial share. All randomness comes from the `rng`
passed in, so a month is a pure function of (seed, month, scale).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from metpipeline.datamart.lookups import Lookups
from metpipeline.datamart.timeutil import CUTOVER_LOCAL, local_to_epoch, month_bounds_utc

SEASON_AMPLITUDE = 0.05  # ±5% sinusoid, peaking in July
TOTAL_NOISE_SD = 0.015  # month-to-month noise on a category's London total…
TOTAL_NOISE_CLIP = 0.03  # …bounded, so |season + noise| stays under 8.2% of the 2023 average
NON_COUNTED_SHARE = 0.04  # share of rows that are not counted (NO CRIME / TRANSFER; CANCELLED / PENDING …)
NOT_GEOCODED_RATE = 0.03
OTHER_BOROUGH_RATE = 0.05  # location outside the recording borough
BOUNDARY_RATE = 0.004  # rows recorded within an hour of the month boundary (midnight, London time)
DST_RATE = 0.002  # rows recorded within two hours of a clock change (March and October)
SPREAD_M = 1800.0  # scatter of locations around the borough centre, metres
LONDON_BNG_BOX = ((503500, 561500), (155900, 200900))

HATE_RATE_BY_MAJOR = {"VIOLENCE AGAINST THE PERSON": 0.03, "PUBLIC ORDER OFFENCES": 0.05}
HATE_RATE_BY_MINOR = {"RACE OR RELIGIOUS AGG PUBLIC FEAR": 1.0}
HATE_STRAND_RATES = (
    0.7,
    0.15,
    0.12,
    0.05,
    0.03,
)  # race, religion, sexual orientation, disability, transgender
DA_RATE_BY_MAJOR = {
    "VIOLENCE AGAINST THE PERSON": 0.3,
    "SEXUAL OFFENCES": 0.15,
    "ARSON AND CRIMINAL DAMAGE": 0.08,
}
SAME_BOROUGH_AIRPORT = (0.85, 0.15)  # SO18 crimes: Heathrow (Hillingdon) or London City (Newham)


def seasonality(month: int) -> float:
    return 1.0 + SEASON_AMPLITUDE * float(np.cos(2 * np.pi * (month - 7) / 12))


@dataclass
class Crimes:
    """Column arrays, one element per generated crime (row index space of one month)."""

    utc: np.ndarray  # recording instant, UTC epoch seconds
    counted: np.ndarray  # bool: CRIME / CONFIRMED
    borough: np.ndarray  # index into Lookups.borough_names (the recording unit)
    minor: np.ndarray
    code_row: np.ndarray  # index into offence_classification rows
    loc_gss: np.ndarray  # index into Lookups.gss (location borough)
    lsoa: np.ndarray  # object: LSOA21CD or None
    ward: np.ndarray  # object: WD23CD or None
    easting: np.ndarray  # float, NaN when not geocoded
    northing: np.ndarray
    hate: np.ndarray  # (n, 5) bool
    domestic_abuse: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.utc)


def _cells(lk: Lookups, rng: np.random.Generator, month: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    counted_cells = []
    for i in range(len(lk.minors)):
        cells = np.flatnonzero(lk.cell_minor == i)
        ref = lk.cell_ref[cells]
        if ref.sum() <= 0:
            continue
        noise = float(np.clip(rng.normal(0, TOTAL_NOISE_SD), -TOTAL_NOISE_CLIP, TOTAL_NOISE_CLIP))
        total = int(round(ref.sum() * seasonality(month) * (1 + noise) * scale))
        counted_cells.append(np.repeat(cells, rng.multinomial(total, ref / ref.sum())))
    counted = np.concatenate(counted_cells)
    n_non = rng.binomial(len(counted), NON_COUNTED_SHARE / (1 - NON_COUNTED_SHARE))
    non = rng.choice(len(lk.cell_ref), n_non, p=lk.cell_ref / lk.cell_ref.sum())
    cells = np.concatenate([counted, non])
    return cells, np.arange(len(cells)) < len(counted)


def _instants(rng: np.random.Generator, ym: tuple[int, int], n: int) -> np.ndarray:
    start, end = month_bounds_utc(ym)
    utc = rng.integers(start, end, n)
    # Awkward but legal: just after / before London midnight at the month boundary (in BST that is 23:xx UTC
    # on the previous day, e.g. 2024-03-31 23:30 UTC counts in April).
    edge = rng.random(n) < BOUNDARY_RATE
    first = rng.random(n) < 0.5
    utc[edge] = np.where(
        first[edge], start + rng.integers(0, 3600, n)[edge], end - 1 - rng.integers(0, 3600, n)[edge]
    )
    if ym[1] in (3, 10):
        last_day = datetime(ym[0], ym[1] + 1, 1) - timedelta(days=1)
        sunday = last_day - timedelta(days=(last_day.weekday() - 6) % 7)
        switch = int(datetime(sunday.year, sunday.month, sunday.day, 1, tzinfo=UTC).timestamp())
        near = rng.random(n) < DST_RATE
        utc[near] = switch + rng.integers(-7200, 7200, n)[near]
    return np.sort(utc)


def _locations(lk: Lookups, rng: np.random.Generator, borough: np.ndarray):
    n = len(borough)
    gss_ix = {g: i for i, g in enumerate(lk.gss)}
    home = np.array([gss_ix.get(h, -1) if h else -1 for h in lk.home_gss])[borough]
    airport = np.array([name.startswith("London Heathrow") for name in lk.borough_names])[borough]
    loc = rng.integers(0, len(lk.gss), n)  # other / unknown borough: anywhere in the MPS area
    stay = (home >= 0) & (rng.random(n) >= OTHER_BOROUGH_RATE)
    loc[stay] = home[stay]
    airports = np.array([gss_ix[g] for g in ("E09000017", "E09000025")])
    loc[airport] = airports[(rng.random(n) >= SAME_BOROUGH_AIRPORT[0]).astype(int)][airport]

    lsoa = np.empty(n, dtype=object)
    ward = np.empty(n, dtype=object)
    for g in range(len(lk.gss)):
        rows = np.flatnonzero(loc == g)
        pick = rng.integers(0, len(lk.gss_lsoas[g]), len(rows))
        lsoa[rows] = lk.gss_lsoas[g][pick]
        ward[rows] = lk.gss_lsoa_wards[g][pick]
    en = lk.gss_centre[loc] + rng.normal(0, SPREAD_M, (n, 2))
    (e0, e1), (n0, n1) = LONDON_BNG_BOX
    easting, northing = np.clip(en[:, 0], e0, e1).round(), np.clip(en[:, 1], n0, n1).round()
    missing = rng.random(n) < NOT_GEOCODED_RATE
    lsoa[missing] = None
    ward[missing] = None
    easting[missing] = np.nan
    northing[missing] = np.nan
    return loc, lsoa, ward, easting, northing


def _flags(lk: Lookups, rng: np.random.Generator, minor: np.ndarray):
    n = len(minor)
    major = np.array(lk.minor_major, dtype=object)[minor]
    minors = np.array(lk.minors, dtype=object)[minor]
    hate_rate = np.array([HATE_RATE_BY_MAJOR.get(m, 0.003) for m in major])
    hate_rate = np.where(np.isin(minors, list(HATE_RATE_BY_MINOR)), 1.0, hate_rate)
    is_hate = rng.random(n) < hate_rate
    strands = rng.random((n, 5)) < np.array(HATE_STRAND_RATES)
    strands[~strands.any(axis=1), 0] = True  # a hate crime has at least one strand
    strands &= is_hate[:, None]
    da = rng.random(n) < np.array([DA_RATE_BY_MAJOR.get(m, 0.01) for m in major])
    return strands, da


def generate_crimes(lk: Lookups, rng: np.random.Generator, ym: tuple[int, int], scale: float = 1.0) -> Crimes:
    cells, counted = _cells(lk, rng, ym[1], scale)
    order = rng.permutation(len(cells))  # counted and non-counted rows interleave in time
    cells, counted = cells[order], counted[order]
    borough, minor = lk.cell_borough[cells], lk.cell_minor[cells]
    code_row = np.empty(len(cells), dtype=np.int64)
    for i in range(len(lk.minors)):
        rows = np.flatnonzero(minor == i)
        code_row[rows] = rng.choice(lk.minor_code_rows[i], len(rows), p=lk.minor_code_weights[i])
    loc, lsoa, ward, easting, northing = _locations(lk, rng, borough)
    hate, da = _flags(lk, rng, minor)
    return Crimes(
        utc=_instants(rng, ym, len(cells)),
        counted=counted,
        borough=borough,
        minor=minor,
        code_row=code_row,
        loc_gss=loc,
        lsoa=lsoa,
        ward=ward,
        easting=easting,
        northing=northing,
        hate=hate,
        domestic_abuse=da,
    )


CUTOVER_UTC = local_to_epoch(CUTOVER_LOCAL)
