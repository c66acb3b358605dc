"""Backbones by configuration: factories, adapters, padding-safe embeddings, on real signals and images."""

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from skimage import data as skdata

from climb.corpora.ecg import real_ecg
from climb.corpora.video import cine_frames
from climb.loaders.collate import collate
from climb.trainer.adapters import ImageAdapter, SignalAdapter, VolumeAdapter
from climb.trainer.backbones import PRESETS, build, resolve, spec_for

DIM = 16


def _ecg(seconds: float) -> torch.Tensor:
    """The real 12-lead ECG of pydicom's waveform_ecg.dcm at 500 Hz, first `seconds`, float32 [12, T]."""
    return torch.from_numpy(real_ecg(500)[:, : int(seconds * 500)].astype(np.float32))


def _ct() -> torch.Tensor:
    """pydicom's CT_small in Hounsfield units, int16 [128, 128]."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    return torch.from_numpy((ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).astype(np.int16))


def _alone_and_batched(encoder, samples, field):
    """Each sample's embedding alone and inside one collated (zero-padded, masked) batch."""
    batch = collate([{"__key__": str(i), "meta": {}, field: s} for i, s in enumerate(samples)])
    with torch.no_grad():
        together = encoder(batch[field], batch[f"{field}_mask"])
        alone = torch.cat([encoder(s.unsqueeze(0)) for s in samples])
    return alone, together


def test_a_short_ecg_embeds_the_same_alone_and_next_to_longer_ecgs():
    torch.manual_seed(0)
    encoder = build("signal", DIM, "tiny").eval()
    alone, together = _alone_and_batched(encoder, [_ecg(2.5), _ecg(10.0), _ecg(6.1)], "signal")
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_an_ecg_embeds_the_same_alone_and_next_to_a_longer_eeg_with_more_channels():
    torch.manual_seed(0)
    encoder = build("signal", DIM, "tiny").eval()
    eeg = torch.from_numpy(np.tile(real_ecg(500)[:, :4000], (2, 1))[:19].astype(np.float32)) * 0.05  # 19 channels, 8 s
    alone, together = _alone_and_batched(encoder, [_ecg(3.0), eeg], "signal")  # collate pads the ECG to 19 x 4000
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_a_short_clip_embeds_the_same_alone_and_next_to_longer_clips():
    torch.manual_seed(0)
    encoder = build("video", DIM, "tiny").eval()
    clips = [torch.from_numpy(cine_frames(0, n, (24, 24))) for n in (3, 9, 6)]
    alone, together = _alone_and_batched(encoder, clips, "video")
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


# A MONAI ResNet takes no mask: 1D for signals, 3D over (time, height, width) for videos; GroupNorm,
# since BatchNorm ties an embedding to its batch mates by design.
_MONAI_RESNET = {"factory": "monai:ResNet", "kwargs": {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [8, 8, 8, 8],
                                                       "norm": ["group", {"num_groups": 4}], "conv1_t_size": 3}}


def test_a_short_ecg_embeds_the_same_alone_and_next_to_longer_ecgs_in_a_maskless_backbone_of_fixed_length():
    torch.manual_seed(0)
    encoder = build("signal", DIM, "tiny", {**_MONAI_RESNET, "adapter": {"length": 4000}}).eval()
    assert not encoder.takes_mask
    # 2.5 s padded to 8 s, 10 s cut to its first 8 s, 6.1 s padded: alone or together, the same input
    alone, together = _alone_and_batched(encoder, [_ecg(2.5), _ecg(10.0), _ecg(6.1)], "signal")
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_a_short_clip_embeds_the_same_alone_and_next_to_longer_clips_in_a_maskless_backbone_of_fixed_length():
    torch.manual_seed(0)
    encoder = build("video", DIM, "tiny", {**_MONAI_RESNET, "adapter": {"size": 16, "length": 8}}).eval()
    assert not encoder.takes_mask and encoder.record["kwargs"]["spatial_dims"] == 3
    clips = [torch.from_numpy(cine_frames(0, n, (24, 24))) for n in (3, 9, 6)]
    alone, together = _alone_and_batched(encoder, clips, "video")
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_a_fixed_length_keeps_the_first_steps_of_a_long_signal_and_pads_a_short_one():
    ecg = _ecg(10.0).unsqueeze(0)
    long, long_mask = SignalAdapter(channels=12, length=3000)(ecg)
    short, short_mask = SignalAdapter(channels=12, length=3000)(ecg[..., :1000])
    assert long.shape == short.shape == (1, 12, 3000)
    assert bool(long_mask.all()) and int(short_mask.sum()) == 1000
    torch.testing.assert_close(long, SignalAdapter(channels=12)(ecg[..., :3000])[0])  # the window, scaled alone
    assert torch.all(short[..., 1000:] == 0)


