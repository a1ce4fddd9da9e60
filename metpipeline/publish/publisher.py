"""Publication of one approved candidate as an immutable version in the bucket.

Order matters, so that the public never sees a partial version:
1. claim version N with a create-only `_internal/claims/<slug>/<M>/v<N>.json` outside the public prefix
   (N = latest version + 1; a number claimed by another candidate's failed attempt is skipped, and our own
   unfinished claim is resumed, with its release time, so a retry rebuilds identical bytes);
2. write the version: on the local store the whole folder appears by one rename; on S3 every file is
   written create-only and `manifest.json` last (identical bytes already there are accepted, so a retry
   completes it);
3. only then swap `datasets/<slug>/latest.json` by compare-and-swap, and then `catalog.json` likewise.
Publishing the candidate that latest.json already names changes nothing. Publishing a candidate whose
bytes were published before, but are no longer the latest (the source was reverted), makes a new version
that says which one it reverts to: the pointer always names the current approved candidate.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from metpipeline.approval.candidates import DISCLOSURE, load_verified_candidate
from metpipeline.bucket import INTERNAL_PREFIX, ObjectExists, PreconditionFailed
from metpipeline.publish import catalog as catalog_mod
from metpipeline.publish.cover import PublicFile, diff_versions, render_cover
from metpipeline.publish.datapackage import BUCKET_SLUGS, SUPPRESSED, TITLES, build_datapackage
from metpipeline.publish.history import HISTORY, render_history
from metpipeline.publish.landing import INDEX_KEY, render_index
from metpipeline.resources import Publication
from metpipeline.workarea import WorkArea

LONDON = ZoneInfo("Europe/London")
CATALOG_KEY = "catalog.json"
COVER = "cover-sheet.html"
DATAPACKAGE = "datapackage.json"
MANIFEST = "manifest.json"
_CAS_ATTEMPTS = 10


class PublishError(RuntimeError):
    """Publication stopped before anything became visible. The message says why and what to do."""


@dataclass(frozen=True)
class PublishResult:
    dataset: str
    month: str
    content_hash: str
    version: int
    prefix: str
    files: tuple[str, ...]
    already_published: bool


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dumps(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def _load(store, key: str):
    obj = store.get(key)
    return (json.loads(obj.data), obj.etag) if obj else (None, None)


def publish_candidate(
    store,
    workarea: WorkArea,
    dataset: str,
    month: str,
    candidate_hash: str,
    *,
    publication: Publication,
    now: datetime | None = None,
    pre_release_access: list[dict] | None = None,
) -> PublishResult:
    """Publish the approved candidate as the dataset's next version; `publication`: the deployment's release
    calendar, contact and public address (PublicationResource)."""
    slug = BUCKET_SLUGS[dataset]
    latest_key = f"datasets/{slug}/latest.json"

    # Each file is read once, here, and checked against the approved manifest; only these bytes are used
    # from now on (uploaded, hashed for the public manifest, described on the cover sheet).
    candidate = load_verified_candidate(workarea, dataset, month, candidate_hash)
    manifest = candidate.manifest
    data = {name: (payload, sha256_hex(payload)) for name, payload in candidate.role("data").items()}

    latest, _ = _load(store, latest_key)
    current = (latest or {}).get("latest")
    if current and current["month"] == month and current["content_hash"] == candidate_hash:
        _update_history(store, dataset, latest)  # a previous run may have stopped before these
        _update_catalog(store, dataset, latest, publication)
        return PublishResult(
            dataset, month, candidate_hash, current["version"], current["path"], tuple(current["files"]), True
        )

    previous = current
    if previous and month < previous["month"]:
        raise PublishError(
            f"{slug} already has a release for {previous['month']} (v{previous['version']}), "
            f"newer than {month}; "
            "its files already carry revised earlier months. Publish a newer month instead."
        )
    version, released_at = _claim_version(store, slug, month, candidate_hash, latest, now)
    prefix = f"datasets/{slug}/{month}/v{version}/"
    files = sorted([*data, COVER, DATAPACKAGE, MANIFEST])
    entry, cover = _version_entry_and_cover(
        store,
        candidate,
        dataset,
        month,
        candidate_hash,
        latest,
        version,
        released_at,
        publication.contact,
    )
    datapackage = _dumps(build_datapackage(dataset, month, version, released_at, data, candidate_hash))
    public_manifest = {
        "dataset": slug,
        "release_month": month,
        "version": version,
        "released_at": released_at,
        "candidate_hash": candidate_hash,
        "policy_version": manifest.get("policy_version"),
        "code_version": manifest.get("code_version"),
        "files": [{"name": n, "bytes": len(b), "sha256": s} for n, (b, s) in sorted(data.items())],
        "layout": manifest.get("layout"),
        "pre_release_access": pre_release_access or [],
    }
    payloads = {name: payload for name, (payload, _) in data.items()}
    payloads.update({COVER: cover, DATAPACKAGE: datapackage, MANIFEST: _dumps(public_manifest)})
    # The whole version appears at once (local store) or manifest last (S3); only then does a pointer move.
    store.put_version(prefix, payloads, last=MANIFEST)

    latest = _swap_latest(store, latest_key, slug, entry)
    _update_history(store, dataset, latest)
    _update_catalog(store, dataset, latest, publication)
    return PublishResult(dataset, month, candidate_hash, version, prefix, tuple(files), False)


def _published_entry(latest: dict | None, month: str, chash: str) -> dict | None:
    for v in (latest or {}).get("versions", []):
        if v["content_hash"] == chash and v["month"] == month:
            return v
    return None


def _version_entry_and_cover(
    store,
    candidate,
    dataset: str,
    month: str,
    chash: str,
    latest: dict | None,
    version: int,
    released_at: str,
    contact: str,
) -> tuple[dict, bytes]:
    """The version's entry in latest.json (what changed against the version public now, and which version it
    reverts to) and its cover sheet: made the same way for publication and for the owner's preview."""
    slug = BUCKET_SLUGS[dataset]
    data = {name: (payload, sha256_hex(payload)) for name, payload in candidate.role("data").items()}
    previous = (latest or {}).get("latest")
    prev_files = {}
    if previous:
        for name in previous["files"]:
            if name.endswith(".csv"):
                obj = store.get(previous["path"] + name)
                if obj is None:
                    raise PublishError(
                        f"previous version file {previous['path']}{name} is missing from the bucket"
                    )
                prev_files[name] = obj.data
    changes = [c.__dict__ for c in diff_versions(prev_files or None, {n: b for n, (b, _) in data.items()})]
    prefix = f"datasets/{slug}/{month}/v{version}/"
    entry = {
        "version": version,
        "month": month,
        "content_hash": chash,
        "released_at": released_at,
        "path": prefix,
        "files": sorted([*data, COVER, DATAPACKAGE, MANIFEST]),
        "sizes": {name: len(payload) for name, (payload, _) in sorted(data.items())},  # download links
        "changes": changes,
    }
    # The source went back to figures published before: a new version says so, and the pointer follows
    # the approved candidate (never a stale newer version).
    earlier = _published_entry(latest, month, chash)
    if earlier is not None:
        entry["reverts_to_version"] = earlier["version"]
    history = [entry, *((latest or {}).get("versions", []))]
    cover = render_cover(
        dataset,
        month,
        version,
        released_at,
        {n: b for n, (b, _) in data.items()},
        json.loads(candidate.files[DISCLOSURE]),
        json.loads(candidate.files["report.json"]),
        history,
        public_files=[PublicFile(n, len(b), h) for n, (b, h) in sorted(data.items())],
        layout=candidate.manifest.get("layout"),
        contact=contact,
    ).encode("utf-8")
    return entry, cover


