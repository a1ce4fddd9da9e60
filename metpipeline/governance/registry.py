"""The data-owner registry: which named people may approve or reject each dataset's release.

Loaded from a YAML file (METPIPELINE_OWNERS_FILE, default the embedded demo registry). Every problem is
reported with the file's path and what to change, because the person fixing it is editing that file.
Each decision in the ledger records the registry's path and sha256; a decision counts only while the same
registry is in force, so a changed registry needs the owners to decide again.
A dataset may require several distinct approvers (`approvals_required: 2`, default 1).
"""

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from metpipeline.catalogue import CATALOGUE

DATASETS = tuple(CATALOGUE)  # every table in the catalogue needs owners
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class RegistryError(ValueError):
    """The owners file is missing or malformed. The message names the file and the problem."""


@dataclass(frozen=True)
class DatasetOwners:
    owners: tuple[str, ...]
    deputies: tuple[str, ...]
    approvals_required: int = 1

    @property
    def approvers(self) -> tuple[str, ...]:
        return self.owners + tuple(d for d in self.deputies if d not in self.owners)


@dataclass(frozen=True)
class Registry:
    version: str
    source: str  # the file's absolute path
    sha256: str  # of the file's bytes: what a decision is bound to
    people: dict[str, str]  # name -> display name
    datasets: dict[str, DatasetOwners]
    emails: dict[str, str] = field(default_factory=dict)  # name -> e-mail address, where given

    def recipients(self, datasets) -> tuple[str, ...]:
        """E-mail addresses of the owners and deputies of `datasets` (each once)."""
        names = [n for d in datasets if d in self.datasets for n in self.datasets[d].approvers]
        return tuple(dict.fromkeys(self.emails[n] for n in names if n in self.emails))

    def required(self, dataset: str) -> int:
        """How many distinct registered approvers must approve the same candidate before it is published."""
        self.approvers(dataset)  # raises for an unknown dataset
        return self.datasets[dataset].approvals_required

    def approvers(self, dataset: str) -> tuple[str, ...]:
        if dataset not in self.datasets:
            raise RegistryError(
                f"{self.source}: no owners registered for dataset {dataset!r}; "
                f"registered datasets: {', '.join(sorted(self.datasets))}"
            )
        return self.datasets[dataset].approvers

    def describe(self, name: str) -> str:
        return f"{name} ({self.people[name]})" if name in self.people else name

    def role(self, dataset: str, name: str) -> str | None:
        """'owner', 'deputy' or None when `name` may not decide on `dataset`."""
        entry = self.datasets.get(dataset)
        if entry is None:
            return None
        if name in entry.owners:
            return "owner"
        if name in entry.deputies:
            return "deputy"
        return None


def normalise_name(name: str) -> str:
    """Names are compared case-insensitively and without surrounding spaces (typed into a form)."""
    return name.strip().lower()


def load_registry(path: str | Path) -> Registry:
    path = Path(path).resolve()
    where = str(path)
    if not path.is_file():
        raise RegistryError(
            f"owners file {where} does not exist: set METPIPELINE_OWNERS_FILE to the registry"
        )
    # Read once: the bytes hashed are the bytes parsed.
    try:
        data = path.read_bytes()
        raw = yaml.safe_load(data.decode("utf-8"))
    except OSError as exc:
        raise RegistryError(f"owners file {where} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(
            f"owners file {where} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    except yaml.YAMLError as exc:
        raise RegistryError(f"owners file {where} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RegistryError(f"owners file {where}: expected a mapping with version, people and datasets")
    version = raw.get("version")
    if version in (None, ""):
        raise RegistryError(
            f"owners file {where}: `version:` is missing; add one and bump it on every change"
        )

    people_raw = raw.get("people") or {}
    if not isinstance(people_raw, dict):
        raise RegistryError(f"owners file {where}: `people` must map a name to its display_name")
    people: dict[str, str] = {}
    emails: dict[str, str] = {}
    for name, info in people_raw.items():
        key = normalise_name(str(name))
        if not _NAME.match(key):
            raise RegistryError(f"owners file {where}: person name {name!r} must be like 'first.last'")
        display = (info or {}).get("display_name") if isinstance(info, dict) else None
        if not display:
            raise RegistryError(f"owners file {where}: person {name!r} has no display_name")
        people[key] = str(display)
        if isinstance(info, dict) and info.get("email"):
            emails[key] = str(info["email"]).strip()

    datasets_raw = raw.get("datasets")
    if not isinstance(datasets_raw, dict) or not datasets_raw:
        raise RegistryError(f"owners file {where}: `datasets` must name the owners of {', '.join(DATASETS)}")
    datasets: dict[str, DatasetOwners] = {}
    for slug, entry in datasets_raw.items():
        if slug not in DATASETS:
            raise RegistryError(
                f"owners file {where}: unknown dataset {slug!r}; expected one of {', '.join(DATASETS)}"
            )
        if not isinstance(entry, dict):
            raise RegistryError(f"owners file {where}: dataset {slug!r} must have `owners:` and `deputies:`")
        owners = _names(entry.get("owners"), where, slug, "owners", people)
        deputies = _names(entry.get("deputies") or [], where, slug, "deputies", people)
        if not owners:
            raise RegistryError(f"owners file {where}: dataset {slug!r} has no owner; name at least one")
        required = entry.get("approvals_required", 1)
        distinct = len(set(owners) | set(deputies))
        if not isinstance(required, int) or isinstance(required, bool) or not 1 <= required <= distinct:
            raise RegistryError(
                f"owners file {where}: dataset {slug!r} approvals_required must be a whole number from 1 "
                f"to {distinct} (its registered owners and deputies), not {required!r}"
            )
        datasets[slug] = DatasetOwners(owners, deputies, required)
    missing = [d for d in DATASETS if d not in datasets]
    if missing:
        raise RegistryError(f"owners file {where}: no owners for dataset(s) {', '.join(missing)}")
    return Registry(
        version=str(version),
        source=where,
        sha256=hashlib.sha256(data).hexdigest(),
        people=people,
        datasets=datasets,
        emails=emails,
    )


def _names(value, where: str, slug: str, field: str, people: dict[str, str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RegistryError(f"owners file {where}: dataset {slug!r} `{field}` must be a list of names")
    names = tuple(normalise_name(str(v)) for v in value)
    unknown = [n for n in names if n not in people]
    if unknown:
        raise RegistryError(
            f"owners file {where}: dataset {slug!r} {field} {', '.join(unknown)} not listed under `people`"
        )
    return names
