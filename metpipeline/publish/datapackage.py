"""`datapackage.json` for one published version, to the Data Package v2 specification: what each file is,
its schema, its bytes and sha256 (validated with the `frictionless` library in the tests).

Every data file is a resource: the wide and tidy CSV files (the tidy one gzip-compressed) and the Parquet
file as tables with a Table Schema; the workbook as a file."""

import csv
import gzip
import io
import re

import pyarrow.parquet as pq

from metpipeline.catalogue import CATALOGUE

# The bucket layout and titles, from the catalogue.
BUCKET_SLUGS = {slug: spec.bucket_slug for slug, spec in CATALOGUE.items()}
TITLES = {slug: spec.title for slug, spec in CATALOGUE.items()}
LICENCE = {
    "name": "OGL-UK-3.0",
    "title": "Open Government Licence v3.0",
    "path": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
}
SOURCES = [
    {"title": "MPS DataMart — CRIS (crimes recorded until 27 February 2024)"},
    {"title": "MPS DataMart — CONNECT (crimes recorded from 28 February 2024)"},
]
SUPPRESSED = "[c]"
_MONTH_COLUMN = re.compile(r"^\d{6}$")
PROFILE = "https://datapackage.org/profiles/2.0/datapackage.json"
TABLE_SCHEMA_PROFILE = "https://datapackage.org/profiles/2.0/tableschema.json"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# suffix -> (format, media type, type)
_FORMATS = {
    ".csv": ("csv", "text/csv", "table"),
    ".csv.gz": ("csv", "application/gzip", "table"),
    ".parquet": ("parquet", "application/vnd.apache.parquet", "table"),
    ".xlsx": ("xlsx", XLSX, "file"),
}


def _suffix(name: str) -> str:
    lower = name.lower()
    return next(s for s in sorted(_FORMATS, key=len, reverse=True) if lower.endswith(s))


def is_data_file(name: str) -> bool:
    return any(name.lower().endswith(s) for s in _FORMATS)


def _csv_header(data: bytes, compressed: bool) -> list[str]:
    if compressed:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            first = f.readline().decode("utf-8")
    else:
        first = data[: data.find(b"\n") + 1 or len(data)].decode("utf-8")
    return next(csv.reader(io.StringIO(first)), [])


def _csv_schema(header: list[str]) -> dict:
    fields = []
    for name in header:
        if _MONTH_COLUMN.match(name) or name == "count":
            fields.append(
                {
                    "name": name,
                    "type": "integer",
                    "description": f"recorded crimes; {SUPPRESSED} = suppressed",
                }
            )
        else:
            fields.append({"name": name, "type": "string"})
    return {"$schema": TABLE_SCHEMA_PROFILE, "fields": fields, "missingValues": ["", SUPPRESSED]}


def _parquet_type(arrow_type) -> str:
    text = str(arrow_type)
    if text.startswith(("int", "uint")):
        return "integer"
    if text.startswith(("float", "double", "decimal")):
        return "number"
    if text == "bool":
        return "boolean"
    return "string"


def _parquet_schema(data: bytes) -> dict:
    schema = pq.read_schema(io.BytesIO(data))
    fields = [{"name": f.name, "type": _parquet_type(f.type)} for f in schema]
    return {"$schema": TABLE_SCHEMA_PROFILE, "fields": fields}


def resource_name(file_name: str) -> str:
    """A clean, unique resource name: the file's stem as a slug, plus the format for the non-CSV twins
    ("MPS Borough Level Crime (Historical).csv" -> "mps-borough-level-crime-historical",
    "borough-tidy.csv.gz" -> "borough-tidy", "borough-tidy.parquet" -> "borough-tidy-parquet",
    "MPS Borough Level Crime.xlsx" -> "mps-borough-level-crime-xlsx")."""
    suffix = _suffix(file_name)
    slug = re.sub(r"[^a-z0-9]+", "-", file_name[: -len(suffix)].lower()).strip("-")
    return slug if suffix.startswith(".csv") else f"{slug}-{suffix.lstrip('.')}"


def resource_entry(name: str, data: bytes, sha256: str) -> dict:
    suffix = _suffix(name)
    fmt, mediatype, kind = _FORMATS[suffix]
    entry: dict = {
        "name": resource_name(name),
        "type": kind,
        "path": name,
        "format": fmt,
        "mediatype": mediatype,
        "hash": f"sha256:{sha256}",
    }
    if fmt != "parquet":
        # frictionless (the reader's `frictionless validate`) counts no bytes through its Parquet reader, so a
        # declared count always failed; the manifest gives every file's size and sha256.
        entry["bytes"] = len(data)
    if fmt == "csv":
        entry["encoding"] = "utf-8"
        if suffix == ".csv.gz":
            entry["compression"] = "gz"
        entry["schema"] = _csv_schema(_csv_header(data, suffix == ".csv.gz"))
    elif fmt == "parquet":
        entry["schema"] = _parquet_schema(data)
    else:
        entry["description"] = "The same tables as an accessible spreadsheet, with a cover sheet and notes."
    return entry


def build_datapackage(
    dataset: str,
    month: str,
    version: int,
    released_at: str,
    files: dict[str, tuple[bytes, str]],
    content_hash: str,
) -> dict:
    """`files`: name -> (bytes, sha256) of the data files (CSV and Parquet) of this version."""
    return {
        "$schema": PROFILE,
        "name": BUCKET_SLUGS[dataset],
        "title": TITLES[dataset],
        "description": f"Recorded crime in London by the Metropolitan Police Service, release for {month}.",
        "version": f"{version}.0.0",
        "created": released_at,
        "licenses": [LICENCE],
        "contributors": [{"title": "Metropolitan Police Service", "roles": ["publisher"]}],
        "sources": SOURCES,
        "keywords": ["crime", "London", "Metropolitan Police Service"],
        "metpipeline": {"release_month": month, "version": version, "candidate_hash": content_hash},
        "resources": [
            resource_entry(name, data, sha)
            for name, (data, sha) in sorted(files.items())
            if is_data_file(name)
        ],
    }
