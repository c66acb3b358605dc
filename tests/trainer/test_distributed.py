"""The trainer in two processes (torch.multiprocessing, gloo on CPU), as torchrun runs `climb train`.

Data are real converted corpora (PTB-XL and PhysioNet Challenge layouts, mixed by MixedDataset), not a
synthetic stream. The process bodies are in ddp_workers.py.
"""

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
import torch

from climb.corpora.ecg import write_challenge_corpus, write_ptbxl_corpus
from climb.trainer.config import Config
from climb.trainer.data import open_data
from climb.trainer.train import evaluate, train
from tests.helpers import convert_demo
from tests.trainer import ddp_workers

WORLD = 2


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> tuple[str, str]:
    """PTB-XL and Challenge trees in their real layouts, converted with the demo key (5-s signals)."""
    urls = []
    for source, writer in (("ptbxl", write_ptbxl_corpus), ("challenge-ecg", write_challenge_corpus)):
        raw, out = tmp_path_factory.mktemp(f"{source}-raw"), tmp_path_factory.mktemp(f"{source}-out")
        writer(raw)
        convert_demo(source, raw, out, options={"length_s": 5.0})
        urls.append(str(out / source))
    return urls[0], urls[1]


def _config(corpora, out: Path, **changes) -> Config:
    base = dict(datasets=corpora, steps=4, stop_at=3, batch_size=3, dim=16, encoder_preset="tiny", eval_every=3,
                eval_batches=0, log_every=1, warmup_steps=1, progress=False, out_dir=str(out))
    return Config(**{**base, **changes})


@pytest.fixture(scope="module")
def ranks(corpora, tmp_path_factory) -> list[dict]:
    """One 2-process group: each rank reads an epoch, validates a fresh model, trains 3 of 4 steps."""
    work = tmp_path_factory.mktemp("ddp")
    return ddp_workers.launch(ddp_workers.session, WORLD, work / "results", _config(corpora, work / "run"))


def _interleave(per_rank: list[list[str]]) -> list[str]:
    """Rank r holds global positions r, r + W, ...: back to the global order."""
    return [key for step in zip(*per_rank) for key in step]


def test_every_training_sample_is_read_exactly_once_per_epoch_across_ranks(corpora, ranks, tmp_path):
    per_rank = [r["epoch_keys"] for r in ranks]
    cfg = _config(corpora, tmp_path)
    single = ddp_workers.epoch_keys(0, 1, cfg, shuffle_of=WORLD)  # one rank, the ranks' shuffle
    assert len(single) == len(set(single)) == open_data(cfg, 0, 1).train.epoch_length()
    together = Counter(per_rank[0] + per_rank[1])
    # every sample once; the `wrap` tail repeats at most one early sample so both ranks take equal steps
    assert set(together) == set(single)
    assert sum(together.values()) - len(single) == len(single) % WORLD
    assert len(per_rank[0]) == len(per_rank[1])
    assert _interleave(per_rank)[:len(single)] == single  # the ranks split one global order


def test_ranks_hold_identical_weights_after_training_and_only_rank_0_writes(ranks):
    runs = [r["train"] for r in ranks]
    assert [len(r["losses"]) for r in runs] == [3, 3]
    assert runs[0]["files"] == ["checkpoint.pt", "encoders", "metrics.jsonl"]
    assert runs[1]["files"] == []  # no checkpoint, no log, no encoder files from rank 1
    # DDP averaged the gradients: both ranks end with the same weights, the ones rank 0 saved
    assert runs[0]["weights"] == runs[1]["weights"] == ddp_workers.state_digest(runs[0]["state"]["model"])
    assert runs[0]["state"]["step"] == 3


def test_validation_is_sharded_across_ranks_and_gathered(corpora, ranks, tmp_path):
    from climb.trainer.model import MultimodalModel

    results = [r["validation"] for r in ranks]
    assert results[0]["weights"] == results[1]["weights"]
    read0, read1 = set(results[0]["keys"]), set(results[1]["keys"])
    assert max(len(read0), len(read1)) <= len(read0 | read1) // 2 + 1  # each rank read (about) half
    assert results[0]["metrics"] == results[1]["metrics"]  # gathered: every rank has the metrics of all samples
    cfg = _config(corpora, tmp_path)
    data = open_data(cfg, 0, 1)
    torch.manual_seed(cfg.seed)
    model = MultimodalModel(data.modalities, data.tasks, cfg.dim, cfg.fusion, data.scales, cfg.encoder_preset)
    alone = evaluate(model, data, cfg, torch.device("cpu"))  # one process reading the whole val split
    assert alone.keys() == results[0]["metrics"].keys()
    for task, metrics in alone.items():
        assert metrics == pytest.approx(results[0]["metrics"][task])
    assert sum(m["n"] for m in alone.values()) >= len(read0 | read1)


def test_a_two_rank_checkpoint_resumes_on_one_process_with_the_same_remaining_order(corpora, ranks, tmp_path):
    state = ranks[0]["train"]["state"]
    cfg = _config(corpora, tmp_path / "resumed")
    assert state["data"]["samples_seen"] == 3 * cfg.batch_size * WORLD
    uninterrupted = ddp_workers.epoch_keys(0, 1, cfg)
    resumed = open_data(cfg, 0, 1)
    resumed.train.load_state_dict(state["data"])
    remaining = [k for batch in resumed.train.loader(batch_size=cfg.batch_size) for k in batch["__key__"]]
    assert remaining == uninterrupted[state["data"]["samples_seen"]:]
    # and the trainer itself continues the run from there, on one process
    (tmp_path / "resumed").mkdir()
    torch.save(state, tmp_path / "resumed" / "checkpoint.pt")
    losses = train(dataclasses.replace(cfg, stop_at=0, resume=True), open_data(cfg, 0, 1))
    assert len(losses) == cfg.steps - 3


def test_training_batches_from_workers_that_persist_across_epochs_equal_the_in_process_ones(corpora, tmp_path):
    from climb.trainer.data import batches

    def two_epochs(workers: int) -> list[tuple[int, list[str]]]:
        cfg = _config(corpora, tmp_path, num_workers=workers)
        out = []
        for epoch, batch in batches(open_data(cfg, 0, 1), cfg, 0):
            if epoch == 2:
                break
            out.append((epoch, list(batch["__key__"])))
        return out

    in_process = two_epochs(0)
    assert {epoch for epoch, _ in in_process} == {0, 1}
    assert two_epochs(2) == in_process
