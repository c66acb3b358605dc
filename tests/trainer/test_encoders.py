"""Graph, tabular and text encoders: one embedding per sample, independent of batch mates and widths."""

import math
import zlib

import pytest
import torch

from climb.trainer.encoders import GraphEncoder, TabularEncoder, TextEncoder, hash_features, hash_tokens

DIM = 16


def _ring(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    nodes = torch.arange(n)
    forward = torch.stack([nodes, nodes.roll(1)])
    return torch.randn(n, 7), torch.cat([forward, forward.flip(0)], 1)


def test_graph_embedding_does_not_depend_on_other_graphs_in_the_batch():
    torch.manual_seed(0)
    encoder = GraphEncoder(DIM, node_dim=8, edge_dim=2, layers=2)
    x1, e1 = _ring(4)
    x2, e2 = _ring(6)
    alone = encoder(x1, e1, None, torch.zeros(4, dtype=torch.long), 1)
    together = encoder(
        torch.cat([x1, x2]), torch.cat([e1, e2 + 4], 1), None, torch.tensor([0] * 4 + [1] * 6), 2
    )
    torch.testing.assert_close(together[0:1], alone, rtol=1e-5, atol=1e-5)


def test_graph_embedding_does_not_depend_on_node_order():
    torch.manual_seed(0)
    encoder = GraphEncoder(DIM, node_dim=8, edge_dim=2, layers=2)
    x, edges = _ring(5)
    attr = torch.randn(edges.shape[1], 2)
    perm = torch.tensor([3, 0, 4, 1, 2])  # new node i is old node perm[i]
    inverse = torch.argsort(perm)
    batch = torch.zeros(5, dtype=torch.long)
    torch.testing.assert_close(
        encoder(x[perm], inverse[edges], attr, batch, 1), encoder(x, edges, attr, batch, 1), rtol=1e-5, atol=1e-5
    )


def test_graph_features_wider_than_the_encoder_are_truncated_and_narrower_ones_padded():
    torch.manual_seed(0)
    encoder = GraphEncoder(DIM, node_dim=8, edge_dim=2, layers=1)
    _, edges = _ring(3)
    batch = torch.zeros(3, dtype=torch.long)
    for width in (3, 8, 50):
        assert encoder(torch.randn(3, width), edges, torch.randn(6, 5), batch, 1).shape == (1, DIM)


def test_tabular_hashing_maps_numbers_strings_and_missing_values():
    features = hash_features([{"age": 63, "sex": "F", "lab": None, "vitals": {"hr": float("nan")}}], buckets=32)
    values, seen = features[0, :32], features[0, 32:]
    age = zlib.crc32(b"age") % 32
    assert values[age].item() == pytest.approx(math.log1p(63))
    assert values[zlib.crc32(b"sex=F") % 32].item() == 1.0
    assert seen.sum().item() == 2  # lab and vitals.hr are missing: their buckets stay unseen


def test_tabular_encoder_takes_rows_with_any_keys():
    torch.manual_seed(0)
    encoder = TabularEncoder(DIM, buckets=16)
    rows = [{"a": 1.0}, {"b": "x", "c": [1, 2]}, {}]
    out = encoder(rows)
    assert out.shape == (3, DIM)
    assert not torch.allclose(out[0], out[2])


def test_hash_tokens_are_stable_ids_in_range():
    ids, offsets = hash_tokens(["Atrial fibrillation, AF.", "", "sinus"], vocab=1000, max_tokens=8)
    assert offsets.tolist() == [0, 3, 3]
    assert ids.min() >= 1 and ids.max() < 1000
    # crc32 of the lower-cased word: the same id in every process, unlike Python's salted hash().
    assert ids[2].item() == 1 + zlib.crc32(b"af") % 999


def test_text_encoder_embeds_empty_and_long_text():
    torch.manual_seed(0)
    encoder = TextEncoder(DIM, vocab=256, max_tokens=16)
    assert encoder(["", "word " * 100]).shape == (2, DIM)
