"""Graph tasks: brain connectomes and molecules."""

from climb.schemas.tasks import Task

TASKS = (
    Task(
        name="molecule_hiv_active",
        type="binary",
        classes=("inactive", "active"),
        description="ogbg-molhiv style HIV replication inhibition (HIV_active column).",
    ),
)
