"""The declared members of a source's WebDataset records and their types.

One place answers "what can a record of this dataset hold": `process_item` conforms each sample's
`json` (and `tabular.json`) to it, and the dataset card and croissant.json describe it, so what
readers are told and what the shards hold cannot drift apart.
"""

from __future__ import annotations

import json
from typing import Any

from climb.pipelines.sources import SourceInfo
from climb.schemas.json_member import declared_meta, declared_tabular

# member name -> what it holds, for every member a record of a field can carry.
# Volumes and videos too long for the tar live in volumes.zarr; their record keeps preview.png.
FIELD_MEMBERS: dict[str, tuple[str, ...]] = {
    "image": ("image.png",),
    "signal": ("signal.npy",),
    "video": ("video.mp4", "preview.png"),
    "volume": ("preview.png",),
    "graph": ("graph.npz",),
    "text": ("text.txt",),
    "tabular": ("tabular.json",),
}


def member_names(modalities: tuple[str, ...]) -> list[str]:
    """Every member a record of these fields may hold (json always), sorted."""
    return sorted({"json", *(m for f in modalities for m in FIELD_MEMBERS.get(f, ()))})


def source_tasks(info: SourceInfo, options: dict[str, Any]) -> tuple[str, ...]:
    """The tasks a dataset of this source labels: its fixed tasks, or those its options choose."""
    if info.tasks or info.labelled_tasks is None:
        return tuple(info.tasks)
    return tuple(info.labelled_tasks(options))


def dataset_options(info: SourceInfo, manifest: dict[str, Any]) -> dict[str, Any]:
    """The options a finished conversion ran with: the source's defaults under the recorded ones."""
    return config_options(info, manifest["config"])


def config_options(info: SourceInfo, config: dict[str, Any]) -> dict[str, Any]:
    """The options of a recorded config (a manifest's `config`, or a running job's)."""
    return {**info.defaults, **config.get("options", {})}


def meta_type(info: SourceInfo, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The declared struct type of the source's `json` member under these options."""
    return declared_meta(info.name, info.modalities, source_tasks(info, options or {}))


def tabular_type(info: SourceInfo, options: dict[str, Any]) -> dict[str, Any] | None:
    """The declared struct type of the source's `tabular.json` member (None without one)."""
    if "tabular" not in info.modalities or info.tabular_fields is None:
        return None
    return declared_tabular(info.tabular_fields(options))


_CACHE: dict[tuple[str, str], tuple[dict[str, Any], dict[str, Any] | None]] = {}


def record_types(info: SourceInfo, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(json type, tabular.json type or None) of a source under these options; cached per process."""
    key = (info.name, json.dumps(options, sort_keys=True, default=str))
    if key not in _CACHE:
        _CACHE[key] = (meta_type(info, options), tabular_type(info, options))
    return _CACHE[key]