def cover_preview(
    store, workarea: WorkArea, dataset: str, month: str, candidate_hash: str, publication: Publication
) -> str:
    """The cover sheet the candidate would be published with, as the next version, for the data owner's
    decision page (nothing is claimed or written)."""
    candidate = load_verified_candidate(workarea, dataset, month, candidate_hash)
    latest, _ = _load(store, f"datasets/{BUCKET_SLUGS[dataset]}/latest.json")
    version = max((v["version"] for v in (latest or {}).get("versions", [])), default=0) + 1
    # Released, if approved now, at the next release time.
    due = catalog_mod.publication_time(datetime.now(LONDON), publication.release_time)
    released_at = due.replace(microsecond=0).isoformat()
    _, cover = _version_entry_and_cover(
        store, candidate, dataset, month, candidate_hash, latest, version, released_at, publication.contact
    )
    return cover.decode("utf-8")


def _claim_version(store, slug, month, chash, latest, now) -> tuple[int, str]:
    """Claim the first free version number with a create-only claim outside the public prefix; resume our
    own unfinished claim (same candidate, version not yet in latest.json) so a retry rebuilds the same
    bytes."""
    done = {v["version"] for v in (latest or {}).get("versions", [])}
    version = max(done, default=0) + 1
    for _ in range(100):
        key = f"{INTERNAL_PREFIX}claims/{slug}/{month}/v{version}.json"
        existing = store.get(key)
        if existing is not None:
            claimed = json.loads(existing.data)
            if claimed.get("candidate_hash") == chash and version not in done:
                return version, claimed["released_at"]  # resume our own earlier attempt
            version += 1  # an unfinished attempt of another candidate: never referenced, so skip it
            continue
        released_at = (now or datetime.now(LONDON)).astimezone(LONDON).replace(microsecond=0).isoformat()
        try:
            store.put_create_only(key, _dumps({"candidate_hash": chash, "released_at": released_at}))
        except ObjectExists:
            continue  # another publisher claimed it between our read and write: look again
        return version, released_at
    raise PublishError(f"could not claim a version number under datasets/{slug}/{month}/")


