"""Task definitions, one module per data family; schemas/tasks.py merges them into TASKS."""

from climb.schemas.task_defs import ecg, eeg, graph, ehr, imaging
from climb.schemas.task_defs import dedicated
from climb.schemas.task_defs import folder_sets  # the spec sources' tasks

ALL_TASKS = (*ecg.TASKS, *eeg.TASKS, *imaging.TASKS, *graph.TASKS, *ehr.TASKS,
             *dedicated.TASKS, *folder_sets.TASKS)
