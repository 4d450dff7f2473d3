"""The tasks `rnnzoo train` knows; `rnnzoo tasks` lists them."""

from .addition import Addition
from .base import Task
from .charlm import CharLM
from .mackey_glass import MackeyGlass
from .sentiment import Sentiment

TASKS: dict[str, Task] = {t.name: t for t in (Addition(), Sentiment(), CharLM(), MackeyGlass())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]
