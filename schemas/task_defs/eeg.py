"""EEG tasks: TUAB normal/abnormal and sleep staging (AASM)."""

from climb.schemas.tasks import Task

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
        classes=("W", "N1", "N2", "N3", "REM"),
        description="AASM stage of a 30-s epoch; R&K S3 and S4 both map to N3.",
    ),
)
