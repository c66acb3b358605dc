"""The manifest: the commit point of a conversion and the only thing loaders and `verify` trust.

A manifest is written last; if it exists, every file it names is complete. Its counts must satisfy
discovered = written + quarantined + excluded, which is how silent sample loss in any runner is caught.
"""

from __future__ import annotations

from typing import Any

from climb.schemas.sample import MODALITIES

MANIFEST_VERSION = "2"

REQUIRED_KEYS = (
    "manifest_version",
    "schema_version",
    "code_version",
    "source",
    "config",
    "config_sha256",
    "source_fingerprint",
    "counts",
    "splits",
    "shards",
    "tasks",
)
COUNT_KEYS = ("discovered", "written", "quarantined", "excluded")
SHARD_KEYS = ("path", "split", "sha256", "bytes", "num_samples", "index")


def safe_relative_path(path: Any) -> bool:
    """A path a reader may join to the dataset folder: relative, POSIX, no `..`, no scheme.

    Manifests arrive from storage anyone with write access can edit; a shard named
    `../../home/x/.ssh/id_rsa`, `/etc/shadow` or `s3://other-bucket/...` must never be opened.
    """
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path or "\0" in path:
        return False
    if "://" in path or "::" in path:
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Every structural problem of a manifest, as sentences; empty when it is sound."""
    errors = [f"missing key {k!r}" for k in REQUIRED_KEYS if k not in manifest]
    if errors:
        return errors
    counts = manifest["counts"]
    missing = [k for k in COUNT_KEYS if not isinstance(counts.get(k), int)]
    if missing:
        return [f"counts.{k} must be an integer" for k in missing]
    if counts["discovered"] != counts["written"] + counts["quarantined"] + counts["excluded"]:
        errors.append(
            "counts do not add up: discovered={discovered} != written={written} + quarantined={quarantined}"
            " + excluded={excluded}".format(**counts)
        )
    shard_total = 0
    for i, shard in enumerate(manifest["shards"]):
        for k in SHARD_KEYS:
            if k not in shard:
                errors.append(f"shards[{i}] lacks {k!r}")
        for k in ("path", "index"):
            if k in shard and not safe_relative_path(shard[k]):
                errors.append(f"shards[{i}].{k} {shard[k]!r} is not a relative path inside the dataset folder")
        for k in ("bytes", "num_samples"):
            if k in shard and not (isinstance(shard[k], int) and shard[k] >= 0):
                errors.append(f"shards[{i}].{k} must be a non-negative integer")
        shard_total += shard["num_samples"] if isinstance(shard.get("num_samples"), int) else 0
    if shard_total != counts["written"]:
        errors.append(f"shards hold {shard_total} samples but counts.written is {counts['written']}")
    for i, volume in enumerate(manifest.get("volumes", [])):
        if not safe_relative_path(volume.get("path")):
            errors.append(f"volumes[{i}].path {volume.get('path')!r} is not a relative path inside the dataset folder")
    catalog = manifest.get("catalog")
    if catalog is not None and not (isinstance(catalog, dict) and safe_relative_path(catalog.get("path"))
                                    and isinstance(catalog.get("sha256"), str)):
        errors.append(f"catalog {catalog!r} is not {{path: a relative path inside the dataset folder, sha256: ...}}")
    split_total = sum(int(s.get("num_samples", 0)) for s in manifest["splits"].values())
    if split_total != counts["written"]:
        errors.append(f"splits hold {split_total} samples but counts.written is {counts['written']}")
    errors.extend(_modality_problems(manifest))
    return errors


def _modality_problems(manifest: dict[str, Any]) -> list[str]:
    """`modalities` (absent from manifests written before it existed) lists schema fields, sorted, once each."""
    if "modalities" not in manifest:
        return []
    listed = manifest["modalities"]
    if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed):
        return ["modalities must be a list of field names"]
    unknown = [m for m in listed if m not in MODALITIES]
    if unknown:
        return [f"modalities names {unknown}, which are not schema fields {list(MODALITIES)}"]
    if listed != sorted(set(listed)):
        return ["modalities must be sorted and name each field once"]
    if bool(listed) != bool(manifest["counts"]["written"]):
        return [f"modalities {listed} disagree with {manifest['counts']['written']} written samples"]
    return []
