"""Pieces of remote shards fetched once per rank and handed to every DataLoader worker that reads them.

A shuffled stream stripes every batch over several spans of the shard stream and DataLoader hands
batches to workers round robin, so the workers of one rank read interleaved samples of the same
pieces: fetched per worker, each piece crossed the network once per worker and each copy was
about half used (2 workers from S3: half the bytes, and the request CPU of client and server,
wasted). Which worker reads which sample is a pure function of the plan, so every worker knows who
else needs a piece. The first worker to reach it claims it, fetches the samples all of them read
(one merged range read), keeps its own samples as fetched (one buffer each) and publishes the
bytes the others read in a folder in shared memory, one hard link per other user; each of them
reads only its own samples' bytes from its link and removes the link, so a worker holds its own
samples, not the piece, and the last one frees the memory. A
worker arriving while the piece is being fetched waits on the fetcher's lock, not on a clock; if
the fetcher fails or dies, the kernel drops the lock and the waiter fetches its own samples as if
nothing were shared. Any failure to share (no /dev/shm, a full one) falls back the
same way: sharing only ever saves requests.

    claim    the fetcher writes a locked temp file and links it to <piece>.claim (atomic: the link
             fails if the name exists), so nobody sees a claim it could lock before the fetcher
    publish  the others' data written, then a <piece>.w<worker> link for every other user, then
             the claim name removed, then the lock released: a waiter that finds no claim finds its link
    take     open <piece>.w<me>, unlink it, read this worker's byte ranges

The folder belongs to the main process's iteration (StreamLoader makes and removes it); a folder
left by a killed process is removed by the next iteration that finds its process gone.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import shutil
import tempfile
import uuid
from typing import Any, Callable, Sequence

SHM = "/dev/shm"
PREFIX = "climb-pieces-"


def make_folder() -> str | None:
    """A fresh folder in shared memory for one iteration's pieces, or None where there is none;
    first removes folders whose process is gone (a killed training job's)."""
    if not os.path.isdir(SHM) or not os.access(SHM, os.W_OK):
        return None
    with contextlib.suppress(OSError), os.scandir(SHM) as entries:
        for entry in entries:
            pid = entry.name[len(PREFIX):].split("-", 1)[0]
            if entry.name.startswith(PREFIX) and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry.path, ignore_errors=True)
    try:
        return tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=SHM)
    except OSError:
        return None


def remove_folder(folder: str | None) -> None:
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PieceShare:
    """One worker's side of a rank's shared pieces (module docstring)."""

    def __init__(self, folder: str, worker: int):
        self.folder, self.worker = folder, worker

    def _path(self, name: str, suffix: str) -> str:
        return os.path.join(self.folder, f"{name}.{suffix}")

    def get(self, name: str, users: Sequence[int], fetch: Callable[[], list[Any]],
            wanted: list[tuple[int, int]], private: frozenset[int] = frozenset()) -> list[Any] | None:
        """This worker's parts of piece `name`, as (offset, length) `wanted` inside the piece (the
        fetched parts laid end to end); None when sharing failed and the caller must fetch its own.

        Every user keeps only its own parts, so a worker holds its own samples of a piece, not the
        piece: the fetcher keeps them as fetched (each part is a buffer of its own) and does not
        publish the parts at the offsets in `private` (read by no other user); the others read
        theirs from their links.
        """
        taken = self._take(name, wanted)
        if taken is not None:
            return taken
        tmp = self._path(name, f"tmp-{self.worker}-{uuid.uuid4().hex}")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except OSError:
            return None
        parts = None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                os.link(tmp, self._path(name, "claim"))
                claimed = True
            except FileExistsError:
                claimed = False
            finally:
                os.unlink(tmp)
            if claimed:
                parts = fetch()  # a fetch failure propagates; the lock goes with the descriptor
                self._publish(fd, name, [u for u in users if u != self.worker], parts, private)
        finally:
            os.close(fd)
        if parts is None:
            self._wait(name)
            return self._take(name, wanted)
        at = dict(zip(itertools.accumulate((len(p) for p in parts), initial=0), parts))
        return [at[offset] for offset, _ in wanted]

    def _publish(self, fd: int, name: str, others: Sequence[int], parts: list[Any], private: frozenset[int]) -> None:
        """Write the parts other users read (at their offsets in the piece: the file is sparse where
        the private ones would be) and link it for each of them; on failure (a full /dev/shm) the
        links made so far are removed and the other users fetch their own."""
        claim = self._path(name, "claim")
        made: list[str] = []
        try:
            for offset, part in zip(itertools.accumulate((len(p) for p in parts), initial=0), parts):
                if offset in private:
                    continue
                view, sent = memoryview(part).cast("B"), 0  # written part by part: no joined copy of the piece
                while sent < len(view):
                    sent += os.pwrite(fd, view[sent:], offset + sent)
            for user in others:
                made.append(self._path(name, f"w{user}"))
                os.link(claim, made[-1])
        except OSError:
            for link in made:
                with contextlib.suppress(OSError):
                    os.unlink(link)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(claim)

    def _wait(self, name: str) -> None:
        """Block until whoever claimed the piece has published it (or failed)."""
        try:
            fd = os.open(self._path(name, "claim"), os.O_RDONLY)
        except OSError:  # already published (or abandoned): the link decides
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        finally:
            os.close(fd)

    def _take(self, name: str, wanted: list[tuple[int, int]]) -> list[bytes] | None:
        """Read this worker's parts from its link and remove the link; None without a whole link."""
        path = self._path(name, f"w{self.worker}")
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            os.unlink(path)
            parts = [os.pread(fd, length, offset) for offset, length in wanted]
        except OSError:
            return None
        finally:
            os.close(fd)
        return parts if all(len(p) == length for p, (_, length) in zip(parts, wanted)) else None