def test_a_maskless_backbone_without_a_fixed_length_refuses_a_batch_padded_in_time():
    encoder = build("signal", DIM, "tiny", _MONAI_RESNET).eval()
    batch = collate([{"__key__": str(i), "meta": {}, "signal": s} for i, s in enumerate([_ecg(2.0), _ecg(4.0)])])
    with torch.no_grad():
        assert encoder(_ecg(2.0).unsqueeze(0)).shape == (1, DIM)  # nothing padded: nothing to refuse
        with pytest.raises(ValueError, match=r"takes no mask.*1000 to 2000 steps.*`length`"):
            encoder(batch["signal"], batch["signal_mask"])


def test_a_small_image_embeds_the_same_alone_and_padded_next_to_a_larger_one():
    torch.manual_seed(0)
    encoder = build("image", DIM, "tiny").eval()
    images = [torch.from_numpy(skdata.camera()[:200, :150].copy()), torch.from_numpy(skdata.camera())]
    alone, together = _alone_and_batched(encoder, images, "image")
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


def test_ecg_leads_are_mixed_from_the_first_layer_and_their_order_matters():
    torch.manual_seed(0)
    encoder = build("signal", DIM, "tiny").eval()
    assert encoder.net.stem.in_channels == 32  # all leads in one convolution, not one lead at a time
    ecg = _ecg(4.0).unsqueeze(0)
    with torch.no_grad():
        assert not torch.allclose(encoder(ecg), encoder(ecg[:, [1, 0, *range(2, 12)]]))


def test_signals_keep_the_relative_amplitude_of_leads_but_not_their_units():
    adapter = SignalAdapter(channels=12)
    ecg = _ecg(2.0).unsqueeze(0)
    tall_chest_leads = ecg.clone()
    tall_chest_leads[:, 6:] *= 3  # voltage criteria of hypertrophy
    torch.testing.assert_close(adapter(ecg)[0], adapter(ecg * 1000)[0], rtol=1e-4, atol=1e-4)  # mV or uV alike
    assert not torch.allclose(adapter(ecg)[0], adapter(tall_chest_leads)[0])


def test_more_signal_channels_than_the_encoder_takes_are_refused_not_cut():
    with pytest.raises(ValueError, match="at most 12"):
        SignalAdapter(channels=12)(torch.randn(1, 19, 100))


def test_rgb_images_keep_their_colour_balance():
    rgb = torch.from_numpy(skdata.astronaut())[None]  # [1, 512, 512, 3] uint8
    x = ImageAdapter(size=0)(rgb)
    per_channel = ImageAdapter(size=0, normalization="channel")(rgb)
    means = x.mean((0, 2, 3))
    assert means.max() - means.min() > 0.1  # the red cast of the photo survives
    torch.testing.assert_close(per_channel.mean((0, 2, 3)), torch.zeros(3), atol=1e-4, rtol=0)  # the z-score erases it


def test_image_scaling_is_indifferent_to_bit_depth():
    eight = torch.from_numpy(skdata.camera())[None]
    sixteen = (eight.to(torch.int32) * 257).to(torch.uint16)
    adapter = ImageAdapter(size=64)
    torch.testing.assert_close(adapter(eight), adapter(sixteen), rtol=1e-4, atol=1e-4)


