"""The Beam graph a distributed runner gets: splittable end to end, small elements, no secret.

Dataflow, Flink and Spark cannot run here, so these tests read the pipeline proto every runner
receives: which groups stand in front of the shard writes, and what the DoFns carry.
"""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.internal import pickler
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2

from climb.pipelines.convert import ConvertConfig, _discovery_summary, key_reference
from climb.pipelines.finalize import Expected
from climb.pipelines.graph import build
from climb.pipelines.job import Job
from climb.pipelines.records import prepare
from climb.pipelines.sources import get_source
from climb.pipelines.worklist import write_worklist

GBK = common_urns.primitives.GROUP_BY_KEY.urn
PARDO = common_urns.primitives.PAR_DO.urn
KEY = b"a-test-key-that-must-never-ride-in-the-graph"


@pytest.fixture
def proto(dicom_corpus: Path, tmp_path: Path):
    """The runner API proto of the conversion graph for the DICOM corpus (built, not run)."""
    cfg = ConvertConfig(source="dicom", raw_url=str(dicom_corpus), out_url=str(tmp_path / "out"), batch_size=2)
    info = get_source("dicom")
    with key_reference(KEY) as (key, ref):
        items, duplicates = prepare(info.discover(cfg.raw_url, dict(info.defaults)), key=key, salt="climb",
                                    raw_url=cfg.raw_url, fractions=info.split_fractions)
        worklist = write_worklist(items, cfg.batch_size, cfg.dataset_url, {}, key)
        job = Job(source="dicom", dataset_url=cfg.dataset_url, options=dict(info.defaults), storage_options={}, key_ref=ref,
                  salt="climb", fractions=info.split_fractions, task_names=tuple(sorted(info.tasks)), shard_size=40_000)
        expected = Expected(items=worklist.items, batches=worklist.batches, key_fingerprint=worklist.key_fingerprint,
                            discovery=_discovery_summary(job, duplicates))
        pipeline = beam.Pipeline()
        build(pipeline, job, worklist, expected)
        return pipeline.to_runner_api()


def leaf_graph(proto) -> tuple[dict[str, object], dict[str, str]]:
    """(leaf transforms by id, producing leaf transform id by PCollection id)."""
    leaves = {tid: t for tid, t in proto.components.transforms.items() if not t.subtransforms}
    producer = {pc: tid for tid, t in leaves.items() for pc in t.outputs.values()}
    return leaves, producer


def upstream(proto, name: str) -> list[str]:
    """Unique names of every leaf transform upstream of transform `name` (or its parts)."""
    leaves, producer = leaf_graph(proto)
    start = [tid for tid, t in leaves.items() if t.unique_name == name or t.unique_name.startswith(name + "/")]
    assert start, f"no transform named {name}"
    seen, todo = set(), list(start)
    while todo:
        for pc in leaves[todo.pop()].inputs.values():
            tid = producer.get(pc)
            if tid and tid not in seen:
                seen.add(tid)
                todo.append(tid)
    return [leaves[tid].unique_name for tid in seen]


def groups(proto, names: list[str]) -> list[str]:
    by_name = {t.unique_name: t for t in proto.components.transforms.values()}
    return sorted(n for n in names if by_name[n].spec.urn == GBK)


def test_the_writes_follow_a_group_by_shard_path_and_a_group_by_split_only(proto):
    in_front = groups(proto, upstream(proto, "WriteShards"))
    assert [n.split("/")[0] for n in in_front] == ["GroupBySplit", "SpreadBatches", "SpreadShards"]


def test_the_group_by_shard_path_is_also_fed_by_every_process_bundle(proto):
    assert "Summaries" in upstream(proto, "SpreadShards")


def test_summaries_and_subject_counts_ride_the_shard_group_instead_of_groups_of_their_own(proto):
    all_groups = groups(proto, [t.unique_name for t in proto.components.transforms.values()])
    assert sorted({n.split("/")[0] for n in all_groups}) == ["GatherResults", "GroupBySplit", "SpreadBatches", "SpreadShards"]


def test_the_only_single_key_group_comes_after_the_writes(proto):
    assert "WriteShards" in upstream(proto, "GatherResults")
    assert not any(n.startswith("GatherResults") for n in upstream(proto, "WriteShards"))


def test_process_is_split_from_the_work_list_by_a_reshuffle(proto):
    in_front = groups(proto, upstream(proto, "Process"))
    assert [n.split("/")[0] for n in in_front] == ["SpreadBatches"]


def test_the_graph_carries_neither_the_key_nor_the_work_items(proto, dicom_corpus):
    import cloudpickle

    leaves, _ = leaf_graph(proto)
    # DoFn payloads are compressed pickles: unpickle each and pickle it plainly to search it
    blob = b"".join(
        cloudpickle.dumps(pickler.loads(beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn.payload))
        for t in leaves.values() if t.spec.urn == PARDO
    )
    assert b"ProcessBatch" in blob and KEY not in blob
    assert str(dicom_corpus).encode() not in blob  # raw paths stay in the work files


def test_no_dofn_emits_from_finish_bundle():
    from climb.pipelines import graph

    for fn in (graph.ProcessBatch, graph.WriteShard, graph.Finalize):
        assert fn.finish_bundle is beam.DoFn.finish_bundle, f"{fn.__name__} overrides finish_bundle"
