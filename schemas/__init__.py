"""The versioned common schema: samples, tasks and manifests (see docs/ARCHITECTURE.md)."""

from climb.schemas.manifest import MANIFEST_VERSION, validate_manifest
from climb.schemas.sample import FIELDS, MODALITIES, SCHEMA_VERSION, Record, Sample, ValidationError, validate

_TASK_NAMES = ("TASKS", "Task", "get_task")


def __getattr__(name: str):
    """The task registry on first use: reading a dataset needs only its manifest's task table (~1 MB less)."""
    if name in _TASK_NAMES:
        from climb.schemas import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FIELDS",
    "MANIFEST_VERSION",
    "MODALITIES",
    "SCHEMA_VERSION",
    "TASKS",
    "Record",
    "Sample",
    "Task",
    "ValidationError",
    "get_task",
    "validate",
    "validate_manifest",
]
