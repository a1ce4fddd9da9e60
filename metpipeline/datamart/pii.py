"""Fake personal data for the PII columns: pools of faker (en_GB) values sampled with numpy.

One faker call per row would dominate the seed at MPS scale, so each run builds fixed-size pools once
(seeded, hence deterministic) and draws from them. With a marker (e.g. `CANARY`), every text PII value gets a
unique suffix `<marker>-<n>` so that a canary test can prove no PII value left the DataMart. DATE columns and
the 4-character ethnicity code cannot carry text: with a marker they take sentinel values instead
(dates in 1901, ethnicity `ZZ`), documented in seed.seed_datamart.
"""

from dataclasses import dataclass

import numpy as np
from faker import Faker

_MO_TEMPLATES = (
    "Suspect approached {first} on {street} and demanded property; victim handed over phone.",
    "Unknown suspect forced rear door at {address}; searched bedrooms and left via garden.",
    "Victim {first} {last} reports that suspect followed her from {street} and made threats.",
    "Suspect entered store on {street}, concealed items in bag and left without paying.",
    "Vehicle parked on {street} entered by smashing nearside window; sat nav taken.",
    "Ex-partner {first} attended {address} and assaulted victim causing bruising to face.",
    "Graffiti sprayed on wall of {address}; neighbour {first} {last} witnessed two youths.",
    "Victim's bicycle locked outside {street} station cut free and taken.",
    "Suspect {first} {last} sent repeated abusive messages to victim after being told to stop.",
    "Fight outside licensed premises on {street}; victim struck with bottle.",
)
ETHNICITY_CODES = (
    "W1",
    "W2",
    "W9",
    "M1",
    "M2",
    "M3",
    "M9",
    "A1",
    "A2",
    "A3",
    "A4",
    "A9",
    "B1",
    "B2",
    "B9",
    "O1",
    "O9",
)


@dataclass(frozen=True)
class PiiPools:
    forenames: np.ndarray
    surnames: np.ndarray
    addresses: np.ndarray
    mo_texts: np.ndarray


def build_pools(seed: int, size: int = 4000) -> PiiPools:
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    forenames = np.array([fake.first_name() for _ in range(size)], dtype=object)
    surnames = np.array([fake.last_name() for _ in range(size)], dtype=object)
    addresses = np.array(
        [f"{fake.street_address()}, London {fake.postcode()}".replace("\n", ", ") for _ in range(size)],
        dtype=object,
    )
    mo = []
    for i in range(size):
        template = _MO_TEMPLATES[i % len(_MO_TEMPLATES)]
        mo.append(
            template.format(
                first=fake.first_name(),
                last=fake.last_name(),
                street=fake.street_name(),
                address=addresses[i],
            )
        )
    return PiiPools(forenames, surnames, addresses, np.array(mo, dtype=object))


class PiiSampler:
    """Draws PII values for n rows. `key_prefix` + row keys make each marked value unique across the run."""

    def __init__(self, pools: PiiPools, marker: str | None):
        self.pools = pools
        self.marker = marker

    def _mark(self, values: np.ndarray, keys: list, column: str) -> list:
        if self.marker is None:
            return values.tolist()
        return [
            None if v is None else f"{v} {self.marker}-{column}-{k}"
            for v, k in zip(values.tolist(), keys, strict=True)
        ]

    def pick(self, rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
        return pool[rng.integers(0, len(pool), n)]

    def names(self, rng, n, keys, column, null_rate=0.0) -> list:
        full = self.pick(rng, self.pools.forenames, n) + " " + self.pick(rng, self.pools.surnames, n)
        return self._mark(_with_nulls(rng, full, null_rate), keys, column)

    def text(self, rng, pool: np.ndarray, n, keys, column, null_rate=0.0) -> list:
        return self._mark(_with_nulls(rng, self.pick(rng, pool, n), null_rate), keys, column)

    def dates_of_birth(self, rng, at_seconds: np.ndarray, null_rate=0.0) -> list:
        """Dates of birth for people aged 10-90 at `at_seconds` (epoch seconds); 1901 sentinels if marked."""
        n = len(at_seconds)
        if self.marker is not None:
            days = np.datetime64("1901-01-01") + rng.integers(0, 365, n)
        else:
            age_days = rng.integers(10 * 365, 90 * 365, n)
            days = (at_seconds // 86400 - age_days).astype("datetime64[D]")
        out = np.datetime_as_string(days, unit="D").astype(object)
        return _with_nulls(rng, out, null_rate).tolist()

    def ethnicity(self, rng, n) -> list:
        if self.marker is not None:
            return ["ZZ"] * n
        codes = np.array(ETHNICITY_CODES + (None,), dtype=object)
        return codes[rng.integers(0, len(codes), n)].tolist()


def _with_nulls(rng: np.random.Generator, values: np.ndarray, null_rate: float) -> np.ndarray:
    if null_rate <= 0:
        return values
    out = values.astype(object)
    out[rng.random(len(values)) < null_rate] = None
    return out
