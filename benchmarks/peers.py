"""The peer loaders (litdata, mosaicml-streaming) in a venv of their own, so they never meet climb's pins.

    python -m benchmarks.peers            # make or update benchmarks/.peers (once; a few minutes)
    python -m benchmarks.run --quick      # then finds it and measures the peers too

Why a separate venv: litdata and mosaicml-streaming cannot be installed beside climb (mosaicml-streaming
0.13.0 pins numpy < 2.2 where climb needs 2.4; unpinned, litdata pulls another torch): the former
`[bench]` extra could not be installed. benchmarks/peers.txt pins the peers, their torch (the same 2.13.0
as climb, so a plain `torch` requirement cannot pull a multi-GB CUDA build) and the decode libraries;
the venv is made without system site packages, and benchmarks.run starts the peers' writers and
readers with its interpreter as subprocesses (benchmarks.formats and benchmarks.reading import
nothing of climb on the peers' side). The venv records the hash of peers.txt it was made from, and
is rebuilt when the file changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
REQUIREMENTS = HERE / "peers.txt"
DEFAULT_VENV = HERE / ".peers"
STAMP = "climb-peers.sha256"
PEERS = {"litdata": "litdata", "mds": "mosaicml-streaming"}


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def python_of(where: Path = DEFAULT_VENV) -> Path:
    return where / "bin" / "python"


def ready(where: Path = DEFAULT_VENV) -> bool:
    """The venv exists and was made from the current peers.txt."""
    stamp = where / STAMP
    return python_of(where).exists() and stamp.exists() and stamp.read_text().strip() == _digest()


def install(where: Path = DEFAULT_VENV) -> Path:
    """Make (or remake) the peers' venv from peers.txt; returns its interpreter."""
    if ready(where):
        return python_of(where)
    venv.EnvBuilder(clear=True, with_pip=True, system_site_packages=False).create(where)
    python = python_of(where)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True)
    (where / STAMP).write_text(_digest() + "\n")
    return python


def versions(python: Path) -> dict[str, str | None]:
    """Installed versions of the peers in the venv of `python`."""
    code = ("import json, importlib.metadata as m\n"
            "def v(n):\n    try:\n        return m.version(n)\n    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{n: v(n) for n in {sorted(PEERS.values())!r}}}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--venv", default=str(DEFAULT_VENV), help="where to make it (default benchmarks/.peers)")
    args = p.parse_args(argv)
    python = install(Path(args.venv))
    print(json.dumps({"python": str(python), **versions(python)}))


if __name__ == "__main__":
    main(sys.argv[1:])
