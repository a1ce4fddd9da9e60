"""The owner's pre-release checklist (versioned YAML): loaded, and checked against an owner's answers."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from metpipeline import settings


@dataclass(frozen=True)
class Checklist:
    version: str
    items: dict[str, str]  # key -> the sentence the owner confirms

    def unanswered(self, answers: dict[str, bool]) -> list[str]:
        return [key for key in self.items if answers.get(key) is not True]

    def unknown(self, answers: dict[str, bool]) -> list[str]:
        return [key for key in answers if key not in self.items]


def load(path: str) -> Checklist:
    """The checklist at `path` (the deployment's: GovernanceResource.checklist_file)."""
    return _load(path)


@cache
def _load(path: str) -> Checklist:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise settings.ConfigError(
            f"{settings.CHECKLIST_FILE.name}={path}: cannot read the checklist ({exc})"
        ) from None
    if not isinstance(raw, dict) or not raw.get("version") or not isinstance(raw.get("items"), dict):
        raise settings.ConfigError(
            f"{settings.CHECKLIST_FILE.name}={path}: expected `version:` and `items:` (key: sentence)"
        )
    return Checklist(str(raw["version"]), {str(k): str(v) for k, v in raw["items"].items()})
