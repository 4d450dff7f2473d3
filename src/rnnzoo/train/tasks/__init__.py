"""The tasks `rnnzoo train` knows; `rnnzoo tasks` lists them.

Trained by backpropagation (`Task`): addition, sentiment, charlm, translate, classify, regress,
forecast (these three also fit an echo state network in closed form, --model esn), autoencode, anomaly, sst, and the
long-lag tasks adding, copy and first-symbol (`--length T`). Fitted in closed form (`ClosedFormTask`): mackey-glass.
"""

from .addition import Addition
from .anomaly import Anomaly
from .autoencode import Autoencode
from .base import ClosedFormTask, Task
from .charlm import CharLM
from .classify import Classify, Regress
from .forecast import Forecast
from .long_lag import Adding, Copy, FirstSymbol
from .mackey_glass import MackeyGlass
from .sentiment import Sentiment
from .sst import SST
from .translate import Translate

TASKS: dict[str, Task] = {t.name: t for t in (Addition(), Sentiment(), CharLM(), Translate(), Classify(), Regress(),
                                               Forecast(), Autoencode(), Anomaly(), SST(),
                                               MackeyGlass(), Adding(), Copy(), FirstSymbol())}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name]


__all__ = ["TASKS", "Task", "ClosedFormTask", "get_task"]
