"""Encoders: one embedding per sample, independent of units, channel count and batch mates."""

import zlib

import torch

from climb.trainer.encoders import (
    ENCODERS,
    GraphEncoder,
    ImageEncoder,
    SignalEncoder,
    TabularEncoder,
    TextEncoder,
    VideoEncoder,
    VolumeEncoder,
    hash_tokens,
)

DIM = 16


def test_every_schema_field_has_an_encoder():
    from climb.schemas.sample import MODALITIES

    assert set(ENCODERS) == set(MODALITIES)


def test_image_encoder_reads_grayscale_and_rgb_of_any_size():
    torch.manual_seed(0)
    encoder = ImageEncoder(DIM, width=8, depth=2)
    gray = torch.randint(0, 256, (2, 1, 20, 28), dtype=torch.uint8)
    rgb = torch.randint(0, 256, (3, 3, 17, 17), dtype=torch.uint8)
    assert encoder(gray).shape == (2, DIM)
    assert encoder(rgb).shape == (3, DIM)


def test_image_encoder_is_indifferent_to_bit_depth():
    torch.manual_seed(0)
    encoder = ImageEncoder(DIM, width=8, depth=2)
    eight_bit = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    sixteen_bit = (eight_bit.to(torch.int32) * 257).to(torch.uint16)  # same picture, 16-bit range
    torch.testing.assert_close(encoder(eight_bit), encoder(sixteen_bit), rtol=1e-4, atol=1e-4)


def test_signal_encoder_takes_any_channel_count_with_the_same_weights():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=3)
    ecg = torch.randn(2, 12, 500)
    eeg = torch.randn(2, 19, 256)
    assert encoder(ecg).shape == encoder(eeg).shape == (2, DIM)


def test_signal_encoder_depends_on_lead_order():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=3)
    ecg = torch.randn(1, 12, 200)
    swapped = ecg[:, [1, 0] + list(range(2, 12))]
    assert not torch.allclose(encoder(ecg), encoder(swapped))


def test_signal_encoder_is_indifferent_to_units():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=3)
    millivolts = torch.randn(2, 3, 128)
    torch.testing.assert_close(encoder(millivolts), encoder(millivolts * 1000), rtol=1e-4, atol=1e-4)


def test_volume_and_video_encoders_give_one_embedding_per_sample():
    torch.manual_seed(0)
    volume = torch.randint(-1000, 1000, (2, 6, 12, 12), dtype=torch.int16)
    video = torch.randint(0, 256, (2, 5, 3, 16, 16), dtype=torch.uint8)
    assert VolumeEncoder(DIM, width=4, depth=2)(volume).shape == (2, DIM)
    assert VideoEncoder(DIM, width=4, depth=2)(video).shape == (2, DIM)


def test_video_encoder_accepts_any_clip_length():
    torch.manual_seed(0)
    encoder = VideoEncoder(DIM, width=4, depth=2)
    assert encoder(torch.randint(0, 256, (1, 9, 1, 16, 16), dtype=torch.uint8)).shape == (1, DIM)


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


def test_tabular_encoder_treats_missing_values_differently_from_zero():
    torch.manual_seed(0)
    encoder = TabularEncoder(DIM, in_dim=4)
    assert not torch.allclose(encoder(torch.tensor([[1.0, float("nan")]])), encoder(torch.tensor([[1.0, 0.0]])))


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
