"""Read a conversion's quarantine.jsonl the way an operator does: keys resolved to raw files.

quarantine.jsonl names samples by pseudonymous key only; tests that pin which raw file was
quarantined resolve the keys with `climb inspect --locate`'s resolver (climb.report.inspect.locate),
so they exercise the operator's path back to the file as well.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from climb.pipelines.records import relative_path
from climb.report.inspect import locate
from climb.transforms.phi import DEMO_KEY


def without_file_names(message: str) -> str:
    """An expected reason as quarantine.jsonl words it: file names (`E00009.mat`) become <name>."""
    return re.sub(r"[^\s'\"]+\.[A-Za-z][A-Za-z0-9]{0,5}\b", "<name>", message)


def entries(dataset: Path) -> list[dict]:
    """The lines of dataset/quarantine.jsonl."""
    return [json.loads(line) for line in (Path(dataset) / "quarantine.jsonl").read_text(encoding="utf-8").splitlines()]


def located(dataset: Path, raw: Path | str, key: bytes = DEMO_KEY) -> list[tuple[str, dict]]:
    """(raw file relative to raw, quarantine line) for every line, resolved through the key."""
    lines = entries(dataset)
    rows = locate(str(dataset), str(raw), key, [line["key"] for line in lines])
    paths = {row["key"]: row["raw_path"] for row in rows}
    assert all(paths.values()), f"keys that discovery cannot resolve: {[k for k, p in paths.items() if not p]}"
    return [(relative_path(paths[line["key"]], str(raw)), line) for line in lines]


def by_file(dataset: Path, raw: Path | str, key: bytes = DEMO_KEY) -> dict[str, dict]:
    """raw file (relative to raw) -> its quarantine line, for sources with one sample per file."""
    found = located(dataset, raw, key)
    by_path = dict(found)
    assert len(by_path) == len(found), "a file has several quarantined samples; use located()"
    return by_path