def _swap_latest(store, key: str, slug: str, entry: dict) -> dict:
    for _ in range(_CAS_ATTEMPTS):
        latest, etag = _load(store, key)
        versions = (latest or {}).get("versions", [])
        if any(
            v["version"] == entry["version"] and v["content_hash"] == entry["content_hash"] for v in versions
        ):
            return latest  # a concurrent run of the same approval swapped it first
        newest = max((v["version"] for v in versions), default=0)
        if newest > entry["version"]:
            raise PublishError(
                f"{key} moved to v{newest} while v{entry['version']} was being written; "
                "nothing was made visible. Re-run the publish job."
            )
        # `latest` points at the newest version; its per-month changes are listed once, in `versions`.
        pointer = {k: v for k, v in entry.items() if k != "changes"}
        doc = {"dataset": slug, "latest": pointer, "versions": [entry, *versions]}
        try:
            store.put_if_match(key, _dumps(doc), etag)
            return doc
        except PreconditionFailed:
            continue
    raise PublishError(f"{key} kept changing during publication; re-run the publish job")


def _update_catalog(store, dataset: str, latest: dict, publication: Publication) -> None:
    for _ in range(_CAS_ATTEMPTS):
        current, etag = _load(store, CATALOG_KEY)
        updated = catalog_mod.update_catalog(
            current, dataset, latest, publication.release_cron, publication.release_time
        )
        if updated == current:
            break  # a previous run updated it; the landing page may still be behind
        try:
            store.put_if_match(CATALOG_KEY, _dumps(updated), etag)
            break
        except PreconditionFailed:
            continue
    else:
        raise PublishError(f"{CATALOG_KEY} kept changing; re-run the publish job to finish updating it")
    _update_index(store, publication.public_base_url)


def _update_history(store, dataset: str, latest: dict) -> None:
    """datasets/<slug>/history.html from latest.json as it now is."""
    slug = BUCKET_SLUGS[dataset]

    def render() -> str:
        current, _ = _load(store, f"datasets/{slug}/latest.json")
        return render_history(TITLES[dataset], current or latest)

    _swap_page(store, f"datasets/{slug}/{HISTORY}", render)


def _update_index(store, base_url: str) -> None:
    """index.html from the catalogue as it now is."""
    _swap_page(
        store, INDEX_KEY, lambda: render_index(_load(store, CATALOG_KEY)[0] or {}, base_url, SUPPRESSED)
    )


def _swap_page(store, key: str, render) -> None:
    """A page rendered from a document the bucket holds, written by compare-and-swap: rendered again from
    the newest document until it is written or already there, so the newest document's page wins."""
    for _ in range(_CAS_ATTEMPTS):
        page = render().encode("utf-8")
        current = store.get(key)
        if current is not None and current.data == page:
            return
        try:
            store.put_if_match(key, page, current.etag if current else None)
            return
        except PreconditionFailed:
            continue
    raise PublishError(f"{key} kept changing; re-run the publish job to finish updating it")
