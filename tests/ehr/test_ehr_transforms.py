"""transforms/ehr.py: window edges, last values, MIMIC timestamps."""

from datetime import datetime, timedelta

import pytest

from climb.transforms.ehr import LastValues, Window, admission_window, age_at, parse_dicom_datetime, parse_time

ADMIT = datetime(2150, 3, 4, 8, 0, 0)
SECOND = timedelta(seconds=1)


def test_the_window_runs_from_lookback_to_index_both_ends_included():
    w = admission_window(ADMIT, ADMIT + timedelta(days=5), index_hours=48, lookback_hours=24)
    assert (w.start, w.end) == (ADMIT - timedelta(hours=24), ADMIT + timedelta(hours=48))
    assert w.contains(w.start) and w.contains(w.end)
    assert not w.contains(w.start - SECOND)
    assert not w.contains(w.end + SECOND)
    assert not w.contains(None)


def test_without_an_index_hour_the_window_ends_at_discharge():
    disch = ADMIT + timedelta(hours=30)
    assert admission_window(ADMIT, disch, None, 0).end == disch


def test_last_values_keep_the_latest_event_inside_the_window_only():
    w = Window(ADMIT, ADMIT + timedelta(hours=48))
    labs = LastValues(w)
    assert labs.add("k", w.end, 1, 4.4)
    assert not labs.add("k", w.end + SECOND, 2, 9.9)
    assert not labs.add("lactate", w.start - SECOND, 3, 9.1)
    assert labs.add("inr", w.start, 4, 1.3)
    assert labs.add("k", w.end - timedelta(hours=1), 5, 3.0)
    assert labs.values() == {"k": 4.4, "inr": 1.3}


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_simultaneous_events_resolve_by_tie_break_whatever_their_order(order):
    labs = LastValues(Window(ADMIT, ADMIT + timedelta(hours=1)))
    events = [(7, 1.0), (9, 2.0)]
    for i in order:
        labs.add("k", ADMIT, *events[i])
    assert labs.values() == {"k": 2.0}


@pytest.mark.parametrize(
    "date, time, expected",
    [
        ("21500304", "091054.453", datetime(2150, 3, 4, 9, 10, 54, 453000)),
        ("21500304", "91054.453", datetime(2150, 3, 4, 9, 10, 54, 453000)),
        ("21500304", "54", datetime(2150, 3, 4, 0, 0, 54)),
        ("21500304", "", datetime(2150, 3, 4)),
        ("", "120000", None),
    ],
)
def test_mimic_cxr_study_times_lose_no_leading_zero(date, time, expected):
    assert parse_dicom_datetime(date, time) == expected


def test_timestamps_and_ages():
    assert parse_time("2150-03-04 08:00:00") == ADMIT
    assert parse_time("  ") is None
    assert age_at(64, 2148, ADMIT) == 66.0
