"""`climb reproduce`: rebuild a dataset from the config its manifest recorded, compare the bytes.

The manifest records every setting that shapes the output (source, salt, shard size, limit, source
options, split fractions) and the id of the pseudonymization key, so a rebuild from the same raw
files must produce the same shards, Zarr arrays and manifest, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from climb.pipelines.convert import ConvertConfig, ConvertError, convert
from climb.pipelines.verify import load_manifest
from climb.storage import filesystem, storage_options
from climb.transforms.phi import key_id


@dataclass(frozen=True)
class Comparison:
    path: str
    status: str  # identical | different | missing | extra


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Comparison]:
    """Per-file comparison of two manifests' shards, volumes and documents (card, croissant, ...)."""
    def files(m: dict[str, Any]) -> dict[str, str]:
        return {f["path"]: f["sha256"] for f in [*m["shards"], *m.get("volumes", []), *m.get("documents", [])]}

    a, b = files(old), files(new)
    out = []
    for path in sorted(set(a) | set(b)):
        if path not in b:
            out.append(Comparison(path, "missing"))
        elif path not in a:
            out.append(Comparison(path, "extra"))
        else:
            out.append(Comparison(path, "identical" if a[path] == b[path] else "different"))
    return out


def reproduce(dataset_url: str, raw_url: str, new_url: str, key: bytes, endpoint: str | None = None,
              run_scrubber: bool = False) -> tuple[list[Comparison], bool]:
    """Rebuild into new_url/SOURCE and compare with dataset_url.

    Args:
        run_scrubber: allow running the pixel_scrubber the manifest names (without it such a
            manifest is refused: a manifest is data, and importing the module it names runs code).

    Returns:
        (per-file comparisons, whether the two manifest.json files are byte-identical).
    """
    opts = storage_options(dataset_url, endpoint)
    old = load_manifest(dataset_url, opts)
    config = old["config"]
    if config.get("hmac_key_id") != key_id(key):
        raise ConvertError(
            "the pseudonymization key differs from the one that built this dataset "
            f"(key id {config.get('hmac_key_id')}); set CLIMB_HMAC_KEY or --hmac-key-file to the original key"
        )
    scrubber = config["options"].get("pixel_scrubber")
    if scrubber and not run_scrubber:
        # a manifest is data from wherever the dataset came from; importing a module it names runs code
        raise ConvertError(f"the manifest names pixel_scrubber={scrubber!r}, code that would run here; "
                           "pass --run-scrubber if you trust this manifest")
    cfg = ConvertConfig(
        source=config["source"],
        raw_url=raw_url,
        out_url=new_url,
        salt=config["salt"],
        shard_size=config["shard_size"],
        limit=config["limit"],
        s3_endpoint=endpoint,
        options={**config["options"], "split_fractions": dict(config["split_fractions"])},
        progress=True,
    )
    new = convert(cfg, key)
    fs_old, root_old = filesystem(dataset_url, opts)
    fs_new, root_new = filesystem(cfg.dataset_url, storage_options(new_url, endpoint))
    same_manifest = fs_old.cat_file(f"{root_old.rstrip('/')}/manifest.json") == fs_new.cat_file(f"{root_new.rstrip('/')}/manifest.json")
    return compare(old, new), same_manifest


def cli_reproduce(args) -> int:
    """`climb reproduce` entry point: exit 0 when every file is identical, 1 otherwise."""
    from climb.errors import UserError
    from climb.transforms.phi import load_key

    key = load_key(args.hmac_key_file)
    try:
        results, same_manifest = reproduce(args.dataset_url, args.raw_url, args.new_url, key, args.s3_endpoint,
                                           getattr(args, "run_scrubber", False))
    except ConvertError as exc:
        raise UserError(str(exc)) from None
    for r in results:
        print(f"{r.status:<10} {r.path}")
    print(f"{'identical' if same_manifest else 'different':<10} manifest.json")
    ok = same_manifest and all(r.status == "identical" for r in results)
    n_same = sum(r.status == "identical" for r in results)
    print(f"{'REPRODUCED' if ok else 'NOT REPRODUCED'}: {n_same}/{len(results)} files identical")
    return 0 if ok else 1
