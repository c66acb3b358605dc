"""transforms/video.py: frame sampling, resizing, colour handling."""

import numpy as np
import pytest

from climb.transforms.video import bgr_to_rgb, resize_frames, sample_indices, set_color, to_gray, to_rgb, to_uint8


def test_fixed_count_spreads_frames_over_the_whole_clip():
    idx, fps = sample_indices(10, 5.0, count=4)
    assert idx.tolist() == [0, 3, 6, 9]  # linspace(0, 9, 4) = 0, 3, 6, 9
    assert fps == pytest.approx(2.0)  # 4 frames spanning a 2 s clip


def test_fixed_count_longer_than_the_clip_repeats_nearest_frames():
    idx, _ = sample_indices(3, 30.0, count=5)
    assert idx.tolist() == [0, 0, 1, 2, 2]  # linspace(0, 2, 5) = 0, .5, 1, 1.5, 2 rounded half to even


def test_target_fps_takes_the_frame_shown_at_each_tick():
    idx, fps = sample_indices(12, 50.0, target_fps=20.0)
    # ticks every 2.5 source frames: 0, 2.5, 5, 7.5, 10 -> floor
    assert idx.tolist() == [0, 2, 5, 7, 10]
    assert fps == 20.0


def test_target_fps_above_the_source_keeps_every_frame_at_the_source_rate():
    idx, fps = sample_indices(4, 25.0, target_fps=60.0)
    assert idx.tolist() == [0, 1, 2, 3] and fps == 25.0


def test_count_and_fps_together_are_refused():
    with pytest.raises(ValueError, match="either"):
        sample_indices(10, 25.0, count=2, target_fps=5.0)


def test_bgr_to_rgb_swaps_the_channels():
    frames = np.zeros((1, 1, 1, 3), np.uint8)
    frames[..., 0] = 200  # blue in OpenCV order
    assert bgr_to_rgb(frames)[0, 0, 0].tolist() == [0, 0, 200]


def test_gray_uses_bt601_luma_and_rgb_repeats_the_channel():
    rgb = np.array([[[[255, 0, 0], [0, 255, 0]]]], np.uint8)
    assert to_gray(rgb).tolist() == [[[76, 150]]]  # 0.299 * 255, 0.587 * 255
    gray = np.array([[[7]]], np.uint8)
    assert to_rgb(gray).tolist() == [[[[7, 7, 7]]]]
    assert set_color(gray, "gray") is gray
    with pytest.raises(ValueError, match="colour mode"):
        set_color(gray, "cmyk")


def test_resize_with_padding_keeps_the_aspect_and_centres_the_frame():
    frames = np.full((2, 10, 20), 100, np.uint8)
    out = resize_frames(frames, (20, 20), pad=True)
    assert out.shape == (2, 20, 20)
    assert (out[:, :5] == 0).all() and (out[:, 15:] == 0).all()  # 20x10 scaled to 20x10, 5 rows pad each side
    assert (out[:, 5:15] == 100).all()


def test_resize_without_padding_stretches_rgb_frames():
    out = resize_frames(np.full((1, 4, 8, 3), 9, np.uint8), (6, 6), pad=False)
    assert out.shape == (1, 6, 6, 3) and (out == 9).all()


def test_sixteen_bit_frames_keep_their_high_byte():
    assert to_uint8(np.array([0, 256, 65535], np.uint16)).tolist() == [0, 1, 255]
