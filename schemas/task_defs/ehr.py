"""Multimodal EHR tasks (MIMIC-IV style admissions)."""

from climb.schemas.tasks import Task

TASKS = (
    Task(
        name="in_hospital_mortality",
        type="binary",
        classes=("survived", "died"),
        description="Death during the admission (1 = died); never inverted.",
    ),
)
