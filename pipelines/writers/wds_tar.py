"""Deterministic WebDataset tar shards built from per-sample tar fragments, plus their offset index.

A tar archive is a concatenation of (512-byte header + padded data) blocks, so each sample can be
encoded once, anywhere, into its own *fragment*; a shard is then the fragments of its samples
concatenated in order plus the end-of-archive marker. That lets the pipeline decode in parallel,
decide shard boundaries from fragment sizes alone, and assemble shards by streaming bytes, with
memory bounded by one fragment. Header fields are fixed (mtime 0, uid/gid 0, empty user/group,
mode 0644, USTAR) so the same samples give the same bytes on every run.

Index (`.idx`, JSON): ``{"version": 1, "shard": name, "samples": [{"key", "offset", "size",
"members": {member: [data_offset, data_size]}}]}``; offsets are absolute byte positions in the shard,
so a loader can fetch one sample or one member with a range read.
"""

from __future__ import annotations

import hashlib
import tarfile
from collections import deque
from dataclasses import dataclass
from typing import BinaryIO, Iterable

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
INDEX_VERSION = 1
# zipfile.is_zipfile (Python 3.11) calls a file a zip when a zip's end record signature lies in its last
# 64 KiB + 22 bytes; a shard ending with a graph.npz member would pass, and readers that test for zip
# before tar (mlcroissant) would unpack the npz instead of the shard. The end marker grows past it.
ZIP_END_SIGNATURE = b"PK\x05\x06"
ZIP_SEARCH_WINDOW = (1 << 16) + 22


