"""From discovered records to work items: pseudonymized keys, splits, duplicates, batches.

Runs in the driver, before any decoding: it is cheap and it fixes everything about a sample that
must not depend on the runner (key, split, order), so the parallel part only decodes and encodes.
"""

from __future__ import annotations

import functools
import os
import posixpath
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from climb.schemas.sample import Record
from climb.storage import is_local, local_path
from climb.transforms.phi import pseudonymize
from climb.transforms.redact import raw_names
from climb.transforms.splits import assign_split, order_key


@dataclass(frozen=True)
class WorkItem:
    """A record with everything the pipeline decided about it before decoding."""

    record: Record
    key: str
    subject: str
    study: str | None
    split: str
    order: str
    raw_url: str = ""
    group: str = ""
    split_moved: bool = False

    @functools.cached_property
    def raw_names(self) -> tuple[str, ...]:
        """The names of the record's raw files and ids (transforms/redact.py): messages about the
        sample are scrubbed of them before they reach quarantine.jsonl or a log. Made by the worker
        when a message needs them, not by the driver for every sample."""
        rec = self.record
        return raw_names([relative_path(p, self.raw_url) for p in rec.paths],
                         (rec.sample_id, rec.subject_id, rec.study_id, rec.group_id), public=rec.source)


def _root(path: str, raw_url: str) -> str | None:
    """raw_url as spelled in `path`: sources build file URLs from the absolute folder, so a
    relative local RAW_URL (`climb convert dicom raw out`) is matched by its absolute form too."""
    root = raw_url.rstrip("/")
    if path.startswith(root + "/"):
        return root
    if is_local(raw_url):
        absolute = os.path.abspath(local_path(raw_url)).rstrip("/")
        if path.startswith(absolute + "/"):
            return absolute
    return None


def relative_path(path: str, raw_url: str) -> str:
    """A record's file relative to the raw root (the names a message about it could quote)."""
    root = _root(path, raw_url)
    if root is not None:
        return path[len(root) + 1:]
    return path.rsplit("/", 1)[-1]


def escapes_root(path: str, raw_url: str) -> bool:
    """True for a path built under raw_url whose `..` segments lead out of it.

    Sources build file URLs from label-sheet cells and headers (`raw/train/../../etc/x`); such a
    record must not make the pipeline read outside the raw folder. Paths that never started
    under raw_url (a source's deliberate second root) are not judged here.
    """
    root = _root(path, raw_url)
    if root is None:
        return False
    inner = posixpath.normpath(path[len(root) + 1:].lstrip("/"))  # root//.. is root/..
    return inner == ".." or inner.startswith("../")


def prepare(
    records: Iterable[Record],
    *,
    key: bytes,
    salt: str,
    raw_url: str,
    fractions: Mapping[str, float],
    limit: int | None = None,
) -> tuple[list[WorkItem], list[dict]]:
    """Pseudonymize, assign splits and orders, and set aside duplicate keys (see iter_prepared).

    Returns:
        (work items in sample-id order, quarantine entries for duplicates and unsafe paths).
    """
    quarantined: list[dict] = []
    items = list(iter_prepared(records, key=key, salt=salt, raw_url=raw_url, fractions=fractions, limit=limit, quarantined=quarantined))
    return items, quarantined


def iter_prepared(
    records: Iterable[Record],
    *,
    key: bytes,
    salt: str,
    raw_url: str,
    fractions: Mapping[str, float],
    quarantined: list[dict],
    limit: int | None = None,
) -> Iterator[WorkItem]:
    """Work items in sample-id order, made one at a time; duplicates and unsafe paths go to `quarantined`.

    Records are sorted by their raw sample id first, so the result does not depend on the order in
    which the source listed files. A second record with the same sample id, and a record naming a
    file outside raw_url through `..` (escapes_root), are quarantined (stage "discover"), never
    silently merged or read; such an entry's key is `discover_key` (a duplicate shares its sample key
    with the record that was converted, so the keyed hash of its raw file stands in for it). Sorting
    puts records with the same sample id next to each other, so a
    duplicate is found by comparing with the previous key: the driver holds the sorted records and
    one split per group, not a second list of every item.
    """
    ordered = sorted(records, key=lambda r: (r.sample_id, r.paths))
    if limit is not None:
        del ordered[limit:]
    previous: str | None = None
    first_split: dict[str, str] = {}
    for rec in ordered:
        sample_key = record_key(rec, key)
        if sample_key == previous:
            quarantined.append(
                {
                    "kind": "quarantined",
                    "key": discover_key(rec, key, raw_url),
                    "stage": "discover",
                    "error_type": "DuplicateKey",
                    "message": "another file of this source has the same sample id; only the first is converted",
                    "source_sha256": None,
                }
            )
            continue
        previous = sample_key
        if any(escapes_root(p, raw_url) for p in rec.paths):
            quarantined.append(
                {
                    "kind": "quarantined",
                    "key": discover_key(rec, key, raw_url),
                    "stage": "discover",
                    "error_type": "UnsafePath",
                    "message": "a file path built from the raw data leaves RAW_URL through '..'; not read",
                    "source_sha256": None,
                }
            )
            continue
        subject = pseudonymize(rec.subject_id, key, "subject")
        group = subject if rec.group_id is None else pseudonymize(rec.group_id, key, f"group:{rec.source}")
        item = WorkItem(
            record=rec,
            key=sample_key,
            subject=subject,
            study=None if rec.study_id is None else pseudonymize(rec.study_id, key, "study"),
            split=assign_split(group, salt, fractions, rec.official_split),
            order=order_key(salt, sample_key),
            raw_url=raw_url,
            group=group,
        )
        yield one_split_per_group(item, first_split)


def record_key(record: Record, key: bytes) -> str:
    """The sample's pseudonymous key (`__key__` of its tar record, its name in quarantine.jsonl)."""
    return pseudonymize(record.sample_id, key, f"sample:{record.source}")


def locate(records: Iterable[Record], *, key: bytes, raw_url: str, limit: int | None = None) -> dict[str, str]:
    """key -> the raw file (the URL its source built) for every key a conversion of `records` can write.

    Mirrors prepare(): the same order and limit, sample keys for the first record of each sample
    id, discover_key for every record (which names duplicates and unsafe paths in quarantine.jsonl).
    """
    ordered = sorted(records, key=lambda r: (r.sample_id, r.paths))
    if limit is not None:
        ordered = ordered[:limit]
    found: dict[str, str] = {}
    for rec in ordered:
        found.setdefault(record_key(rec, key), rec.source_path)
        found[discover_key(rec, key, raw_url)] = rec.source_path
    return found


def discover_key(record: Record, key: bytes, raw_url: str) -> str:
    """The pseudonymous key of a record rejected at discovery: a keyed hash of its raw file path."""
    return pseudonymize(relative_path(record.source_path, raw_url), key, f"raw-file:{record.source}")


def one_split_per_group(item: WorkItem, first_split: dict[str, str]) -> WorkItem:
    """Guarantee no subject (or group) spans two splits, even if an official split sheet says so.

    Official split sheets are usually subject-disjoint; when one is not, every sample of the group
    follows the group's first sample (by sample id), and the move is recorded on the item.
    `first_split` maps each group seen so far to its split.
    """
    from dataclasses import replace

    chosen = first_split.setdefault(item.group, item.split)
    return item if chosen == item.split else replace(item, split=chosen, split_moved=True)
