"""Where things live: every location and secret comes from an environment variable with an embedded default.

The defaults point at the embedded set-up under `var/` in the working directory (the repository root when
run through the Makefile). Resources receive these as `dg.EnvVar` when the variable is set, so the Dagster
UI shows the variable's name and never its value.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(ValueError):
    """A configuration variable is missing or malformed. The message names the variable."""


def var_dir() -> Path:
    return Path(os.environ.get("METPIPELINE_VAR_DIR", "var")).resolve()


@dataclass(frozen=True)
class Setting:
    name: str
    help: str

    def default(self) -> str | None:
        return _DEFAULTS[self.name]()

    def value(self) -> str | None:
        """The raw value: the environment's if set (and not empty), else the embedded default."""
        raw = os.environ.get(self.name)
        return raw if raw not in (None, "") else self.default()

    def for_resource(self) -> "str | dg.EnvVar":
        """What a resource field receives: an EnvVar (value hidden in the UI) when set, else the default."""
        if os.environ.get(self.name):
            return dg.EnvVar(self.name)
        return self.default() or ""


DATAMART_URL = Setting(
    "METPIPELINE_DATAMART_URL",
    "SQLAlchemy URL of the DataMart (production: mssql+pyodbc://…; schema dm on SQL Server, none on SQLite)",
)
STATE_URL = Setting("METPIPELINE_STATE_URL", "SQLAlchemy URL of the pipeline's own state (ledger, releases)")
BUCKET_URL = Setting("METPIPELINE_BUCKET_URL", "where releases are published: s3://bucket/prefix or a folder")
S3_ENDPOINT_URL = Setting("METPIPELINE_S3_ENDPOINT_URL", "optional endpoint of an S3-compatible store")
WORK_DIR = Setting("METPIPELINE_WORK_DIR", "directory for intermediate extracts, datasets and candidates")
OWNERS_FILE = Setting("METPIPELINE_OWNERS_FILE", "YAML registry of data owners (default: the embedded demo)")
POLICY_FILE = Setting("METPIPELINE_DISCLOSURE_POLICY", "YAML disclosure policy (default: the packaged one)")

_DEFAULTS = {
    DATAMART_URL.name: lambda: f"sqlite:///{var_dir() / 'datamart.sqlite'}",
    STATE_URL.name: lambda: f"sqlite:///{var_dir() / 'state.sqlite'}",
    BUCKET_URL.name: lambda: str(var_dir() / "bucket"),
    S3_ENDPOINT_URL.name: lambda: None,
    WORK_DIR.name: lambda: str(var_dir() / "work"),
    OWNERS_FILE.name: lambda: str(Path(__file__).parent / "approval" / "owners.embedded.yaml"),
    POLICY_FILE.name: lambda: str(Path(__file__).parent / "disclosure" / "policy.yaml"),
}

ALL_SETTINGS = (DATAMART_URL, STATE_URL, BUCKET_URL, S3_ENDPOINT_URL, WORK_DIR, OWNERS_FILE, POLICY_FILE)


def check_sqlalchemy_url(variable: str, url: str) -> str:
    """Return the URL if SQLAlchemy can parse it; otherwise a ConfigError naming the variable."""
    if not url:
        raise ConfigError(
            f"{variable} is empty: set it to a SQLAlchemy URL such as sqlite:///var/datamart.sqlite"
        )
    try:
        make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"{variable} is not a valid SQLAlchemy URL ({exc.__class__.__name__}); "
            "expected e.g. mssql+pyodbc://user:***@dsn or sqlite:///path"
        ) from None
    return url


def check_bucket_url(variable: str, url: str) -> str:
    if not url:
        raise ConfigError(f"{variable} is empty: set it to s3://bucket/prefix or a local directory")
    if url.startswith("s3://"):
        if not url[len("s3://") :].split("/", 1)[0]:
            raise ConfigError(f"{variable}={url!r} names no bucket: expected s3://bucket/prefix")
    elif "://" in url:
        raise ConfigError(f"{variable}={url!r}: only s3:// URLs or local directories are supported")
    return url


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"