def end_of_archive(tail: bytes, size: int) -> bytes:
    """The zero blocks that end a shard of `size` bytes whose last bytes are `tail`.

    Two blocks, or more so that no zip end-record signature lies within the last ZIP_SEARCH_WINDOW
    bytes of the finished file (tar readers stop at the first zero block and ignore the rest).
    """
    at = tail.rfind(ZIP_END_SIGNATURE)
    if at < 0:
        return END_OF_ARCHIVE
    signature = size - len(tail) + at
    needed = signature + ZIP_SEARCH_WINDOW + 1 - size
    blocks = max(2, -(-needed // BLOCK))
    return b"\0" * (blocks * BLOCK)


USTAR_MAX_SIZE = 8**11
_USTAR_FIXED = (
    (100, b"0000644\0"),  # mode
    (108, b"0000000\0"),  # uid
    (116, b"0000000\0"),  # gid
    (136, b"00000000000\0"),  # mtime 0
    (156, b"0"),  # regular file
    (257, b"ustar\x0000"),  # magic and version
)


def _header(name: str, size: int) -> bytes:
    """The USTAR header tarfile writes for a regular file `name` of `size` bytes with climb's fixed
    fields, built directly (tarfile's TarInfo.tobuf was ~10% of a small sample's encoding time).
    Names longer than the 100-byte field (USTAR splits them into a prefix) go through tarfile."""
    encoded = name.encode("utf-8")
    if len(encoded) > 100 or size >= USTAR_MAX_SIZE:
        return _tarfile_header(name, size)
    block = bytearray(BLOCK)
    block[: len(encoded)] = encoded
    for offset, value in _USTAR_FIXED:
        block[offset: offset + len(value)] = value
    block[124:136] = b"%011o\0" % size
    block[148:156] = b" " * 8  # the checksum is summed with its own field as spaces
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _tarfile_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


@dataclass(frozen=True)
class Fragment:
    """One sample's tar blocks and where each member's data sits inside them (relative offsets)."""

    key: str
    data: bytes
    members: dict[str, tuple[int, int]]


def make_fragment(key: str, members: dict[str, bytes]) -> Fragment:
    """Tar blocks for one sample, members in sorted name order, named ``<key>.<member>``."""
    if "." in key or "/" in key:
        raise ValueError(f"sample key {key!r} must not contain '.' or '/' (WebDataset splits on the first dot)")
    parts: list[bytes] = []
    offsets: dict[str, tuple[int, int]] = {}
    pos = 0
    for member in sorted(members):
        payload = members[member]
        header = _header(f"{key}.{member}", len(payload))
        parts += [header, payload, _pad(len(payload))]
        offsets[member] = (pos + len(header), len(payload))
        pos += len(header) + len(payload) + len(_pad(len(payload)))
    return Fragment(key=key, data=b"".join(parts), members=offsets)


def _member(block: bytes) -> tuple[str, int]:
    """(name, size) of a USTAR header block that `_header` wrote; anything else goes through tarfile,
    which also checks the checksum and raises on a broken header."""
    if len(block) == BLOCK and block[257:265] == b"ustar\x0000" and not block[345:346].strip(b"\0") \
            and block[124:136].endswith(b"\0") and block[124:135].isdigit():
        return block[:100].split(b"\0", 1)[0].decode("utf-8"), int(block[124:135], 8)
    info = tarfile.TarInfo.frombuf(block, encoding="utf-8", errors="strict")
    return info.name, info.size


def parse_fragment(key: str, data: bytes) -> Fragment:
    """The Fragment `make_fragment` built for `key`, recovered from its tar blocks.

    Staged fragments travel as bytes plus a reference (path, offset, length, sha256); the member
    offsets the shard index needs are read back from the headers, so the small rows that plan the
    shards need not carry them.

    Raises:
        ValueError: the bytes are not whole tar blocks of members named `<key>.<member>`.
    """
    members: dict[str, tuple[int, int]] = {}
    pos = 0
    prefix = f"{key}."
    while pos < len(data):
        name, size = _member(data[pos:pos + BLOCK])
        if not name.startswith(prefix):
            raise ValueError(f"fragment of {key!r} holds a member named {name!r}")
        members[name[len(prefix):]] = (pos + BLOCK, size)
        pos += BLOCK + size + len(_pad(size))
    if pos != len(data):
        raise ValueError(f"fragment of {key!r} ends inside a member ({len(data)} bytes, member data to {pos})")
    return Fragment(key=key, data=data, members=members)


def write_shard(fragments: Iterable[Fragment], out: BinaryIO, shard_name: str) -> tuple[dict, str, int]:
    """Stream fragments into `out` as one tar shard.

    Returns:
        (index dict, sha256 hex of the shard bytes, shard size in bytes).
    """
    digest = hashlib.sha256()
    pos = 0
    samples = []
    recent: deque[bytes] = deque()
    recent_bytes = 0
    for frag in fragments:
        samples.append(
            {
                "key": frag.key,
                "offset": pos,
                "size": len(frag.data),
                "members": {m: [pos + off, size] for m, (off, size) in frag.members.items()},
            }
        )
        out.write(frag.data)
        digest.update(frag.data)
        pos += len(frag.data)
        recent.append(frag.data)
        recent_bytes += len(frag.data)
        while recent_bytes - len(recent[0]) >= ZIP_SEARCH_WINDOW:  # keep just enough to cover the window
            recent_bytes -= len(recent.popleft())
    end = end_of_archive(b"".join(recent)[-ZIP_SEARCH_WINDOW:], pos)
    out.write(end)
    digest.update(end)
    pos += len(end)
    index = {"version": INDEX_VERSION, "shard": shard_name, "samples": samples}
    return index, digest.hexdigest(), pos


def cut_shards(sizes: list[int], target_bytes: int) -> list[tuple[int, int]]:
    """Split an ordered list of fragment sizes into [start, end) shard ranges.

    A shard closes once adding the next fragment would pass the target (a single fragment larger
    than the target gets a shard of its own). Depends on sizes and order only: deterministic.
    """
    if target_bytes <= 0:
        raise ValueError("shard size must be positive")
    ranges = []
    start, acc = 0, 0
    for i, size in enumerate(sizes):
        if i > start and acc + size > target_bytes:
            ranges.append((start, i))
            start, acc = i, 0
        acc += size
    if start < len(sizes):
        ranges.append((start, len(sizes)))
    return ranges
