"""Release candidates: the exact files a data owner reviews, frozen under their content hash.

`candidates/M/<slug>/<sha256>/` holds the dataset's publishable files, the month's disclosure record and
release report, and `manifest.json`. The content hash is the sha256 of the whole manifest (every field but
the hash itself): the files' names, sizes and sha256, the policy and code versions and the checks' outcome.
No run id or time is in it, so rebuilding a month that yields identical bytes with the same code gives the
identical candidate; any other change gives a new candidate that needs a new decision. (Who staged it and
when is in the ledger.)
"""

import hashlib
import json
import shutil
import subprocess
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path

from metpipeline.catalogue import CATALOGUE
from metpipeline.datasets.public import layout_record, render_public_files
from metpipeline.disclosure.allowlist import scan_public
from metpipeline.disclosure.policy import Policy
from metpipeline.resources import Publication
from metpipeline.workarea import WorkArea

DATASETS = tuple(CATALOGUE)  # the approval choices: every table in the catalogue
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


def content_hash(manifest: dict) -> str:
    """sha256 of the manifest's canonical JSON without its `content_hash` field: every other field counts."""
    body = {k: v for k, v in manifest.items() if k != "content_hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


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
    code_version: dict[str, str | None],
    *,
    policy: Policy,
    publication: Publication,
    datasets: tuple[str, ...] = DATASETS,
) -> list[StagedCandidate]:
    """Freeze each dataset's public files (rendered from its publishable files) and the month's report into
    a candidate folder. `policy`: the disclosure policy the public files are scanned with; `publication`:
    how the public files are written (both the deployment's, through the resources)."""
    publishable = workarea.publishable_dir(month)
    report_dir = workarea.report_dir(month)
    disclosure_file = publishable / DISCLOSURE
    for required in [disclosure_file, *(report_dir / f for f in REPORT_FILES)]:
        if not required.is_file():
            raise CandidateError(
                f"{required} is missing: materialise disclosed_datasets and release_report first"
            )
    disclosure = json.loads(disclosure_file.read_text(encoding="utf-8"))
    report = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    checks_passed = checks_passed_from_report(report)

    common = {
        "code_version": code_version,
        "policy_version": disclosure.get("policy_version"),
        "checks_passed": checks_passed,
        "checks_status": "all checks passed" if checks_passed else "some checks failed",
    }
    # Each dataset's public files are copied into its staging folder (and hashed for the manifest), then
    # scanned there on a second thread while the next dataset's are rendered (the scan is Arrow's, outside
    # the interpreter's lock; the workbooks are Python): the scan reads the very bytes the manifest hashes,
    # so a file changed after its scan no longer matches the approved hash. Largest first. Nothing is
    # staged (renamed into place) until every dataset's files have passed.
    order = sorted(datasets, key=lambda d: -_folder_bytes(publishable / d))
    folders: list[Path] = []
    prepared: dict[str, tuple[Path, str, Future[list[str]]]] = {}
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scan-public") as scanner:
            try:
                for dataset in order:
                    source = publishable / dataset
                    if not source.is_dir() or not any(source.iterdir()):
                        raise CandidateError(f"{source} holds no publishable files for {dataset} {month}")
                    root = candidate_root(workarea, month, dataset)
                    root.mkdir(parents=True, exist_ok=True)
                    public = Path(tempfile.mkdtemp(prefix=".public-", dir=root))
                    folders.append(public)
                    _render_public(workarea, dataset, month, source, public, publication)
                    # Every file in the folder, as rendered: one the renderer did not make is scanned (and
                    # refused) rather than left behind.
                    names = sorted(p.name for p in public.iterdir())
                    inputs = {name: (public / name, "data") for name in names}
                    inputs[DISCLOSURE] = (disclosure_file, "disclosure")
                    for name in REPORT_FILES:
                        inputs[name] = (report_dir / name, "report")
                    extra = {
                        "dataset": dataset,
                        "source_month": month,
                        "layout": layout_record(month, publication),
                    }
                    tmp, chash = _prepare_stage(root, inputs, extra | common)
                    folders.append(tmp)
                    shutil.rmtree(public)
                    scan = scanner.submit(scan_public, tmp, dataset, policy, names)
                    prepared[dataset] = (tmp, chash, scan)
            except BaseException:
                scanner.shutdown(wait=True, cancel_futures=True)
                raise
        for dataset in order:
            problems = prepared[dataset][2].result()
            if problems:
                raise CandidateError(
                    f"{dataset} {month}: {len(problems)} problem(s) in the public files, nothing staged: "
                    + "; ".join(problems[:5])
                )
        staged = []
        for dataset in datasets:
            tmp, chash, _ = prepared[dataset]
            staged.append(_commit_stage(workarea, dataset, month, tmp, chash, checks_passed))
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
    return staged


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def _render_public(
    workarea: WorkArea, dataset: str, month: str, source: Path, public: Path, publication: Publication
) -> None:
    """The dataset's public files (datasets/public.py) in `public`; scanned by the caller like every
    publishable file."""
    try:
        render_public_files(
            source,
            workarea.counts_dir(month),
            CATALOGUE[dataset],
            month,
            public,
            publication,
            workarea.compressed_dir(month),
        )
    except (FileNotFoundError, ValueError) as exc:
        raise CandidateError(f"{dataset} {month}: the public files could not be rendered: {exc}") from exc


