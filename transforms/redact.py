"""Scrub raw paths and the raw tree's names out of messages that reach outputs and logs.

Hospital exports name folders and files after the patient (`SURNAME^GIVEN_MRN12345/`,
`MRN12345_chest.dcm`), and decoders quote the path they failed on. A quarantine message ships with
the dataset, so it keeps the decoder's reason and loses every path and every name of the sample's
raw files: the operator who holds the key finds the file again with `climb inspect --locate`.
"""

from __future__ import annotations

import re
from typing import Iterable

NAME = "<name>"
PATH = "<path>"

# a run of non-space characters with a path separator in it
_SEPARATED = re.compile(r"[^\s'\"`()\[\]{}<>,;]*[/\\][^\s'\"`()\[\]{}<>,;]*")
_PIECES = re.compile(r"[^A-Za-z0-9]+")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,5}$")
MIN_PIECE = 4


def _looks_like_path(token: str) -> bool:
    """Paths and URLs, not units or ratios such as mV/mm or 3/4."""
    stripped = token.rstrip(".:")
    return (
        stripped.startswith(("/", "\\", "~", "./", "../"))
        or "://" in stripped
        or len(re.findall(r"[/\\]", stripped)) >= 2
        or bool(_EXTENSION.search(stripped))
    )


def _telling(name: str) -> bool:
    """A name worth scrubbing: it has a digit, a capital or a separator (`MRN12345`, `Doe`,
    `doe_john`). Plain lowercase words (`data`, `images`, `train`) are the layout's own folder
    names; scrubbing them would garble decoder messages ("data block is short")."""
    return len(name) >= MIN_PIECE and not (name.isalpha() and name.islower())


def raw_names(rel_paths: Iterable[str], ids: Iterable[str | None] = (), public: str = "") -> tuple[str, ...]:
    """Every name a message about these raw files could quote, longest first.

    Args:
        rel_paths: the sample's files relative to the raw root (`SURNAME^GIVEN/MRN1_chest.dcm`).
        ids: the sample's raw ids (sample, subject, study), often built from the same names.
        public: words that name the dataset, not a patient (the source name `braingb-ppmi`): its
            pieces are kept, so "PPMI matrix 2 has shape ..." keeps its first word.

    Returns:
        whole relative paths, each folder and file name, file names without extensions, and the
        alphanumeric pieces of all of them (`MRN12345`, `SURNAME`), each kept when `_telling`.
    """
    names: set[str] = set()
    for text in [*rel_paths, *(i for i in ids if i)]:
        text = str(text).strip("/")
        names.add(text)
        for part in re.split(r"[/\\]", text):
            names.update((part, part.split(".", 1)[0], *_PIECES.split(part)))
    known = {piece.lower() for piece in _PIECES.split(public) if piece}
    return tuple(sorted((n for n in names if _telling(n) and n.lower() not in known), key=lambda n: (-len(n), n)))


def redact(message: str, names: Iterable[str]) -> str:
    """`message` without paths (-> <path>) and without any of `names` (-> <name>, case-insensitive)."""
    out = _SEPARATED.sub(lambda m: PATH if _looks_like_path(m.group(0)) else m.group(0), message)
    for name in names:
        pattern = re.escape(name)
        # whole pieces only: a name "1234" must not eat digits out of "12345 bytes"
        out = re.sub(rf"(?<![A-Za-z0-9]){pattern}(?![A-Za-z0-9])", NAME, out, flags=re.IGNORECASE)
    return out

