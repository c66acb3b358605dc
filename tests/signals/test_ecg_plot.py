"""climb.report.ecg_plot: the standard 3 x 4 + rhythm strip printout at 25 mm/s and 10 mm/mV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from climb.corpora.ecg import PTBXL_HEADER_LEADS, real_ecg
from climb.report import ecg_plot

DPI = 254  # 10 pixels per paper millimetre


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    return real_ecg(500)


@pytest.fixture(scope="module")
def image(ecg) -> np.ndarray:
    png = ecg_plot.render_ecg(ecg, 500, dpi=DPI)
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def test_the_page_has_true_paper_size(image):
    width_mm = 2 * ecg_plot.MARGIN_MM + ecg_plot.CAL_MM + 10 * ecg_plot.MM_PER_S
    height_mm = 2 * ecg_plot.MARGIN_MM + ecg_plot.HEADER_MM + 4 * ecg_plot.ROW_MM
    assert image.shape[:2] == (round(height_mm * DPI / 25.4), round(width_mm * DPI / 25.4))


def test_large_grid_squares_are_5_mm_apart(image):
    major = np.array([int(ecg_plot.GRID_MAJOR[i:i + 2], 16) for i in (1, 3, 5)])
    row = image[15].astype(int)  # a pixel row in the top margin, above any trace or text
    columns = np.flatnonzero(np.abs(row - major).sum(axis=1) < 40)
    starts = columns[np.insert(np.diff(columns) > 1, 0, True)]
    assert np.allclose(np.diff(starts), 50, atol=1)


def test_every_lead_panel_and_the_rhythm_strip_carry_a_trace(image):
    dark = (image.sum(axis=2) < 150)
    x0 = int((ecg_plot.MARGIN_MM + ecg_plot.CAL_MM) * 10)
    for r in range(4):
        top = int((ecg_plot.MARGIN_MM + ecg_plot.HEADER_MM + r * ecg_plot.ROW_MM) * 10)
        band = dark[top + 60: top + 300]
        for c in range(4):
            cell = band[:, x0 + c * 625 + 20: x0 + (c + 1) * 625 - 20]
            assert cell.any(axis=0).mean() > 0.9, (r, c)


def test_the_calibration_pulse_is_1_mv_high(image):
    dark = (image.sum(axis=2) < 150)
    pulse = dark[:, int(ecg_plot.MARGIN_MM * 10) + 25]  # the middle of the first row's pulse top
    rows = np.flatnonzero(pulse[: int((ecg_plot.MARGIN_MM + ecg_plot.HEADER_MM + ecg_plot.ROW_MM) * 10)])
    top = rows.min()
    side = dark[:, int(ecg_plot.MARGIN_MM * 10) + 20]
    baseline = np.flatnonzero(side[top:top + 200])[-1] + top
    assert abs(baseline - top - 100) <= 2


def test_lead_order_and_aliases_do_not_change_the_drawing(ecg):
    shuffled = [11, 0, 5, 3, 1, 2, 4, 6, 7, 8, 9, 10]
    other = ecg_plot.render_ecg(ecg[shuffled], 500, [PTBXL_HEADER_LEADS[i] for i in shuffled])
    assert other == ecg_plot.render_ecg(ecg, 500)


def test_microvolt_input_is_drawn_at_10_mm_per_mv(ecg, image):
    png = ecg_plot.render_ecg(ecg * 1000, 500, units="uV", dpi=DPI)
    micro = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert (np.abs(micro.astype(int) - image).sum(axis=2) > 60).mean() < 1e-3


def test_unknown_leads_are_refused(ecg):
    with pytest.raises(ValueError, match="unknown lead names"):
        ecg_plot.render_ecg(ecg, 500, ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "X"])
