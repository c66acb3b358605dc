"""croissant.json: a Croissant 1.0 description that Croissant readers (mlcroissant) read records from.

Files: one `cr:FileObject` per tar shard (sha256, size), per member kind a `cr:FileSet`
`containedIn` the shards with `includes` matching the member's file names inside the tars
(Croissant's way to describe files inside archives), and samples.json. Record sets:

- `samples`: one record per sample from samples.json (JSONPath): key, split, subject, and label and
  label mask per task. Croissant readers do not parse files inside archives (mlcroissant reads only
  their name and bytes), so the per-sample fields come from this index the conversion writes;
- one record set per member (`json`, `image.png`, `signal.npy`, ...): key (from the file name),
  and the member's bytes; `key` references `samples/key`, so members join to samples.

Licence, citation and URL come from the source's registry entry (pipelines/sources/provenance.py).
The description is a function of the manifest and samples.json's pin, so a rebuild writes the same bytes.
"""

from __future__ import annotations

from typing import Any

from climb.pipelines.sources import get_source
from climb.pipelines.sources.provenance import provenance
from climb.pipelines.writers.record_types import dataset_options, member_names, source_tasks
from climb.schemas.json_member import label_type
from climb.transforms.phi import pseudonymize

KEY_LENGTH = len(pseudonymize("x", b"k", "sample"))
KEY_GLOB = "?" * KEY_LENGTH  # keys are fixed-length hex: `<key>.json` never matches `<key>.tabular.json`

CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/",
    "sc": "https://schema.org/",
    "dct": "http://purl.org/dc/terms/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileObject": "cr:fileObject",
    "fileProperty": "cr:fileProperty",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}

# member -> (Croissant dataType of its content, encodingFormat of the file)
MEMBER_TYPES: dict[str, tuple[str, str]] = {
    "json": ("sc:Text", "application/json"),
    "image.png": ("sc:ImageObject", "image/png"),
    "preview.png": ("sc:ImageObject", "image/png"),
    "signal.npy": ("sc:Text", "application/x-npy"),
    "video.mp4": ("sc:VideoObject", "video/mp4"),
    "graph.npz": ("sc:Text", "application/x-npz"),
    "text.txt": ("sc:Text", "text/plain"),
    "tabular.json": ("sc:Text", "application/json"),
}
_SCALAR = {"int64": "sc:Integer", "float64": "sc:Float", "bool": "sc:Boolean", "string": "sc:Text"}


def _id(*parts: str) -> str:
    return "/".join(p.replace("/", "_") for p in parts)


def _field(record_set: str, name: str, data_type: str, source: dict[str, Any], description: str, repeated: bool = False) -> dict[str, Any]:
    out = {"@type": "cr:Field", "@id": _id(record_set, name), "name": name, "description": description,
           "dataType": data_type, "source": source}
    if repeated:
        out["repeated"] = True
    return out


def _key_field(record_set: str, file_set: str, suffix: str) -> dict[str, Any]:
    source = {"fileSet": {"@id": file_set}, "extract": {"fileProperty": "filename"},
              "transform": {"regex": f"^([0-9a-f]+){suffix.replace('.', '[.]')}$"}}
    return _field(record_set, "key", "sc:Text", source, "the record's __key__ (keyed hash of the sample id)")


def croissant(manifest: dict[str, Any], samples_pin: dict[str, Any]) -> dict[str, Any]:
    """The Croissant JSON-LD of a finished conversion (before its documents are pinned).

    Args:
        manifest: the manifest as built (shards, splits, tasks).
        samples_pin: samples.json's {sha256, bytes} as written (pinned here).
    """
    source = manifest["source"]
    info = get_source(source, manifest["config"]["options"])
    prov = provenance(source)
    shards = sorted(manifest["shards"], key=lambda s: s["path"])
    distribution: list[dict[str, Any]] = [
        {"@type": "cr:FileObject", "@id": s["path"], "name": s["path"], "contentUrl": s["path"],
         "encodingFormat": "application/x-tar", "sha256": s["sha256"], "contentSize": f"{s['bytes']} B"}
        for s in shards
    ]
    distribution.append({"@type": "cr:FileObject", "@id": "samples.json", "name": "samples.json", "contentUrl": "samples.json",
                         "encodingFormat": "application/json", "sha256": samples_pin["sha256"],
                         "contentSize": f"{samples_pin['bytes']} B"})
    members = member_names(info.modalities)
    for member in members:
        pattern = f"{KEY_GLOB}.{member}"
        distribution.append({
            "@type": "cr:FileSet", "@id": f"members/{member}", "name": f"members/{member}",
            "description": f"the {member} member of every record, inside the tar shards",
            "containedIn": [{"@id": s["path"]} for s in shards], "includes": pattern,
            "encodingFormat": MEMBER_TYPES[member][1],
        })
    record_sets = [_samples(source_tasks(info, dataset_options(info, manifest)))] + [_member_records(m) for m in members]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "name": f"climb-{source}",
        "description": (
            f"{source} converted by climb {manifest['code_version']} into WebDataset shards "
            f"(schema {manifest['schema_version']}): {manifest['counts']['written']} samples."
        ),
        "url": prov.url or "https://github.com/climb-data/climb",
        "license": prov.license_url or prov.license,
        "citeAs": prov.citation,
        "version": manifest["schema_version"],
        "distribution": distribution,
        "recordSet": record_sets,
    }


def _samples(tasks: tuple[str, ...]) -> dict[str, Any]:
    """One record per sample, from samples.json."""

    def index_field(name: str, path: str, data_type: str, description: str, repeated: bool = False) -> dict[str, Any]:
        source = {"fileObject": {"@id": "samples.json"}, "extract": {"jsonPath": f"$.samples[*].{path}"}}
        return _field("samples", name, data_type, source, description, repeated)

    fields = [
        index_field("key", "key", "sc:Text", "the record's __key__ in the tar shards (keyed hash of the sample id)"),
        index_field("split", "split", "sc:Text", "train, val or test"),
        index_field("subject_id", "subject_id", "sc:Text", "keyed hash of the subject id (splits never share one)"),
    ]
    for task in sorted(tasks):
        kind = label_type(task)
        multilabel = isinstance(kind, list)
        fields.append(index_field(f"labels/{task}", f"labels.{task}", _SCALAR[kind[0] if multilabel else kind],
                                  f"label of task {task} (null when unknown; see label_mask)", repeated=multilabel))
        fields.append(index_field(f"label_mask/{task}", f"label_mask.{task}", "sc:Boolean",
                                  f"whether the {task} label is known", repeated=multilabel))
    return {"@type": "cr:RecordSet", "@id": "samples", "name": "samples", "key": {"@id": "samples/key"},
            "description": "one record per sample (samples.json)", "field": fields}


def _member_records(member: str) -> dict[str, Any]:
    """Key and content of one data member of every record; joins to samples by key."""
    name = member.replace(".", "_")
    data_type, _ = MEMBER_TYPES[member]
    suffix = f".{member}"
    file_set = f"members/{member}"
    content = _field(name, "content", data_type, {"fileSet": {"@id": file_set}, "extract": {"fileProperty": "content"}},
                     f"the bytes of the {member} member")
    key = _key_field(name, file_set, suffix)
    key["references"] = {"field": {"@id": "samples/key"}}
    return {"@type": "cr:RecordSet", "@id": name, "name": name, "description": f"the {member} member of each sample",
            "field": [key, content]}
