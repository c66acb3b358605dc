"""The pseudonymization key by reference: the graph names where the key is, workers read it.

A Beam pipeline is pickled and shipped to every worker (and on Dataflow stored by the service), so
the HMAC key must never be one of its values. The driver puts a `KeyRef` in the graph instead: the
name of an environment variable every worker has, or the URL of a key file on storage the workers
can read, plus the key's public id. A worker resolves the reference once (DoFn.setup) and refuses
to work with a key whose id differs, so a cluster set up with another key fails at once instead of
writing ids that do not link with the rest of the dataset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from climb.errors import UserError
from climb.transforms.phi import KEY_ENV, key_id

MIN_KEY_BYTES = 16


class KeyUnavailableError(UserError):
    """A worker cannot read the key the driver named, or it reads a different key."""


@dataclass(frozen=True)
class KeyRef:
    """Where workers find the HMAC key: `env` (a variable name) or `url` (a key file), never the key."""

    key_id: str
    env: str | None = None
    url: str | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"${self.env}" if self.env else f"key file {self.url}"


def env_ref(key: bytes, name: str = KEY_ENV) -> KeyRef:
    """A reference to the key in environment variable `name` (which must hold `key` here)."""
    return KeyRef(key_id=key_id(key), env=name)


def file_ref(key: bytes, url: str, storage_options: dict[str, Any] | None = None) -> KeyRef:
    """A reference to a key file at `url` (local path or s3://... readable by every worker)."""
    return KeyRef(key_id=key_id(key), url=url, storage_options=dict(storage_options or {}))


def read_key_file(url: str, storage_options: dict[str, Any] | None = None) -> bytes:
    """The key in a key file (local or object storage), stripped; refuses short keys."""
    from climb.storage import read_bytes

    data = read_bytes(url, storage_options).strip()
    if len(data) < MIN_KEY_BYTES:
        raise KeyUnavailableError(f"the key in {url} is shorter than {MIN_KEY_BYTES} bytes; use a long random secret")
    return data


def resolve(ref: KeyRef) -> bytes:
    """The key `ref` names, checked against its id. Runs on workers.

    Raises:
        KeyUnavailableError: the variable or file is missing here, or holds another key.
    """
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise KeyUnavailableError(
                f"this worker has no ${ref.env}: give every worker the pseudonymization key in its environment "
                "(docs/dask.md), or pass --hmac-key-file with a URL the workers can read"
            )
        key = value.encode("utf-8")
    elif ref.url:
        try:
            key = read_key_file(ref.url, ref.storage_options)
        except OSError as exc:
            raise KeyUnavailableError(f"this worker cannot read the key file {ref.url}: {exc}") from exc
    else:
        raise KeyUnavailableError("the key reference names neither an environment variable nor a key file")
    if key_id(key) != ref.key_id:
        raise KeyUnavailableError(
            f"this worker's key ({ref.describe()}, id {key_id(key)}) is not the driver's (id {ref.key_id}); "
            "give every worker the same key"
        )
    return key
