"""Where things live: every location and secret comes from an environment variable with an embedded default.

The defaults point at the embedded set-up under `var/` in the working directory (the repository root when
run through the Makefile). Resources read these when used and have no config fields of their own, so run
config can never change them and the Dagster UI never shows a value (see resources.py).
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

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

    def is_set(self) -> bool:
        return os.environ.get(self.name) not in (None, "")


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
LEDGER_KEY_FILE = Setting(
    "METPIPELINE_LEDGER_KEY_FILE",
    "secret key (file) that seals the approval ledger; the embedded default is created under var/, mode 0600",
)
IDENTITY_HEADER = Setting(
    "METPIPELINE_IDENTITY_HEADER",
    "header in which the sign-in proxy passes the signed-in user (e.g. X-Forwarded-User); empty: no proxy",
)
TRUSTED_PROXIES = Setting(
    "METPIPELINE_TRUSTED_PROXIES", "comma-separated addresses of the sign-in proxy (identity header trusted)"
)
FIRST_MONTH = Setting("METPIPELINE_FIRST_MONTH", "first month the DataMart holds, YYYY-MM")
CHECKLIST_FILE = Setting("METPIPELINE_CHECKLIST_FILE", "the owner's pre-release checklist (versioned YAML)")
PUBLIC_BASE_URL = Setting(
    "METPIPELINE_PUBLIC_BASE_URL", "the bucket's public address; links on index.html are absolute when set"
)
UI_BASE_URL = Setting(
    "METPIPELINE_UI_BASE_URL", "the Dagster UI's address as owners reach it (links in messages)"
)
SMTP_HOST = Setting(
    "METPIPELINE_SMTP_HOST", "mail server for notifications; empty: no e-mail (log line only)"
)
SMTP_PORT = Setting("METPIPELINE_SMTP_PORT", "mail server port")
NOTIFY_FROM = Setting("METPIPELINE_NOTIFY_FROM", "sender address of notifications")
WEBHOOK_URL = Setting(
    "METPIPELINE_WEBHOOK_URL", "webhook (Teams/Slack-compatible JSON) for notifications; empty: off"
)
REMINDER_DAYS = Setting("METPIPELINE_REMINDER_DAYS", "days without a decision before owners are reminded")
RELEASE_TIME = Setting(
    "METPIPELINE_RELEASE_TIME", "time of day (London) approved releases are published, HH:MM, or 'immediate'"
)
MIN_VOLUME_RATIO = Setting(
    "METPIPELINE_MIN_VOLUME_RATIO",
    "a month below this share of its trailing 12-month mean (or with no crime at all) blocks the release",
)
PUBLISH_MAX_ATTEMPTS = Setting(
    "METPIPELINE_PUBLISH_MAX_ATTEMPTS", "publish runs tried per approved candidate before it needs attention"
)
PUBLISH_BACKOFF_SECONDS = Setting(
    "METPIPELINE_PUBLISH_BACKOFF_SECONDS", "wait before retrying a failed publish run (doubles per attempt)"
)
LAYOUT = Setting("METPIPELINE_LAYOUT", "layout of the public CSV files (datastore-2026 or datastore-2024)")
PREVIOUS_LAYOUT = Setting(
    "METPIPELINE_PREVIOUS_LAYOUT", "a layout also published beside the current one while deprecated, or none"
)
PREVIOUS_LAYOUT_UNTIL = Setting(
    "METPIPELINE_PREVIOUS_LAYOUT_UNTIL", "last release month (YYYY-MM) that carries the previous layout"
)
CONTACT = Setting("METPIPELINE_CONTACT", "the public's contact for the data: an e-mail address or a URL")
WORKBOOK_MAX_CELLS = Setting(
    "METPIPELINE_WORKBOOK_MAX_CELLS", "largest table (cells) put in a spreadsheet; larger ones are CSV only"
)
BACKFILL_PROCESSES = Setting(
    "METPIPELINE_BACKFILL_PROCESSES",
    "processes that share a back-fill's extraction, month by month (1: the run's own process alone)",
)

_DEFAULTS = {
    DATAMART_URL.name: lambda: f"sqlite:///{var_dir() / 'datamart.sqlite'}",
    STATE_URL.name: lambda: f"sqlite:///{var_dir() / 'state.sqlite'}",
    BUCKET_URL.name: lambda: str(var_dir() / "bucket"),
    S3_ENDPOINT_URL.name: lambda: None,
    WORK_DIR.name: lambda: str(var_dir() / "work"),
    OWNERS_FILE.name: lambda: str(Path(__file__).parent / "approval" / "owners.embedded.yaml"),
    POLICY_FILE.name: lambda: str(Path(__file__).parent / "disclosure" / "policy.yaml"),
    LEDGER_KEY_FILE.name: lambda: str(var_dir() / "ledger.key"),
    IDENTITY_HEADER.name: lambda: None,
    TRUSTED_PROXIES.name: lambda: "127.0.0.1,::1",
    FIRST_MONTH.name: lambda: "2022-01",
    CHECKLIST_FILE.name: lambda: str(Path(__file__).parent / "approval" / "checklist.yaml"),
    UI_BASE_URL.name: lambda: "http://127.0.0.1:3000",
    PUBLIC_BASE_URL.name: lambda: None,
    SMTP_HOST.name: lambda: None,
    SMTP_PORT.name: lambda: "25",
    NOTIFY_FROM.name: lambda: "metpipeline@localhost",
    WEBHOOK_URL.name: lambda: None,
    REMINDER_DAYS.name: lambda: "3",
    RELEASE_TIME.name: lambda: "09:30",
    MIN_VOLUME_RATIO.name: lambda: "0.5",
    PUBLISH_MAX_ATTEMPTS.name: lambda: "5",
    PUBLISH_BACKOFF_SECONDS.name: lambda: "60",
    LAYOUT.name: lambda: "datastore-2026",
    PREVIOUS_LAYOUT.name: lambda: "datastore-2024",
    PREVIOUS_LAYOUT_UNTIL.name: lambda: "2027-06",
    CONTACT.name: lambda: "data.office@met.police.example",
    WORKBOOK_MAX_CELLS.name: lambda: "1000000",
    BACKFILL_PROCESSES.name: lambda: "2",
}

ALL_SETTINGS = (
    DATAMART_URL,
    STATE_URL,
    BUCKET_URL,
    S3_ENDPOINT_URL,
    WORK_DIR,
    OWNERS_FILE,
    POLICY_FILE,
    LEDGER_KEY_FILE,
    IDENTITY_HEADER,
    TRUSTED_PROXIES,
    FIRST_MONTH,
    CHECKLIST_FILE,
    UI_BASE_URL,
    PUBLIC_BASE_URL,
    SMTP_HOST,
    SMTP_PORT,
    NOTIFY_FROM,
    WEBHOOK_URL,
    REMINDER_DAYS,
    RELEASE_TIME,
    MIN_VOLUME_RATIO,
    PUBLISH_MAX_ATTEMPTS,
    PUBLISH_BACKOFF_SECONDS,
    LAYOUT,
    PREVIOUS_LAYOUT,
    PREVIOUS_LAYOUT_UNTIL,
    CONTACT,
    WORKBOOK_MAX_CELLS,
    BACKFILL_PROCESSES,
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def whole_number(setting: Setting, minimum: int = 0) -> int:
    """A setting that must be a whole number >= minimum; otherwise one line naming the variable."""
    raw = (setting.value() or "").strip()
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ConfigError(f"{setting.name}={raw!r}: expected a whole number of at least {minimum}")
    return value


def share(setting: Setting) -> float:
    """A setting that must be a number from 0 to 1; otherwise one line naming the variable."""
    raw = (setting.value() or "").strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigError(f"{setting.name}={raw!r}: expected a number from 0 to 1, e.g. 0.5")
    return value


def is_month(value: str) -> bool:
    return bool(_MONTH.match(value or ""))


def first_month() -> str:
    """METPIPELINE_FIRST_MONTH, checked: a malformed value is a one-line ConfigError, not a traceback."""
    value = (FIRST_MONTH.value() or "").strip()
    if not _MONTH.match(value):
        raise ConfigError(f"{FIRST_MONTH.name}={value!r} is not a month: expected YYYY-MM, e.g. 2022-01")
    return value


def check_sqlalchemy_url(variable: str, url: str) -> str:
    """Return the URL if SQLAlchemy can parse it; otherwise a ConfigError naming the variable."""
    if not url:
        raise ConfigError(
            f"{variable} is empty: set it to a SQLAlchemy URL such as sqlite:///var/datamart.sqlite"
        )
    try:
        parsed = make_url(url)
        parsed.port  # noqa: B018 — a non-numeric port only fails when read
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"{variable}={redact_url(url)!r} is not a valid SQLAlchemy URL "
            f"({exc.__class__.__name__}: {redact_url(str(exc))[:120]}); "
            "expected e.g. mssql+pyodbc://user:***@host:1433/db?driver=… or sqlite:///path "
            "(the port, if given, is a number)"
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


# Secrets in the forms a database or bucket URL can carry them: the user part (`user:secret@`), a query
# string (`?password=`, `&pwd=`, tokens), and an ODBC connection string (`odbc_connect=…;PWD=…;`), plain or
# percent-encoded. Applied to any text that may contain a URL, so an error message quoting one is safe too.
_USER_PART = re.compile(r"(?i)([a-z][a-z0-9+.\-]*://[^:/@\s?#]*:)([^@\s/]*)(@)")
_SECRET_KEYS = r"password|passwd|pwd|secret|token|api_?key|access_?key|secret_?key|sig|signature|credential"
_KEY_VALUE = re.compile(
    rf"(?i)(?:(?<![a-z0-9_])|(?<=%3B)|(?<=%26)|(?<=%3F))((?:{_SECRET_KEYS})\s*(?:=|%3D))((?:(?!%3B|%26)[^&;\s\"'}}])*)"
)


def redact_secrets(text: str) -> str:
    """`text` with every password, token or key in a URL or connection string replaced by ***."""
    text = _USER_PART.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}***", text)


def redact_url(url: str) -> str:
    """The URL with any password, in any of its forms, replaced by ***, for messages and logs."""
    return redact_secrets(url)
