"""Encoders: one embedding per sample, independent of units, channel count and batch mates."""

import math
import zlib

import pytest
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
    hash_features,
    hash_tokens,
    standardize,
)

DIM = 16


def test_every_schema_field_has_an_encoder():
    from climb.schemas.sample import MODALITIES

    assert set(ENCODERS) == set(MODALITIES)


def test_image_encoder_reads_grayscale_and_rgb_of_any_size():
    torch.manual_seed(0)
    encoder = ImageEncoder(DIM, width=8, depth=2)
    gray = torch.randint(0, 256, (2, 20, 28), dtype=torch.uint8)
    rgb = torch.randint(0, 256, (3, 17, 17, 3), dtype=torch.uint8)
    assert encoder(gray).shape == (2, DIM)
    assert encoder(rgb).shape == (3, DIM)


def test_image_encoder_is_indifferent_to_bit_depth():
    torch.manual_seed(0)
    encoder = ImageEncoder(DIM, width=8, depth=2)
    eight_bit = torch.randint(0, 256, (2, 16, 16), dtype=torch.uint8)
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


def test_signal_encoder_keeps_the_relative_amplitude_of_leads():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=3)
    ecg = torch.randn(1, 12, 128)
    tall_chest_leads = ecg.clone()
    tall_chest_leads[:, 6:] *= 3  # voltage criteria of hypertrophy
    assert not torch.allclose(encoder(ecg), encoder(tall_chest_leads))


def test_signal_encoder_is_indifferent_to_units():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=3)
    millivolts = torch.randn(2, 3, 128)
    torch.testing.assert_close(encoder(millivolts), encoder(millivolts * 1000), rtol=1e-4, atol=1e-4)


def test_volume_and_video_encoders_give_one_embedding_per_sample():
    torch.manual_seed(0)
    volume = torch.randint(-1000, 1000, (2, 3, 6, 12, 12), dtype=torch.int16)  # 3 patches per sample
    video = torch.randint(0, 256, (2, 5, 16, 16, 3), dtype=torch.uint8)
    assert VolumeEncoder(DIM, width=4, depth=2)(volume).shape == (2, DIM)
    assert VideoEncoder(DIM, width=4, depth=2)(video).shape == (2, DIM)


def test_video_encoder_accepts_any_clip_length():
    torch.manual_seed(0)
    encoder = VideoEncoder(DIM, width=4, depth=2)
    assert encoder(torch.randint(0, 256, (1, 9, 16, 16), dtype=torch.uint8)).shape == (1, DIM)


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


def test_padding_does_not_change_an_image_embedding_statistics_come_from_real_pixels():
    torch.manual_seed(0)
    encoder = ImageEncoder(DIM, width=8, depth=1)
    image = torch.randint(0, 256, (1, 8, 8), dtype=torch.uint8)
    padded = torch.nn.functional.pad(image, (0, 8, 0, 8))
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[:, :8, :8] = True
    x = encoder.net[0](standardize(padded.unsqueeze(1), (2, 3), mask.unsqueeze(1)).expand(-1, 3, -1, -1))
    y = encoder.net[0](standardize(image.unsqueeze(1), (2, 3)).expand(-1, 3, -1, -1))
    # Away from the border the first convolution sees the same standardized pixels.
    torch.testing.assert_close(x[..., :3, :3], y[..., :3, :3])


def test_signal_encoder_ignores_all_zero_channels_and_padded_time():
    torch.manual_seed(0)
    encoder = SignalEncoder(DIM, width=8, depth=2)
    ecg = torch.randn(1, 3, 64)
    padded = torch.zeros(1, 5, 64)  # a batch mate had 5 channels: collate pads ours with zeros
    padded[:, :3] = ecg
    torch.testing.assert_close(encoder(padded), encoder(ecg), rtol=1e-5, atol=1e-5)


def test_video_embedding_averages_real_frames_only():
    torch.manual_seed(0)
    encoder = VideoEncoder(DIM, width=4, depth=1)
    video = torch.randint(0, 256, (2, 6, 16, 16, 3), dtype=torch.uint8)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    garbage = video.clone()
    garbage[1, 5] = 255  # beyond the temporal kernel's reach of real frames
    torch.testing.assert_close(encoder(video, mask), encoder(garbage, mask))


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
