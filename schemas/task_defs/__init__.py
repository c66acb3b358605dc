"""Task definitions, one module per data family; schemas/tasks.py merges them into TASKS."""

from climb.schemas.task_defs import ecg, eeg, graph, ehr, imaging
from climb.schemas.task_defs import dedicated

ALL_TASKS = (*ecg.TASKS, *eeg.TASKS, *imaging.TASKS, *graph.TASKS, *ehr.TASKS,
             *dedicated.TASKS)
