"""Bounded readiness polling and stopping the processes the tests start, by pid."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

T = TypeVar("T")
M = TypeVar("M", bound="Managed")

POLL_INTERVAL = 0.02
STOP_TIMEOUT = 5.0


def wait_until(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Calls `probe` until it returns something truthy, for at most `timeout` seconds.

    The probe asks a readiness signal (a file, an admin endpoint, a log line); the short pause
    between two asks only keeps the loop from spinning.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def stop_process(proc: subprocess.Popen) -> int:
    """SIGTERM to this one pid, then SIGKILL if it has not exited in time. Returns the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT)
    return proc.returncode


class Managed(Protocol):
    name: str

    def start(self) -> object: ...

    def stop(self) -> None: ...

    def log(self) -> str: ...


# Every process started through `running`, so a failing test's report can show their logs.
RUNNING: list[Managed] = []


@contextmanager
def running(proc: M, start: Callable[[M], object] | None = None) -> Iterator[M]:
    """Starts `proc` (by `start`, default `proc.start()`), yields it, and always stops it."""
    RUNNING.append(proc)
    try:
        (start or (lambda p: p.start()))(proc)
        yield proc
    finally:
        proc.stop()
        RUNNING.remove(proc)
