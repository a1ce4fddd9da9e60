"""Where things live: every location and secret comes from an environment variable with an embedded default.

The defaults point at the embedded set-up under `var/` in the working directory (the repository root when
run through the Makefile). Resources read these when used and have no config fields of their own, so run
config can never change them and the Dagster UI never shows a value (see resources.py).
"""

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from metpipeline import keyfile


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

    def set_for_this_process(self, value: str) -> None:
        """Give the setting a value for this process and the runs it starts (the embedded demo's release
        time). The one place outside a deployment's environment where a setting is set."""
        os.environ[self.name] = value


def dagster_home(default: Path) -> Path:
    """DAGSTER_HOME (Dagster's own variable), set to `default` for this process and its children when the
    environment leaves it unset."""
    return Path(os.environ.setdefault("DAGSTER_HOME", str(default)))


def dagster_home_is_set() -> bool:
    return os.environ.get("DAGSTER_HOME") not in (None, "")


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
IDENTITY_KEY_FILE = Setting(
    "METPIPELINE_IDENTITY_KEY_FILE",
    "secret key (file) with which the webserver and the code location seal who launched each run; the "
    "embedded default is created under var/, mode 0600",
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
RELEASE_CRON = Setting(
    "METPIPELINE_RELEASE_CRON",
    "when the monthly release run starts: a monthly cron 'MIN HOUR DAY * *' (London time)",
)
STATE_LOCK_TIMEOUT = Setting(
    "METPIPELINE_STATE_LOCK_TIMEOUT_SECONDS",
    "how long to wait for the state database when another process holds a lock on it, then fail saying so",
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
    IDENTITY_KEY_FILE.name: lambda: str(var_dir() / "identity.key"),
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
    RELEASE_CRON.name: lambda: "0 6 5 * *",
    STATE_LOCK_TIMEOUT.name: lambda: "30",
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
    IDENTITY_KEY_FILE,
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
    RELEASE_CRON,
    STATE_LOCK_TIMEOUT,
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


# Secrets in the forms a URL setting can carry them, found by parsing, not by pattern over the whole text:
# the user part (`user:secret@`, split at the LAST `@` before the query), every query parameter whose
# decoded name contains one of these words (`?password=`, `?sslpassword=`, `&api_key=`, `?sig=`), and the
# connection strings a query can hold: libpq's `dsn=k=v k=v` and ODBC's `odbc_connect=K=V;K=V`, plain or
# percent-encoded. Applied to every URL setting wherever it is shown, and to any text that may quote one.
SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "sig", "credential")
MASK = "***"
_SECRET_NAME = re.compile("(?i)" + "|".join(SECRET_WORDS))
_ODBC_PAIR = re.compile(r"([^;=]+)=(\{(?:[^}]|\}\})*\}|[^;]*)")
_LIBPQ_PAIR = re.compile(r"([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.\-]*://[^\s'\"<>]+")
_PAIR_IN_TEXT = re.compile(
    r"(?i)(?<![a-z0-9_])([a-z0-9_\-]*(?:" + "|".join(SECRET_WORDS) + r")[a-z0-9_\-]*)(\s*=\s*)"
    r"('(?:[^'\\]|\\.)*'|\{(?:[^}]|\}\})*\}|[^\s;&\"',)]+)"
)


def _is_secret(name: str) -> bool:
    # The pipeline's own variables name files and places (METPIPELINE_LEDGER_KEY_FILE is a path), not secrets.
    if name.upper().startswith("METPIPELINE_") or name.lower().endswith("_file"):
        return False
    return bool(_SECRET_NAME.search(name))


def _redact_pairs(text: str, pattern: re.Pattern) -> str:
    return pattern.sub(lambda m: f"{m.group(1)}={MASK}" if _is_secret(m.group(1)) else m.group(0), text)


def _redact_query(query: str) -> str:
    out = []
    for part in query.split("&"):
        name, eq, raw = part.partition("=")
        if not eq:
            out.append(part)
            continue
        key = urllib.parse.unquote_plus(name)
        value = urllib.parse.unquote_plus(raw)
        if _is_secret(key):
            shown = MASK
        elif key.lower() == "odbc_connect":
            shown = _redact_pairs(value, _ODBC_PAIR)
        elif key.lower() == "dsn":
            shown = _redact_pairs(value, _LIBPQ_PAIR)
        else:
            out.append(part)
            continue
        out.append(f"{name}={shown}")
    return "&".join(out)


def user_part(rest: str) -> tuple[str | None, str]:
    """A URL's part after `scheme://` split into its user part (None: none) and the rest. The user part ends
    at the last `@` before the first `/` that follows an `@`: a password may hold `@`, `/`, `#` or `?`
    (SQLAlchemy reads them so), a host and a path hold no `@`."""
    first = rest.find("@")
    if first < 0:
        return None, rest
    slash = rest.find("/", first)
    at = rest.rfind("@", 0, len(rest) if slash < 0 else slash)
    return rest[:at], rest[at + 1 :]


def redact_url(url: str) -> str:
    """The URL with every password, token or key in it replaced by ***, for messages and logs."""
    head, sep, rest = url.partition("://")
    if not sep:
        return _redact_pairs(url, _PAIR_IN_TEXT)  # not a URL: perhaps a libpq or ODBC string
    userinfo, rest = user_part(rest)
    user, colon, _ = (userinfo or "").partition(":")
    shown_user = "" if userinfo is None else (f"{user}:{MASK}@" if colon else f"{userinfo}@")
    rest, hash_, fragment = rest.partition("#")
    before, question, query = rest.partition("?")
    if url == (WEBHOOK_URL.value() or "") and "/" in before:
        before = before.split("/", 1)[0] + "/" + MASK  # a webhook's path is its token
    return f"{head}://{shown_user}{before}{question}{_redact_query(query)}{hash_}{fragment}"


def _known_secrets() -> set[str]:
    """The secret values the URL settings hold now (each as written, decoded and encoded), so that a driver's
    message quoting one on its own is redacted too."""
    values: set[str] = set()
    for setting in ALL_SETTINGS:
        url = setting.value() or ""
        head, sep, rest = url.partition("://")
        if not sep:
            continue
        userinfo, rest = user_part(rest)
        _, colon, password = (userinfo or "").partition(":")
        if colon:
            values.add(password)
        before, _, query = rest.partition("#")[0].partition("?")
        if setting is WEBHOOK_URL and "/" in before:
            values.add(before.split("/", 1)[1])  # the webhook's token is its path
        for part in query.split("&"):
            name, _, raw = part.partition("=")
            value = urllib.parse.unquote_plus(raw)
            if _is_secret(urllib.parse.unquote_plus(name)):
                values.add(value)
            for pattern in (_ODBC_PAIR, _LIBPQ_PAIR):
                values |= {m.group(2).strip("'{}") for m in pattern.finditer(value) if _is_secret(m.group(1))}
    out: set[str] = set()
    for v in values:
        if len(v) >= 4:
            out |= {v, urllib.parse.unquote(v), urllib.parse.quote(v, safe=""), urllib.parse.quote_plus(v)}
    return out


def redact_secrets(text: str) -> str:
    """`text` with every password, token or key in it replaced by ***: in each URL it quotes (parsed as
    above), in `name=value` pairs, and wherever a secret value of a URL setting appears on its own."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _redact_pairs(text, _PAIR_IN_TEXT)
    for secret in sorted(_known_secrets(), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


# --- every setting checked before any work ----------------------------------------------------------------
# One check per setting: the problem in one line naming the variable and the expected form, or None. A
# command checks them all when it starts (cli.py), the code location when it loads (definitions.py), and
# `metpipeline config` flags each malformed value. `files`: also read the files settings name (the owners
# registry, the policy, the checklist, the ledger key), which only the processes that use them can see.

LAYOUT_NAMES = ("datastore-2026", "datastore-2024")  # datasets/layouts.py's LAYOUTS (a test keeps them equal)


def _problem(check, *args) -> str | None:
    try:
        check(*args)
    except ConfigError as exc:
        return str(exc)
    return None


def _url(setting: Setting) -> str | None:
    raw = (setting.value() or "").strip()
    problem = _problem(check_sqlalchemy_url, setting.name, raw)
    if problem:
        return problem
    userinfo, _ = user_part(raw.partition("://")[2])
    password = (userinfo or "").partition(":")[2]
    if "@" in password:
        return (
            f"{setting.name}={redact_url(raw)!r}: the password holds an '@' that is not percent-encoded, "
            "so the host would be read from the password; write it as %40"
        )
    if "#" in password or "?" in password:
        return (
            f"{setting.name}={redact_url(raw)!r}: the password holds a '#' or '?' that is not "
            "percent-encoded; write them as %23 and %3F"
        )
    return None


def _http(setting: Setting, optional: bool = True) -> str | None:
    raw = (setting.value() or "").strip()
    if not raw and optional:
        return None
    parsed = urllib.parse.urlsplit(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return f"{setting.name}={redact_url(raw)!r}: expected an http:// or https:// address"
    return None


def _whole(setting: Setting, minimum: int, maximum: int | None = None) -> str | None:
    problem = _problem(whole_number, setting, minimum)
    if problem is None and maximum is not None and whole_number(setting, minimum) > maximum:
        return f"{setting.name}={setting.value()!r}: expected a whole number from {minimum} to {maximum}"
    return problem


def _month(setting: Setting) -> str | None:
    raw = (setting.value() or "").strip()
    return None if is_month(raw) else f"{setting.name}={raw!r} is not a month: expected YYYY-MM, e.g. 2022-01"


def _release_time() -> str | None:
    raw = (RELEASE_TIME.value() or "").strip().lower()
    if raw == "immediate" or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw):
        return None
    return f"{RELEASE_TIME.name}={raw!r}: expected HH:MM (London time), e.g. 09:30, or immediate"


def _release_cron() -> str | None:
    raw = (RELEASE_CRON.value() or "").strip()
    parts = raw.split()
    ok = len(parts) == 5 and parts[3:] == ["*", "*"] and all(p.isdigit() for p in parts[:3])
    if ok and int(parts[0]) < 60 and int(parts[1]) < 24 and 1 <= int(parts[2]) <= 28:
        return None
    return (
        f"{RELEASE_CRON.name}={raw!r}: expected a monthly cron 'MIN HOUR DAY * *' with a day from 1 to 28 "
        "(every month has it), e.g. '0 6 5 * *'"
    )


def _proxies() -> str | None:
    import ipaddress

    raw = TRUSTED_PROXIES.value() or ""
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            ipaddress.ip_address(part)
        except ValueError:
            return (
                f"{TRUSTED_PROXIES.name}={raw!r}: {part!r} is not an IP address; list the sign-in proxy's "
                "addresses, comma-separated, e.g. 127.0.0.1,::1"
            )
    return None


def _header() -> str | None:
    raw = os.environ.get(IDENTITY_HEADER.name)
    if raw is None or re.fullmatch(r"[A-Za-z0-9-]+", raw.strip()):
        return None
    return (
        f"{IDENTITY_HEADER.name}={raw!r}: expected the name of the header in which the sign-in proxy passes "
        "the user, such as X-Forwarded-User, or unset it (no proxy)"
    )


def _layout(setting: Setting, none_allowed: bool) -> str | None:
    raw = (setting.value() or "").strip().lower()
    if raw in LAYOUT_NAMES or (none_allowed and raw in ("", "none")):
        return None
    allowed = ", ".join(LAYOUT_NAMES) + (" or none" if none_allowed else "")
    return f"{setting.name}={raw!r}: expected one of {allowed}"


def _contact() -> str | None:
    raw = (CONTACT.value() or "").strip()
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw) or _http(CONTACT, optional=False) is None:
        return None
    return f"{CONTACT.name}={raw!r}: expected an e-mail address or an http(s) address"


def _sender() -> str | None:
    raw = (NOTIFY_FROM.value() or "").strip()
    return (
        None
        if re.fullmatch(r"[^@\s]+@[^@\s]+", raw)
        else f"{NOTIFY_FROM.name}={raw!r}: expected an e-mail address"
    )


def _utf8_file(setting: Setting) -> str | None:
    path = Path(setting.value() or "")
    try:
        path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        return f"{setting.name}={path}: is a folder; expected a file"
    except FileNotFoundError:
        return f"{setting.name}={path}: the file does not exist"
    except OSError as exc:
        return f"{setting.name}={path}: cannot be read ({exc.strerror})"
    except UnicodeDecodeError as exc:
        return f"{setting.name}={path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8"
    return None


def _key_file(setting: Setting) -> str | None:
    path = Path(setting.value() or "")
    if not setting.is_set() and not path.exists():
        return None  # the embedded default, created (0600) on first use
    if not path.exists():
        return (
            f"{setting.name}={path}: the file does not exist; mount the key there: "
            f"`{keyfile.KEY_FIX.format(path=path)}`"
        )
    return keyfile.read_problem(path, setting.name)


CHECKS = {
    DATAMART_URL.name: lambda: _url(DATAMART_URL),
    STATE_URL.name: lambda: _url(STATE_URL),
    BUCKET_URL.name: lambda: _problem(check_bucket_url, BUCKET_URL.name, (BUCKET_URL.value() or "").strip()),
    S3_ENDPOINT_URL.name: lambda: _http(S3_ENDPOINT_URL),
    WORK_DIR.name: lambda: (
        None if (WORK_DIR.value() or "").strip() else f"{WORK_DIR.name} is empty: name a folder"
    ),
    IDENTITY_HEADER.name: _header,
    TRUSTED_PROXIES.name: _proxies,
    FIRST_MONTH.name: lambda: _month(FIRST_MONTH),
    UI_BASE_URL.name: lambda: _http(UI_BASE_URL),
    PUBLIC_BASE_URL.name: lambda: _http(PUBLIC_BASE_URL),
    SMTP_HOST.name: lambda: None,
    SMTP_PORT.name: lambda: _whole(SMTP_PORT, 1, 65535),
    NOTIFY_FROM.name: _sender,
    WEBHOOK_URL.name: lambda: _http(WEBHOOK_URL),
    REMINDER_DAYS.name: lambda: _whole(REMINDER_DAYS, 1),
    RELEASE_TIME.name: _release_time,
    MIN_VOLUME_RATIO.name: lambda: _problem(share, MIN_VOLUME_RATIO),
    PUBLISH_MAX_ATTEMPTS.name: lambda: _whole(PUBLISH_MAX_ATTEMPTS, 1),
    PUBLISH_BACKOFF_SECONDS.name: lambda: _whole(PUBLISH_BACKOFF_SECONDS, 0),
    LAYOUT.name: lambda: _layout(LAYOUT, none_allowed=False),
    PREVIOUS_LAYOUT.name: lambda: _layout(PREVIOUS_LAYOUT, none_allowed=True),
    PREVIOUS_LAYOUT_UNTIL.name: lambda: _month(PREVIOUS_LAYOUT_UNTIL),
    CONTACT.name: _contact,
    WORKBOOK_MAX_CELLS.name: lambda: _whole(WORKBOOK_MAX_CELLS, 0),
    BACKFILL_PROCESSES.name: lambda: _whole(BACKFILL_PROCESSES, 1),
    RELEASE_CRON.name: _release_cron,
    STATE_LOCK_TIMEOUT.name: lambda: _whole(STATE_LOCK_TIMEOUT, 1),
}
FILE_CHECKS = {
    OWNERS_FILE.name: lambda: _utf8_file(OWNERS_FILE),
    POLICY_FILE.name: lambda: _utf8_file(POLICY_FILE),
    CHECKLIST_FILE.name: lambda: _utf8_file(CHECKLIST_FILE),
    LEDGER_KEY_FILE.name: lambda: _key_file(LEDGER_KEY_FILE),
    IDENTITY_KEY_FILE.name: lambda: _key_file(IDENTITY_KEY_FILE),
}


def problem_of(setting: Setting, files: bool = True) -> str | None:
    """What is wrong with one setting's value, in one line, or None."""
    check = CHECKS.get(setting.name) or (FILE_CHECKS.get(setting.name) if files else None)
    found = check() if check else None
    return redact_secrets(found) if found else None


def problems(files: bool = True) -> list[str]:
    """Every malformed setting, one line each, in the order of ALL_SETTINGS."""
    return [p for s in ALL_SETTINGS if (p := problem_of(s, files))]


def check_all(files: bool = True) -> None:
    """Raise one ConfigError naming every malformed setting (one per line), before any work starts."""
    found = problems(files)
    if found:
        raise ConfigError("\n".join(found))
