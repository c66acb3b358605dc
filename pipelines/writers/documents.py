"""The descriptive files written beside the shards before the manifest, and their pins in it.

README.md (dataset card) and croissant.json are functions of the manifest (and of samples.json's
pin); samples.json (the per-sample index Croissant readers take records from) of the written shards'
json members. Each WriteShard stages its shard's rows of samples.json (`samples_index_part`, from the
json members it parses anyway); Finalize concatenates the parts one at a time through a local file
while its sha256 is computed, so it neither reads the shards back nor holds more than one shard's
rows whatever the corpus size; the other documents are small. The manifest, written last, pins each by
sha256 and size under `documents`, like shards and Zarr arrays, so `climb verify` and `climb
reproduce` cover them too.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

from climb.pipelines.stages import atomic_file
from climb.pipelines.writers.card import card_bytes
from climb.pipelines.writers.croissant import croissant
from climb.pipelines.writers.members import json_bytes

DOCUMENT_NAMES = ("README.md", "croissant.json", "quarantine.jsonl", "samples.json")
SAMPLES_INDEX = "samples.json"


class CorruptPart(RuntimeError):
    """A staged samples.json part whose bytes are not those its shard's writer recorded."""


def samples_index_chunks(fs, root: str, parts: list[dict[str, Any]]) -> Iterator[bytes]:
    """samples.json, `{"samples": [...]}` in shard order, as consecutive byte chunks (one per shard)
    whose concatenation is `json_bytes` of the whole index.

    `parts` are the written shards' results in path order; each names its staged part (`samples_part`,
    with sha256), which is read only when its chunk is wanted and checked before it is used.
    """
    yield b'{"samples":['
    first = True
    for shard in parts:
        data = fs.cat_file(f"{root}/{shard['samples_part']}")
        if hashlib.sha256(data).hexdigest() != shard["samples_part_sha256"]:
            raise CorruptPart(f"{shard['samples_part']} is not the samples.json part {shard['path']}'s writer staged")
        if data:
            yield (b"" if first else b",") + data
            first = False
    yield b"]}"


def write_samples_index(fs, root: str, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ROOT/samples.json from the written shards' staged parts (one part in memory at a time)
    and return its pin {path, sha256, bytes}, which croissant.json and the manifest carry."""
    digest, size = hashlib.sha256(), 0
    with atomic_file(fs, root, f"{root}/{SAMPLES_INDEX}") as local, open(local, "wb") as f:
        for chunk in samples_index_chunks(fs, root, sorted(shards, key=lambda s: s["path"])):
            f.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    return {"path": SAMPLES_INDEX, "sha256": digest.hexdigest(), "bytes": size}


def documents(manifest: dict[str, Any], quarantine: bytes, samples_pin: dict[str, Any]) -> dict[str, bytes]:
    """name -> bytes of the small documents, built from the manifest before the manifest pins them
    (`samples_pin`: samples.json's pin from write_samples_index, which croissant.json names)."""
    return {
        "README.md": card_bytes(manifest),
        "croissant.json": json_bytes(croissant(manifest, samples_pin)),
        "quarantine.jsonl": quarantine,
    }


def pin_documents(manifest: dict[str, Any], docs: dict[str, bytes], written: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest with `documents`: [{path, sha256, bytes}] sorted by path, for `docs` (bytes) and
    the documents already `written` with their pins (samples.json)."""
    pins = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in docs.items()]
    return {**manifest, "documents": sorted([*pins, *written], key=lambda pin: pin["path"])}