def _prepare_stage(root: Path, inputs: dict, manifest_extra: dict) -> tuple[Path, str]:
    """Copy a candidate's files into a staging folder beside its final place, with their manifest;
    returns the folder and the content hash (the folder is not yet in place: `_commit_stage`)."""
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
        manifest = {"files": files, **manifest_extra}
        chash = content_hash(manifest)
        manifest["content_hash"] = chash
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp, chash


def _commit_stage(workarea, dataset, month, tmp: Path, chash: str, checks_passed) -> StagedCandidate:
    """Put a prepared staging folder in place under its content hash."""
    final = candidate_root(workarea, month, dataset) / chash
    if final.exists():
        # Identical bytes were staged before: keep that folder (and its manifest) as it is.
        shutil.rmtree(tmp)
    else:
        tmp.rename(final)
    return StagedCandidate(
        dataset, month, chash, final, final / MANIFEST, final / "report.html", checks_passed
    )


@dataclass(frozen=True)
class VerifiedCandidate:
    """A candidate's manifest and the bytes of its files, each file read once and checked against it."""

    manifest: dict
    files: dict[str, bytes]

    def role(self, role: str) -> dict[str, bytes]:
        names = {e["name"] for e in self.manifest["files"] if e["role"] == role}
        return {n: b for n, b in self.files.items() if n in names}


def load_verified_candidate(workarea: WorkArea, dataset: str, month: str, chash: str) -> VerifiedCandidate:
    """The candidate's manifest and file bytes, after checking every file's sha256 and the content hash.

    Each file is read exactly once and the bytes returned are the bytes hashed: the publisher uploads these,
    so a file swapped on disk after this point cannot reach the public.
    """
    folder = candidate_path(workarea, month, dataset, chash)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise CandidateError(f"candidate {folder} has no {MANIFEST}: it was never staged on this work area")
    manifest = json.loads(manifest_path.read_bytes())
    if content_hash(manifest) != chash or manifest.get("content_hash") != chash:
        raise CandidateError(
            f"candidate {folder}: {MANIFEST} does not match the approved content hash (a field was changed "
            "after staging); it will not be published. Rebuild the month and approve the new candidate."
        )
    if manifest.get("dataset") != dataset or manifest.get("source_month") != month:
        raise CandidateError(f"candidate {folder}: {MANIFEST} is for another dataset or month")
    files = {}
    for entry in manifest["files"]:
        path = folder / entry["name"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CandidateError(
                f"candidate file {path} is missing; rebuild the month and approve again"
            ) from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"] or len(data) != entry["bytes"]:
            raise CandidateError(
                f"candidate file {path} has changed since it was staged (sha256 differs from manifest); "
                "it will not be published. Rebuild the month and approve the new candidate."
            )
        files[entry["name"]] = data
    return VerifiedCandidate(manifest, files)
