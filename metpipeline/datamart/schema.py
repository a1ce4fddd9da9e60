"""The DataMart contract (shared/datamart/CONTRACT.md) as data: the one source of truth for column names,
T-SQL types, nullability, keys and PII flags. The DDL files under sql/datamart/ are tested against it.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str  # the contract's SQL Server type, e.g. VARCHAR(12), DATETIME2, DECIMAL(9,6)
    nullable: bool
    pii: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    system: str  # CRIS or CONNECT

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _c(name: str, sql_type: str, nullable: bool = True, pii: bool = False) -> Column:
    return Column(name, sql_type, nullable, pii)


_HATE_BITS = tuple(
    _c(f"hate_{s}", "BIT", False)
    for s in ("race", "religion", "sexual_orientation", "disability", "transgender")
)

CRIS_CRIME_REPORT = Table(
    "cris_crime_report",
    (
        _c("cris_ref", "VARCHAR(12)", False),
        _c("recorded_ocu", "VARCHAR(4)"),
        _c("offence_code", "VARCHAR(7)", False),
        _c("premises_type", "VARCHAR(20)"),
        _c("recorded_at", "DATETIME", False),
        _c("committed_from", "DATETIME"),
        _c("committed_to", "DATETIME"),
        _c("crime_status", "VARCHAR(10)", False),
        _c("lsoa_code", "CHAR(9)"),
        _c("ward_code", "CHAR(9)"),
        _c("easting", "INT"),
        _c("northing", "INT"),
        *_HATE_BITS,
        _c("domestic_abuse", "BIT", False),
        _c("victim_name", "NVARCHAR(100)", pii=True),
        _c("victim_dob", "DATE", pii=True),
        _c("mo_text", "NVARCHAR(2000)", pii=True),
        _c("last_modified_at", "DATETIME", False),
    ),
    ("cris_ref",),
    "CRIS",
)

CONNECT_LOCATION = Table(
    "connect_location",
    (
        _c("location_id", "BIGINT", False),
        _c("latitude", "DECIMAL(9,6)"),
        _c("longitude", "DECIMAL(9,6)"),
        _c("lsoa_code", "CHAR(9)"),
        _c("ward_code", "CHAR(9)"),
        _c("borough_gss_code", "CHAR(9)"),
        _c("address_text", "NVARCHAR(400)", pii=True),
    ),
    ("location_id",),
    "CONNECT",
)

CONNECT_OCCURRENCE = Table(
    "connect_occurrence",
    (
        _c("occurrence_id", "BIGINT", False),
        _c("occurrence_ref", "VARCHAR(20)", False),
        _c("owning_unit_code", "VARCHAR(10)"),
        _c("location_id", "BIGINT"),
        _c("reported_at_utc", "DATETIME2", False),
    ),
    ("occurrence_id",),
    "CONNECT",
)

CONNECT_OFFENCE = Table(
    "connect_offence",
    (
        _c("offence_id", "BIGINT", False),
        _c("occurrence_id", "BIGINT", False),
        _c("ho_offence_code", "VARCHAR(8)", False),
        _c("premises_type", "VARCHAR(40)"),
        _c("recorded_at_utc", "DATETIME2", False),
        _c("offence_status", "VARCHAR(12)", False),
        _c("legacy_cris_ref", "VARCHAR(12)"),
        _c("hate_crime_strands", "VARCHAR(200)"),
        _c("domestic_abuse_flag", "CHAR(1)", False),
        _c("last_modified_at_utc", "DATETIME2", False),
    ),
    ("offence_id",),
    "CONNECT",
)

CONNECT_PERSON = Table(
    "connect_person",
    (
        _c("person_id", "BIGINT", False),
        _c("surname", "NVARCHAR(100)", pii=True),
        _c("forenames", "NVARCHAR(100)", pii=True),
        _c("date_of_birth", "DATE", pii=True),
        _c("ethnicity_code", "VARCHAR(4)", pii=True),
    ),
    ("person_id",),
    "CONNECT",
)

# The contract names no key for the link table; a link without both ends and a role is meaningless.
CONNECT_OFFENCE_PERSON = Table(
    "connect_offence_person",
    (
        _c("offence_id", "BIGINT", False),
        _c("person_id", "BIGINT", False),
        _c("role", "VARCHAR(10)", False),
    ),
    (),
    "CONNECT",
)

# Creation order (parents first); the reverse is a safe drop order.
TABLES: tuple[Table, ...] = (
    CRIS_CRIME_REPORT,
    CONNECT_LOCATION,
    CONNECT_OCCURRENCE,
    CONNECT_OFFENCE,
    CONNECT_PERSON,
    CONNECT_OFFENCE_PERSON,
)
TABLES_BY_NAME = {t.name: t for t in TABLES}

# Column vocabularies the contract fixes.
CRIS_STATUSES = ("CRIME", "NO CRIME", "TRANSFER")
CONNECT_STATUSES = ("CONFIRMED", "CANCELLED", "TRANSFERRED", "PENDING")
CRIS_PREMISES = ("DWELLING", "UNCONNECTED BUILDING", "OTHER")
CONNECT_PREMISES = ("Residential - Home", "Residential - Unconnected Building", "Non-Residential")
ROLES = ("VICTIM", "SUSPECT", "WITNESS")


def pii_columns() -> dict[str, tuple[str, ...]]:
    """Table name -> its PII columns (never selected by the pipeline)."""
    return {t.name: t.pii_columns for t in TABLES if t.pii_columns}
