"""Preemption: SIGTERM (what SLURM, Kubernetes, systemd and ``timeout`` send) is handled like Ctrl-C.

The trainer has one interruption path: SIGINT sets its stop flag, the loop ends at the next step
boundary, writes the checkpoint and returns ``interrupted``. Nothing here touches the trainer; these
helpers turn SIGTERM into that same path at the process entry points:

* :func:`sigterm_as_sigint` (``ganzoo train``): the first SIGTERM calls the current SIGINT handler
  (the trainer's, during training; otherwise a KeyboardInterrupt); later ones are ignored, since
  schedulers often signal twice (a second Ctrl-C still stops at once).
* :func:`init_worker` / :func:`in_training` (``ganzoo bench`` workers, in-process or spawned): the
  same conversion, aware of whether the worker is inside ``train``: between runs a SIGTERM only
  marks the worker as stopping, so it starts nothing new.
* :class:`BenchStop` (the ``ganzoo bench`` parent): the first SIGINT or SIGTERM stops claiming runs
  and asks every worker to stop at a step boundary (SIGTERM); a second one asks them to stop at
  once (SIGINT); a third abandons the wait.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from typing import Any, Callable, Iterator


class _WorkerState:
    def __init__(self) -> None:
        self.in_training = False
        self.in_job = False  # a spawned bench worker between taking a job and returning its outcome
        self.stop_requests = 0

    @property
    def stopping(self) -> bool:
        return self.stop_requests > 0


STATE = _WorkerState()
received: list[int] = []  # signals received by this process's handlers, in order


def _call_sigint_handler(frame: Any) -> None:
    """Run whatever SIGINT would run now: the trainer's stop flag, or a KeyboardInterrupt."""
    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and handler is not signal.default_int_handler:
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt


def request_stop(frame: Any = None) -> None:
    """A graceful stop of this worker: at a step boundary when training, else before the next run."""
    STATE.stop_requests += 1
    if STATE.stop_requests == 1 and STATE.in_training:
        _call_sigint_handler(frame)


def _on_sigterm(signum: int, frame: Any) -> None:
    received.append(signum)
    request_stop(frame)


@contextlib.contextmanager
def in_training() -> Iterator[None]:
    """Marks the span of ``train``; raises KeyboardInterrupt at once if a stop came before it."""
    STATE.in_training = True
    try:
        if STATE.stopping:
            raise KeyboardInterrupt
        yield
    finally:
        STATE.in_training = False


@contextlib.contextmanager
def in_job() -> Iterator[None]:
    """Marks a worker's span from taking a job to returning its outcome (an orphaned worker exits
    only outside it)."""
    STATE.in_job = True
    try:
        yield
    finally:
        STATE.in_job = False


def reset() -> None:
    """Forget earlier stop requests (a new bench in the same process)."""
    STATE.in_training, STATE.stop_requests = False, 0
    received.clear()


def init_worker(detach: bool, parent: int) -> None:
    """In a spawned bench worker: SIGTERM becomes a graceful stop, and the worker leaves the
    terminal's process group (``detach``) so that only the parent tells it to stop (a Ctrl-C in the
    terminal reaches the parent, which forwards one SIGTERM), and stops when its parent dies."""
    if detach and hasattr(os, "setpgrp"):
        os.setpgrp()
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.signal(signal.SIGINT, _on_sigint)
    _stop_with_parent(parent)


def _on_sigint(signum: int, frame: Any) -> None:
    """A worker's SIGINT outside the trainer's handler: stop now inside a run, ignore between runs."""
    received.append(signum)
    STATE.stop_requests += 1
    if STATE.in_training:
        raise KeyboardInterrupt


def _stop_with_parent(parent: int) -> None:
    """SIGTERM this worker when the bench that spawned it dies (even by SIGKILL), so that it stops
    at a step boundary instead of training on, orphaned, while another bench takes the run over
    (that bench's worker waits for this one's lock on the run directory), and then exit. Linux's
    PR_SET_PDEATHSIG sends the signal where available, a watcher thread elsewhere; the watcher
    also ends the orphaned process once its job has returned."""
    try:
        import ctypes

        armed = ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        armed = False

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        if not armed:
            os.kill(os.getpid(), signal.SIGTERM)
        # Orphaned: the current job (if any) stops at a step boundary and writes its checkpoint;
        # then nobody is left to hand this worker another job or to read its outcome, so it ends
        # instead of waiting on the pool's queue for ever.
        while STATE.in_job:
            time.sleep(0.2)
        os._exit(0)

    threading.Thread(target=watch, name="ganzoo-orphan-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def sigterm_as_sigint() -> Iterator[None]:
    """For ``ganzoo train``: the first SIGTERM goes down the Ctrl-C path; later ones are ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen = []

    def handle(signum: int, frame: Any) -> None:
        received.append(signum)
        seen.append(signum)
        if len(seen) == 1:
            _call_sigint_handler(frame)

    old = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def exit_status(default: int = signal.SIGINT) -> int:
    """The conventional exit status after an interruption: 128 + the signal (130 for SIGINT)."""
    return 128 + (received[0] if received else default)


class BenchStop:
    """SIGINT/SIGTERM in the ``ganzoo bench`` parent, while the executor runs.

    ``forward(signum)`` passes a request to the workers (the executor's ``signal_workers``).
    """

    def __init__(self, forward: Callable[[int], None]) -> None:
        self.forward = forward
        self.count = 0
        self._old: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.count > 0 or STATE.stopping

    def _handle(self, signum: int, frame: Any) -> None:
        received.append(signum)
        self.count += 1
        if self.count == 1:
            self.forward(signal.SIGTERM)
        elif self.count == 2:
            self.forward(signal.SIGINT)
        else:
            raise KeyboardInterrupt

    def __enter__(self) -> "BenchStop":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
