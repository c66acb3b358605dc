"""The descriptive files written beside the shards before the manifest, and their pins in it.

README.md (dataset card) and croissant.json are functions of the manifest; quarantine.jsonl of the
entries. The manifest, written last, pins each by sha256 and size under `documents`, like shards
and Zarr arrays, so `climb verify` and `climb reproduce` cover them too.
"""

from __future__ import annotations

import hashlib
from typing import Any

from climb.pipelines.writers.card import card_bytes
from climb.pipelines.writers.croissant import croissant
from climb.pipelines.writers.members import json_bytes

DOCUMENT_NAMES = ("README.md", "croissant.json", "quarantine.jsonl")


def documents(manifest: dict[str, Any], quarantine: bytes) -> dict[str, bytes]:
    """name -> bytes of every document, built from the manifest before it pins them."""
    return {"README.md": card_bytes(manifest), "croissant.json": json_bytes(croissant(manifest)), "quarantine.jsonl": quarantine}


def pin_documents(manifest: dict[str, Any], docs: dict[str, bytes]) -> dict[str, Any]:
    """The manifest with `documents`: [{path, sha256, bytes}] sorted by path."""
    pins = [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in sorted(docs.items())]
    return {**manifest, "documents": pins}
