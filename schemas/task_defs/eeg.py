"""EEG tasks: TUAB normal/abnormal and sleep staging (AASM).

Sleep-stage vocabularies (keys of sleep_stage's `source_maps`):
    sleep-edf  hypnogram annotation texts of Sleep-EDF (R&K scoring: stages 3 and 4 are both N3;
               'Sleep stage ?' and 'Movement time' are unscored and stay unmapped, hence masked)
    isruc      ISRUC-Sleep scorer codes 0 W, 1 N1, 2 N2, 3 N3, 5 REM
    shhs       SHHS profusion codes 0-5 (R&K: 3 and 4 are N3, 5 is REM); the reference shhs.py left
               4 in the REM class. Codes 6 (movement) and 9 (unscored) stay unmapped.
"""

from climb.schemas.tasks import Task

SLEEP_STAGES = ("W", "N1", "N2", "N3", "REM")

_SLEEP_EDF = {
    "Sleep stage W": "W",
    "Sleep stage 1": "N1",
    "Sleep stage 2": "N2",
    "Sleep stage 3": "N3",
    "Sleep stage 4": "N3",
    "Sleep stage R": "REM",
}
_ISRUC = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "5": "REM"}
_SHHS = {"0": "W", "1": "N1", "2": "N2", "3": "N3", "4": "N3", "5": "REM"}

TASKS = (
    Task(
        name="eeg_abnormal",
        type="binary",
        classes=("normal", "abnormal"),
        description="TUH Abnormal EEG corpus: the recording's normal/abnormal folder.",
        source_maps={"tuab": {"normal": "normal", "abnormal": "abnormal"}},
    ),
    Task(
        name="sleep_stage",
        type="multiclass",
        classes=SLEEP_STAGES,
        description="AASM stage of a 30-s epoch; R&K S3 and S4 both map to N3; unscored epochs are masked.",
        source_maps={"sleep-edf": _SLEEP_EDF, "isruc": _ISRUC, "shhs": _SHHS},
    ),
)
