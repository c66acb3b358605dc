"""The versioned common schema: samples, tasks and manifests (see docs/ARCHITECTURE.md)."""

from climb.schemas.manifest import MANIFEST_VERSION, validate_manifest
from climb.schemas.sample import FIELDS, MODALITIES, SCHEMA_VERSION, Record, Sample, ValidationError, validate
from climb.schemas.tasks import TASKS, Task, get_task

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
