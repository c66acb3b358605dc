"""The manifest: the commit point of a conversion and the only thing loaders and `verify` trust.

A manifest is written last; if it exists, every file it names is complete. Its counts must satisfy
discovered = written + quarantined + excluded, which is how silent sample loss in any runner is caught.
"""

from __future__ import annotations

from typing import Any

MANIFEST_VERSION = "1"

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
        shard_total += int(shard.get("num_samples", 0))
    if shard_total != counts["written"]:
        errors.append(f"shards hold {shard_total} samples but counts.written is {counts['written']}")
    split_total = sum(int(s.get("num_samples", 0)) for s in manifest["splits"].values())
    if split_total != counts["written"]:
        errors.append(f"splits hold {split_total} samples but counts.written is {counts['written']}")
    return errors
