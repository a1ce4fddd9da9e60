"""The disclosure policy: a versioned YAML file read and validated before any file is made publishable."""

from dataclasses import dataclass
from pathlib import Path

import yaml

from metpipeline.catalogue import CATALOGUE, DatasetSpec

ACTIONS = ("publish", "suppress", "withhold")
NOT_GEOCODED_GRANULARITY = ("month", "minor_month", "none")


class PolicyError(ValueError):
    """The policy file is missing a setting or has an invalid one; the message names it."""


@dataclass(frozen=True)
class DatasetRule:
    action: str
    applies_to: str = "all"  # 'all' or 'high'
    min_count: int = 1
    max_count: int = 2

    def protects(self, sensitivity: str) -> bool:
        return self.applies_to == "all" or sensitivity == self.applies_to


@dataclass(frozen=True)
class Policy:
    version: str
    marker: str
    datasets: dict[str, DatasetRule]
    min_interval_width: float
    not_geocoded_published: str
    flag_types: tuple[str, ...]
    flag_texts: tuple[str, ...]

    def rule(self, slug: str) -> DatasetRule:
        return self.datasets[slug]


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"disclosure policy file {path} does not exist") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"disclosure policy file {path} is not UTF-8 text (byte {exc.start})") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"disclosure policy file {path} cannot be read ({exc})") from None
    return parse_policy(raw, source=str(path))


def parse_policy(
    raw: object, source: str = "policy", catalogue: dict[str, DatasetSpec] | None = None
) -> Policy:
    """The policy for every table of the catalogue: each needs a rule, and a table the catalogue marks as
    sensitive (small areas, special categories) cannot be published as counted."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: expected a mapping at the top level")
    version = raw.get("version")
    if not version:
        raise PolicyError(f"{source}: `version` is required")
    marker = str(raw.get("marker", "[c]"))
    datasets_raw = raw.get("datasets") or {}
    missing = [s for s in catalogue if s not in datasets_raw]
    if missing:
        raise PolicyError(f"{source}: datasets {missing} have no rule")
    datasets: dict[str, DatasetRule] = {}
    unknown = sorted(set(datasets_raw) - set(catalogue))
    if unknown:
        raise PolicyError(f"{source}: datasets {unknown} are not in the catalogue ({', '.join(catalogue)})")
    for slug in catalogue:
        d = datasets_raw[slug] or {}
        action = d.get("action")
        if action not in ACTIONS:
            raise PolicyError(f"{source}: datasets.{slug}.action must be one of {ACTIONS}, not {action!r}")
        if action == "publish" and catalogue[slug].needs_protection:
            raise PolicyError(
                f"{source}: datasets.{slug}.action cannot be 'publish': the catalogue marks {slug} as "
                f"{catalogue[slug].sensitivity}, so its small counts must be suppressed or withheld"
            )
        applies_to = d.get("applies_to", "all")
        if applies_to not in ("all", "high"):
            raise PolicyError(f"{source}: datasets.{slug}.applies_to must be 'all' or 'high'")
        lo, hi = int(d.get("min_count", 1)), int(d.get("max_count", 2))
        if not 1 <= lo <= hi:
            raise PolicyError(f"{source}: datasets.{slug} needs 1 <= min_count <= max_count")
        datasets[slug] = DatasetRule(action, applies_to, lo, hi)
    width = float((raw.get("secondary") or {}).get("min_interval_width", 0))
    if width < 0:
        raise PolicyError(f"{source}: secondary.min_interval_width must be >= 0")
    ng = raw.get("not_geocoded_published", "month")
    if ng not in NOT_GEOCODED_GRANULARITY:
        raise PolicyError(f"{source}: not_geocoded_published must be one of {NOT_GEOCODED_GRANULARITY}")
    return Policy(
        version=str(version),
        marker=marker,
        datasets=datasets,
        min_interval_width=width,
        not_geocoded_published=ng,
        flag_types=tuple(str(x).upper() for x in raw.get("flag_types", [])),
        flag_texts=tuple(str(x).upper() for x in raw.get("flag_texts", [])),
    )
