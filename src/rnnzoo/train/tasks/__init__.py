"""The tasks `rnnzoo train` knows; `rnnzoo tasks` lists them.

Trained by backpropagation (`Task`): addition, sentiment, charlm. Fitted in closed form
(`ClosedFormTask`): mackey-glass.
"""

from .addition import Addition
from .base import ClosedFormTask, Task
from .charlm import CharLM
from .mackey_glass import MackeyGlass
from .sentiment import Sentiment

TASKS: dict[str, Task] = {t.name: t for t in (Addition(), Sentiment(), CharLM(), MackeyGlass())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "ClosedFormTask", "get_task"]
