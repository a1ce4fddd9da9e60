"""Read a published dataset back from the bucket and compare it with what was approved (pure of Dagster).

What the public sees is `datasets/<slug>/latest.json` and the version folder it names. After publication
anyone with write access to the bucket could change either. The pipeline's state database records every
publication (dataset, month, version, the approved candidate's hash), and each version's `manifest.json` lists
its data files with their sha256. A dataset is as published when:

- `latest.json` exists and names the newest version the state database records (month, version, hash);
- that version's `manifest.json` exists and names the same candidate;
- every data file the manifest lists is there with its sha256, and `datapackage.json` declares the same
  hashes;
- the folder holds nothing else than the files `latest.json` lists (nothing added).

Each problem is one sentence naming the dataset, the object and what is wrong.
"""

import hashlib
import json

from metpipeline.catalogue import CATALOGUE
from metpipeline.governance import ledger
from metpipeline.publish.publisher import COVER, DATAPACKAGE, MANIFEST


def _json(store, key: str, problems: list[str], what: str) -> dict | None:
    obj = store.get(key)
    if obj is None:
        problems.append(f"{what} {key} is missing")
        return None
    try:
        value = json.loads(obj.data)
    except ValueError:
        problems.append(f"{what} {key} is not valid JSON")
        return None
    if not isinstance(value, dict):
        problems.append(f"{what} {key} is not a JSON object")
        return None
    return value


def verify_dataset(store, engine, dataset: str) -> list[str]:
    """Every way the bucket's copy of `dataset` differs from its last recorded publication ([] when none)."""
    spec = CATALOGUE[dataset]
    record = ledger.newest_publication(engine, dataset)
    if record is None:
        return []  # never published: nothing to compare
    slug = spec.bucket_slug
    problems: list[str] = []
    latest_key = f"datasets/{slug}/latest.json"
    latest = _json(store, latest_key, problems, f"{dataset}:")
    if latest is None:
        return [
            f"{p}; the state database records v{record.version} of {record.month} as public" for p in problems
        ]
    current = latest.get("latest") or {}
    named = (current.get("month"), current.get("version"), current.get("content_hash"))
    expected = (record.month, record.version, record.content_hash)
    if named != expected:
        problems.append(
            f"{dataset}: {latest_key} names {named[0]} v{named[1]} (candidate {str(named[2])[:12]}…), "
            f"but the state database records {expected[0]} v{expected[1]} "
            f"(candidate {expected[2][:12]}…) as published"
        )
    prefix = current.get("path") or f"datasets/{slug}/{record.month}/v{record.version}/"
    manifest = _json(store, prefix + MANIFEST, problems, f"{dataset}:")
    if manifest is not None:
        if manifest.get("candidate_hash") != record.content_hash:
            problems.append(f"{dataset}: {prefix}{MANIFEST} names another candidate than the one approved")
        declared: dict[str, str] = {
            str(f.get("name")): str(f.get("sha256")) for f in manifest.get("files", []) if isinstance(f, dict)
        }
        for name, sha in sorted(declared.items()):
            obj = store.get(prefix + name)
            if obj is None:
                problems.append(f"{dataset}: {prefix}{name} is missing")
            elif hashlib.sha256(obj.data).hexdigest() != sha:
                problems.append(f"{dataset}: {prefix}{name} differs from the published file (sha256)")
        package = _json(store, prefix + DATAPACKAGE, problems, f"{dataset}:")
        if package is not None:
            hashes = {
                r.get("path"): r.get("hash") for r in package.get("resources", []) if isinstance(r, dict)
            }
            if hashes != {name: f"sha256:{sha}" for name, sha in declared.items()}:
                problems.append(
                    f"{dataset}: {prefix}{DATAPACKAGE} declares other files or hashes than the manifest"
                )
        if store.get(prefix + COVER) is None:
            problems.append(f"{dataset}: {prefix}{COVER} is missing")
    listed = set(current.get("files") or [])
    for key in store.list_keys(prefix):
        if key[len(prefix) :] not in listed:
            problems.append(f"{dataset}: {key} was added to the published version")
    return problems


def verify_all(store, engine) -> dict[str, list[str]]:
    """`verify_dataset` for every dataset of the catalogue."""
    return {dataset: verify_dataset(store, engine, dataset) for dataset in CATALOGUE}
