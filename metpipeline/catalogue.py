"""The dataset catalogue: every published table, specified once.

A `DatasetSpec` says what a table is (slug, title, file names, key and category columns, tidy names),
how it is counted from the harmonised crimes (`rows`: the records it counts, default the crimes), what its
quality rules are, how sensitive it is, and where it goes in the bucket. Everything else is derived from
the catalogue: the dataset assets and their checks (datasets/assets.py, quality/checks.py), the disclosure
policy's validation (disclosure/policy.py), the owner registry's validation and the approval choices
(governance/registry.py, approval/jobs.py) and the bucket layout (publish/datapackage.py).

A new published table is a new `DatasetSpec` passed to `register` (or added to `CATALOGUE` below), its
build function (`rows`, when the crimes are not counted as they are) and its golden file.

This module is at the bottom of the package: it imports nothing of metpipeline but the reference lookups.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from metpipeline.reference import HATE_COLUMNS, HATE_STRANDS

WINDOWS = ("24m", "historical")
WINDOW_SUFFIX = {"24m": "(most recent 24 months)", "historical": "(Historical)"}

# What a rule checks, per published file (quality/checks.py runs them as blocking asset checks).
QUALITY_RULES = ("columns", "counts_valid", "totals_reconcile")
# How sensitive a table is. `aggregate`: borough totals, published as counted. `small-area` and
# `special-category` tables must be protected by the disclosure policy (suppress or withhold).
SENSITIVITIES = ("aggregate", "small-area", "special-category")
# What a table's month column adds up to: every counted crime, the geocoded ones, or nothing (flags overlap).
RECONCILES_TO = ("counted", "geocoded", None)
# What a key column's values are checked against before publication (disclosure/allowlist.py).
VOCABULARIES = (
    "major",
    "minor",
    "borough",
    "ward_code",
    "ward_name",
    "lsoa_code",
    "lsoa_name",
    "flag_type",
    "flag",
)


@dataclass(frozen=True)
class Key:
    """A key column: its published name and the harmonised column it comes from."""

    published: str
    source: str
    upper: bool = False  # published in upper case (category names)
    # The values the public files may hold in this column: one of VOCABULARIES (disclosure/allowlist.py
    # lets nothing else through, so a free-text field put in a key column is stopped before publication).
    vocabulary: str = ""

    def __post_init__(self) -> None:
        if self.vocabulary not in VOCABULARIES:
            raise ValueError(
                f"key {self.published!r}: vocabulary {self.vocabulary!r} is not one of {VOCABULARIES}"
            )


@dataclass(frozen=True)
class DatasetSpec:
    slug: str
    title: str  # e.g. "MPS Borough Level Crime": file names, cover sheet, workbook
    keys: tuple[Key, ...]
    tidy: tuple[tuple[str, str], ...]  # (key column, tidy name) in the tidy file's order: geography first
    category: tuple[str, str]  # published (major, minor) columns, or (flag type, flag)
    geography: str  # what the rows are, for the workbook's notes
    bucket_slug: str  # the dataset's folder in the bucket
    sensitivity: str
    reconciles_to: str | None
    # Columns beside the category naming a group whose total an attacker knows (the borough of a ward or
    # LSOA): the disclosure model's groups (disclosure/constraints.py).
    group: tuple[str, ...] = ()
    quality_rules: tuple[str, ...] = QUALITY_RULES
    # harmonised crimes -> the records this table counts, with every key's `source` column and `month`.
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    description: str = ""
    # What the data owner's decision page calls the table (default: the title).
    label: str = ""
    # For a table that places another table's records in smaller areas (ward, LSOA: the borough table's
    # crimes): the harmonised column whose missing value keeps a record out of it, and that other table.
    # Its not-geocoded figure (records counted in `part_of` but in no row here) is derived from them: in the
    # ledger, the report, the cover sheet and the disclosure record.
    not_geocoded: str | None = None
    part_of: str | None = None
    # The table has the airports pseudo-borough's row (crimes recorded by Aviation Security, SO18). The
    # 2026 layout counts them where they happened instead, so the dataset also writes an extra table: the
    # airports' crimes by location (datasets/build.py `airports_cells`, datasets/layouts.py).
    airports_row: bool = False
    # Terms the cover sheet defines beside the categories: (term, definition).
    definitions: tuple[tuple[str, str], ...] = ()
    # What the table is, in plain words for the public (the landing page, the cover sheet).
    about: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        problems = []
        published = [k.published for k in self.keys]
        if not self.slug.isidentifier() or not self.slug.islower():
            problems.append(f"slug {self.slug!r} must be a lower-case identifier")
        if len(set(published)) != len(published):
            problems.append(f"key columns repeat: {published}")
        if sorted(c for c, _ in self.tidy) != sorted(published):
            problems.append(f"tidy names {[c for c, _ in self.tidy]} must name each key column once")
        missing = [c for c in (*self.category, *self.group) if c not in published]
        if missing:
            problems.append(f"category or group columns {missing} are not key columns {published}")
        if self.sensitivity not in SENSITIVITIES:
            problems.append(f"sensitivity {self.sensitivity!r} is not one of {SENSITIVITIES}")
        if self.reconciles_to not in RECONCILES_TO:
            problems.append(f"reconciles_to {self.reconciles_to!r} is not one of {RECONCILES_TO}")
        unknown = [r for r in self.quality_rules if r not in QUALITY_RULES]
        if unknown:
            problems.append(f"quality rules {unknown} unknown: expected some of {QUALITY_RULES}")
        if "totals_reconcile" in self.quality_rules and self.reconciles_to is None:
            problems.append("rule totals_reconcile needs reconciles_to")
        if (self.not_geocoded is None) != (self.part_of is None):
            problems.append("not_geocoded and part_of go together")
        if self.reconciles_to == "geocoded" and self.not_geocoded is None:
            problems.append("a table of geocoded crimes (reconciles_to 'geocoded') names not_geocoded")
        if self.airports_row and "borough_name" not in self.source_columns:
            problems.append("airports_row needs a key column counted by borough_name")
        if problems:
            raise ValueError(f"dataset {self.slug!r}: " + "; ".join(problems))

    @property
    def key_columns(self) -> list[str]:
        return [k.published for k in self.keys]

    @property
    def source_columns(self) -> list[str]:
        return [k.source for k in self.keys]

    @property
    def tidy_names(self) -> dict[str, str]:
        return dict(self.tidy)

    @property
    def asset_name(self) -> str:
        return f"{self.slug}_dataset"

    @property
    def name(self) -> str:
        """What people call the table: its label, else its title."""
        return self.label or self.title

    @property
    def vocabularies(self) -> dict[str, str]:
        """Every name a key column goes by in the public files (published, tidy) -> its vocabulary."""
        tidy = self.tidy_names
        out = {k.published: k.vocabulary for k in self.keys}
        out.update({tidy[k.published]: k.vocabulary for k in self.keys})
        return out

    @property
    def needs_protection(self) -> bool:
        return self.sensitivity != "aggregate"

    def file_name(self, window: str) -> str:
        """e.g. `MPS Borough Level Crime (most recent 24 months).csv`."""
        return f"{self.title} {WINDOW_SUFFIX[window]}.csv"

    def counted_rows(self, harmonised: pd.DataFrame) -> pd.DataFrame:
        return harmonised if self.rows is None else self.rows(harmonised)


def flag_rows(harmonised: pd.DataFrame, where: tuple[str, ...] = ("borough_name",)) -> pd.DataFrame:
    """One row per (crime, flag): hate strands as HATE CRIME / strand, domestic abuse as DOMESTIC ABUSE;
    with the crime's `month` and the columns `where` (the table's geography)."""
    columns = ["month", *where]
    parts = []
    for column, strand in zip(HATE_COLUMNS, HATE_STRANDS, strict=True):
        part = harmonised.loc[harmonised[column].to_numpy(dtype=bool), columns].copy()
        part["flag_type"], part["flag_text"] = "HATE CRIME", strand
        parts.append(part)
    part = harmonised.loc[harmonised["domestic_abuse"].to_numpy(dtype=bool), columns].copy()
    part["flag_type"], part["flag_text"] = "DOMESTIC ABUSE", "DOMESTIC ABUSE"
    parts.append(part)
    return pd.concat(parts, ignore_index=True)


_MAJOR = Key("MajorText", "mps_major", True, "major")
_MINOR = Key("MinorText", "mps_minor", True, "minor")
_CATEGORY_TIDY = (("MajorText", "major"), ("MinorText", "minor"))
_BOROUGHS = "London boroughs (Metropolitan Police Service area)"
FLAGS_DEFINITION = (
    "Flags",
    f"hate crime strands ({', '.join(s.title() for s in HATE_STRANDS)}) and domestic abuse, as recorded "
    "on the crime. One crime can carry several flags, so the flags do not add up to the crimes.",
)

CATALOGUE: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add a table to the catalogue (a slug already there is refused: each table is specified once)."""
    if spec.slug in CATALOGUE:
        raise ValueError(f"dataset {spec.slug!r} is already in the catalogue")
    CATALOGUE[spec.slug] = spec
    return spec


