"""Prove that no known identifier reached a conversion's output: scan every byte climb wrote.

Give it the identifiers planted in (or known to be in) the raw data and it searches, case
insensitively, the raw bytes of every file under the dataset folder (shards, .idx, manifest,
croissant, quarantine.jsonl, Zarr metadata and chunks), the decoded text of every JSON/text tar
member and JSON file (so an identifier split by escaping is still found), and any captured logs.
Zero findings is the pass condition. Compressed payloads (PNG/MP4 pixels, Blosc-compressed Zarr
chunks) are scanned as stored, not decompressed: identifiers burned into pixels are out of reach of
a text scan (see docs/RELIABILITY.md and the `pixel_scrubber` option).
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

TEXT_MEMBERS = (".json", ".txt")


@dataclass(frozen=True)
class Finding:
    """An identifier found: where (file, file:member or log name) and which one."""

    where: str
    identifier: str

    def __str__(self) -> str:
        return f"{self.where}: {self.identifier!r}"


def _needles(identifiers: Iterable[str]) -> list[tuple[str, bytes, bytes]]:
    out = []
    for ident in sorted({i.strip() for i in identifiers if i and i.strip()}):
        low = ident.lower()
        out.append((ident, low.encode("utf-8"), low.encode("utf-16-le")))
    return out


def scan_bytes(data: bytes, where: str, identifiers: Iterable[str]) -> list[Finding]:
    """Identifiers present in `data` (UTF-8 or UTF-16-LE, case-insensitive)."""
    low = data.lower()
    return [Finding(where, ident) for ident, utf8, utf16 in _needles(identifiers) if utf8 in low or utf16 in low]


def _decoded_json(data: bytes) -> bytes:
    """A JSON document re-serialized without escapes (\\u00e9, \\/), for a second search."""
    try:
        return json.dumps(json.loads(data), ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return b""


def _documents(root: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every file under root, plus decoded JSON and tar text members."""
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        data = path.read_bytes()
        yield name, data
        if path.suffix in (".json", ".idx"):
            yield f"{name} (decoded)", _decoded_json(data)
        elif path.suffix == ".jsonl":
            yield f"{name} (decoded)", b"\n".join(_decoded_json(line) for line in data.splitlines())
        elif path.suffix == ".tar":
            with tarfile.open(path) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.endswith(TEXT_MEMBERS):
                        text = tar.extractfile(member).read()
                        yield f"{name}:{member.name}", text
                        if member.name.endswith(".json"):
                            yield f"{name}:{member.name} (decoded)", _decoded_json(text)


def scan_dataset(dataset: str | Path, identifiers: Iterable[str], logs: dict[str, str] | None = None) -> list[Finding]:
    """Every occurrence of an identifier in a converted dataset folder and in captured logs.

    Args:
        dataset: OUT_URL/SOURCE on local disk.
        identifiers: the strings that must not appear (names, MRNs, dates in each planted form...).
        logs: {name: captured text} such as the CLI's stdout and stderr.
    """
    identifiers = list(identifiers)
    findings: list[Finding] = []
    for name, data in _documents(Path(dataset)):
        findings += scan_bytes(data, name, identifiers)
    for name, text in (logs or {}).items():
        findings += scan_bytes(text.encode("utf-8", "surrogateescape"), name, identifiers)
    return sorted(set(findings), key=lambda f: (f.where, f.identifier))
