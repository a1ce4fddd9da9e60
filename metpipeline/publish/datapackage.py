"""Frictionless `datapackage.json` for one published version: what each file is, its bytes and hash."""

import csv
import io
import re

import pyarrow.parquet as pq

from metpipeline.datasets.build import TITLES

BUCKET_SLUGS = {
    "borough": "mps-borough-level-crime",
    "ward": "mps-ward-level-crime",
    "lsoa": "mps-lsoa-level-crime",
    "flagged": "mps-flagged-crime",
}
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
_FORMATS = {".csv": ("csv", "text/csv"), ".parquet": ("parquet", "application/vnd.apache.parquet")}


def _csv_schema(data: bytes) -> dict:
    header = next(csv.reader(io.StringIO(data.decode("utf-8"))), [])
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
    return {"fields": fields, "missingValues": ["", SUPPRESSED]}


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
    return {"fields": [{"name": f.name, "type": _parquet_type(f.type)} for f in schema]}


def resource_name(file_name: str) -> str:
    """A clean, unique resource name: the file's stem as a slug, plus the format for the non-CSV twin
    ("MPS Borough Level Crime (Historical).csv" -> "mps-borough-level-crime-historical",
    "borough-tidy.parquet" -> "borough-tidy-parquet")."""
    stem, _, suffix = file_name.rpartition(".")
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug if suffix.lower() == "csv" else f"{slug}-{suffix.lower()}"


def resource_entry(name: str, data: bytes, sha256: str) -> dict:
    suffix = name[name.rfind(".") :].lower()
    fmt, mediatype = _FORMATS[suffix]
    entry = {
        "name": resource_name(name),
        "path": name,
        "format": fmt,
        "mediatype": mediatype,
        "bytes": len(data),
        "hash": f"sha256:{sha256}",
    }
    if fmt == "csv":
        entry["encoding"] = "utf-8"
        entry["schema"] = _csv_schema(data)
    else:
        entry["schema"] = _parquet_schema(data)
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
        "name": BUCKET_SLUGS[dataset],
        "title": TITLES[dataset],
        "description": f"Recorded crime in London by the Metropolitan Police Service, release for {month}.",
        "version": f"{version}.0.0",
        "created": released_at,
        "licenses": [LICENCE],
        "sources": SOURCES,
        "keywords": ["crime", "London", "Metropolitan Police Service"],
        "metpipeline": {"release_month": month, "version": version, "candidate_hash": content_hash},
        "resources": [
            resource_entry(name, data, sha)
            for name, (data, sha) in sorted(files.items())
            if name.lower().endswith((".csv", ".parquet"))
        ],
    }