def test_ct_patches_are_read_through_fixed_hounsfield_windows():
    hu = _ct()
    patches = torch.stack([hu[:64, :64], hu[64:, 64:]])[None, :, None]  # [1, 2 patches, 1, 64, 64]
    adapted = VolumeAdapter()(patches)  # [2, 3 windows, 1, 64, 64]
    air = hu[:64, :64] < -1350
    assert adapted.shape == (2, 3, 1, 64, 64)
    assert torch.all(adapted[0, :, 0][:, air] == 0)  # below every window, whatever the rest of the patch holds
    # a density maps to the same input in both patches (a per-patch z-score would scale them differently)
    value = int(hu[70, 70])
    both = [adapted[i, :, 0][:, (p == value)] for i, p in enumerate((hu[:64, :64], hu[64:, 64:])) if (p == value).any()]
    assert all(torch.equal(b[:, 0], both[0][:, 0]) for b in both)


def test_mr_patches_of_one_scan_share_one_scaling():
    mr = torch.rand(1, 2, 4, 8, 8) * 1000
    adapted = VolumeAdapter(normalization="auto")(mr)  # float patches: z-scored per sample, not per patch
    torch.testing.assert_close(adapted.reshape(-1).mean(), torch.tensor(0.0), atol=1e-4, rtol=0)
    assert adapted[0].mean() != pytest.approx(0.0, abs=1e-3)


def test_monai_and_climb_factories_are_resolved_with_input_channels_and_spatial_dims():
    record = resolve("image", spec_for("image", "base"), DIM)
    assert record["factory"] == "monai.networks.nets:DenseNet121"
    assert record["kwargs"].items() >= {"in_channels": 3, "out_channels": DIM, "spatial_dims": 2}.items()
    volume = resolve("volume", spec_for("volume", "base"), DIM)
    assert volume["kwargs"].items() >= {"n_input_channels": 3, "num_classes": DIM, "spatial_dims": 3}.items()
    assert resolve("signal", {"factory": "climb:resnet1d"}, DIM)["factory"] == "climb.trainer.networks:ResNet1d"


def test_any_module_callable_factory_with_keyword_arguments():
    spec = {"factory": "torch.nn:Linear", "kwargs": {"in_features": 5}, "out": "out_features"}
    encoder = build("tabular", DIM, "tiny", spec)
    assert isinstance(encoder.net, torch.nn.Linear) and encoder.net.in_features == 5
    assert encoder(torch.randn(3, 5)).shape == (3, DIM)


def test_an_override_with_the_preset_factory_merges_its_arguments():
    spec = spec_for("signal", "tiny", {"kwargs": {"width": 12}, "adapter": {"channels": 16}})
    assert spec["kwargs"] == {**PRESETS["tiny"]["signal"]["kwargs"], "width": 12}
    assert build("signal", DIM, "tiny", {"kwargs": {"width": 12}}).net.stem.out_channels == 12


def test_a_backbone_that_does_not_return_the_embedding_size_is_named():
    encoder = build("tabular", DIM, "tiny", {"factory": "torch.nn:Identity", "out": "unused"})
    with pytest.raises(ValueError, match="torch.nn:Identity returned"):
        encoder(torch.randn(2, 3))


def test_unknown_factories_are_refused_with_what_exists():
    with pytest.raises(ValueError, match="resnet1d"):
        resolve("signal", {"factory": "climb:nope"}, DIM)
    with pytest.raises(ValueError, match="cannot be imported"):
        resolve("signal", {"factory": "monai:NoSuchNet"}, DIM)


def test_channels_last_images_give_the_same_embeddings():
    torch.manual_seed(0)
    plain = build("image", DIM, "tiny").eval()
    fast = build("image", DIM, "tiny", channels_last=True).eval()
    fast.load_state_dict(plain.state_dict())
    fast.to(memory_format=torch.channels_last)
    image = torch.from_numpy(skdata.astronaut()[::8, ::8].copy())[None]
    with torch.no_grad():
        torch.testing.assert_close(fast(image), plain(image), rtol=1e-4, atol=1e-5)
