"""Release candidates: the exact files a data owner reviews, frozen under their content hash.

`candidates/M/<slug>/<sha256>/` holds the dataset's publishable files, the month's disclosure record and
release report, and `manifest.json`. The content hash covers the files' names and bytes only (not the run
id or any time), so rebuilding a month that yields identical bytes gives the identical candidate, and any
change to the bytes gives a new candidate that needs a new decision.
"""

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from metpipeline.workarea import WorkArea

DATASETS = ("borough", "ward", "lsoa", "flagged")
MANIFEST = "manifest.json"
DISCLOSURE = "disclosure.json"
REPORT_FILES = ("report.html", "report.json")
_FAILED = {"failed", "fail", "error", "errored"}


class CandidateError(RuntimeError):
    """A candidate is missing, incomplete or altered. The message names the folder and file."""


@dataclass(frozen=True)
class StagedCandidate:
    dataset: str
    month: str
    content_hash: str
    path: Path
    manifest_path: Path
    report_path: Path
    checks_passed: bool


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted (name, sha256) pairs: independent of run ids, times and file order."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(f"{name}\0{files[name]}\n".encode())
    return h.hexdigest()


def candidate_root(workarea: WorkArea, month: str, dataset: str) -> Path:
    return workarea.path("candidates", month, dataset)


def candidate_path(workarea: WorkArea, month: str, dataset: str, chash: str) -> Path:
    return candidate_root(workarea, month, dataset) / chash


def code_version() -> dict[str, str | None]:
    """Package version and, when run from a git checkout, the commit."""
    try:
        package = importlib_metadata.version("metpipeline")
    except importlib_metadata.PackageNotFoundError:
        package = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {"package": package, "git_commit": commit or None}


def checks_passed_from_report(report: dict) -> bool:
    """False when report.json records any failed check (overall `status`, or a row's `outcome`/`status`,
    or `passed: false` on a check whose severity is not a warning). Blocking checks have already stopped
    the run if they failed; this also catches failures the owner must not wave through."""
    if str(report.get("status", "")).strip().lower() in _FAILED:
        return False
    checks = report.get("checks", [])
    items = checks.values() if isinstance(checks, dict) else checks
    for item in items:
        if not isinstance(item, dict):
            item = {"status": item}
        for key in ("outcome", "status"):
            if str(item.get(key, "")).strip().lower() in _FAILED:
                return False
        if item.get("passed") is False and str(item.get("severity", "ERROR")).upper() != "WARN":
            return False
    return True


def stage_candidates(
    workarea: WorkArea,
    month: str,
    run_id: str,
    code_version: dict[str, str | None],
    datasets: tuple[str, ...] = DATASETS,
    staged_at: str | None = None,
) -> list[StagedCandidate]:
    """Freeze each dataset's publishable files and the month's report into a candidate folder."""
    publishable = workarea.release_dir(month, "publishable")
    report_dir = workarea.release_dir(month, "report")
    disclosure_file = publishable / DISCLOSURE
    for required in [disclosure_file, *(report_dir / f for f in REPORT_FILES)]:
        if not required.is_file():
            raise CandidateError(
                f"{required} is missing: materialise disclosed_datasets and release_report first"
            )
    disclosure = json.loads(disclosure_file.read_text(encoding="utf-8"))
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    checks_passed = checks_passed_from_report(report)

    staged = []
    for dataset in datasets:
        source = publishable / dataset
        data_files = sorted(p for p in source.glob("*") if p.is_file()) if source.is_dir() else []
        if not data_files:
            raise CandidateError(f"{source} holds no publishable files for {dataset} {month}")
        inputs = {p.name: (p, "data") for p in data_files}
        inputs[DISCLOSURE] = (disclosure_file, "disclosure")
        for name in REPORT_FILES:
            inputs[name] = (report_dir / name, "report")
        staged.append(
            _stage_one(
                workarea,
                dataset,
                month,
                inputs,
                {
                    "dataset": dataset,
                    "source_month": month,
                    "run_id": run_id,
                    "staged_at": staged_at,
                    "code_version": code_version,
                    "policy_version": disclosure.get("policy_version"),
                    "checks_passed": checks_passed,
                    "checks_status": "all checks passed" if checks_passed else "some checks failed",
                },
                checks_passed,
            )
        )
    return staged


def _stage_one(workarea, dataset, month, inputs, manifest_extra, checks_passed) -> StagedCandidate:
    root = candidate_root(workarea, month, dataset)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".staging-", dir=root))
    try:
        files = []
        for name, (src, role) in sorted(inputs.items()):
            shutil.copyfile(src, tmp / name)
            files.append(
                {
                    "name": name,
                    "role": role,
                    "bytes": (tmp / name).stat().st_size,
                    "sha256": sha256_file(tmp / name),
                }
            )
        chash = content_hash({f["name"]: f["sha256"] for f in files})
        manifest = {"content_hash": chash, "files": files, **manifest_extra}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        final = root / chash
        if final.exists():
            # Identical bytes were staged before: keep that folder (and its manifest) as it is.
            shutil.rmtree(tmp)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StagedCandidate(
        dataset, month, chash, final, final / MANIFEST, final / "report.html", checks_passed
    )


def load_verified_candidate(workarea: WorkArea, dataset: str, month: str, chash: str) -> dict:
    """The candidate's manifest, after re-checking every file's sha256 and the content hash itself.

    Run immediately before publication so that no byte reaches the public that the owner did not approve.
    """
    folder = candidate_path(workarea, month, dataset, chash)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CandidateError(f"candidate {folder} has no {MANIFEST}: it was never staged on this work area")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    actual = {}
    for entry in manifest["files"]:
        path = folder / entry["name"]
        if not path.is_file():
            raise CandidateError(f"candidate file {path} is missing; rebuild the month and approve again")
        actual[entry["name"]] = sha256_file(path)
        if actual[entry["name"]] != entry["sha256"]:
            raise CandidateError(
                f"candidate file {path} has changed since it was staged (sha256 differs from manifest); "
                "it will not be published. Rebuild the month and approve the new candidate."
            )
    if content_hash(actual) != chash or manifest.get("content_hash") != chash:
        raise CandidateError(
            f"candidate {folder}: content hash does not match its files; it will not be published"
        )
    return manifest
