"""Where things live: every location and secret comes from an environment variable with an embedded default.

The defaults point at the embedded set-up under `var/` in the working directory (the repository root when
run through the Makefile). Resources read these when used and have no config fields of their own, so run
config can never change them and the Dagster UI never shows a value (see resources.py).
"""

import os
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from metpipeline import keyfile


class ConfigError(ValueError):
    """A configuration variable is missing or malformed. The message names the variable."""


def var_dir() -> Path:
    return Path(os.environ.get("METPIPELINE_VAR_DIR", "var")).resolve()


@dataclass(frozen=True)
class Setting:
    """One environment variable: declared once, with its description, its embedded default and its parser
    (`parse(setting, raw) -> value`, raising a one-line ConfigError that names the variable)."""

    name: str
    help: str
    embedded: Callable[[], str | None] = field(repr=False, compare=False)
    parse: Callable[["Setting", str], Any] = field(repr=False, compare=False)
    # The parser reads the file the setting names (owners registry, policy, keys): checked only by the
    # processes that use it, which alone may see the file.
    reads_file: bool = False

    def default(self) -> str | None:
        return self.embedded()

    def value(self) -> str | None:
        """The raw value: the environment's if set (and not empty), else the embedded default."""
        raw = os.environ.get(self.name)
        return raw if raw not in (None, "") else self.default()

    def get(self) -> Any:
        """The parsed value (a whole number, a share, a month, a checked URL…); a malformed value raises a
        ConfigError naming the variable and the form expected."""
        return self.parse(self, (self.value() or "").strip())

    def problem(self) -> str | None:
        try:
            self.get()
        except ConfigError as exc:
            return str(exc)
        return None

    def is_set(self) -> bool:
        return os.environ.get(self.name) not in (None, "")

    def set_for_this_process(self, value: str) -> None:
        """Give the setting a value for this process and the runs it starts (the embedded demo's release
        time). The one place outside a deployment's environment where a setting is set."""
        os.environ[self.name] = value


_REGISTRY: dict[str, Setting] = {}


def declare(name: str, help: str, default: Callable[[], str | None], parse=None, reads_file=False) -> Setting:
    """Declare a setting (each exactly once): `metpipeline config` lists it, every command checks it."""
    if name in _REGISTRY:
        raise ValueError(f"setting {name} is declared twice")
    setting = Setting(name, help, default, parse or text, reads_file)
    _REGISTRY[name] = setting
    return setting


def dagster_home(default: Path) -> Path:
    """DAGSTER_HOME (Dagster's own variable), set to `default` for this process and its children when the
    environment leaves it unset."""
    return Path(os.environ.setdefault("DAGSTER_HOME", str(default)))


def dagster_home_is_set() -> bool:
    return os.environ.get("DAGSTER_HOME") not in (None, "")


# --- parsers: (setting, raw value) -> the value, or a ConfigError naming the variable ----------------------
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
LAYOUT_NAMES = ("datastore-2026", "datastore-2024")  # datasets/layouts.py's LAYOUTS (a test keeps them equal)


def text(setting: Setting, raw: str) -> str | None:
    return raw or None


def is_month(value: str) -> bool:
    return bool(_MONTH.match(value or ""))


def month(setting: Setting, raw: str) -> str:
    if not is_month(raw):
        raise ConfigError(f"{setting.name}={raw!r} is not a month: expected YYYY-MM, e.g. 2022-01")
    return raw


