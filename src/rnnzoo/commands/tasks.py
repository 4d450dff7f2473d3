"""List the tasks 'rnnzoo train' knows, with the data each reads."""

from __future__ import annotations

NAME = "tasks"
HELP = "list the training tasks and their data"


def configure(parser):
    pass


def run(args):
    from ..train.tasks import TASKS
    for task in TASKS.values():
        print(f"{task.name}  {task.description}\n    data:    {task.data_help}\n"
              f"    metric:  {task.monitor} ({task.mode})\n")
    return 0
