"""Reference lookups reshaped into arrays for the synthetic seed: categories, codes, units and geography.

Built once per seed run from the vendored reference files (metpipeline.reference); everything here is
deterministic and independent of the random seed.
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from metpipeline import reference

AIRPORT_BOROUGHS = ("E09000017", "E09000025")  # Heathrow (Hillingdon), London City (Newham)

# Approximate British National Grid centres of the London boroughs, used to scatter synthetic offence
# locations inside London (a few km of spread around each centre).
BOROUGH_CENTRES_BNG = {
    "E09000001": (532500, 181300), "E09000002": (547500, 185000), "E09000003": (524000, 192500),
    "E09000004": (549000, 175000), "E09000005": (519500, 185500), "E09000006": (542000, 166000),
    "E09000007": (528000, 184500), "E09000008": (533000, 163500), "E09000009": (516500, 181000),
    "E09000010": (533000, 197000), "E09000011": (543000, 176500), "E09000012": (534500, 185000),
    "E09000013": (523500, 178000), "E09000014": (531500, 189500), "E09000015": (515500, 189500),
    "E09000016": (554000, 187500), "E09000017": (508000, 183500), "E09000018": (512500, 175500),
    "E09000019": (531000, 185000), "E09000020": (526000, 179500), "E09000021": (519500, 166500),
    "E09000022": (530500, 174500), "E09000023": (537500, 173500), "E09000024": (525500, 169500),
    "E09000025": (541000, 183000), "E09000026": (544000, 189000), "E09000027": (517500, 172500),
    "E09000028": (533500, 175500), "E09000029": (526500, 163000), "E09000030": (536000, 181500),
    "E09000031": (537500, 189500), "E09000032": (526000, 174000), "E09000033": (529000, 181000),
}  # fmt: skip


@dataclass(frozen=True)
class Lookups:
    # Volume cells: one per (published borough, MPS minor category) of mps_volumes_2023.csv.
    cell_borough: np.ndarray  # index into boroughs
    cell_minor: np.ndarray  # index into minors
    cell_ref: np.ndarray  # 2023 average monthly crimes (float)
    minors: tuple[str, ...]
    minor_major: tuple[str, ...]
    # Units: one per published borough name in the volumes (incl. SO18 and Unknown).
    borough_names: tuple[str, ...]
    cris_ocu: tuple[str | None, ...]
    connect_unit: tuple[str | None, ...]
    home_gss: tuple[str | None, ...]  # where the unit's crimes usually are (None: anywhere)
    # Codes: rows of offence_classification.csv, and per minor the candidate rows and weights.
    code_ho: np.ndarray
    code_cris: np.ndarray
    code_premises: np.ndarray  # ANY / HOME / UNCONNECTED BUILDING
    minor_code_rows: tuple[np.ndarray, ...]
    minor_code_weights: tuple[np.ndarray, ...]
    # Geography: MPS boroughs (GSS), their LSOAs and the 2023 ward for each LSOA.
    gss: tuple[str, ...]
    gss_lsoas: tuple[np.ndarray, ...]
    gss_lsoa_wards: tuple[np.ndarray, ...]
    gss_centre: np.ndarray  # (n, 2) easting, northing


def _code_weights(n: int) -> np.ndarray:
    """Plausible weights for the codes of one category: the first-listed (principal) codes dominate,
    every code keeps a share of at least ~2% so that every listed code appears."""
    w = 0.55 ** np.arange(n) + 0.02
    return w / w.sum()


@lru_cache(maxsize=1)
def load_lookups() -> Lookups:
    vols = reference.volumes_2023()
    units = reference.mps_units()
    codes = reference.offence_classification()
    lsoas = reference.lsoas()
    wards = reference.wards()

    minors = tuple(dict.fromkeys(codes["mps_minor"]))
    minor_major = tuple(
        codes.drop_duplicates("mps_minor").set_index("mps_minor").loc[list(minors), "mps_major"]
    )
    missing = sorted(set(vols["mps_minor"]) - set(minors))
    if missing:
        raise ValueError(
            f"mps_volumes_2023.csv has minor categories absent from offence_classification: {missing}"
        )

    borough_names = tuple(sorted(set(vols["borough_name"])))
    unit_by_name = units.set_index("published_borough_name")
    cris_ocu: list[str | None] = []
    connect_unit: list[str | None] = []
    home_gss: list[str | None] = []
    for name in borough_names:
        if name == reference.UNKNOWN_BOROUGH:
            cris_ocu.append(None)
            connect_unit.append(None)
            home_gss.append(None)
            continue
        row = unit_by_name.loc[name]
        cris_ocu.append(row["cris_ocu_code"])
        connect_unit.append(row["connect_unit_code"])
        home_gss.append(row["borough_gss_code"] or None)

    minor_ix = {m: i for i, m in enumerate(minors)}
    borough_ix = {b: i for i, b in enumerate(borough_names)}
    rows_per_minor, weights_per_minor = [], []
    for m in minors:
        rows = np.flatnonzero(codes["mps_minor"].to_numpy() == m)
        rows_per_minor.append(rows)
        weights_per_minor.append(_code_weights(len(rows)))

    mps_gss = sorted(g for g in units["borough_gss_code"] if g)
    ward_codes = set(wards["WD23CD"])
    wards_by_gss = wards.groupby("LAD23CD")["WD23CD"].apply(lambda s: np.array(sorted(s), dtype=object))
    gss_lsoas, gss_lsoa_wards = [], []
    for g in mps_gss:
        sub = lsoas[lsoas["LAD25CD"] == g].sort_values("LSOA21CD")
        # LSOAs map to 2025 wards; where a 2025 code is not a 2023 ward (boundary review), use a ward of the
        # same borough instead so that ward_code is always a WD23CD of the location's borough.
        candidates = wards_by_gss[g]
        fallback = candidates[np.arange(len(sub)) % len(candidates)]
        w25 = sub["WD25CD"].to_numpy(dtype=object)
        ward = np.where(np.isin(w25, list(ward_codes)), w25, fallback)
        gss_lsoas.append(sub["LSOA21CD"].to_numpy(dtype=object))
        gss_lsoa_wards.append(ward.astype(object))

    return Lookups(
        cell_borough=np.array([borough_ix[b] for b in vols["borough_name"]]),
        cell_minor=np.array([minor_ix[m] for m in vols["mps_minor"]]),
        cell_ref=vols["avg_monthly_crimes_2023"].to_numpy(dtype=float),
        minors=minors,
        minor_major=minor_major,
        borough_names=borough_names,
        cris_ocu=tuple(cris_ocu),
        connect_unit=tuple(connect_unit),
        home_gss=tuple(home_gss),
        code_ho=codes["ho_code"].to_numpy(dtype=object),
        code_cris=codes["cris_offence_code"].to_numpy(dtype=object),
        code_premises=codes["premises_type"].to_numpy(dtype=object),
        minor_code_rows=tuple(rows_per_minor),
        minor_code_weights=tuple(weights_per_minor),
        gss=tuple(mps_gss),
        gss_lsoas=tuple(gss_lsoas),
        gss_lsoa_wards=tuple(gss_lsoa_wards),
        gss_centre=np.array([BOROUGH_CENTRES_BNG[g] for g in mps_gss], dtype=float),
    )