register(
    DatasetSpec(
        slug="borough",
        title="MPS Borough Level Crime",
        keys=(_MAJOR, _MINOR, Key("BoroughName", "borough_name", vocabulary="borough")),
        tidy=(("BoroughName", "borough_name"), *_CATEGORY_TIDY),
        category=("MajorText", "MinorText"),
        geography=_BOROUGHS,
        bucket_slug="mps-borough-level-crime",
        sensitivity="aggregate",
        reconciles_to="counted",
        airports_row=True,
        description="crimes by borough and offence category",
        label="Crime by borough",
        about="Crimes recorded in each London borough, by offence category, each month. A crime whose place "
        "is not known is counted in the row Unknown. Every figure is published as counted.",
    )
)
register(
    DatasetSpec(
        slug="ward",
        title="MPS Ward Level Crime",
        keys=(
            _MAJOR,
            _MINOR,
            Key("WardName", "ward_name", vocabulary="ward_name"),
            Key("WardCode", "ward_code", vocabulary="ward_code"),
            Key("LookUp_BoroughName", "ward_borough_name", vocabulary="borough"),
        ),
        tidy=(
            ("WardCode", "ward_code"),
            ("WardName", "ward_name"),
            ("LookUp_BoroughName", "borough_name"),
            *_CATEGORY_TIDY,
        ),
        category=("MajorText", "MinorText"),
        group=("LookUp_BoroughName",),
        geography="London electoral wards",
        bucket_slug="mps-ward-level-crime",
        sensitivity="small-area",
        reconciles_to="geocoded",
        not_geocoded="ward_code",
        part_of="borough",
        description="crimes by ward and offence category",
        label="Crime by ward",
        about="Crimes by electoral ward (the areas a borough is divided into for local elections; about 680 "
        "in the Metropolitan Police area), by offence category, each month. Crimes whose place is not known "
        "are left out. "
        "Small counts in sensitive categories, and some other figures chosen so that those cannot be "
        "worked out, are hidden.",
    )
)
register(
    DatasetSpec(
        slug="lsoa",
        title="MPS LSOA Level Crime",
        keys=(
            Key("LSOA Code", "lsoa_code", vocabulary="lsoa_code"),
            Key("LSOA Name", "lsoa_name", vocabulary="lsoa_name"),
            Key("Borough", "lsoa_borough_name", vocabulary="borough"),
            Key("Major Category", "mps_major", True, "major"),
            Key("Minor Category", "mps_minor", True, "minor"),
        ),
        tidy=(
            ("LSOA Code", "lsoa_code"),
            ("LSOA Name", "lsoa_name"),
            ("Borough", "borough_name"),
            ("Major Category", "major"),
            ("Minor Category", "minor"),
        ),
        category=("Major Category", "Minor Category"),
        group=("Borough",),
        geography="London Lower Layer Super Output Areas (2021)",
        bucket_slug="mps-lsoa-level-crime",
        sensitivity="small-area",
        reconciles_to="geocoded",
        not_geocoded="lsoa_code",
        part_of="borough",
        description="crimes by LSOA and offence category",
        label="Crime by LSOA (small area)",
        about="Crimes by Lower Layer Super Output Area (LSOA: small areas of about 1,500 residents defined "
        "by the Office for National Statistics; London has about 5,000), by offence category, each month. "
        "Crimes whose place is not known are left out, and the most sensitive categories (such as sexual "
        "offences) are not published at this level.",
    )
)
register(
    DatasetSpec(
        slug="flagged",
        title="MPS Flagged Crime by Borough",
        keys=(
            Key("FlagType", "flag_type", True, "flag_type"),
            Key("FlagText", "flag_text", True, "flag"),
            Key("BoroughName", "borough_name", vocabulary="borough"),
        ),
        tidy=(("BoroughName", "borough_name"), ("FlagType", "flag_type"), ("FlagText", "flag")),
        category=("FlagType", "FlagText"),
        geography=_BOROUGHS,
        bucket_slug="mps-flagged-crime",
        sensitivity="special-category",
        reconciles_to=None,
        quality_rules=("columns", "counts_valid"),
        rows=flag_rows,
        description="hate crime strands and domestic abuse by borough",
        label="Flagged crime (hate crime, domestic abuse) by borough",
        about="Hate crimes, by strand (race, religion, sexual orientation, disability, transgender "
        "identity), and domestic abuse, by borough, each month. One crime can carry several flags. Small "
        "counts, and some other figures chosen so that those cannot be worked out, are hidden.",
        definitions=(FLAGS_DEFINITION,),
    )
)


def slugs() -> tuple[str, ...]:
    """The published tables' slugs, in catalogue order."""
    return tuple(CATALOGUE)


def headline() -> DatasetSpec:
    """The table that counts every crime (reconciles_to "counted"): the month's volume is judged on it,
    the owner acknowledges its total, the report and the not-geocoded figures start from it."""
    for dataset in CATALOGUE.values():
        if dataset.reconciles_to == "counted":
            return dataset
    raise ValueError("no dataset in the catalogue counts every crime (reconciles_to 'counted')")


def spec(slug: str) -> DatasetSpec:
    try:
        return CATALOGUE[slug]
    except KeyError:
        raise KeyError(f"no dataset {slug!r} in the catalogue: expected one of {slugs()}") from None
