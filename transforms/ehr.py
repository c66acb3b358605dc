"""Time windows for EHR inputs: only what was known at the index time, expressed in relative hours.

A prediction made at an index time (e.g. 48 h after admission) may use only events charted in
[window start, index time], both ends included; an event one second after the index time is future
data and is left out. The CLIMB reference code used whole-stay labs, discharge fields and CXRs/ECGs
from later admissions; these helpers are the single place where that rule lives.

Absolute times never leave this module's callers: outputs carry hours relative to the index time
(or admission), so no date needs shifting and none can leak. Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


def parse_time(text: str | None) -> datetime | None:
    """A MIMIC timestamp ("2180-05-06 22:23:00", date-only also accepted); None when blank."""
    text = (text or "").strip()
    return datetime.fromisoformat(text) if text else None


def parse_dicom_datetime(study_date: str | None, study_time: str | None) -> datetime | None:
    """MIMIC-CXR's StudyDate (YYYYMMDD) + StudyTime (HHMMSS.fff, leading zeros often dropped:
    "91054.453" is 09:10:54.453); None when the date is blank."""
    date = (study_date or "").strip()
    if not date:
        return None
    whole, _, fraction = (study_time or "0").strip().partition(".")
    hhmmss = whole.zfill(6)
    micro = int((fraction + "000000")[:6]) if fraction else 0
    return datetime(int(date[:4]), int(date[4:6]), int(date[6:8]), int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6]), micro)


@dataclass(frozen=True)
class Window:
    """[start, end] in absolute (shifted) time; end is the index time."""

    start: datetime
    end: datetime

    def contains(self, t: datetime | None) -> bool:
        return t is not None and self.start <= t <= self.end

    def hours_before_end(self, t: datetime) -> float:
        return round((self.end - t).total_seconds() / 3600.0, 4)


def admission_window(admit: datetime, disch: datetime, index_hours: float | None, lookback_hours: float) -> Window:
    """The input window of an admission: from `lookback_hours` before admission to the index time,
    `index_hours` after admission (None: the discharge time, for retrospective tasks such as coding)."""
    end = disch if index_hours is None else admit + timedelta(hours=float(index_hours))
    return Window(admit - timedelta(hours=float(lookback_hours)), end)


@dataclass
class LastValues:
    """The last value of each item inside a window; ties in time go to the larger tie-break key
    (e.g. the event id), so the result never depends on the order rows arrive in."""

    window: Window
    _best: dict[Any, tuple[datetime, Any, float]] = field(default_factory=dict)

    def add(self, item: Any, t: datetime | None, tiebreak: Any, value: float) -> bool:
        """Offer one event; returns whether it lies inside the window."""
        if not self.window.contains(t):
            return False
        current = self._best.get(item)
        if current is None or (t, tiebreak) > current[:2]:
            self._best[item] = (t, tiebreak, value)
        return True

    def values(self) -> dict[Any, float]:
        return {item: value for item, (_, _, value) in self._best.items()}


def age_at(anchor_age: float, anchor_year: int, when: datetime) -> float:
    """MIMIC-IV age at an event: anchor_age is the age in anchor_year (ages above 89 are capped)."""
    return float(anchor_age) + (when.year - int(anchor_year))
