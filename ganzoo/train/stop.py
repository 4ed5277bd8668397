"""StopFlag: Ctrl-C (and SIGTERM, which the entry points turn into it) ends training cleanly.

The first SIGINT asks the loop to stop at the next step boundary, after writing a checkpoint; a
second one stops at once (KeyboardInterrupt). Only the main thread can install signal handlers, so
in other threads (Ray workers, tests) the flag is never set and the handler is left alone.
"""

from __future__ import annotations

import signal
import threading


class StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self._old = None

    def __enter__(self) -> "StopFlag":
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
