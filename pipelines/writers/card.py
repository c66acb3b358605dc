"""README.md, the dataset card: what `datasets.load_dataset(DATASET_DIR)` reads, and what a person reads.

The YAML front matter names each split's shards (`configs`/`data_files`, so Hugging Face datasets'
webdataset builder needs no arguments) and declares every member's features from the source's
declared record types, so readers type a field from the declaration rather than guessing it from a
few samples (a field that is null in those samples would otherwise be typed `null`). Videos are
declared as raw bytes (`binary`): they load without a video decoder (torchcodec); cast the column to
`datasets.Video()` to decode them where torchcodec is installed. The card is a function of the
manifest alone, so a rebuild writes the same bytes.
"""

from __future__ import annotations

from typing import Any

import yaml

from climb.pipelines.sources import get_source
from climb.pipelines.sources.provenance import provenance
from climb.pipelines.writers.record_types import dataset_options, member_names, record_types
from climb.schemas.json_member import Map, Multi

# member -> Hugging Face feature of its decoded value (the webdataset builder decodes by extension)
MEMBER_FEATURES: dict[str, dict[str, Any]] = {
    "image.png": {"dtype": "image"},
    "preview.png": {"dtype": "image"},
    "signal.npy": {"list": {"list": "float32"}},
    "video.mp4": {"dtype": "binary"},
    "graph.npz": {"struct": [
        {"name": "edge_attr", "list": {"list": "float32"}},
        {"name": "edge_index", "list": {"list": "int64"}},
        {"name": "x", "list": {"list": "float32"}},
    ]},
    "text.txt": {"dtype": "string"},
}


def _inner(kind: Any) -> Any:
    """The value of a `list:` entry: a dtype name, a list of named fields, or a nested list."""
    body = feature(kind)
    if "dtype" in body:
        return body["dtype"]
    return body.get("struct", body)


def feature(kind: Any) -> dict[str, Any]:
    """A declared type (schemas/json_member.py) as a Hugging Face feature in dataset-card YAML form."""
    if isinstance(kind, dict):
        return {"struct": [{"name": name, **feature(sub)} for name, sub in kind.items()]}
    if isinstance(kind, Map):
        return {"list": _inner({"key": "string", "value": kind.value})}
    if isinstance(kind, Multi):
        return {"list": _inner(kind.value)}
    if isinstance(kind, list):
        return {"list": _inner(kind[0])}
    return {"dtype": kind}


def features(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Every column the webdataset builder yields for this dataset, with its declared type."""
    info = get_source(manifest["source"], manifest["config"]["options"])
    meta_kind, tabular_kind = record_types(info, dataset_options(info, manifest))
    out = []
    for member in member_names(info.modalities):
        if member == "json":
            body = feature(meta_kind)
        elif member == "tabular.json":
            body = feature(tabular_kind)
        else:
            body = MEMBER_FEATURES[member]
        out.append({"name": member, **body})
    return out + [{"name": "__key__", "dtype": "string"}, {"name": "__url__", "dtype": "string"}]


def split_files(manifest: dict[str, Any]) -> dict[str, list[str]]:
    """split -> its shard paths (relative to the dataset folder), in shard order."""
    files: dict[str, list[str]] = {}
    for shard in manifest["shards"]:
        files.setdefault(shard["split"], []).append(shard["path"])
    return {split: sorted(paths) for split, paths in sorted(files.items())}


def front_matter(manifest: dict[str, Any]) -> dict[str, Any]:
    prov = provenance(manifest["source"])
    files = split_files(manifest)
    meta: dict[str, Any] = {"license": prov.hf_license}
    if prov.hf_license == "other":
        meta["license_name"] = "-".join(prov.license.lower().replace(".", "-").split())
        if prov.license_url:
            meta["license_link"] = prov.license_url
    meta.update({
        "pretty_name": f"climb {manifest['source']}",
        "tags": ["climb", "medical", "webdataset"],
        "configs": [{
            "config_name": "default",
            "data_files": [{"split": split, "path": paths} for split, paths in files.items()],
        }],
        "dataset_info": {
            "features": features(manifest),
            "splits": [{"name": split, "num_examples": manifest["splits"][split]["num_samples"]} for split in files],
        },
    })
    return meta


def _body(manifest: dict[str, Any]) -> str:
    source, prov = manifest["source"], provenance(manifest["source"])
    splits = ", ".join(f"{name} {s['num_samples']} samples ({s['num_subjects']} subjects)" for name, s in manifest["splits"].items())
    licence = prov.license if not prov.license_url else f"{prov.license} ({prov.license_url})"
    if prov.license == "see source":
        licence += ": the source's own terms apply to this converted copy; read them before use"
    home = prov.url or "the folder this dataset was converted from"
    tasks = ", ".join(f"`{name}` ({t['type']})" for name, t in manifest["tasks"].items()) or "none"
    return f"""# climb {source}

{source} ({home}) converted by climb {manifest['code_version']} into WebDataset shards, schema
{manifest['schema_version']}: {manifest['counts']['written']} samples; {splits}. Tasks: {tasks}.
Sample keys, subject and study ids are keyed hashes; metadata passed an allow-list (no names, dates
or original identifiers).

## Load

```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder")                   # every split, features from this card
ds = load_dataset("path/to/this/folder", streaming=True)   # the same, streamed
```
Each row holds the record's members (`json` metadata with `labels` and `label_mask`, and the
sample's data members) plus `__key__`. Videos (`video.mp4`) load as raw MP4 bytes; decode them
with OpenCV, or cast the column to `datasets.Video()` where torchcodec is installed. Volumes live in
`volumes.zarr` (path in `json.volume.zarr_path`); their records hold a `preview.png`.
`croissant.json` describes the same records for Croissant readers (mlcroissant), `manifest.json`
pins every file by sha256 (`climb verify`).

## Licence

{licence}

## Citation

{prov.citation}
"""


def card_bytes(manifest: dict[str, Any]) -> bytes:
    """README.md: YAML front matter (deterministic key order) and a short human description."""
    head = yaml.safe_dump(front_matter(manifest), sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{head}---\n\n{_body(manifest)}".encode("utf-8")
