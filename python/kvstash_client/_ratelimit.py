"""RateLimitedLog: the one bounded-rate logger of the engine connectors.

A connector runs on an engine's cache thread, where a failure is a counted miss and may repeat
for every block; the log must see a trickle, not a line per block.
"""

from __future__ import annotations

import logging
import threading
import time


class RateLimitedLog:
    """Logs at most one line per kind per interval, with the count of the lines it held back.

    Thread-safe. `kind` groups messages that share a budget (by default, all of them).
    """

    def __init__(self, log: logging.Logger, interval_s: float) -> None:
        self._log = log
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warn(self, msg: str, *args: object, kind: str = "") -> bool:
        """Logs msg % args at WARNING unless a line of this kind went out within the interval.
        Returns whether it was logged."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -float("inf")) < self._interval_s:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            msg += f" ({held} similar messages suppressed)"
        self._log.warning(msg, *args)
        return True
