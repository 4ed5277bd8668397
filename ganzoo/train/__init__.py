"""Training: :func:`train` (the loop) and the pieces it orders; see :mod:`ganzoo.train.loop`."""

from ganzoo.train.loop import RunResult, train
from ganzoo.train.state import TrainState

__all__ = ["RunResult", "TrainState", "train"]