def whole(minimum: int, maximum: int | None = None) -> Callable[[Setting, str], int]:
    def parse(setting: Setting, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            value = minimum - 1
        if value < minimum or (maximum is not None and value > maximum):
            expected = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
            raise ConfigError(f"{setting.name}={raw!r}: expected a whole number {expected}")
        return value

    return parse


def share(setting: Setting, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:
        raise ConfigError(f"{setting.name}={raw!r}: expected a number from 0 to 1, e.g. 0.5")
    return value


def folder(setting: Setting, raw: str) -> str:
    if not raw:
        raise ConfigError(f"{setting.name} is empty: name a folder")
    return raw


def sqlalchemy_url(setting: Setting, raw: str) -> str:
    check_sqlalchemy_url(setting.name, raw)
    userinfo, _ = user_part(raw.partition("://")[2])
    password = (userinfo or "").partition(":")[2]
    if "@" in password:
        raise ConfigError(
            f"{setting.name}={redact_url(raw)!r}: the password holds an '@' that is not percent-encoded, "
            "so the host would be read from the password; write it as %40"
        )
    if "#" in password or "?" in password:
        raise ConfigError(
            f"{setting.name}={redact_url(raw)!r}: the password holds a '#' or '?' that is not "
            "percent-encoded; write them as %23 and %3F"
        )
    return raw


def bucket_url(setting: Setting, raw: str) -> str:
    return check_bucket_url(setting.name, raw)


def http(setting: Setting, raw: str) -> str | None:
    """An optional http(s) address (empty: none)."""
    if not raw:
        return None
    parsed = urllib.parse.urlsplit(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{setting.name}={redact_url(raw)!r}: expected an http:// or https:// address")
    return raw


def release_time(setting: Setting, raw: str) -> str:
    raw = raw.lower()
    if raw == "immediate" or re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", raw):
        return raw
    raise ConfigError(f"{setting.name}={raw!r}: expected HH:MM (London time), e.g. 09:30, or immediate")


def monthly_cron(setting: Setting, raw: str) -> str:
    parts = raw.split()
    ok = len(parts) == 5 and parts[3:] == ["*", "*"] and all(p.isdigit() for p in parts[:3])
    if ok and int(parts[0]) < 60 and int(parts[1]) < 24 and 1 <= int(parts[2]) <= 28:
        return raw
    raise ConfigError(
        f"{setting.name}={raw!r}: expected a monthly cron 'MIN HOUR DAY * *' with a day from 1 to 28 "
        "(every month has it), e.g. '0 6 5 * *'"
    )


def addresses(setting: Setting, raw: str) -> tuple[str, ...]:
    import ipaddress

    parts = tuple(p.strip() for p in raw.split(",") if p.strip())
    for part in parts:
        try:
            ipaddress.ip_address(part)
        except ValueError:
            raise ConfigError(
                f"{setting.name}={raw!r}: {part!r} is not an IP address; list the sign-in proxy's "
                "addresses, comma-separated, e.g. 127.0.0.1,::1"
            ) from None
    return parts


def header_name(setting: Setting, raw: str) -> str | None:
    # Unset: no proxy. Set but empty is refused: a deployment that meant to name the header did not.
    if os.environ.get(setting.name) is None:
        return None
    if re.fullmatch(r"[A-Za-z0-9-]+", raw):
        return raw
    raise ConfigError(
        f"{setting.name}={raw!r}: expected the name of the header in which the sign-in proxy passes "
        "the user, such as X-Forwarded-User, or unset it (no proxy)"
    )


def layout_name(none_allowed: bool) -> Callable[[Setting, str], str | None]:
    def parse(setting: Setting, raw: str) -> str | None:
        raw = raw.lower()
        if none_allowed and raw in ("", "none"):
            return None
        if raw in LAYOUT_NAMES:
            return raw
        allowed = ", ".join(LAYOUT_NAMES) + (" or none" if none_allowed else "")
        raise ConfigError(f"{setting.name}={raw!r}: expected one of {allowed}")

    return parse


def contact(setting: Setting, raw: str) -> str:
    if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw):
        return raw
    try:
        if http(setting, raw):
            return raw
    except ConfigError:
        pass
    raise ConfigError(f"{setting.name}={raw!r}: expected an e-mail address or an http(s) address")


def sender(setting: Setting, raw: str) -> str:
    if re.fullmatch(r"[^@\s]+@[^@\s]+", raw):
        return raw
    raise ConfigError(f"{setting.name}={raw!r}: expected an e-mail address")


def utf8_file(setting: Setting, raw: str) -> Path:
    path = Path(raw)
    try:
        path.read_bytes().decode("utf-8")
    except IsADirectoryError:
        raise ConfigError(f"{setting.name}={path}: is a folder; expected a file") from None
    except FileNotFoundError:
        raise ConfigError(f"{setting.name}={path}: the file does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{setting.name}={path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{setting.name}={path}: is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    return path


def key_file(setting: Setting, raw: str) -> Path:
    path = Path(raw)
    if not setting.is_set() and not path.exists():
        return path  # the embedded default, created (0600) on first use
    if not path.exists():
        raise ConfigError(
            f"{setting.name}={path}: the file does not exist; mount the key there: "
            f"`{keyfile.KEY_FIX.format(path=path)}`"
        )
    problem = keyfile.read_problem(path, setting.name)
    if problem:
        raise ConfigError(problem)
    return path


_PACKAGE = Path(__file__).parent

# --- the settings: each declared once ------------------------------------------------------------------
DATAMART_URL = declare(
    "METPIPELINE_DATAMART_URL",
    "SQLAlchemy URL of the DataMart (production: mssql+pyodbc://…; schema dm on SQL Server, none on SQLite)",
    lambda: f"sqlite:///{var_dir() / 'datamart.sqlite'}",
    sqlalchemy_url,
)
STATE_URL = declare(
    "METPIPELINE_STATE_URL",
    "SQLAlchemy URL of the pipeline's own state (ledger, releases)",
    lambda: f"sqlite:///{var_dir() / 'state.sqlite'}",
    sqlalchemy_url,
)
BUCKET_URL = declare(
    "METPIPELINE_BUCKET_URL",
    "where releases are published: s3://bucket/prefix or a folder",
    lambda: str(var_dir() / "bucket"),
    bucket_url,
)
S3_ENDPOINT_URL = declare(
    "METPIPELINE_S3_ENDPOINT_URL", "optional endpoint of an S3-compatible store", lambda: None, http
)
WORK_DIR = declare(
    "METPIPELINE_WORK_DIR",
    "directory for intermediate extracts, datasets and candidates",
    lambda: str(var_dir() / "work"),
    folder,
)
OWNERS_FILE = declare(
    "METPIPELINE_OWNERS_FILE",
    "YAML registry of data owners (default: the embedded demo)",
    lambda: str(_PACKAGE / "approval" / "owners.embedded.yaml"),
    utf8_file,
    reads_file=True,
)
POLICY_FILE = declare(
    "METPIPELINE_DISCLOSURE_POLICY",
    "YAML disclosure policy (default: the packaged one)",
    lambda: str(_PACKAGE / "disclosure" / "policy.yaml"),
    utf8_file,
    reads_file=True,
)
LEDGER_KEY_FILE = declare(
    "METPIPELINE_LEDGER_KEY_FILE",
    "secret key (file) that seals the approval ledger; the embedded default is created under var/, mode 0600",
    lambda: str(var_dir() / "ledger.key"),
    key_file,
    reads_file=True,
)
IDENTITY_KEY_FILE = declare(
    "METPIPELINE_IDENTITY_KEY_FILE",
    "secret key (file) with which the webserver and the code location seal who launched each run; the "
    "embedded default is created under var/, mode 0600",
    lambda: str(var_dir() / "identity.key"),
    key_file,
    reads_file=True,
)
IDENTITY_HEADER = declare(
    "METPIPELINE_IDENTITY_HEADER",
    "header in which the sign-in proxy passes the signed-in user (e.g. X-Forwarded-User); empty: no proxy",
    lambda: None,
    header_name,
)
TRUSTED_PROXIES = declare(
    "METPIPELINE_TRUSTED_PROXIES",
    "comma-separated addresses of the sign-in proxy (identity header trusted)",
    lambda: "127.0.0.1,::1",
    addresses,
)
FIRST_MONTH = declare(
    "METPIPELINE_FIRST_MONTH", "first month the DataMart holds, YYYY-MM", lambda: "2022-01", month
)
CHECKLIST_FILE = declare(
    "METPIPELINE_CHECKLIST_FILE",
    "the owner's pre-release checklist (versioned YAML)",
    lambda: str(_PACKAGE / "approval" / "checklist.yaml"),
    utf8_file,
    reads_file=True,
)
UI_BASE_URL = declare(
    "METPIPELINE_UI_BASE_URL",
    "the Dagster UI's address as owners reach it (links in messages)",
    lambda: "http://127.0.0.1:3000",
    http,
)
PUBLIC_BASE_URL = declare(
    "METPIPELINE_PUBLIC_BASE_URL",
    "the bucket's public address; links on index.html are absolute when set",
    lambda: None,
    http,
)
SMTP_HOST = declare(
    "METPIPELINE_SMTP_HOST", "mail server for notifications; empty: no e-mail (log line only)", lambda: None
)
SMTP_PORT = declare("METPIPELINE_SMTP_PORT", "mail server port", lambda: "25", whole(1, 65535))
NOTIFY_FROM = declare(
    "METPIPELINE_NOTIFY_FROM", "sender address of notifications", lambda: "metpipeline@localhost", sender
)
WEBHOOK_URL = declare(
    "METPIPELINE_WEBHOOK_URL",
    "webhook (Teams/Slack-compatible JSON) for notifications; empty: off",
    lambda: None,
    http,
)
REMINDER_DAYS = declare(
    "METPIPELINE_REMINDER_DAYS", "days without a decision before owners are reminded", lambda: "3", whole(1)
)
RELEASE_TIME = declare(
    "METPIPELINE_RELEASE_TIME",
    "time of day (London) approved releases are published, HH:MM, or 'immediate'",
    lambda: "09:30",
    release_time,
)
MIN_VOLUME_RATIO = declare(
    "METPIPELINE_MIN_VOLUME_RATIO",
    "a month below this share of its trailing 12-month mean (or with no crime at all) blocks the release",
    lambda: "0.5",
    share,
)
PUBLISH_MAX_ATTEMPTS = declare(
    "METPIPELINE_PUBLISH_MAX_ATTEMPTS",
    "publish runs tried per approved candidate before it needs attention",
    lambda: "5",
    whole(1),
)
PUBLISH_BACKOFF_SECONDS = declare(
    "METPIPELINE_PUBLISH_BACKOFF_SECONDS",
    "wait before retrying a failed publish run (doubles per attempt)",
    lambda: "60",
    whole(0),
)
LAYOUT = declare(
    "METPIPELINE_LAYOUT",
    "layout of the public CSV files (datastore-2026 or datastore-2024)",
    lambda: "datastore-2026",
    layout_name(none_allowed=False),
)
PREVIOUS_LAYOUT = declare(
    "METPIPELINE_PREVIOUS_LAYOUT",
    "a layout also published beside the current one while deprecated, or none",
    lambda: "datastore-2024",
    layout_name(none_allowed=True),
)
PREVIOUS_LAYOUT_UNTIL = declare(
    "METPIPELINE_PREVIOUS_LAYOUT_UNTIL",
    "last release month (YYYY-MM) that carries the previous layout",
    lambda: "2027-06",
    month,
)
CONTACT = declare(
    "METPIPELINE_CONTACT",
    "the public's contact for the data: an e-mail address or a URL",
    lambda: "data.office@met.police.example",
    contact,
)
WORKBOOK_MAX_CELLS = declare(
    "METPIPELINE_WORKBOOK_MAX_CELLS",
    "largest table (cells) put in a spreadsheet; larger ones are CSV only",
    lambda: "1000000",
    whole(0),
)
BACKFILL_PROCESSES = declare(
    "METPIPELINE_BACKFILL_PROCESSES",
    "processes that share a back-fill's extraction, month by month (1: the run's own process alone)",
    lambda: "2",
    whole(1),
)
RELEASE_CRON = declare(
    "METPIPELINE_RELEASE_CRON",
    "when the monthly release run starts: a monthly cron 'MIN HOUR DAY * *' (London time)",
    lambda: "0 6 5 * *",
    monthly_cron,
)
STATE_LOCK_TIMEOUT = declare(
    "METPIPELINE_STATE_LOCK_TIMEOUT_SECONDS",
    "how long to wait for the state database when another process holds a lock on it, then fail saying so",
    lambda: "30",
    whole(1),
)

ALL_SETTINGS = tuple(_REGISTRY.values())


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
# Each setting's parser is its check: the problem in one line naming the variable and the expected form. A
# command checks them all when it starts (commands/main.py), the code location when it loads
# (definitions.py), and `metpipeline config` flags each malformed value. `files`: also read the files
# settings name (the owners registry, the policy, the checklist, the keys), which only the processes that
# use them can see.


def problem_of(setting: Setting, files: bool = True) -> str | None:
    """What is wrong with one setting's value, in one line, or None."""
    found = setting.problem() if files or not setting.reads_file else None
    return redact_secrets(found) if found else None


def problems(files: bool = True) -> list[str]:
    """Every malformed setting, one line each, in the order of ALL_SETTINGS."""
    return [p for s in ALL_SETTINGS if (p := problem_of(s, files))]


def check_all(files: bool = True) -> None:
    """Raise one ConfigError naming every malformed setting (one per line), before any work starts."""
    found = problems(files)
    if found:
        raise ConfigError("\n".join(found))
